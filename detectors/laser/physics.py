"""The simulated laser bench's physics, shared by all simulated instruments.

:class:`LaserPhysics` owns the hidden state of the bench (motor position and motion of the dye
laser, pump currents, attenuator angle, blanker timing) and keeps the shared
:class:`~detectors.simulation.state.LaserState` record up to date, so the simulated microscope
sees the light the drivers set. Time comes from a :class:`~detectors.simulation.clock.SimClock`,
noise from a ``numpy.random.Generator``.

Notes
-----
``LaserState.power_uW`` is the power the specimen receives *when the shutter is open and the pump
diode is on* (tuning curve x pump factor x attenuator x drift); use ``LaserState.illuminating``
to know whether light actually reaches it. The power meters read zero (plus a dark offset and
noise) unless the bench is illuminating.
"""
from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np

from detectors.simulation.clock import SimClock
from detectors.simulation.state import LaserState

from .calibration import WavelengthCalibration
from .config import LaserConfig


@dataclasses.dataclass
class _Move:
    start_steps: int
    target_steps: int
    t_start_s: float
    t_end_s: float


class LaserPhysics:
    """Hidden state and physics of the simulated EEGS laser bench.

    Parameters
    ----------
    state : LaserState
        Shared record, updated in place (``wavelength_nm``, ``power_uW``, ``shutter_open``,
        ``diode_on``, ``duty_cycle``).
    clock : SimClock
        Simulated time (s).
    rng : numpy.random.Generator
        Noise source (settle jitter, power noise).
    config : LaserConfig
        Calibration and ``simulation`` parameters.
    """

    def __init__(self, state: LaserState, clock: SimClock, rng: np.random.Generator,
                 config: LaserConfig) -> None:
        self.state = state
        self.clock = clock
        self.rng = rng
        self.config = config
        self.sim = config.simulation
        self.calibration = WavelengthCalibration(config.credo.position_coefficients)
        self.lock = threading.RLock()
        start_nm = min(max(state.wavelength_nm, config.credo.min_wavelength_nm),
                       config.credo.max_wavelength_nm)
        self._steps = self.calibration.to_position(start_nm)
        self._move: _Move | None = None
        self.currents_A = [0.0, 0.0]
        self.gate_on = False
        self.q_switch = False
        self.temperatures_C = (26.0, 34.0)
        self.angle_deg = 0
        self.delay_ns = 800.0
        self.width_ns = 250.0
        self.rate_Hz = 10_000.0
        self.gating = False
        self.hv_percent = [0, 0]
        #: training/test faults (see :meth:`mode_hop`, :meth:`power_drop`): from ``fault_t_s`` on,
        #: the emitted wavelength is off by ``mode_hop_nm`` and the power scaled by ``power_fault_factor``
        self.mode_hop_nm = 0.0
        self.power_fault_factor = 1.0
        self.fault_t_s = 0.0
        self.update()

    # -- faults (training, tests) ----------------------------------------------------------------
    def mode_hop(self, delta_nm: float, at_s: float | None = None, power_factor: float = 0.6) -> None:
        """From simulated time ``at_s`` (default now) the dye laser lases on a neighbouring mode:
        the emitted wavelength is ``delta_nm`` off the set one and the power scaled by ``power_factor``."""
        with self.lock:
            self.mode_hop_nm = float(delta_nm)
            self.power_fault_factor = float(power_factor)
            self.fault_t_s = self.clock.now_s() if at_s is None else float(at_s)
            self.update()

    def power_drop(self, factor: float, at_s: float | None = None) -> None:
        """From simulated time ``at_s`` (default now) the laser's power is scaled by ``factor``."""
        with self.lock:
            self.power_fault_factor = float(factor)
            self.fault_t_s = self.clock.now_s() if at_s is None else float(at_s)
            self.update()

    def clear_optical_faults(self) -> None:
        with self.lock:
            self.mode_hop_nm, self.power_fault_factor = 0.0, 1.0
            self.update()

    # -- dye laser ------------------------------------------------------------------------------
    def start_move(self, target_steps: int) -> float:
        """Start a motor move; returns its duration in simulated seconds."""
        with self.lock:
            steps, _ = self.motor_position()
            d_nm = abs(self.calibration.to_wavelength(target_steps)
                       - self.calibration.to_wavelength(steps))
            duration = (self.sim.settle_base_s + abs(self.rng.normal(0.0, self.sim.settle_jitter_s))
                        + 0.01 * d_nm)
            now = self.clock.now_s()
            self._move = _Move(steps, int(target_steps), now, now + duration)
            self.update()
            return duration

    def motor_position(self) -> tuple[int, bool]:
        """``(steps, moving)`` at the current simulated time."""
        with self.lock:
            move = self._move
            if move is None:
                return self._steps, False
            now = self.clock.now_s()
            if now >= move.t_end_s:
                self._steps = move.target_steps
                self._move = None
                return self._steps, False
            frac = (now - move.t_start_s) / (move.t_end_s - move.t_start_s)
            steps = int(round(move.start_steps + frac * (move.target_steps - move.start_steps)))
            return steps, True

    # -- power ----------------------------------------------------------------------------------
    def tuning(self, wavelength_nm: float) -> float:
        """Relative dye laser output (1 at the tuning-curve peak)."""
        s = self.sim
        sigma = s.tuning_fwhm_nm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        g = math.exp(-0.5 * ((wavelength_nm - s.tuning_centre_nm) / sigma) ** 2)
        return s.tuning_floor + (1.0 - s.tuning_floor) * g

    def pump_factor(self) -> float:
        s = self.sim
        current = 0.5 * (self.currents_A[0] + self.currents_A[1])
        return max(0.0, current - s.lasing_threshold_A) / (s.nominal_current_A - s.lasing_threshold_A)

    def attenuator_transmission(self) -> float:
        t_min = self.sim.attenuator_min_transmission
        return t_min + (1.0 - t_min) * math.cos(math.pi * self.angle_deg / 360.0) ** 2

    def drift_factor(self) -> float:
        s = self.sim
        return 1.0 + s.power_drift_rel * math.sin(2.0 * math.pi * self.clock.now_s()
                                                  / s.power_drift_period_s)

    def update(self) -> LaserState:
        """Recompute the shared :class:`LaserState` at the current simulated time and return it."""
        with self.lock:
            steps, _ = self.motor_position()
            wl = self.calibration.to_wavelength(steps)
            fault = self.clock.now_s() >= self.fault_t_s
            if fault:
                wl += self.mode_hop_nm
            self.state.wavelength_nm = wl
            self.state.power_uW = (self.sim.peak_power_uW * self.tuning(wl) * self.pump_factor()
                                   * self.attenuator_transmission() * self.drift_factor()
                                   * (self.power_fault_factor if fault else 1.0))
            self.state.duty_cycle = (min(1.0, self.width_ns * 1e-9 * self.rate_Hz)
                                     if self.gating else 1.0)
            return self.state

    def set_shutter(self, open_: bool) -> None:
        with self.lock:
            self.state.shutter_open = bool(open_)

    def set_diode(self, on: bool) -> None:
        with self.lock:
            self.state.diode_on = bool(on)
            self.update()

    def set_current(self, channel: int, current_A: float) -> None:
        with self.lock:
            self.currents_A[channel - 1] = float(current_A)
            self.update()

    def set_angle(self, angle_deg: int) -> None:
        with self.lock:
            self.angle_deg = int(min(max(angle_deg, 0), 180))
            self.update()

    def set_timing(self, delay_ns: float | None = None, width_ns: float | None = None,
                   rate_Hz: float | None = None, gating: bool | None = None) -> None:
        with self.lock:
            if delay_ns is not None:
                self.delay_ns = float(delay_ns)
            if width_ns is not None:
                self.width_ns = float(width_ns)
            if rate_Hz is not None:
                self.rate_Hz = float(rate_Hz)
            if gating is not None:
                self.gating = bool(gating)
            self.update()

    def meter_reading_uW(self, position: str, set_wavelength_nm: float, averaging: int) -> float:
        """One power-meter reading, µW, as the PM100 would report it.

        ``position`` is ``"in"`` (before the column) or ``"out"`` (after it). The meter's
        responsivity is taken as proportional to λ (silicon photodiode), so a wrong wavelength
        correction scales the reading by ``true λ / set λ``.
        Reading takes ``averaging * meter_sample_time_s`` of simulated time.
        """
        with self.lock:
            s = self.sim
            self.clock.sleep(averaging * s.meter_sample_time_s)
            state = self.update()
            power = state.power_uW / s.specimen_fraction if state.illuminating else 0.0
            if position == "out":
                power *= s.column_transmission
            power *= state.wavelength_nm / set_wavelength_nm
            noise = s.power_noise_rel / math.sqrt(averaging)
            return float(power * (1.0 + self.rng.normal(0.0, noise)) + s.meter_dark_uW
                         + self.rng.normal(0.0, s.meter_dark_uW / math.sqrt(averaging)))
