"""Laser/beam synchronisation box (TCP ASCII): timing, duty cycle, limits."""
from __future__ import annotations

import pytest

from detectors.laser.blanker import BeamSync, SyncTiming
from detectors.common.errors import BadReply, DeviceTimeout, LimitError
from detectors.common.simbase import Fault
from detectors.laser.simulated import SimulatedLaserBench


@pytest.fixture
def rig():
    sim = SimulatedLaserBench(timeout_s=2.0, seed=5)
    with sim as bench:
        yield sim, bench


def test_timing_and_duty_cycle(rig):
    sim, bench = rig
    box = bench.blanker
    assert isinstance(box, BeamSync)
    assert "SYNC" in box.identify()
    timing = box.set_timing(delay_ns=800.0, width_ns=250.0, rate_Hz=10_000.0)
    assert timing == SyncTiming(800.0, 250.0, 10_000.0)
    assert timing.duty_cycle == pytest.approx(2.5e-3)
    assert box.duty_cycle() == 1.0 and sim.system.state.duty_cycle == 1.0      # not gated yet
    box.set_gating(True)
    assert box.gating_on()
    assert box.duty_cycle() == pytest.approx(2.5e-3)
    assert sim.system.state.duty_cycle == pytest.approx(2.5e-3)
    box.set_timing(width_ns=500.0)                                 # others kept
    assert box.timing() == SyncTiming(800.0, 500.0, 10_000.0)
    assert sim.system.state.duty_cycle == pytest.approx(5e-3)
    box.set_gating(False)
    assert sim.system.state.duty_cycle == 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(delay_ns=-5.0, width_ns=250.0, rate_Hz=1e4), "delay -5.0 ns outside the allowed range"),
    (dict(delay_ns=0.0, width_ns=1.0, rate_Hz=1e4), "width 1.0 ns outside the allowed range 10.0"),
    (dict(delay_ns=0.0, width_ns=100.0, rate_Hz=5e6), "repetition rate 5000000.0 Hz outside"),
    (dict(delay_ns=600.0, width_ns=500.0, rate_Hz=1e6), "exceed the period 1000.0 ns"),
])
def test_limits_refused_before_sending(rig, kwargs, message):
    sim, bench = rig
    before = list(sim.transports["blanker"].written)
    with pytest.raises(LimitError, match=message):
        bench.blanker.set_timing(**kwargs)
    assert sim.transports["blanker"].written == before


def test_partial_setting_checked_before_sending(rig):
    sim, bench = rig
    before = list(sim.transports["blanker"].written)
    with pytest.raises(LimitError):
        bench.blanker.set_timing(rate_Hz=0.1)
    assert sim.transports["blanker"].written == before
    with pytest.raises(LimitError, match="exceed the period"):        # needs the present values
        bench.blanker.set_timing(rate_Hz=1e6)
    assert not any(w.startswith(b"RATE ") for w in sim.transports["blanker"].written)


def test_hv_outputs(rig):
    sim, bench = rig
    bench.blanker.set_hv_percent(40, 60)
    assert bench.blanker.channel.query("HV:MON?") == "+40% -60%"
    with pytest.raises(LimitError):
        bench.blanker.set_hv_percent(140, 0)


def test_faults(rig):
    sim, bench = rig
    sim.system.blanker.fault = Fault.GARBLED
    with pytest.raises(BadReply):
        bench.blanker.timing()
    sim.system.blanker.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        bench.blanker.gating_on()
