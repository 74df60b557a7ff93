"""Spectra-Physics pump supply: shutter, diode, current limit, ramp, against the simulator."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.laser.config import LaserConfig, PumpConfig
from detectors.common.errors import BadReply, ConnectionLost, DeviceTimeout, InstrumentError, LimitError
from detectors.laser.pump import PumpSupply
from detectors.common.simbase import Fault
from detectors.laser.simulated import SimulatedLaserBench, SimulatedLaserSystem
from detectors.simulation.clock import SimClock
from detectors.simulation.state import LaserState


@pytest.fixture(params=["pty", "tcp"])
def rig(request):
    sim = SimulatedLaserBench(serial=request.param, timeout_s=2.0, seed=2)
    with sim as bench:
        yield sim, bench


def test_shutter_and_diode_drive_shared_state(rig):
    sim, bench = rig
    pump = bench.pump
    assert isinstance(pump, PumpSupply)
    state = sim.system.state
    assert not pump.shutter_open() and not pump.diode_on()
    pump.set_diode(True)
    pump.set_shutter(True)
    assert pump.shutter_open() and pump.diode_on()
    assert state.shutter_open and state.diode_on
    pump.set_shutter(False)
    assert not pump.shutter_open() and not state.shutter_open
    assert pump.temperature_C(1) == pytest.approx(26.0)
    assert pump.temperature_C(2) == pytest.approx(34.0)


def test_current_sets_power(rig):
    sim, bench = rig
    bench.pump.set_diode(True)
    bench.pump.set_current_A(6.0)
    assert bench.pump.current_A(1) == pytest.approx(6.0)
    assert bench.pump.current_A(2) == pytest.approx(6.0)
    high = sim.system.update().power_uW
    bench.pump.set_current_A(3.0, channel=1)
    assert bench.pump.current_A(1) == pytest.approx(3.0)
    assert 0 < sim.system.update().power_uW < high


@pytest.mark.parametrize("current", [8.01, 20.0, -0.1, float("inf")])
def test_current_limit_refused_before_sending(rig, current):
    sim, bench = rig
    before = list(sim.transports["pump"].written)
    with pytest.raises(LimitError, match=r"diode current .* A outside the allowed range 0.0–8.0 A"):
        bench.pump.set_current_A(current)
    with pytest.raises(LimitError):
        bench.pump.ramp_current_A(current)
    assert sim.transports["pump"].written == before


def test_configured_limit():
    cfg = LaserConfig(pump=PumpConfig(max_current_A=4.0))
    system = SimulatedLaserSystem(LaserState(), SimClock(), np.random.default_rng(0), cfg)
    with SimulatedLaserBench(system, timeout_s=2.0) as bench:
        with pytest.raises(LimitError, match="4.5 A outside the allowed range 0.0–4.0 A"):
            bench.pump.set_current_A(4.5)
        bench.pump.set_current_A(4.0)


def test_ramp_takes_steps_on_the_simulated_clock(rig):
    sim, bench = rig
    t0 = sim.system.clock.now_s()
    last = bench.pump.ramp_current_A(5.0, steps=5, interval_s=0.25)
    assert last == pytest.approx(5.0)
    assert sim.system.clock.now_s() - t0 == pytest.approx(5 * 0.25, abs=0.01)
    sent = [w for w in sim.transports["pump"].written if w.startswith(b"C1:")]
    assert sent == [b"C1:1.00\n", b"C1:2.00\n", b"C1:3.00\n", b"C1:4.00\n", b"C1:5.00\n"]


def test_startup_check_ramps_down_high_currents(rig):
    sim, bench = rig
    bench.pump.set_diode(True)
    bench.pump.set_current_A(3.0)
    assert bench.pump.startup_check()
    assert bench.pump.current_A(1) == pytest.approx(0.10)
    assert not bench.pump.diode_on() and not bench.pump.gate_on()
    assert not bench.pump.startup_check()


def test_make_safe(rig):
    sim, bench = rig
    bench.pump.set_diode(True)
    bench.pump.set_current_A(6.0)
    bench.pump.set_shutter(True)
    bench.make_safe()
    state = sim.system.update()
    assert not state.shutter_open and not state.diode_on and not state.illuminating


def test_faults(rig):
    sim, bench = rig
    sim.system.pump.fault = Fault.GARBLED
    with pytest.raises(BadReply):
        bench.pump.shutter_open()
    with pytest.raises(BadReply):
        bench.pump.set_diode(True)
    sim.system.pump.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        bench.pump.current_A()
    sim.system.pump.fault = Fault.NONE
    assert bench.pump.current_A() == pytest.approx(0.0)
    sim.system.pump.fault = Fault.DISCONNECT
    with pytest.raises(ConnectionLost):
        bench.pump.diode_on()


def test_instrument_refusal_is_typed(rig):
    _, bench = rig
    with pytest.raises(InstrumentError):
        bench.pump._set("NONSENSE:1")
