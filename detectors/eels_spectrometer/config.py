"""Configuration of the EELS spectrometer: the ``[eels_spectrometer]`` section of a site file.

Units in the names: V, eV, eV per channel, s. The ``backend`` key (``"simulated"`` or
``"serial"``) belongs to the site schema (``detectors/config.py``), every other key is here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from detectors.common.config_tables import check_order, from_table

from .presets import PresetTable, default_presets, load_settings_file


@dataclasses.dataclass(frozen=True)
class EELSSpectrometerConfig:
    """Where the spectrometer is reached, its presets, calibration and limits.

    Lens unit (focus, quadrupoles, deflectors): serial ``port`` (device path, pty path or pyserial
    URL), ``baudrate`` 9600 8N1, replies read with ``timeout_s``. Drift-tube supply (energy offset):
    TCP ``drift_tube_host``:``drift_tube_port`` (NSLumiere: port 80). ``settings_file``: presets in
    the NSLumiere ``eels_settings.json`` format; empty = the built-in placeholder presets of the
    simulated instrument. ``preset``: the preset applied on connection (-1 = the file's ``last``).

    Calibration: the drift tube takes ``drift_tube_counts_per_V`` DAC counts per volt
    (NSLumiere: 4.095, a 12-bit DAC for 1000 V) within ``drift_tube_range_V``; 1 V on the drift
    tube shifts the spectrum by 1 eV. ``zlp_channel`` is where the zero-loss peak falls with the
    drift tube at 0 V (the site's "ZLP tare"; NSLumiere keeps it as eV instead).

    Presets: ``low_loss_window_eV`` is the loss interval the low-loss preset shows; a core-loss
    preset shows ``pre_edge_eV`` before the first edge (background fit) and ``post_edge_eV``
    after the last one; ``dispersion_tolerance`` is how close (relative) a requested dispersion
    must be to a preset's.
    """

    port: str = ""
    baudrate: int = 9600
    timeout_s: float = 0.5
    reply_gap_s: float = 0.05
    drift_tube_host: str = ""
    drift_tube_port: int = 0
    drift_tube_connect_timeout_s: float = 3.0
    settings_file: str = ""
    high_tension_kV: float = 100.0
    preset: int = -1
    drift_tube_range_V: tuple[float, float] = (0.0, 1000.0)
    drift_tube_counts_per_V: float = 4.095
    zlp_channel: float = 200.0
    dispersion_tolerance: float = 0.01
    low_loss_window_eV: tuple[float, float] = (-5.0, 60.0)
    pre_edge_eV: float = 30.0
    post_edge_eV: float = 50.0

    def __post_init__(self) -> None:
        check_order("eels_spectrometer.drift_tube_range_V", *self.drift_tube_range_V)
        check_order("eels_spectrometer.low_loss_window_eV", *self.low_loss_window_eV)
        for name in ("timeout_s", "reply_gap_s", "drift_tube_connect_timeout_s", "drift_tube_counts_per_V"):
            if not getattr(self, name) > 0:
                raise ValueError(f"eels_spectrometer.{name} = {getattr(self, name)!r} is not allowed; "
                                 "expected a number > 0")
        if not 0 <= self.dispersion_tolerance < 0.5:
            raise ValueError(f"eels_spectrometer.dispersion_tolerance = {self.dispersion_tolerance!r} is not "
                             "allowed; expected 0 ≤ tolerance < 0.5")
        if self.pre_edge_eV < 0 or self.post_edge_eV < 0:
            raise ValueError("eels_spectrometer.pre_edge_eV and post_edge_eV must be ≥ 0 eV")

    def presets(self) -> PresetTable:
        """The preset table: the settings file, or the built-in presets if none is named; its
        ``high_tension_kV`` and ``preset`` must exist in it (``ValueError`` naming the file, the
        value and what the file has)."""
        table = load_settings_file(self.settings_file) if self.settings_file else default_presets()
        table.preset(self.high_tension_kV, self.preset if self.preset >= 0 else table.last)
        return table

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "EELSSpectrometerConfig":
        """From the ``[eels_spectrometer]`` table without ``backend``; unknown keys raise
        ``ValueError`` naming them and the known ones."""
        return from_table(cls, data, "eels_spectrometer")

