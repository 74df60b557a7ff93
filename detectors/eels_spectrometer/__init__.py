"""EELS spectrometer of the VG Lumière: energy offset (drift tube), dispersion (presets), focus.

- :mod:`.interface` — :class:`EELSSpectrometer` (protocol) and :class:`SpectrometerSetting`.
- :mod:`.presets` — the settings file (NSLumiere format), built-in presets, window planning.
- :mod:`.windows` — low-loss, core-loss and EEGS windows as pure functions ``-> (offset_eV, dispersion)``.
- :mod:`.protocol` — lens-unit and drift-tube wire formats, :class:`LensUnit`, :class:`DriftTubeSupply`.
- :mod:`.driver` — :class:`EELSSpectrometerDriver` (implements the protocol).
- :mod:`.connect` — :func:`connect_eels_spectrometer` ``(config)``, :func:`check_addresses`.
- :mod:`.simulated` — :class:`SimulatedEELSSpectrometer` ``(world, config=None)``: simulators on a
  pty/socket writing ``world.spectrometer``, the real driver connected.
"""
from .config import EELSSpectrometerConfig
from .connect import check_addresses, connect_eels_spectrometer, driver_from_transports
from .driver import EELSSpectrometerDriver
from .interface import EELSSpectrometer, SpectrometerSetting
from .presets import (DISPERSION_ELEMENTS, ELEMENTS, Preset, PresetTable, default_presets, load_settings_file,
                      plan_window)
from .protocol import DriftTubeSupply, LensUnit, decode_word, encode_word, lens_request
from .simulated import SimulatedDriftTube, SimulatedEELSSpectrometer, SimulatedLensUnit, SpectrometerOptics
from .windows import (core_loss_interval_eV, core_loss_window, eegs_interval_eV, eegs_window, low_loss_window,
                      offset_range_eV, window_for)

__all__ = ["DISPERSION_ELEMENTS", "DriftTubeSupply", "EELSSpectrometer", "EELSSpectrometerConfig",
           "EELSSpectrometerDriver", "ELEMENTS", "SpectrometerSetting", "LensUnit", "Preset", "PresetTable",
           "SimulatedDriftTube", "SimulatedEELSSpectrometer", "SimulatedLensUnit", "SpectrometerOptics",
           "check_addresses", "connect_eels_spectrometer", "decode_word", "default_presets",
           "driver_from_transports", "encode_word", "lens_request", "load_settings_file", "plan_window",
           "core_loss_interval_eV", "core_loss_window", "eegs_interval_eV", "eegs_window", "low_loss_window",
           "offset_range_eV", "window_for"]
