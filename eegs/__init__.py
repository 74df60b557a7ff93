"""EEGS workflows: wavelength scan, power scan, power monitor and power lock, and their analysis.

Plain objects built from device interfaces (:class:`EEGSDevices`) and parameters; they run
inline (``run(sink, task)``) or in a thread (``start``/``join``), report progress and abort
through :class:`lumiere.tasks.TaskControl`, always leave the laser shutter closed and write
their results to a :mod:`lumiere.sinks` sink. No Swift dependency.
"""
from .analysis import EEGSAnalysis, analyse_scan, fit_beta_spectra, write_analysis, zlp_fwhm_eV
from .devices import EEGSDevices, Limits, ShutterError, close_shutter, shutter_guard
from .live import PowerLockTask, PowerMonitor
from .maps import (EEGSMap, EEGSMapAnalysis, EEGSMapParameters, EEGSMapResult, analyse_map,
                   write_map_analysis)
from .scans import (EEGSScanResult, PowerScan, PowerScanParameters, WavelengthScan,
                    WavelengthScanParameters)

__all__ = ["EEGSAnalysis", "EEGSDevices", "EEGSMap", "EEGSMapAnalysis", "EEGSMapParameters",
           "EEGSMapResult", "analyse_map", "write_map_analysis", "EEGSScanResult", "Limits", "PowerLockTask",
           "PowerMonitor", "PowerScan", "PowerScanParameters", "ShutterError", "WavelengthScan",
           "WavelengthScanParameters", "analyse_scan", "close_shutter", "fit_beta_spectra",
           "shutter_guard", "write_analysis", "zlp_fwhm_eV"]
