"""Hidden state of the simulated VG column, coupled to the shared simulated world.

:class:`ColumnPhysics` is what the byte-level simulators (lens supply, HT, probe unit, stage,
aperture motors, gauges) act on. It writes the parts of the world other simulated devices read:
``world.beam.high_tension_V`` (0 when the HT is off), ``world.beam.blanked``, the parked probe
position (moved by probe-shift changes), the scan's :class:`SimulatedProbeShift` if one is
attached, and the specimen position (a stage move adds a step to ``world.drift``).
Tests change ``gun_pressure_Pa`` / ``column_pressure_Pa`` directly to provoke the interlocks.
"""
from __future__ import annotations

import math
import threading

from detectors.simulation.world import SimulatedWorld

from .config import VGConfig


class ColumnPhysics:
    """State of the simulated column.

    Parameters
    ----------
    world : SimulatedWorld
        Shared world (beam, clock, drift).
    config : VGConfig
        Start values (initial HT and its lens table) and simulator parameters.
    probe_shift : object, optional
        The scan's probe shift (``set_shift_nm(dy, dx)``), e.g.
        :class:`detectors.simulation.devices.SimulatedProbeShift`; kept in step with ``CSH``.
    """

    def __init__(self, world: SimulatedWorld, config: VGConfig, probe_shift: object | None = None) -> None:
        self.world = world
        self.clock = world.clock
        self.config = config
        self.probe_shift = probe_shift
        self.lock = threading.RLock()
        sim = config.simulation
        ht = config.ht.initial_V
        settings = config.ht.table[ht]
        self.ht_on = True
        self.ht_V = ht
        world.beam.high_tension_V = ht
        self.lens_currents_A = {1: settings.OL_A, 2: settings.C1_A, 3: settings.C2_A}
        self.lens_resistance_ohm = {1: sim.objective_resistance_ohm, 2: sim.condenser_resistance_ohm,
                                    3: sim.condenser_resistance_ohm}
        self.lens_unlocked = False
        self.shift_nm = (0.0, 0.0)
        self.gun_pressure_Pa = sim.gun_pressure_Pa
        self.column_pressure_Pa = sim.column_pressure_Pa
        self.aperture_steps: dict[int, int] = {d: 0 for d in config.apertures.motors.values()}
        self._stage_from = (0.0, 0.0)
        self._stage_to = (0.0, 0.0)
        self._stage_t0 = self._stage_t1 = self.clock.now_s()

    # -- HT and blanking ----------------------------------------------------------------------
    def set_high_tension(self, value_V: float) -> None:
        with self.lock:
            self.ht_V = float(value_V)
            self.ht_on = True
            self.world.beam.high_tension_V = self.ht_V

    def high_tension_off(self) -> None:
        """HT off: no electrons (the beam is blanked) and ``high_tension_V`` reads 0."""
        with self.lock:
            self.ht_on = False
            self.world.beam.high_tension_V = 0.0
            self.world.beam.blanked = True

    def set_blanked(self, blanked: bool) -> None:
        with self.lock:
            self.world.beam.blanked = bool(blanked) or not self.ht_on

    @property
    def blanked(self) -> bool:
        return bool(self.world.beam.blanked)

    # -- lenses -------------------------------------------------------------------------------
    def lens_voltage_V(self, channel: int) -> float:
        return self.lens_currents_A[channel] * self.lens_resistance_ohm[channel]

    # -- probe shift ----------------------------------------------------------------------------
    def set_shift(self, dy_nm: float, dx_nm: float) -> None:
        """Move the probe by the change of shift and tell the scan's probe shift."""
        with self.lock:
            beam = self.world.beam
            beam.probe_y_nm += dy_nm - self.shift_nm[0]
            beam.probe_x_nm += dx_nm - self.shift_nm[1]
            self.shift_nm = (float(dy_nm), float(dx_nm))
            if self.probe_shift is not None:
                self.probe_shift.set_shift_nm(float(dy_nm), float(dx_nm))

    # -- stage ----------------------------------------------------------------------------------
    def stage_position_nm(self) -> tuple[float, float]:
        """(x, y) at the clock's present time (linear motion between the move's end points)."""
        with self.lock:
            t = self.clock.now_s()
            if t >= self._stage_t1:
                return self._stage_to
            span = self._stage_t1 - self._stage_t0
            f = min(1.0, (t - self._stage_t0) / span) if span > 0 else 1.0
            (x0, y0), (x1, y1) = self._stage_from, self._stage_to
            return (x0 + f * (x1 - x0), y0 + f * (y1 - y0))

    def stage_moving(self) -> bool:
        return self.clock.now_s() < self._stage_t1

    def start_stage_move(self, x_nm: float, y_nm: float) -> float:
        """Start a move; returns its duration (s of simulated time)."""
        with self.lock:
            start = self.stage_position_nm()
            cfg = self.config.stage
            dist = math.hypot(x_nm - start[0], y_nm - start[1])
            duration = dist / cfg.speed_nm_per_s + (cfg.settle_s if dist > 0 else 0.0)
            t0 = self.clock.now_s()
            self._stage_from, self._stage_to = start, (float(x_nm), float(y_nm))
            self._stage_t0, self._stage_t1 = t0, t0 + duration
            if dist > 0 and self.config.simulation.stage_moves_specimen:
                # the specimen rides on the stage: a step (dy, dx) in the microscope frame
                self.world.drift.add_burst(t0, (y_nm - start[1], x_nm - start[0]),
                                           tau_s=max(duration / 5.0, 1e-3))
            return duration

    def stop_stage(self) -> None:
        with self.lock:
            here = self.stage_position_nm()
            self._stage_from = self._stage_to = here
            self._stage_t1 = self.clock.now_s()
