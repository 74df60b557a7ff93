"""What every EELS spectrometer offers the workflows: the energy window and its calibration.

Sign conventions (the same as :meth:`detectors.simulation.world.SimulatedWorld.energy_axis_eV`
and ARCHITECTURE.md): energies are energy *loss* in eV, positive = loss, gain peaks at negative
energies; the energy axis increases with the channel index. ``energy_offset_eV`` is the loss at
the **centre of channel 0** (not at the centre of the camera), so channel ``i`` is at
``energy_offset_eV + i * dispersion_eV_per_channel`` — exactly what Swift's linear calibration
(offset, scale) of the camera's x axis takes.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclasses.dataclass(frozen=True)
class SpectrometerSetting:
    """What the spectrometer was set to: its energy window and where the dispersion comes from.

    A snapshot returned by the driver. The live window every camera reads is the instrument's one
    :class:`detectors.calibration.EnergyCalibration` (``Instrument.spectrometer``), which the
    spectrometer keeps up to date (see ``detectors/eels_spectrometer/README.md``).

    Attributes
    ----------
    energy_offset_eV : float
        Loss at the centre of channel 0, eV.
    dispersion_eV_per_channel : float
        eV per channel (> 0: the axis increases with the channel index).
    preset : str
        The preset the dispersion comes from, e.g. ``"100 kV #3 (0.1 eV/channel)"``.
    tuned_by_hand : bool
        A dispersion element (q1–q4, dx, dmx) was changed after the preset was applied: the
        dispersion is the preset's nominal value, not a measured one.
    """

    energy_offset_eV: float
    dispersion_eV_per_channel: float
    preset: str = ""
    tuned_by_hand: bool = False

    def axis_eV(self, n_channels: int) -> np.ndarray:
        """Centres of ``n_channels`` channels, energy loss in eV (increasing)."""
        return self.energy_offset_eV + self.dispersion_eV_per_channel * np.arange(n_channels)

    def channel_of(self, loss_eV: float) -> float:
        """Fractional channel index at which ``loss_eV`` falls."""
        return (loss_eV - self.energy_offset_eV) / self.dispersion_eV_per_channel


@runtime_checkable
class EELSSpectrometer(Protocol):
    """An EELS spectrometer: energy offset, dispersion, presets, element set points.

    Setting a value outside what the instrument allows raises
    :class:`~detectors.common.errors.LimitError` (a ``ValueError``) naming the value and the
    allowed range or values, before anything is sent.
    """

    @property
    def energy_offset_eV(self) -> float:
        """Loss at the centre of channel 0, eV (as set: the drift tube's DAC steps included)."""
        ...

    @energy_offset_eV.setter
    def energy_offset_eV(self, value: float) -> None: ...

    @property
    def dispersion_eV_per_channel(self) -> float:
        """eV per channel of the preset in use."""
        ...

    @dispersion_eV_per_channel.setter
    def dispersion_eV_per_channel(self, value: float) -> None: ...

    def dispersions_eV_per_channel(self) -> tuple[float, ...]:
        """The dispersions that can be set at the present high tension (increasing)."""
        ...

    def calibration(self) -> SpectrometerSetting:
        """The energy axis now."""
        ...

    def low_loss(self, n_channels: int = 1024) -> SpectrometerSetting:
        """Finest dispersion showing the zero-loss peak and the plasmons (the configured window)."""
        ...

    def core_loss(self, edges_eV: Sequence[float], n_channels: int = 1024) -> SpectrometerSetting:
        """Finest dispersion showing every edge with a pre-edge background window before the first
        and the near-edge structure after the last."""
        ...

    def eegs(self, photon_energy_eV: float, orders: int, n_channels: int = 1024) -> SpectrometerSetting:
        """Finest dispersion showing the gain and loss sidebands ±1 … ±``orders`` of
        ``photon_energy_eV`` around the zero-loss peak (centred where the offset range allows)."""
        ...

    def element_currents(self) -> Mapping[str, int]:
        """Set points of the lens unit's elements (fx, fy, sx, sy, dy, q1–q4, dx, dmx)."""
        ...

    def set_element_current(self, element: str, value: int) -> None:
        """Set one element (signed 16-bit set point, |value| ≤ 32766)."""
        ...
