"""VGColumn facade: named controls, clear errors, HT change pushes per-HT settings, world coupling."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.common.simbase import Fault
from detectors.simulation.devices import SimulatedProbeShift
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import (ControlRangeError, HTSettings, ReadOnlyControl, SimulatedVGColumn,
                                  SubsystemTimeout, UnknownControl, VGConfig)

NAMES = {"EHT", "C1", "C2", "OL", "CSH.x", "CSH.y", "StageX", "StageY", "GunVacuum", "ColumnVacuum",
         "ObjectiveTemperature", "BeamBlanked", "OA.x", "OA.y", "CA.x", "CA.y"}


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(4, drift=DriftSettings((0.0, 0.0), 0.0))


@pytest.fixture
def vg(world):
    world.beam.blanked = False
    with SimulatedVGColumn(world, timeout_s=0.25) as sim:
        yield sim


def test_controls_and_units(vg, world):
    assert set(vg.controls) == NAMES
    assert vg.get("EHT") == 100_000.0
    assert vg.get("OL") == pytest.approx(7.549036, abs=1e-4)  # NSLumiere's saved 100 kV objective current
    assert vg.get("GunVacuum") == pytest.approx(3e-8, rel=1e-3)
    assert vg.get("ColumnVacuum") == pytest.approx(2e-6, rel=1e-3)
    assert vg.get("ObjectiveTemperature") == pytest.approx(22.0 + 0.6 * 7.549036 ** 2, abs=0.01)
    assert vg.get("BeamBlanked") == 0.0
    assert vg.try_get("C2") == (True, pytest.approx(0.720259, abs=1e-4))
    vg.set("C2", 0.8)
    assert vg.get("C2") == pytest.approx(0.8)
    vg.set("OA.x", 47.625)
    assert vg.get("OA.x") == pytest.approx(47.625)
    vg.set("BeamBlanked", 1)
    assert world.beam.blanked
    vg.set("BeamBlanked", 0)
    assert not world.beam.blanked


def test_unknown_control_lists_known_names(vg):
    with pytest.raises(UnknownControl) as info:
        vg.get("Objective")
    message = str(info.value)
    assert "unknown control 'Objective'" in message
    assert all(name in message for name in NAMES)
    assert vg.try_get("Objective") == (False, None)
    with pytest.raises(UnknownControl):
        vg.set("HT", 60_000)


@pytest.mark.parametrize("name,value,pattern", [
    ("OL", 9.7, r"OL = 9.7 A is out of range; allowed 0–9.5 A"),
    ("C1", -0.2, r"C1 = -0.2 A is out of range; allowed 0–1.5 A"),
    ("EHT", 120_000, r"EHT = 120000 V is out of range; allowed one of 0, 40000, 60000, 80000, 100000 V"),
    ("CSH.x", 2500.0, r"CSH.x = 2500 nm is out of range; allowed -2000–2000 nm"),
    ("StageY", 2e6, r"StageY = 2e\+06 nm is out of range; allowed -1e\+06–1e\+06 nm"),
    ("OA.y", float("nan"), r"OA.y = nan µm is out of range"),
    ("BeamBlanked", 0.5, r"BeamBlanked = 0.5 +is out of range; allowed one of 0, 1"),
    ("C2", "a lot", r"C2 = 'a lot' is not a number"),
])
def test_out_of_range_names_value_and_range(vg, name, value, pattern):
    before = {k: list(t.written) for k, t in vg.transports.items() if k not in ("gun_gauge", "column_gauge")}
    with pytest.raises(ControlRangeError, match=pattern):
        vg.set(name, value)
    assert {k: list(t.written) for k, t in vg.transports.items() if k in before} == before


def test_read_only_controls(vg):
    for name in ("GunVacuum", "ColumnVacuum", "ObjectiveTemperature"):
        with pytest.raises(ReadOnlyControl, match=f"{name} is read-only"):
            vg.set(name, 1.0)


@pytest.mark.parametrize("subsystem,control,label", [
    ("lenses", "OL", "lens power supply"), ("stage", "StageX", "stage"), ("ht", "EHT", "high tension"),
    ("apertures", "CA.x", "aperture motors"), ("probe", "CSH.y", "probe unit")])
def test_silent_subsystem_is_named(vg, subsystem, control, label):
    vg.simulators[subsystem].fault = Fault.NO_REPLY
    with pytest.raises(SubsystemTimeout, match=f"^{label} did not answer") as info:
        vg.get(control)
    assert info.value.subsystem == label
    assert isinstance(info.value, TimeoutError)
    assert vg.try_get(control) == (False, None)
    vg.clear_faults()
    assert vg.try_get(control)[0]


def test_silent_gauge_is_named(vg):
    vg.simulators["gun_gauge"].fault = Fault.NO_REPLY
    with pytest.raises(SubsystemTimeout, match="gun gauge did not answer"):
        vg.get("OL")  # the interlock check reads the gauges first


def test_ht_change_pushes_per_ht_settings(vg, world):
    table = vg.config.ht.table
    for ht in (40_000.0, 60_000.0, 80_000.0, 100_000.0):
        vg.set("EHT", ht)
        assert world.beam.high_tension_V == ht
        assert vg.get("EHT") == ht
        s = table[ht]
        assert (vg.get("OL"), vg.get("C1"), vg.get("C2")) == pytest.approx((s.OL_A, s.C1_A, s.C2_A))
        assert vg.physics.lens_currents_A == pytest.approx({1: s.OL_A, 2: s.C1_A, 3: s.C2_A})
        assert world.spectrometer.dispersion_eV_per_channel == s.spectrometer["dispersion_eV_per_channel"]
    written = [w for w in vg.transports["lenses"].written if w.startswith(b">1,1,")]
    assert written[-3:] == [b">1,1,1,7.549036,0.5\r", b">1,1,2,0.000000,0.5\r", b">1,1,3,0.720259,0.5\r"]
    vg.set("EHT", 0)
    assert world.beam.high_tension_V == 0.0 and world.beam.blanked and vg.get("EHT") == 0.0
    vg.set("EHT", 100_000)
    vg.set("BeamBlanked", 0)


def test_ht_table_from_config(world):
    cfg = VGConfig.from_dict({"ht": {"table": {"30000": {"OL_A": 3.0, "C1_A": 0.4, "C2_A": 0.5,
                                                          "spectrometer": {"energy_offset_eV": -5.0}},
                                                "120000": {"OL_A": 7.5, "C1_A": 1.1, "C2_A": 1.2}},
                                      "initial_V": 120000}})
    assert cfg.ht.table[30_000.0] == HTSettings(3.0, 0.4, 0.5, {"energy_offset_eV": -5.0})
    with SimulatedVGColumn(world, cfg, timeout_s=0.25) as vg:
        assert vg.get("OL") == pytest.approx(7.5)
        vg.set("EHT", 30_000)
        assert world.spectrometer.energy_offset_eV == -5.0
        assert vg.get("C2") == pytest.approx(0.5)
        with pytest.raises(ControlRangeError, match="one of 0, 30000, 120000 V"):
            vg.set("EHT", 100_000)
    world.beam.high_tension_V = 100_000.0
    with pytest.raises(ValueError, match="unknown key"):
        VGConfig.from_dict({"lenses": {"objective_limit": 3}})


def test_probe_shift_moves_probe_and_scan_shift(world):
    scan_shift = SimulatedProbeShift(world)
    with SimulatedVGColumn(world, probe_shift=scan_shift, timeout_s=0.25) as vg:
        y0, x0 = world.beam.probe_y_nm, world.beam.probe_x_nm
        vg.set("CSH.x", 150.0)
        vg.set("CSH.y", -30.0)
        assert (vg.get("CSH.y"), vg.get("CSH.x")) == (-30.0, 150.0)
        assert scan_shift.get_shift_nm() == (-30.0, 150.0)
        assert (world.beam.probe_y_nm - y0, world.beam.probe_x_nm - x0) == pytest.approx((-30.0, 150.0))
        # the column is a detectors.interfaces.ProbeShift for drift correction
        vg.set_shift_nm(5.0, -6.0)
        assert vg.get_shift_nm() == (5.0, -6.0) == scan_shift.get_shift_nm()
        with pytest.raises(ControlRangeError, match="CSH.x = 3000 nm"):
            vg.set_shift_nm(0.0, 3000.0)
        vg.set_shift_nm(0.0, 0.0)


def test_stage_move_moves_the_specimen(vg, world):
    t0 = world.clock.now_s()
    before = np.array(world.specimen_position_nm(0.0, 0.0, t0))
    vg.set("StageX", 300.0)
    vg.set("StageY", -120.0)
    assert (vg.get("StageX"), vg.get("StageY")) == (300.0, -120.0)
    assert world.clock.now_s() > t0  # the moves took time on the world clock
    world.clock.advance(5.0)
    after = np.array(world.specimen_position_nm(0.0, 0.0, world.clock.now_s()))
    # the specimen rode with the stage: the probe now sees the specimen point (−Δy, −Δx) away
    np.testing.assert_allclose(after - before, [120.0, -300.0], atol=0.5)
