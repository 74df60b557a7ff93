"""Arduino servo attenuator against the simulator."""
from __future__ import annotations

import pytest

from detectors.laser.attenuator import Attenuator
from detectors.common.errors import BadReply, DeviceTimeout, LimitError
from detectors.common.simbase import Fault
from detectors.laser.simulated import SimulatedLaserBench


@pytest.fixture(params=["pty", "tcp"])
def rig(request):
    sim = SimulatedLaserBench(serial=request.param, timeout_s=2.0, seed=4)
    with sim as bench:
        yield sim, bench


def test_angle_roundtrip_and_power(rig):
    sim, bench = rig
    att = bench.attenuator
    assert isinstance(att, Attenuator)
    assert att.angle_deg() == 0                                   # "Ready" greeting is skipped
    bench.pump.set_diode(True)
    bench.pump.set_current_A(6.0)
    p0 = sim.system.update().power_uW
    att.set_angle_deg(120)
    assert att.angle_deg() == 120 and sim.system.physics.angle_deg == 120
    assert sim.system.update().power_uW < 0.5 * p0


@pytest.mark.parametrize("angle, message", [(181, "servo angle 181.0 ° outside the allowed range 0.0–180.0 °"),
                                            (-1, "outside the allowed range"),
                                            (45.5, "not an integer")])
def test_out_of_range_refused_before_sending(rig, angle, message):
    sim, bench = rig
    before = list(sim.transports["attenuator"].written)
    with pytest.raises(LimitError, match=message):
        bench.attenuator.set_angle_deg(angle)
    assert sim.transports["attenuator"].written == before


def test_faults(rig):
    sim, bench = rig
    sim.system.attenuator.fault = Fault.GARBLED
    with pytest.raises(BadReply):
        bench.attenuator.angle_deg()
    sim.system.attenuator.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        bench.attenuator.set_angle_deg(10)                      # the read-back times out
    sim.system.attenuator.fault = Fault.NONE
    assert bench.attenuator.angle_deg() == 10
