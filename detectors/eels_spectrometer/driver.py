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

import math
import numbers
import threading
from typing import Mapping, Sequence

from detectors.common.errors import LimitError, check_range

from .config import EELSSpectrometerConfig
from .interface import EnergyCalibration
from .presets import DISPERSION_ELEMENTS, ELEMENTS, Preset, PresetTable, plan_window
from .protocol import DriftTubeSupply, LensUnit, check_current


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

    # -- set-up ----------------------------------------------------------------------------------
    def initialise(self) -> EnergyCalibration:
        """Apply the configured preset (``config.preset``, or the file's ``last``) and 0 V."""
        index = self.config.preset if self.config.preset >= 0 else self.presets.last
        with self._lock:
            self.apply_preset(self.presets.preset(self._high_tension_kV, index))
            self.drift_tube.set_voltage_V(0.0)
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
        lo, hi = self.config.drift_tube_range_V
        zero = self.config.zlp_channel * d
        return lo - zero, hi - zero

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

    def calibration(self) -> EnergyCalibration:
        with self._lock:
            p = self._current_preset()
            return EnergyCalibration(self.energy_offset_eV, p.dispersion_eV_per_channel, p.name, self._tuned_by_hand)

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

    # -- presets for experiments -------------------------------------------------------------------
    def show_window(self, low_eV: float, high_eV: float, n_channels: int = 1024) -> EnergyCalibration:
        """Finest preset and an offset whose window covers ``low_eV``–``high_eV`` (loss, eV)."""
        with self._lock:
            d, offset = plan_window(low_eV, high_eV, n_channels, self.dispersions_eV_per_channel(),
                                    self.offset_range_eV)
            self.dispersion_eV_per_channel = d
            self.energy_offset_eV = offset
            return self.calibration()

    def low_loss(self, n_channels: int = 1024) -> EnergyCalibration:
        return self.show_window(*self.config.low_loss_window_eV, n_channels=n_channels)

    def core_loss(self, edges_eV: Sequence[float], n_channels: int = 1024) -> EnergyCalibration:
        try:
            edges = [float(e) for e in edges_eV]
        except (TypeError, ValueError):
            edges = None
        if not edges or not all(math.isfinite(e) and e > 0 for e in edges):
            raise LimitError(f"edges_eV = {edges_eV!r} is not allowed; expected a non-empty list of edge "
                             "onsets > 0 eV")
        c = self.config
        return self.show_window(min(edges) - c.pre_edge_eV, max(edges) + c.post_edge_eV, n_channels)

    def eegs(self, photon_energy_eV: float, orders: int, n_channels: int = 1024) -> EnergyCalibration:
        hw = check_range("photon energy", photon_energy_eV, 0.1, 10.0, "eV")
        if isinstance(orders, bool) or not isinstance(orders, numbers.Integral) or not 1 <= orders <= 50:
            raise LimitError(f"orders = {orders!r} is not allowed; expected an integer 1–50")
        half = (int(orders) + 0.5) * hw  # half an order of margin beyond the outermost sideband
        return self.show_window(-half, half, n_channels)
