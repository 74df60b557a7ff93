"""Closed-loop power lock: convergence by servo angle and by diode current, abort, hold."""
from __future__ import annotations

import threading

import pytest

from detectors.laser.config import LockConfig
from detectors.common.errors import LimitError
from detectors.laser.power_lock import (AttenuatorActuator, DiodeCurrentActuator, LockStep,
                                        PowerLock)
from detectors.laser.simulated import SimulatedLaserBench


@pytest.fixture
def rig():
    sim = SimulatedLaserBench(timeout_s=2.0, seed=6)
    with sim as bench:
        bench.set_wavelength_nm(582.0)
        bench.pump.set_diode(True)
        bench.pump.set_current_A(6.0)
        bench.pump.set_shutter(True)
        yield sim, bench


@pytest.mark.parametrize("setpoint_uW", [350.0, 200.0, 60.0])
def test_lock_by_attenuator_converges(rig, setpoint_uW):
    sim, bench = rig
    lock = PowerLock(bench.meter_in, AttenuatorActuator(bench.attenuator), setpoint_uW,
                     tolerance_uW=0.02 * setpoint_uW)
    result = lock.run(max_steps=60, sleep=sim.system.clock.sleep, interval_s=0.1)
    assert result.locked and not result.aborted
    assert result.final_power_uW == pytest.approx(setpoint_uW, rel=0.02)
    assert bench.meter_in.read_power_uW() == pytest.approx(setpoint_uW, rel=0.03)


@pytest.mark.parametrize("setpoint_uW", [150.0, 400.0])
def test_lock_by_diode_current_converges(rig, setpoint_uW):
    sim, bench = rig
    actuator = DiodeCurrentActuator(bench.pump, min_current_A=1.0)
    lock = PowerLock(bench.meter_in, actuator, setpoint_uW)
    result = lock.run(max_steps=60)
    assert result.locked
    assert result.final_power_uW == pytest.approx(setpoint_uW, rel=0.01)
    assert bench.pump.current_A() <= bench.pump.max_current_A


def test_lock_saturates_instead_of_exceeding_limits(rig):
    sim, bench = rig
    actuator = DiodeCurrentActuator(bench.pump, max_current_A=7.0)
    lock = PowerLock(bench.meter_in, actuator, setpoint_uW=5000.0, max_power_uW=1e4)  # unreachable
    result = lock.run(max_steps=30)
    assert not result.locked
    assert result.steps[-1].saturated
    assert bench.pump.current_A() == pytest.approx(7.0)


def test_abort_and_hold_mode(rig):
    sim, bench = rig
    lock = PowerLock(bench.meter_in, AttenuatorActuator(bench.attenuator), 200.0,
                     tolerance_uW=4.0)
    stop = threading.Event()
    stop.set()
    result = lock.run(abort=stop)
    assert result.aborted and result.steps == []
    seen: list[LockStep] = []

    def abort_after_40() -> bool:
        return len(seen) >= 40

    result = lock.run(max_steps=1000, abort=abort_after_40, until_locked=False,
                      interval_s=5.0, sleep=sim.system.clock.sleep, on_step=seen.append)
    assert result.aborted and len(result.steps) == 40
    # while the power drifts (3 % over 300 s), the lock holds it
    assert sum(s.locked for s in result.steps[-20:]) >= 18


class FakeMeter:
    """Power = 10 µW/degree · (90 − angle) with a fixed offset."""

    def __init__(self, actuator):
        self.actuator = actuator

    def read_power_uW(self) -> float:
        return 10.0 * (90.0 - self.actuator.value) + 5.0

    def set_wavelength_nm(self, wavelength_nm: float, force: bool = False) -> bool:
        return False


class FakeActuator:
    name = "angle"
    limits = (0.0, 90.0)
    resolution = 1.0
    sign = -1
    probe_step = 2.0

    def __init__(self):
        self.value = 10.0
        self.history = []

    def get(self) -> float:
        return self.value

    def set(self, value: float) -> None:
        self.history.append(value)
        self.value = value


def test_step_is_a_secant_iteration_on_a_linear_plant():
    actuator = FakeActuator()
    lock = PowerLock(FakeMeter(actuator), actuator, setpoint_uW=305.0, tolerance_uW=1.0, gain=1.0,
                     max_step=100.0)
    # P(10°) = 805 µW is above the set point and dP/dangle < 0: the probe step increases the angle
    first = lock.step()
    assert actuator.history == [12.0] and not first.locked
    # the secant slope is exact on a linear plant: the next step lands on 60° (P = 305 µW)
    second = lock.step()
    assert lock.slope == pytest.approx(-10.0)
    assert actuator.history == [12.0, 60.0] and not second.locked
    assert lock.step().locked
    result = lock.run(max_steps=10)
    assert result.locked and len(result.steps) == 2 and actuator.value == 60.0


def test_invalid_parameters():
    actuator = FakeActuator()
    with pytest.raises(ValueError, match="set point"):
        PowerLock(FakeMeter(actuator), actuator, setpoint_uW=0.0)
    with pytest.raises(ValueError, match="gain"):
        PowerLock(FakeMeter(actuator), actuator, setpoint_uW=10.0, gain=1.5)


def test_setpoint_above_power_limit_refused_before_moving(rig):
    sim, bench = rig
    before = {k: list(t.written) for k, t in sim.transports.items()}
    cfg = LockConfig(max_power_uW=500.0)
    with pytest.raises(LimitError, match="power set point 900.0 µW outside the allowed range 0.0–500.0 µW"):
        PowerLock.from_config(bench.meter_in, AttenuatorActuator(bench.attenuator), 900.0, cfg)
    lock = PowerLock.from_config(bench.meter_in, AttenuatorActuator(bench.attenuator), 300.0, cfg)
    with pytest.raises(LimitError):
        lock.setpoint_uW = 501.0
    assert lock.setpoint_uW == 300.0
    assert {k: list(t.written) for k, t in sim.transports.items()} == before


def test_reset_after_manual_move():
    actuator = FakeActuator()
    lock = PowerLock(FakeMeter(actuator), actuator, setpoint_uW=305.0, tolerance_uW=1.0,
                     max_step=100.0)
    assert lock.run(max_steps=20).locked
    actuator.value = 30.0                       # someone moved it by hand
    lock.reset()
    assert lock.slope is None
    result = lock.run(max_steps=20)
    assert result.locked and actuator.value == pytest.approx(60.0)
