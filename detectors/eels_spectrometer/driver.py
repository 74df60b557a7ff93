"""`EELSSpectrometerDriver`: the VG Lumière spectrometer (lens unit + drift tube) as an
:class:`~.interface.EELSSpectrometer`, with the presets of the settings file.

The dispersion is one of the presets at the present high tension: setting it sends the preset's
eleven set points (NSLumiere's order: fx, fy, sx, sy, dy, q1–q4, dx, dmx). The energy offset is
the drift-tube voltage minus the loss of channel 0 at 0 V::

    energy_offset_eV = V_drift_tube - zlp_channel * dispersion_eV_per_channel

(1 V shifts the spectrum by 1 eV; [I] positive volts show higher losses, as NSLumiere's 0–1000 V
"Energy Offset" field for an energy-loss window). Changing the dispersion keeps the drift-tube
voltage, so the offset follows the new dispersion; :meth:`low_loss`, :meth:`core_loss` and
:meth:`eegs` set both.
"""
from __future__ import annotations

import threading
from typing import Mapping, Sequence

from detectors.calibration import EnergyCalibration
from detectors.common.errors import check_range

from .config import EELSSpectrometerConfig
from .interface import SpectrometerSetting
from .presets import DISPERSION_ELEMENTS, ELEMENTS, Preset, PresetTable
from .protocol import DriftTubeSupply, LensUnit, check_current
from .windows import core_loss_window, eegs_window, low_loss_window, offset_range_eV, window_for


