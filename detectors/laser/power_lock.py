"""Closed-loop laser power lock: hold the measured power at a set point.

The loop reads a :class:`~detectors.laser.power_meter.PowerMeter` and moves one actuator: the
servo attenuator angle (:class:`AttenuatorActuator`) or the pump diode current
(:class:`DiodeCurrentActuator`). :meth:`PowerLock.step` does one read-and-correct step;
:meth:`PowerLock.run` loops it with an abort callable, so a workflow can hold the power during a
wavelength scan and stop at once.

Notes
-----
The controller is a damped secant (Newton) iteration: the local slope dP/du is estimated from the
last two steps (a first probe step of known sign starts it), each correction is
``gain · error / slope``, clipped to ``max_step`` and to the actuator's limits and rounded to its
resolution. When the correction rounds to zero the lock is as good as the actuator allows and
counts as locked.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Protocol

from .attenuator import Attenuator
from .config import LockConfig
from detectors.common.errors import LimitError, check_range
from .power_meter import PowerMeter
from .pump import PumpSupply


class PowerActuator(Protocol):
    """A knob that changes the laser power. ``sign`` is the sign of dP/du."""

    name: str
    limits: tuple[float, float]
    resolution: float
    sign: int
    probe_step: float

    def get(self) -> float: ...

    def set(self, value: float) -> None: ...


class AttenuatorActuator:
    """Servo angle in degrees; a larger angle gives less power (``sign = -1``)."""

    name = "servo angle (deg)"
    resolution = 1.0
    sign = -1

    def __init__(self, attenuator: Attenuator, probe_step_deg: float = 3.0) -> None:
        self.attenuator = attenuator
        self.limits = tuple(float(a) for a in attenuator.angle_range_deg)
        self.probe_step = probe_step_deg

    def get(self) -> float:
        return float(self.attenuator.angle_deg())

    def set(self, value: float) -> None:
        self.attenuator.set_angle_deg(int(round(value)))


class DiodeCurrentActuator:
    """Pump diode current in A (both channels); more current gives more power (``sign = +1``)."""

    name = "diode current (A)"
    resolution = 0.01
    sign = 1

    def __init__(self, pump: PumpSupply, min_current_A: float = 0.0,
                 max_current_A: float | None = None, probe_step_A: float = 0.1) -> None:
        self.pump = pump
        high = pump.max_current_A if max_current_A is None else min(max_current_A, pump.max_current_A)
        self.limits = (float(min_current_A), float(high))
        self.probe_step = probe_step_A

    def get(self) -> float:
        return self.pump.current_A(1)

    def set(self, value: float) -> None:
        self.pump.set_current_A(round(value, 2))


@dataclasses.dataclass(frozen=True)
class LockStep:
    """One step: measured power (µW), error = set point − power (µW), actuator value after the
    step, whether the power was within tolerance and whether the actuator hit a limit."""

    power_uW: float
    error_uW: float
    actuator_value: float
    locked: bool
    saturated: bool


@dataclasses.dataclass
class LockResult:
    locked: bool
    aborted: bool
    steps: list[LockStep]

    @property
    def final_power_uW(self) -> float:
        return self.steps[-1].power_uW if self.steps else math.nan


def _aborted(abort) -> bool:
    if abort is None:
        return False
    if hasattr(abort, "is_set"):
        return abort.is_set()
    return bool(abort())


class PowerLock:
    """Hold the power read by ``meter`` at ``setpoint_uW`` by moving ``actuator``.

    Parameters
    ----------
    meter : PowerMeter
        Reads the power to regulate, µW.
    actuator : PowerActuator
        :class:`AttenuatorActuator` or :class:`DiodeCurrentActuator`.
    setpoint_uW : float
        Target power, µW (> 0).
    tolerance_uW : float or None
        Locked when ``|P − setpoint| <= tolerance``; default 1 % of the set point.
    gain : float
        Fraction of the Newton step applied (0 < gain <= 1).
    max_step : float or None
        Largest change of the actuator per step (actuator units); default 10 probe steps.
    max_power_uW : float
        Largest allowed set point, µW (:class:`LimitError` above it, before anything moves).
    """

    def __init__(self, meter: PowerMeter, actuator: PowerActuator, setpoint_uW: float,
                 tolerance_uW: float | None = None, gain: float = 0.7,
                 max_step: float | None = None, max_power_uW: float = 1000.0) -> None:
        if not 0 < gain <= 1:
            raise ValueError(f"gain {gain} must be in (0, 1]")
        self.max_power_uW = float(max_power_uW)
        self.meter = meter
        self.actuator = actuator
        self.gain = gain
        self.max_step = 10 * actuator.probe_step if max_step is None else float(max_step)
        self._tolerance = tolerance_uW
        self.setpoint_uW = setpoint_uW
        self.slope: float | None = None
        self._value: float | None = None
        self._previous: tuple[float, float] | None = None

    @classmethod
    def from_config(cls, meter: PowerMeter, actuator: PowerActuator, setpoint_uW: float,
                    config: LockConfig) -> "PowerLock":
        """Build with the site's limit, tolerance (relative) and gain."""
        return cls(meter, actuator, setpoint_uW, tolerance_uW=config.tolerance_rel * setpoint_uW,
                   gain=config.gain, max_power_uW=config.max_power_uW)

    @property
    def setpoint_uW(self) -> float:
        return self._setpoint

    @setpoint_uW.setter
    def setpoint_uW(self, value: float) -> None:
        if not value > 0:
            raise LimitError(f"power set point {value} µW must be > 0")
        self._setpoint = check_range("power set point", value, 0.0, self.max_power_uW, "µW")

    @property
    def tolerance_uW(self) -> float:
        return 0.01 * self._setpoint if self._tolerance is None else float(self._tolerance)

    def reset(self) -> None:
        """Forget the slope estimate and the cached actuator value (call after the actuator was
        moved by someone else: the lock assumes it is the only one moving it while it runs)."""
        self.slope = None
        self._value = None
        self._previous = None

    def _update_slope(self, value: float, power: float) -> None:
        if self._previous is None:
            return
        u0, p0 = self._previous
        du, dp = value - u0, power - p0
        if abs(du) < 0.5 * self.actuator.resolution or dp == 0:
            return
        s = dp / du
        if math.copysign(1, s) != self.actuator.sign or abs(dp) < 0.5 * self.tolerance_uW:
            return  # noise-dominated or against the known monotonicity: keep the old estimate
        self.slope = s if self.slope is None else 0.5 * (self.slope + s)

    def step(self) -> LockStep:
        """Read the power once and correct the actuator once."""
        power = self.meter.read_power_uW()
        value = self.actuator.get() if self._value is None else self._value
        self._update_slope(value, power)
        error = self._setpoint - power
        if abs(error) <= self.tolerance_uW:
            self._previous, self._value = (value, power), value
            return LockStep(power, error, value, True, False)
        if self.slope is None:
            delta = self.actuator.sign * math.copysign(self.actuator.probe_step, error)
        else:
            delta = self.gain * error / self.slope
            delta = max(-self.max_step, min(self.max_step, delta))
        low, high = self.actuator.limits
        wanted = value + delta
        res = self.actuator.resolution
        new = round(min(max(wanted, low), high) / res) * res
        saturated = wanted < low or wanted > high
        if abs(new - value) < 0.5 * res:
            # the correction is below the actuator's resolution (or pinned at a limit)
            self._previous, self._value = (value, power), value
            return LockStep(power, error, value, not saturated, saturated)
        self.actuator.set(new)
        self._previous, self._value = (value, power), new
        return LockStep(power, error, new, False, saturated)

    def run(self, max_steps: int = 100, abort: Callable[[], bool] | None = None,
            until_locked: bool = True, consecutive: int = 2, interval_s: float = 0.0,
            sleep: Callable[[float], None] = time.sleep,
            on_step: Callable[[LockStep], None] | None = None) -> LockResult:
        """Repeat :meth:`step`.

        Parameters
        ----------
        max_steps : int
            Upper bound on steps.
        abort : callable or threading.Event, optional
            Checked before every step; the loop returns with ``aborted=True`` when it is true.
        until_locked : bool
            Return once ``consecutive`` successive steps were locked; if False, keep regulating
            until ``abort`` or ``max_steps`` (hold mode).
        interval_s : float
            Pause between steps (through ``sleep``), s.
        on_step : callable, optional
            Called with every :class:`LockStep` (progress reporting).
        """
        steps: list[LockStep] = []
        run_locked = 0
        for _ in range(max_steps):
            if _aborted(abort):
                return LockResult(False, True, steps)
            s = self.step()
            steps.append(s)
            if on_step is not None:
                on_step(s)
            run_locked = run_locked + 1 if s.locked else 0
            if until_locked and run_locked >= consecutive:
                return LockResult(True, False, steps)
            if interval_s > 0:
                sleep(interval_s)
        return LockResult(run_locked > 0, False, steps)
