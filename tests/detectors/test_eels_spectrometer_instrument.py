"""The EELS spectrometer in the instrument: it sets the instrument's one energy calibration, which
the cameras and the simulated spectra follow; the windows of the presets as pure functions."""
from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from detectors.common.errors import LimitError
from detectors.config import ConfigError, validate
from detectors.eels_spectrometer import (EELSSpectrometerConfig, SimulatedEELSSpectrometer, core_loss_interval_eV,
                                         core_loss_window, eegs_window, low_loss_window, window_for)
from detectors.instrument import build_instrument
from detectors.simulation.world import SimulatedWorld

DAC_STEP_EV = 1 / 4.095  # the drift tube's DAC step: offsets are quantised to it


def _zlp_channel(spectra: np.ndarray) -> int:
    return int(np.argmax(spectra.sum(axis=0)))


def test_the_simulated_spectrometer_sets_the_calibration_the_camera_and_the_spectra_follow():
    with build_instrument() as inst:
        assert not inst.eels_spectrometer_connected  # nothing opened until used
        cal = inst.spectrometer
        s = inst.eels_spectrometer
        assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == pytest.approx((-20.0, 0.1), abs=DAC_STEP_EV)
        s.dispersion_eV_per_channel = 0.05
        s.energy_offset_eV = -10.0
        assert inst.spectrometer is cal and inst.world.spectrometer is cal  # one object, set in place
        assert cal.dispersion_eV_per_channel == pytest.approx(0.05)
        assert cal.energy_offset_eV == pytest.approx(-10.0, abs=DAC_STEP_EV / 2)
        assert cal.energy_offset_eV == pytest.approx(s.energy_offset_eV)  # what was sent, DAC step included
        np.testing.assert_allclose(inst.eels_camera.energy_axis_eV(), cal.energy_axis_eV())
        zlp = _zlp_channel(inst.eels_camera.acquire_spectra(4, 0.001))
        assert abs(cal.energy_axis_eV()[zlp]) <= 2 * 0.05  # the zero-loss peak at 0 eV on the new axis
        assert inst.metadata()["spectrometer"]["dispersion_eV_per_channel"] == pytest.approx(0.05)
        s.eegs(photon_energy_eV=2.1, orders=3, n_channels=cal.channels)
        axis = inst.eels_camera.energy_axis_eV()
        assert cal.dispersion_eV_per_channel == pytest.approx(0.05) and axis[0] <= -7.35 and axis[-1] >= 7.35
    assert not inst.eels_spectrometer_connected  # closed with the instrument


def test_a_merlin_camera_takes_its_axis_from_the_spectrometer():
    with build_instrument(validate({"eels_camera": {"backend": "merlin-simulated"}})) as inst:
        s = inst.eels_spectrometer
        s.core_loss(["Sc L2,3", "Dy M4,5", "O K"], inst.spectrometer.channels)
        axis = inst.eels_camera.energy_axis_eV()
        assert axis[1] - axis[0] == pytest.approx(1.0)
        assert axis[0] <= 402.0 * 0.93 and axis[-1] >= 1332.0 + 50.0
        np.testing.assert_allclose(axis, inst.spectrometer.energy_axis_eV())


def test_connecting_keeps_the_site_window_or_says_why_not(caplog):
    config = validate({"spectrometer": {"energy_offset_eV": 300.0, "dispersion_eV_per_channel": 0.5}})
    with build_instrument(config) as inst:
        assert inst.eels_spectrometer.dispersion_eV_per_channel == pytest.approx(0.5)  # connects
        cal = inst.spectrometer
        assert cal.dispersion_eV_per_channel == pytest.approx(0.5)
        assert cal.energy_offset_eV == pytest.approx(300.0, abs=DAC_STEP_EV / 2)
    config = validate({"spectrometer": {"dispersion_eV_per_channel": 0.3}})  # not a preset
    with build_instrument(config) as inst, caplog.at_level(logging.WARNING, logger="detectors.instrument"):
        s = inst.eels_spectrometer
        assert "cannot show the window -20 eV + 0.3 eV/channel" in caplog.text
        assert "not one of the presets at 100 kV" in caplog.text
        # the driver's initial state (the table's last preset, 0 V), and the calibration says so
        assert inst.spectrometer.dispersion_eV_per_channel == pytest.approx(s.dispersion_eV_per_channel) == 0.1
        assert inst.spectrometer.energy_offset_eV == pytest.approx(-20.0)


