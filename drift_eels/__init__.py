"""Drift-corrected EELS spectrum imaging: sequence planner, drift tracking + prediction, scan
re-centring, aligned accumulation, live maps (see :mod:`drift_eels.workflow`)."""
from drift_eels.parameters import DriftSIParameters, EdgeWindows, SequencePlan, region_around
from drift_eels.tracker import DriftMeasurement, DriftTracker, instrument_clock
from drift_eels.workflow import LOG_COLUMNS, DriftCorrectedSI, DriftSIResult, EdgeMap, SequenceRecord

__all__ = ["DriftCorrectedSI", "DriftMeasurement", "DriftSIParameters", "DriftSIResult", "DriftTracker",
           "EdgeMap", "EdgeWindows", "LOG_COLUMNS", "SequencePlan", "SequenceRecord", "instrument_clock",
           "region_around"]
