"""VG column command layers against their simulators through the real transports (pty / TCP)."""
from __future__ import annotations

import struct

import pytest

from detectors.common.errors import (BadReply, ChecksumError, ConnectionLost, DeviceTimeout,
                                    InstrumentError, LimitError)
from detectors.common.simbase import Fault
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import ApertureConfig, LensSupply, ObjectiveThermalModel, LensConfig, SimulatedVGColumn
from detectors.vg_lumiere.apertures import CMD_MOVE_ABSOLUTE, encode_frame
from detectors.vg_lumiere.vacuum import (decode_pressure_hPa, encode_pressure_hPa, parse_pfeiffer,
                                         pfeiffer_telegram)


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(2, drift=DriftSettings((0.0, 0.0), 0.0))


@pytest.fixture(params=["pty", "tcp"])
def vg(request, world):
    world.beam.blanked = False
    with SimulatedVGColumn(world, serial=request.param, timeout_s=0.25) as sim:
        yield sim


# -- lens power supply ---------------------------------------------------------------------------
def test_lens_supply_wire_format(vg):
    lenses, t = vg.column.lenses, vg.transports["lenses"]
    assert t.written[0] == b">1,11,255,1\r"  # unlock at start
    current, voltage = lenses.read("C2")
    assert current == pytest.approx(0.720259, abs=1e-4)
    assert voltage == pytest.approx(vg.physics.lens_voltage_V(3), abs=1e-3) and voltage > 0
    assert lenses.set_current_A("OL", 7.25) == pytest.approx(7.25)
    assert t.written[-1] == b">1,1,1,7.250000,0.5\r"  # 6 decimals, as NSLumiere saves and sends them
    assert vg.physics.lens_currents_A[1] == pytest.approx(7.25)
    assert lenses.current_A("OL") == pytest.approx(7.25)
    assert t.written[-1] == b">1,2,1\r"


@pytest.mark.parametrize("lens,value", [("OL", 9.6), ("OL", -0.1), ("C1", 1.51), ("C2", float("nan"))])
def test_lens_limits_refused_before_sending(vg, lens, value):
    before = list(vg.transports["lenses"].written)
    with pytest.raises(LimitError, match=f"{lens} current .* outside the allowed range"):
        vg.column.lenses.set_current_A(lens, value)
    assert vg.transports["lenses"].written == before


def test_lens_supply_locked_garbled_silent(vg):
    locked = LensSupply(vg.transports["lenses"], vg.config.lenses, unlock=False)
    vg.physics.lens_unlocked = False
    with pytest.raises(InstrumentError, match="LOCKED"):
        locked.set_current_A("C2", 0.5)
    vg.physics.lens_unlocked = True
    vg.simulators["lenses"].fault = Fault.GARBLED
    with pytest.raises(BadReply):
        vg.column.lenses.read("OL")
    vg.simulators["lenses"].fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        vg.column.lenses.read("OL")
    vg.clear_faults()
    assert vg.column.lenses.current_A("C2") == pytest.approx(0.720259, abs=1e-4)


def test_thermal_model_is_exact_first_order():
    cfg = LensConfig(ambient_C=20.0, heating_C_per_A2=0.5, tau_s=100.0)
    model = ObjectiveThermalModel(cfg, 0.0, 4.0)
    assert model.temperature_C(0.0) == pytest.approx(28.0)  # steady state of 4 A
    model.set_current(0.0, 8.0)
    # forward Euler reference of dT/dt = (T_ss - T) / tau
    temp, dt = 28.0, 0.01
    for _ in range(int(250 / dt)):
        temp += dt * (20.0 + 0.5 * 64 - temp) / 100.0
    assert model.temperature_C(250.0) == pytest.approx(temp, abs=0.01)
    at_switch = model.temperature_C(250.0)
    model.set_current(250.0, 0.0)
    assert model.temperature_C(250.0) == pytest.approx(at_switch)  # continuous at a current step
    assert model.temperature_C(1e6) == pytest.approx(20.0)


# -- HT / probe unit / stage (our line protocol) -------------------------------------------------
def test_high_tension(vg, world):
    ht = vg.column.ht
    assert ht.high_tension_V() == 100_000.0
    ht.set_high_tension_V(80_000)
    assert vg.transports["ht"].written[-1] == b"HT 80000\n"
    assert world.beam.high_tension_V == 80_000.0
    with pytest.raises(LimitError, match="high tension 70000 V is not one of 40000, 60000, 80000, 100000 V"):
        ht.set_high_tension_V(70_000)
    with pytest.raises(InstrumentError, match="refused"):
        ht._ok("HT 70000")  # the unit refuses it too
    ht.off()
    assert ht.high_tension_V() == 0.0 and world.beam.high_tension_V == 0.0 and world.beam.blanked
    ht.set_high_tension_V(100_000)


def test_probe_unit_and_blanker(vg, world):
    probe = vg.column.probe
    y0, x0 = world.beam.probe_y_nm, world.beam.probe_x_nm
    probe.set_shift_nm(12.5, -40.0)
    assert probe.get_shift_nm() == (12.5, -40.0)
    assert (world.beam.probe_y_nm - y0, world.beam.probe_x_nm - x0) == pytest.approx((12.5, -40.0))
    with pytest.raises(LimitError, match="probe shift x 2500.0 nm outside"):
        probe.set_shift_nm(0.0, 2500.0)
    probe.set_blanked(True)
    assert probe.blanked() and world.beam.blanked
    probe.set_blanked(False)
    assert not world.beam.blanked
    probe.set_shift_nm(0.0, 0.0)


