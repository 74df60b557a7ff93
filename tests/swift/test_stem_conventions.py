"""Our stem_controller speaks Swift's conventions, checked side by side with nionswift-usim (loaded
in the same headless Swift) through the instrumentation kit's API: ``C10`` (defocus, m),
``stage_position_m`` (2-D, ``change_stage_position``), the kit's ``high_tension``/``defocus``
autostem keys (and so Swift's ``stem.high_tension``/``stem.defocus`` metadata), and the
spectrometer's energy offset under usim's name ``EELS_MagneticShift_Offset``."""
from __future__ import annotations

import pathlib as _pathlib
import sys as _sys

import pytest
from nion.swift.model import Metadata
from nion.utils import Geometry, Registry

_sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))  # panel_driving beside this file
from panel_driving import one_frame  # noqa: E402

pytestmark = pytest.mark.swift

DAC_STEP_EV = 1 / 4.095  # the drift tube's DAC step (detectors/eels_spectrometer)


@pytest.fixture
def usim(swift):
    [usim] = [c for c in Registry.get_components_by_type("stem_controller")
              if getattr(c, "instrument_id", None) == "usim_stem_controller"]
    return usim


@pytest.fixture
def both(swift, usim):
    return {"lumiere": swift.stem_controller, "usim": usim}


def test_c10_is_the_defocus_in_metres_on_both(swift, both):
    for name, stem in both.items():
        ok, value = stem.TryGetVal("C10")
        assert ok and isinstance(value, float), name
        assert stem.SetVal("C10", 250e-9), name
        assert stem.defocus_m == pytest.approx(250e-9, abs=1e-9), name  # the kit's property reads C10
        stem.defocus_m = 0.0
        assert stem.GetVal("C10") == pytest.approx(0.0, abs=1e-9), name
    # ours is the VG objective: in focus at the HT table's current, stronger = over-focus (C10 > 0)
    column = swift.devices.instrument.column
    focus_A = column.config.ht.table[column.get("EHT")].OL_A
    assert column.get("OL") == pytest.approx(focus_A, abs=1e-6)
    stem = both["lumiere"]
    assert stem.SetVal("C10", 1e-6)
    assert column.get("OL") > focus_A
    assert stem.SetVal("C10", 0.0)
    assert not stem.SetVal("C10", 1.0)  # 1 m: beyond the supply
    assert "C10 = 1 m is out of range; allowed -0.003–0.0007753 m (objective 0–9.5 A, in focus at 7.54904 A)" in stem.last_error


def test_stage_position_m_is_two_dimensional_and_change_stage_position_moves_it(swift, both):
    column = swift.devices.instrument.column
    for name, stem in both.items():
        start = stem.GetVal2D("stage_position_m")
        assert isinstance(start, Geometry.FloatPoint), name
        stem.change_stage_position(dy=40e-9, dx=-60e-9)  # the kit's: shifts the stage by (−dy, −dx)
        moved = stem.stage_position_m
        assert (moved.y - start.y, moved.x - start.x) == pytest.approx((-40e-9, 60e-9), abs=1e-10), name
        assert stem.SetVal2D("stage_position_m", start), name
        assert stem.GetVal2D("stage_position_m") == start, name
    stem = both["lumiere"]
    assert stem.SetVal2D("stage_position_m", Geometry.FloatPoint(y=-100e-9, x=200e-9))
    assert (column.get("StageY"), column.get("StageX")) == pytest.approx((-100.0, 200.0))  # nm
    assert stem.GetVal("stage_position_m.x") == pytest.approx(200e-9)
    assert stem.SetVal2D("stage_position_m", Geometry.FloatPoint())
    with pytest.raises(KeyError, match="'nonsense' cannot be read; known: CSH, stage_position_m"):
        stem.GetVal2D("nonsense")


def test_autostem_properties_keep_the_kit_keys_beside_ours(swift, both):
    for name, stem in both.items():
        props = stem.get_autostem_properties()
        assert props["high_tension"] == stem.GetVal("EHT"), name
        assert props["defocus"] == pytest.approx(stem.defocus_m), name
    props = both["lumiere"].get_autostem_properties()
    assert props["high_tension"] == 100_000.0 and props["simulated"] is True
    assert {"high_tension_v", "beam_current_pA", "devices"} <= set(props)


def test_high_tension_and_defocus_reach_swift_metadata_of_acquired_data(swift):
    stem = swift.stem_controller
    assert stem.SetVal("C10", 120e-9)
    try:
        camera = swift.camera
        params = camera.get_current_frame_parameters()
        params.exposure_ms = 10
        camera.set_current_frame_parameters(params)
        xdata = one_frame(camera)[0]
    finally:
        stem.SetVal("C10", 0.0)
    assert Metadata.get_metadata_value(xdata, "stem.high_tension") == 100_000
    assert Metadata.get_metadata_value(xdata, "stem.defocus") == pytest.approx(120e-9, abs=1e-9)
    assert xdata.metadata["instrument"]["simulated"] is True  # ours beside the kit's


def test_energy_offset_under_usims_name_and_the_dispersion_move_the_spectrometer(swift, both):
    instrument = swift.devices.instrument
    before = (instrument.spectrometer.energy_offset_eV, instrument.spectrometer.dispersion_eV_per_channel)
    try:
        for name, stem in both.items():
            assert stem.SetVal("EELS_MagneticShift_Offset", -10.0), name
            assert stem.GetVal("EELS_MagneticShift_Offset") == pytest.approx(-10.0, abs=DAC_STEP_EV / 2), name
            assert stem.energy_offset_eV == pytest.approx(-10.0, abs=DAC_STEP_EV / 2), name  # the kit's ZLPoffset
        stem = both["lumiere"]
        assert stem.SetVal("EELS_Dispersion_eVperChannel", 0.05)
        assert stem.SetVal("EELS_EnergyOffset_eV", -8.0)
        cal = instrument.spectrometer
        assert cal.dispersion_eV_per_channel == pytest.approx(0.05)
        assert cal.energy_offset_eV == pytest.approx(-8.0, abs=DAC_STEP_EV / 2)
        assert stem.GetVal("eels_x_scale") == pytest.approx(0.05)  # the camera's calibration follows
        assert stem.GetVal("EELS_Dispersion_eVperChannel") == pytest.approx(0.05)
        assert not stem.SetVal("EELS_Dispersion_eVperChannel", 0.3)
        assert "not one of the presets at 100 kV" in stem.last_error and "0.01, 0.025, 0.05" in stem.last_error
        assert not stem.SetVal("EELS_EnergyOffset_eV", 5000.0)
        assert "5000.0 eV outside the allowed range -10.0–990.0 eV" in stem.last_error
        assert cal.energy_offset_eV == pytest.approx(-8.0, abs=DAC_STEP_EV / 2)  # refused: unchanged
    finally:
        instrument.eels_spectrometer.set_window(*before)
