"""VG Lumière column adaptor: HT, lenses, probe shift, apertures, stage, vacuum, interlocks.

Each subsystem is a driver speaking a wire protocol over a
:class:`~detectors.common.transport.Transport` and a simulated instrument answering the same
bytes on the shared world; :class:`VGColumn` puts them behind named controls (``"EHT"``,
``"OL"``, ``"CSH.x"``, ``"StageX"``, ``"GunVacuum"`` …) with interlocks.
:class:`SimulatedVGColumn` ``(world, config=None)`` serves the simulators and returns the
connected column; :func:`connect_column` ``(config)`` connects the same drivers to the real
instruments at the configured ports. See ``README.md`` for the protocols.
"""
from .apertures import ApertureMotors, SimulatedApertureMotors
from .bus import HighTension, ProbeUnit, SimulatedHighTension, SimulatedProbeUnit, SimulatedStage, Stage
from .column import Control, SpectrometerLink, VGColumn
from .connect import column_from_transports, connect_column
from .config import (ApertureConfig, HTConfig, HTSettings, LensConfig, ProbeShiftConfig,
                     SimulatedColumnConfig, StageConfig, VacuumConfig, VGConfig)
from .errors import (ControlRangeError, InterlockEvent, InterlockTripped, ReadOnlyControl,
                     SubsystemTimeout, UnknownControl)
from .lenses import LensSupply, ObjectiveThermalModel, SimulatedLensSupply
from .physics import ColumnPhysics
from .simulated import SimulatedVGColumn, WorldEELSSpectrometer
from .vacuum import GunGauge, PfeifferGauge, SimulatedGunGauge, SimulatedPfeifferGauge

__all__ = [
    "ApertureConfig", "ApertureMotors", "ColumnPhysics", "Control", "ControlRangeError", "GunGauge",
    "HTConfig", "HTSettings", "HighTension", "InterlockEvent", "InterlockTripped", "LensConfig",
    "LensSupply", "ObjectiveThermalModel", "PfeifferGauge", "ProbeShiftConfig", "ProbeUnit",
    "ReadOnlyControl", "SimulatedApertureMotors", "SimulatedColumnConfig", "SimulatedGunGauge",
    "SimulatedHighTension", "SimulatedLensSupply", "SimulatedPfeifferGauge", "SimulatedProbeUnit",
    "SimulatedStage", "SimulatedVGColumn", "SpectrometerLink", "Stage", "StageConfig",
    "SubsystemTimeout", "UnknownControl", "VGColumn", "VGConfig", "VacuumConfig",
    "WorldEELSSpectrometer", "column_from_transports", "connect_column",
]