class EELSSpectrometerDriver:
    """The spectrometer over its two connections.

    Parameters
    ----------
    lens : LensUnit
        Serial lens unit (focus, quadrupoles, deflectors).
    drift_tube : DriftTubeSupply
        TCP drift-tube supply (energy offset).
    presets : PresetTable
    config : EELSSpectrometerConfig
    owned : sequence
        Transports closed by :meth:`close`.

    Attributes
    ----------
    energy_calibration : detectors.calibration.EnergyCalibration or None
        The calibration the cameras read (the instrument's), set to the window after every change
        (:meth:`publish`). None on the simulated spectrometer: there its simulator writes the
        world's spectrometer, which is the instrument's calibration, from what the optics do.

    Nothing is sent by the constructor; :meth:`initialise` applies the configured preset and
    0 V on the drift tube (what NSLumiere does on start-up) so the driver knows the state — the
    units cannot be read back.
    """

    def __init__(self, lens: LensUnit, drift_tube: DriftTubeSupply, presets: PresetTable,
                 config: EELSSpectrometerConfig | None = None, owned: Sequence[object] = ()) -> None:
        self.lens = lens
        self.drift_tube = drift_tube
        self.presets = presets
        self.config = config or EELSSpectrometerConfig()
        self._owned = list(owned)
        self._lock = threading.RLock()
        self._high_tension_kV = float(self.config.high_tension_kV)
        presets.presets(self._high_tension_kV)  # the HT must be in the table
        self._preset: Preset | None = None
        self._tuned_by_hand = False
        self.energy_calibration: EnergyCalibration | None = None

    # -- set-up ----------------------------------------------------------------------------------
    def initialise(self) -> SpectrometerSetting:
        """Apply the configured preset (``config.preset``, or the file's ``last``) and 0 V."""
        index = self.config.preset if self.config.preset >= 0 else self.presets.last
        with self._lock:
            self.apply_preset(self.presets.preset(self._high_tension_kV, index))
            self.drift_tube.set_voltage_V(0.0)
            self.publish()
            return self.calibration()

    def close(self) -> None:
        """Close the connections (the units keep their set points; safe to call twice)."""
        for t in self._owned:
            try:
                t.close()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - close the others regardless
                pass

    def __enter__(self) -> "EELSSpectrometerDriver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- high tension and presets ----------------------------------------------------------------
    @property
    def high_tension_kV(self) -> float:
        return self._high_tension_kV

    def set_high_tension_kV(self, high_tension_kV: float) -> None:
        """Follow an HT change: re-apply the same preset index at the new HT (NSLumiere's
        ``EHT_change``). ``LimitError`` if the table has no presets at that HT."""
        with self._lock:
            ht = float(high_tension_kV)
            index = self._preset.index if self._preset is not None else self.presets.last
            preset = self.presets.preset(ht, index)
            self._high_tension_kV = ht
            self.apply_preset(preset)

    def apply_preset(self, preset: Preset) -> None:
        """Send a preset's eleven set points."""
        with self._lock:
            self._preset = None  # unknown state if a write fails half-way
            for name in ELEMENTS:
                self.lens.set_current(name, preset.currents[name])
            self._preset = preset
            self._tuned_by_hand = False
            self.publish()

    def publish(self) -> None:
        """Set :attr:`energy_calibration` (if any) to the window now: one assignment of offset and
        dispersion, so a camera never reads one without the other."""
        with self._lock:
            if self.energy_calibration is not None and self._preset is not None:
                self.energy_calibration.set(self.energy_offset_eV, self.dispersion_eV_per_channel)

    @property
    def preset(self) -> Preset | None:
        """The preset applied last (None before :meth:`initialise` or after a failed write)."""
        return self._preset

    def dispersions_eV_per_channel(self) -> tuple[float, ...]:
        return tuple(sorted({p.dispersion_eV_per_channel for p in self.presets.presets(self._high_tension_kV)}))

    # -- the interface -----------------------------------------------------------------------------
    def _current_preset(self) -> Preset:
        if self._preset is None:
            raise RuntimeError("the EELS spectrometer's state is unknown: no preset applied since connection "
                               "or the last write failed; set a dispersion or call initialise()")
        return self._preset

    @property
    def dispersion_eV_per_channel(self) -> float:
        return self._current_preset().dispersion_eV_per_channel

    @dispersion_eV_per_channel.setter
    def dispersion_eV_per_channel(self, value: float) -> None:
        preset = self.presets.by_dispersion(self._high_tension_kV, value, self.config.dispersion_tolerance)
        self.apply_preset(preset)

    def offset_range_eV(self, dispersion_eV_per_channel: float | None = None) -> tuple[float, float]:
        """Lowest and highest energy offset the drift tube reaches at a dispersion (default: now)."""
        d = self.dispersion_eV_per_channel if dispersion_eV_per_channel is None else dispersion_eV_per_channel
        return offset_range_eV(self.config, d)

    @property
    def energy_offset_eV(self) -> float:
        return self.drift_tube.voltage_V - self.config.zlp_channel * self.dispersion_eV_per_channel

    @energy_offset_eV.setter
    def energy_offset_eV(self, value: float) -> None:
        with self._lock:
            d = self.dispersion_eV_per_channel
            lo, hi = self.offset_range_eV(d)
            v = check_range(f"energy offset at {d:g} eV/channel (drift tube "
                            f"{self.config.drift_tube_range_V[0]:g}–{self.config.drift_tube_range_V[1]:g} V)",
                            value, lo, hi, "eV")
            self.drift_tube.set_voltage_V(min(max(v + self.config.zlp_channel * d, self.config.drift_tube_range_V[0]),
                                              self.config.drift_tube_range_V[1]))
            self.publish()

    def calibration(self) -> SpectrometerSetting:
        with self._lock:
            p = self._current_preset()
            return SpectrometerSetting(self.energy_offset_eV, p.dispersion_eV_per_channel, p.name, self._tuned_by_hand)

    def element_currents(self) -> Mapping[str, int]:
        return dict(self.lens.currents)

    def set_element_current(self, element: str, value: int) -> None:
        """Set one element by hand (a dispersion element marks the calibration ``tuned_by_hand``)."""
        with self._lock:
            v = check_current(element, value)
            self.lens.set_current(element, v)
            if element in DISPERSION_ELEMENTS and self._preset is not None \
                    and v != self._preset.currents[element]:
                self._tuned_by_hand = True

    # -- presets for experiments (the windows: .windows, pure functions) ---------------------------
    def set_window(self, energy_offset_eV: float, dispersion_eV_per_channel: float) -> SpectrometerSetting:
        """Set the dispersion (a preset's), then the offset; return the setting."""
        with self._lock:
            self.dispersion_eV_per_channel = dispersion_eV_per_channel
            self.energy_offset_eV = energy_offset_eV
            return self.calibration()

    def show_window(self, low_eV: float, high_eV: float, n_channels: int = 1024) -> SpectrometerSetting:
        """Finest preset and an offset whose window covers ``low_eV``–``high_eV`` (loss, eV)."""
        return self.set_window(*window_for(low_eV, high_eV, n_channels, self.config, self.dispersions_eV_per_channel()))

    def low_loss(self, n_channels: int = 1024) -> SpectrometerSetting:
        return self.set_window(*low_loss_window(n_channels, self.config, self.dispersions_eV_per_channel()))

    def core_loss(self, edges_eV: Sequence[float | str], n_channels: int = 1024) -> SpectrometerSetting:
        """``edges_eV``: onsets in eV or edge names (``"Sc L2,3"``), see :func:`.windows.core_loss_window`."""
        return self.set_window(*core_loss_window(edges_eV, n_channels, self.config, self.dispersions_eV_per_channel()))

    def eegs(self, photon_energy_eV: float, orders: int, n_channels: int = 1024) -> SpectrometerSetting:
        return self.set_window(*eegs_window(photon_energy_eV, orders, n_channels, self.config,
                                            self.dispersions_eV_per_channel()))