def test_a_serial_spectrometer_sets_the_instrument_calibration_itself():
    """A real spectrometer does not write the world: the driver sets the instrument's calibration."""
    served = SimulatedEELSSpectrometer(SimulatedWorld(1), serial="tcp", connect=False)
    try:
        config = validate({"eels_spectrometer": {"backend": "serial", **served.site_table()}})
        with build_instrument(config) as inst:
            s = inst.eels_spectrometer
            s.low_loss(inst.spectrometer.channels)
            assert (inst.spectrometer.energy_offset_eV, inst.spectrometer.dispersion_eV_per_channel) == \
                pytest.approx((-20.0, 0.1))
            s.set_window(150.0, 0.2)
            assert inst.spectrometer.dispersion_eV_per_channel == pytest.approx(0.2)
            assert inst.spectrometer.energy_offset_eV == pytest.approx(150.0, abs=DAC_STEP_EV / 2)
            np.testing.assert_allclose(inst.eels_camera.energy_axis_eV(), inst.spectrometer.energy_axis_eV())
            # the bytes reached the unit: its (separate) world shows the same window once the supply,
            # which answers nothing, has read the request
            deadline = time.monotonic() + 5.0
            while served.world.spectrometer.energy_offset_eV < 100.0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert served.world.spectrometer.dispersion_eV_per_channel == pytest.approx(0.2)
            assert served.world.spectrometer.energy_offset_eV == pytest.approx(inst.spectrometer.energy_offset_eV)
            with pytest.raises(LimitError, match=r"energy offset at 0.2 eV/channel .* 2000.0 eV outside the "
                                                 r"allowed range -40.0–960.0 eV"):
                s.energy_offset_eV = 2000.0
            assert inst.spectrometer.energy_offset_eV == pytest.approx(150.0, abs=DAC_STEP_EV / 2)  # unchanged
    finally:
        served.close()


@pytest.mark.parametrize("table, expected", [
    ({"backend": "rs232"}, ["eels_spectrometer.backend = 'rs232'", '"simulated" or "serial"']),
    ({"backend": "serial"}, ["eels_spectrometer.port"]),
    ({"backend": "serial", "port": "COM5"}, ["eels_spectrometer.drift_tube_host"]),
    ({"settings_file": "/nonexistent/eels_settings.json"}, ["/nonexistent/eels_settings.json", "does not exist"]),
    ({"high_tension_kV": 120.0}, ["120", "40, 60, 80, 100"]),
    ({"zlp_chanel": 10}, ["zlp_chanel"]),
])
def test_bad_site_values_name_the_key(table, expected):
    with pytest.raises(ConfigError) as e:
        validate({"eels_spectrometer": table})
    for text in expected:
        assert text in str(e.value)


# -- the windows of the presets (pure functions; built-in presets, ZLP at channel 200, 0–1000 V) ------
def test_low_loss_is_the_default_window():
    assert low_loss_window(1024) == pytest.approx((-20.0, 0.1))  # −5 … 60 eV; the drift tube stops at −20 eV


def test_core_loss_covers_the_edges_with_background_and_near_edge_margins():
    low, high = core_loss_interval_eV(["Sc L2,3", "Dy M4,5", "O K"], 30.0, 50.0)
    assert low == pytest.approx(372.0) and high == pytest.approx(1382.0)  # Sc L3 − 30 … Dy M4 + 50
    offset, d = core_loss_window(["Sc L2,3", "Dy M4,5", "O K"], 1024)
    assert d == 1.0 and offset <= low and offset + 1023 * d >= high
    assert offset == pytest.approx((low + high) / 2 - 511.5)  # centred
    # Dy M4,5 alone: its background-fit window (0.93 × 1295 eV) is further out than 30 eV
    offset, d = core_loss_window(["Dy M4,5"], 1024)
    assert offset <= 0.93 * 1295.0 and d == 0.5  # at 0.2 eV/channel the drift tube stops at 960 eV
    assert core_loss_window([402.0], 1024) == core_loss_window([402.0], 1024, EELSSpectrometerConfig())
    with pytest.raises(LimitError, match=r"no preset shows 370–3050 eV on 1024 channels: the widest \(1 eV/channel\)"):
        core_loss_window([400.0, 3000.0], 1024)
    with pytest.raises(LimitError, match=r"edge -5.0 in edges = \[-5.0\] is not allowed"):
        core_loss_window([-5.0], 1024)


def test_eegs_takes_the_finest_dispersion_the_drift_tube_can_centre():
    offset, d = eegs_window(2.1, 3, 1024)
    assert d == 0.05 and offset <= -7.35 and offset + 1023 * d >= 7.35
    assert eegs_window(2.1, 1, 1024)[1] == 0.025  # ±3.15 eV fits at 0.025 eV/channel
    offset, d = eegs_window(1.0, 2, 1024, dispersions_eV=(0.01, 0.1))
    assert d == 0.1  # 0.01 eV/channel: the window would have to start below the drift tube's −2 eV
    with pytest.raises(LimitError, match=r"orders = 0 is not allowed; expected an integer 1–50"):
        eegs_window(2.1, 0, 1024)
    with pytest.raises(LimitError, match=r"photon energy 20.0 eV outside the allowed range 0.1–10.0 eV"):
        eegs_window(20.0, 2, 1024)


def test_window_for_refuses_a_reversed_interval():
    with pytest.raises(LimitError, match=r"energy window 5.0–1.0 eV must be finite and increasing"):
        window_for(5.0, 1.0, 1024)
