"""Interlocks: objective over-temperature and vacuum thresholds stop what they must and say why."""
from __future__ import annotations

import pytest

from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import InterlockTripped, SimulatedVGColumn


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(5, drift=DriftSettings((0.0, 0.0), 0.0))


@pytest.fixture
def vg(world):
    world.beam.blanked = False
    world.beam.high_tension_V = 100_000.0
    with SimulatedVGColumn(world, timeout_s=0.25) as sim:
        yield sim


def test_objective_over_temperature(vg, world):
    vg.set("OL", 9.5)  # steady state 22 + 0.6·9.5² = 76 °C > 65 °C limit
    assert vg.poll() == []  # the lens takes time to warm up
    world.clock.advance(120.0)
    assert vg.get("ObjectiveTemperature") < 65.0
    world.clock.advance(3000.0)
    with pytest.raises(InterlockTripped) as info:
        vg.get("StageX")
    event = info.value.event
    assert event.interlock == "objective_temperature"
    assert "objective temperature (estimated)" in str(info.value) and "above the limit 65 C" in str(info.value)
    assert event.value > 65.0 and event.limit == 65.0
    assert event.actions == ("objective current reduced to 0 A", "beam blanked")
    assert vg.physics.lens_currents_A[1] == 0.0 and vg.get("OL") == 0.0
    assert world.beam.blanked
    assert vg.events == [event]
    # latched: nothing that undoes the safe state is accepted, other controls still work
    with pytest.raises(InterlockTripped, match="OL = 5 refused while interlock.* objective_temperature latched"):
        vg.set("OL", 5.0)
    with pytest.raises(InterlockTripped, match="BeamBlanked = 0 refused"):
        vg.set("BeamBlanked", 0)
    with pytest.raises(InterlockTripped, match="EHT = 60000 refused"):
        vg.set("EHT", 60_000)
    vg.set("C1", 0.5)
    assert vg.reset_interlocks() == ["objective_temperature"]  # still hot
    world.clock.advance(3000.0)  # cools with no current
    assert vg.get("ObjectiveTemperature") < 30.0
    assert vg.reset_interlocks() == []
    vg.set("OL", 7.549036)
    vg.set("BeamBlanked", 0)
    assert not world.beam.blanked
    assert len(vg.events) == 1


def test_gun_vacuum_switches_ht_off(vg, world):
    vg.physics.gun_pressure_Pa = 2e-6
    events = vg.poll()
    assert [e.interlock for e in events] == ["gun_vacuum"]
    assert "gun vacuum 2e-06 Pa above the limit 5e-07 Pa" in events[0].reason
    assert events[0].actions == ("high tension switched off", "beam blanked")
    assert world.beam.high_tension_V == 0.0 and world.beam.blanked
    assert vg.get("EHT") == 0.0  # no second trip while latched
    with pytest.raises(InterlockTripped, match="EHT = 100000 refused .*gun vacuum"):
        vg.set("EHT", 100_000)
    assert vg.reset_interlocks() == ["gun_vacuum"]
    vg.physics.gun_pressure_Pa = 3e-8
    assert vg.reset_interlocks() == []
    assert world.beam.high_tension_V == 0.0  # nothing switched back on by the reset
    vg.set("EHT", 100_000)
    assert world.beam.high_tension_V == 100_000.0 and world.beam.blanked
    vg.set("BeamBlanked", 0)
    assert not world.beam.blanked


def test_column_vacuum_blanks_the_beam(vg, world):
    vg.physics.column_pressure_Pa = 5e-3
    with pytest.raises(InterlockTripped, match="column vacuum 0.005 Pa above the limit 0.0001 Pa; beam blanked"):
        vg.set("C2", 0.9)
    assert vg.physics.lens_currents_A[3] == pytest.approx(0.720259, abs=1e-4)  # the set was stopped
    assert world.beam.blanked and world.beam.high_tension_V == 100_000.0  # HT stays on
    assert world.electrons(1.0) == 0.0  # no electrons reach the specimen
    vg.set("C2", 0.9)  # latched, but lenses are allowed
    with pytest.raises(InterlockTripped):
        vg.set("BeamBlanked", 0)
    vg.physics.column_pressure_Pa = 2e-6
    vg.reset_interlocks()
    vg.set("BeamBlanked", 0)
    assert world.electrons(1.0) > 0


def test_two_trips_at_once_and_failed_action(vg, world):
    from detectors.common.simbase import Fault

    vg.physics.gun_pressure_Pa = 1e-5
    vg.physics.column_pressure_Pa = 1e-2
    vg.simulators["probe"].fault = Fault.NO_REPLY  # the blanker does not answer
    events = vg.poll()
    assert [e.interlock for e in events] == ["gun_vacuum", "column_vacuum"]
    assert events[0].actions[0] == "high tension switched off"
    assert events[0].actions[1].startswith("FAILED: beam blanked")
    assert world.beam.high_tension_V == 0.0 and world.beam.blanked  # HT off: no beam anyway
    vg.clear_faults()


def test_background_monitor_trips_without_any_request(vg, world):
    import threading

    tripped = threading.Event()
    seen = []
    vg.on_interlock.append(lambda e: (seen.append(e), tripped.set()))
    vg.start_monitor(0.02)
    try:
        vg.physics.column_pressure_Pa = 1e-3
        assert tripped.wait(10.0)  # a generous bound, not a timing assertion
        assert seen[0].interlock == "column_vacuum" and world.beam.blanked
    finally:
        vg.stop_monitor()
    vg.physics.column_pressure_Pa = 2e-6
    assert vg.reset_interlocks() == []
