"""What the instrument owns for every workflow: its clock and the EELS energy calibration.

Both are plain objects without any backend behind them, so real and simulated devices share them:

* :class:`WallClock` — the time base of an instrument with at least one real device
  (``time.monotonic`` / ``time.sleep``). A fully simulated instrument uses its world's
  :class:`~detectors.simulation.clock.SimClock` instead (same two methods).
* :class:`EnergyCalibration` — the spectrometer's energy axis (offset, dispersion, channels), from
  the site file's ``[spectrometer]`` today (an EELS spectrometer device may set it later). The EELS
  cameras read their axis from it; on a simulated instrument the world's spectrometer *is* this
  object, so the simulated spectra always follow the instrument's calibration.
"""
from __future__ import annotations

import dataclasses
import math
import time
import typing

import numpy as np


@typing.runtime_checkable
class Clock(typing.Protocol):
    """A monotonic time base in seconds."""

    def now_s(self) -> float: ...

    def sleep(self, dt_s: float) -> None: ...


class WallClock:
    """The wall clock (``time.monotonic``, ``time.sleep``): the time base of real hardware."""

    is_virtual = False

    def now_s(self) -> float:
        return time.monotonic()

    def sleep(self, dt_s: float) -> None:
        if dt_s > 0:
            time.sleep(dt_s)

    def __repr__(self) -> str:
        return "WallClock()"


@dataclasses.dataclass
class EnergyCalibration:
    """Energy axis of the EELS camera's columns: energy *loss* in eV, increasing with the column.

    Attributes
    ----------
    energy_offset_eV : float
        Energy loss at the centre of channel 0, eV.
    dispersion_eV_per_channel : float
        eV per channel (> 0).
    channels : int
        Channels along the dispersive axis (the Merlin: 1024).
    """

    energy_offset_eV: float = -20.0
    dispersion_eV_per_channel: float = 0.1
    channels: int = 1024

    def energy_axis_eV(self) -> np.ndarray:
        """Centres of the channels, energy loss in eV (increasing)."""
        return self.energy_offset_eV + self.dispersion_eV_per_channel * np.arange(self.channels)

    def set(self, energy_offset_eV: float | None = None, dispersion_eV_per_channel: float | None = None,
            channels: int | None = None) -> None:
        """Change the calibration (None keeps a value); ValueError names a bad value."""
        offset = self.energy_offset_eV if energy_offset_eV is None else float(energy_offset_eV)
        dispersion = (self.dispersion_eV_per_channel if dispersion_eV_per_channel is None
                      else float(dispersion_eV_per_channel))
        n = self.channels if channels is None else channels
        if not math.isfinite(offset):
            raise ValueError(f"energy offset {energy_offset_eV!r} eV must be finite")
        if not (math.isfinite(dispersion) and dispersion > 0):
            raise ValueError(f"dispersion {dispersion_eV_per_channel!r} eV/channel must be > 0")
        if int(n) != n or n < 1:
            raise ValueError(f"channels {channels!r} must be an integer ≥ 1")
        self.energy_offset_eV, self.dispersion_eV_per_channel, self.channels = offset, dispersion, int(n)

    def as_dict(self) -> dict[str, float | int]:
        return {"energy_offset_eV": float(self.energy_offset_eV),
                "dispersion_eV_per_channel": float(self.dispersion_eV_per_channel),
                "channels": int(self.channels)}
