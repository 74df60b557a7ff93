"""Swift's stem_controller on the VG column: GetVal/SetVal/TryGetVal through the VG command layer,
refusals, and interlocks (objective over-temperature, vacuum) that blank the beam and say why.

The registered controller (the session's) is only read; everything that changes the column runs on
a separate instrument with a virtual clock, so the shared headless session stays as it was."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.instrument import build_instrument

pytestmark = pytest.mark.swift


@pytest.fixture
def stem():
    from nionswift_plugin.lumiere.stem_device import LumiereInstrument

    instrument = build_instrument()
    try:
        yield LumiereInstrument(instrument)
    finally:
        instrument.close()


def test_registered_controller_reads_the_column(swift):
    stem = swift.stem_controller
    assert stem.GetVal("EHT") == 100_000.0
    ok, vacuum = stem.TryGetVal("ColumnVacuum")
    assert ok and 0 < vacuum < 1e-4
    assert 0 < stem.GetVal("OL") < 9.5
    assert stem.interlock_status == "OK"
    assert swift.devices.instrument.column_connected, "the plug-in connects the column and watches it"


def test_get_set_round_trips_through_the_vg_command_layer(stem):
    world = stem.lumiere.world
    assert stem.SetVal("EHT", 60_000)
    assert stem.GetVal("EHT") == 60_000 and world.beam.high_tension_V == 60_000
    table = stem.lumiere.column.config.ht.table[60_000.0]
    assert stem.GetVal("OL") == pytest.approx(table.OL_A) and stem.GetVal("C2") == pytest.approx(table.C2_A)
    assert world.spectrometer.dispersion_eV_per_channel == table.spectrometer["dispersion_eV_per_channel"]
    assert stem.GetVal("eels_x_scale") == table.spectrometer["dispersion_eV_per_channel"]
    # CSH in metres on Swift's side, nm in the column; it moves the scan
    assert stem.SetVal("CSH.x", 25e-9) and stem.SetVal("CSH.y", -5e-9)
    assert stem.GetVal("CSH.x") == pytest.approx(25e-9)
    assert stem.lumiere.probe_shift.get_shift_nm() == pytest.approx((-5.0, 25.0))
    assert stem.lumiere.column.get("CSH.x") == pytest.approx(25.0)
    assert stem.SetVal("OA.x", 10e-6) and stem.GetVal("OA.x") == pytest.approx(10e-6, abs=1e-7)
    assert stem.SetVal("StageX", 100e-9) and stem.GetVal("StageX") == pytest.approx(100e-9, abs=1e-9)
    assert 20 < stem.GetVal("ObjectiveTemperature") < 65
    # the world's own controls still work
    assert stem.SetVal("BeamCurrent", 40e-12) and world.beam.current_pA == pytest.approx(40.0)
    assert stem.GetVal("LaserWavelength") == world.laser.wavelength_nm


def test_refusals_return_false_and_say_why(stem):
    assert stem.SetVal("NoSuchLens", 1.0) is False
    assert "no control named 'NoSuchLens'" in stem.last_error and "EHT" in stem.last_error
    assert stem.TryGetVal("NoSuchLens") == (False, None)
    assert stem.SetVal("OL", 20.0) is False
    assert "OL = 20 A is out of range; allowed 0–9.5 A" in stem.last_error
    assert stem.SetVal("EHT", 70_000) is False and "EHT" in stem.last_error
    assert stem.SetVal("GunVacuum", 1.0) is False and "read-only" in stem.last_error
    assert stem.GetVal("EHT") == 100_000.0, "a refused value changes nothing"


def _haadf(stem):
    from nion.instrumentation import scan_base
    from nionswift_plugin.lumiere.scan_device import LumiereScanModule

    module = LumiereScanModule(stem)
    fp = scan_base.ScanFrameParameters({"size": (8, 8), "pixel_time_us": 100, "fov_nm": 64.0})
    return module.device.get_scan_data(fp, 0)


def test_objective_over_temperature_blanks_the_beam_and_is_reported(stem):
    assert _haadf(stem).sum() > 0
    assert stem.SetVal("OL", 9.5)
    stem.lumiere.world.clock.advance(3000.0)  # the objective heats up (tau 600 s) towards 76 °C
    events = stem.poll_interlocks()
    assert [e.interlock for e in events] == ["objective_temperature"]
    assert stem.interlock_events == events
    assert "objective temperature" in stem.interlock_status and "above the limit 65" in stem.interlock_status
    assert stem.lumiere.world.beam.blanked and stem.GetVal("BeamBlanked") == 1.0
    assert stem.GetVal("OL") == pytest.approx(stem.lumiere.column.config.lenses.objective_safe_A)
    assert (_haadf(stem) == 0).all(), "blanked beam: no counts"
    assert stem.SetVal("BeamBlanked", 0) is False and "objective_temperature" in stem.last_error


def test_gun_vacuum_interlock_switches_the_ht_off_and_refuses_it_back(stem):
    stem.lumiere.column.physics.gun_pressure_Pa = 1e-5
    ok, value = stem.TryGetVal("EHT")  # any access checks the interlocks first
    assert not ok and "gun vacuum" in stem.last_error
    assert [e.interlock for e in stem.interlock_events] == ["gun_vacuum"]
    assert stem.lumiere.world.beam.blanked and stem.lumiere.world.beam.high_tension_V == 0
    assert stem.SetVal("EHT", 100_000) is False and "gun_vacuum" in stem.last_error
    assert np.all(_haadf(stem) == 0)