def test_stage_moves_with_latency_on_world_clock(vg, world):
    stage, clock = vg.column.stage, world.clock
    t0 = clock.now_s()
    waited = stage.move_to_nm(40_000.0, -20_000.0)
    assert stage.position_nm() == (40_000.0, -20_000.0)
    duration = (40_000 ** 2 + 20_000 ** 2) ** 0.5 / 20_000.0 + 0.5
    assert clock.now_s() - t0 == pytest.approx(duration, abs=0.06)
    assert waited == pytest.approx(duration, abs=0.06)
    stage.move_to_nm(0.0, 0.0, wait=False)
    assert stage.moving()
    stage.wait_until_idle()
    assert stage.position_nm() == (0.0, 0.0)
    with pytest.raises(LimitError, match="stage x 2000000.0 nm outside"):
        stage.move_to_nm(2e6, 0)
    vg.simulators["stage"].fault = Fault.GARBLED
    with pytest.raises(BadReply):
        stage.position_nm()


# -- aperture motors (Zaber binary) --------------------------------------------------------------
def test_aperture_motors(vg):
    ap, t = vg.column.apertures, vg.transports["apertures"]
    assert ap.move_to_um("OA.x", 95.25) == pytest.approx(95.25)
    assert t.written[-1] == encode_frame(1, CMD_MOVE_ABSOLUTE, 2000)
    assert ap.position_steps("OA.x") == 2000
    assert ap.position_um("OA.y") == 0.0
    ap.home("OA.x")
    assert vg.physics.aperture_steps[1] == 0
    # positions count from home (0) and are positive (NSLumiere diafs_settings.json); the old
    # symmetric ±2000 µm range refused every saved position
    with pytest.raises(LimitError, match="aperture CA.y -5.0 µm outside the allowed range 0.0–25000.0 µm"):
        ap.move_to_um("CA.y", -5.0)
    with pytest.raises(InstrumentError, match="error code"):
        ap._exchange(3, CMD_MOVE_ABSOLUTE, 10**8)
    with pytest.raises(DeviceTimeout):  # no motor 9 on the chain: nobody answers
        ap._exchange(9, 60, 0, timeout_s=0.1)
    vg.simulators["apertures"].fault = Fault.GARBLED
    with pytest.raises(BadReply):
        ap.position_steps("CA.x")


def test_broadcast_homes_every_motor_and_each_answers(vg):
    ap, physics = vg.column.apertures, vg.physics
    for name, steps in (("OA.x", 121_578), ("OA.y", 81_739), ("CA.x", 128_480), ("CA.y", 57_044)):
        ap.move_to_um(name, steps * ap.config.microstep_um)   # NSLumiere's saved "None" positions
    assert physics.aperture_steps == {1: 121_578, 2: 81_739, 3: 128_480, 4: 57_044}
    assert ap.home_all() == {"OA.x": 0, "OA.y": 0, "CA.x": 0, "CA.y": 0}
    assert physics.aperture_steps == {1: 0, 2: 0, 3: 0, 4: 0}
    # NSLumiere's set_home: [motor, 1, 0, 0, 0, 0] for motor 0..3; device 0 alone gives 4 replies
    t = vg.transports["apertures"]
    t.reset_input()
    t.write(bytes([0, 1, 0, 0, 0, 0]))
    replies = [struct.unpack("<BBi", t.read_exact(6, 2.0)) for _ in range(4)]
    assert replies == [(1, 1, 0), (2, 1, 0), (3, 1, 0), (4, 1, 0)]


def test_aperture_device_zero_is_broadcast():
    with pytest.raises(ValueError, match="0 is broadcast"):
        ApertureConfig(motors={"OA.x": 0})
    assert struct.unpack("<BBi", encode_frame(2, 60, -5)) == (2, 60, -5)


# -- gauges --------------------------------------------------------------------------------------
def test_pfeiffer_telegrams():
    assert pfeiffer_telegram(1, 0, 740, "=?") == b"0010074002=?106\r"
    for p in (1e-9, 2.5e-7, 9.9999e-3, 1013.0):
        assert decode_pressure_hPa(encode_pressure_hPa(p)) == pytest.approx(p, rel=1e-3)
    assert encode_pressure_hPa(2e-8) == "200012"
    with pytest.raises(ChecksumError):
        parse_pfeiffer(b"0011074006200012999\r")
    with pytest.raises(BadReply):
        parse_pfeiffer(b"hello\r")


def test_gauges(vg):
    col, gun = vg.column.column_gauge, vg.column.gun_gauge
    assert col.pressure_Pa() == pytest.approx(2e-6, rel=1e-3)
    assert vg.transports["column_gauge"].written[-1] == b"0010074002=?106\r"
    assert gun.pressure_Pa() == pytest.approx(3e-8, rel=1e-3)
    assert vg.transports["gun_gauge"].written[-1] == b"GDAT? 1\n"
    vg.physics.column_pressure_Pa = 4.2e-3
    vg.physics.gun_pressure_Pa = 1.5e-6
    assert col.pressure_Pa() == pytest.approx(4.2e-3, rel=1e-3)
    assert gun.pressure_Pa() == pytest.approx(1.5e-6, rel=1e-3)
    vg.simulators["column_gauge"].fault = Fault.BAD_CHECKSUM
    with pytest.raises(ChecksumError):
        col.pressure_Pa()
    vg.simulators["gun_gauge"].fault = Fault.GARBLED
    with pytest.raises(BadReply):
        gun.pressure_Pa()
    vg.simulators["gun_gauge"].fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        gun.pressure_Pa()
    vg.simulators["column_gauge"].fault = Fault.DISCONNECT
    with pytest.raises((ConnectionLost, DeviceTimeout)):
        col.pressure_Pa()


@pytest.mark.parametrize("module", ["detectors.vg_lumiere.lenses", "detectors.vg_lumiere.simulated"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
