"""EELS spectrometer: the driver against its simulators over a pty/socket, the world following."""
from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.common.errors import ConnectionLost, DeviceTimeout, LimitError
from detectors.common.simbase import Fault
from detectors.eels_spectrometer import (EELSSpectrometer, EELSSpectrometerConfig, SimulatedEELSSpectrometer,
                                         check_addresses, connect_eels_spectrometer, decode_word, encode_word,
                                         lens_request, plan_window)
from detectors.eels_spectrometer.protocol import drift_tube_request, parse_lens_request
from detectors.simulation.world import SimulatedWorld

# Two presets transcribed from OrsayDev/NSLumiere, nionswift_plugin/aux_files/config/eels_settings.json,
# lines 323-353 at commit acbabe168955c2ae3a64b26eebfca4253c75d8e6 ("100" kV, ranges "0" and "1").
NSLUMIERE_100KV = {
    "0": {"range": "0.0231", "note": "V =2.027", "fx": "-125", "fy": "-4619", "sx": "-8538", "sy": "416",
          "dy": "-846", "q1": "-519", "q2": "14688", "q3": "9396", "q4": "10957", "dx": "-1504", "dmx": "-988"},
    "1": {"range": "0.0588", "note": "V =2.027", "fx": "-2635", "fy": "-4468", "sx": "-8667", "sy": "109",
          "dy": "-2584", "q1": "-519", "q2": "4696", "q3": "9978", "q4": "10957", "dx": "-1359", "dmx": "-988"},
}
# What NSLumiere's EELS_spec/eels_spec.py (same commit) sends for preset "0": line 62 renames dmx to "al",
# lines 66-70: ``val = abs(val)`` if negative else ``0xffff - val``; ``which + ' 0,' + hex(val)[2:6] + '\r'``;
# the order is eels_spec_inst.py set_spec_values (lines 71-81).
NSLUMIERE_PRESET_0_BYTES = [b"fx 0,7d\r", b"fy 0,120b\r", b"sx 0,215a\r", b"sy 0,fe5f\r", b"dy 0,34e\r",
                            b"q1 0,207\r", b"q2 0,c69f\r", b"q3 0,db4b\r", b"q4 0,d532\r", b"dx 0,5e0\r",
                            b"al 0,3dc\r"]


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(2)  # built once: the specimen takes a second or two


@pytest.fixture
def fresh_world(world):
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    world.beam.high_tension_V = 100_000.0
    return world


@pytest.fixture(params=["pty", "tcp"])
def spec(request, fresh_world):
    with SimulatedEELSSpectrometer(fresh_world, serial=request.param, timeout_s=0.3) as sim:
        yield sim


def test_wire_format_matches_nslumiere():
    assert [lens_request(n, int(NSLUMIERE_100KV["0"][n])) for n in
            ("fx", "fy", "sx", "sy", "dy", "q1", "q2", "q3", "q4", "dx", "dmx")] == NSLUMIERE_PRESET_0_BYTES
    assert lens_request("q1", 0) == b"q1 0,ffff\r"
    # NSLumiere's first test script hello_eels_spec/hi_spec.py line 21 (commit 29db5d6f893c):
    # ser.write(b'SY 0,0\r') -- upper case, word 0 (= set point 0): the simulator understands it
    assert parse_lens_request("SY 0,0") == ("sy", 0)
    assert parse_lens_request("al 0,3dc") == ("dmx", -988)
    assert parse_lens_request("zz 0,10") is None and parse_lens_request("fx 10") is None
    for v in (-32766, -1, 0, 1, 32766):
        assert decode_word(encode_word(v)) == v
    # eels_spec.py lines 54-55: veff = int(val * 4.095); 'HV+ ' + str(veff) + '\n'
    assert drift_tube_request(1023) == b"HV+ 1023\n"


def test_connection_applies_the_last_preset_and_zero_volts(spec, fresh_world):
    s = spec.spectrometer
    assert isinstance(s, EELSSpectrometer)
    cal = s.calibration()
    assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == (pytest.approx(-20.0), 0.1)
    assert len(spec.lens_transport.written) == 11 and spec.drift_transport.written == [b"HV+ 0\n"]
    assert spec.optics.currents == s.element_currents()
    np.testing.assert_allclose(fresh_world.energy_axis_eV(), cal.axis_eV(1024))


def test_offset_and_dispersion_move_the_world_axis(spec, fresh_world):
    s = spec.spectrometer
    s.energy_offset_eV = 30.0
    # 1 V = 1 eV, 4.095 counts per volt: (30 + 200 * 0.1) V -> 205 counts -> 50.061 V
    assert spec.drift_transport.written[-1] == b"HV+ 205\n"
    assert s.energy_offset_eV == pytest.approx(205 / 4.095 - 20.0)
    assert fresh_world.spectrometer.energy_offset_eV == pytest.approx(s.energy_offset_eV)
    s.dispersion_eV_per_channel = 0.5
    assert s.dispersion_eV_per_channel == 0.5
    assert fresh_world.spectrometer.dispersion_eV_per_channel == pytest.approx(0.5)
    # the drift tube keeps its voltage: the loss of channel 0 follows the dispersion
    assert s.energy_offset_eV == pytest.approx(205 / 4.095 - 200 * 0.5)
    np.testing.assert_allclose(fresh_world.energy_axis_eV(), s.calibration().axis_eV(1024))


def test_simulated_spectra_follow_the_offset(spec, fresh_world):
    s = spec.spectrometer
    cal = s.low_loss(1024)
    lo, hi = spec.config.low_loss_window_eV
    assert cal.axis_eV(1024)[0] <= lo and cal.axis_eV(1024)[-1] >= hi
    y, x = fresh_world.beam.probe_y_nm, fresh_world.beam.probe_x_nm
    counts = fresh_world.eels_counts(np.array([y]), np.array([x]), 0.0, 0.01, noise=False)[0]
    assert abs(int(np.argmax(counts)) - cal.channel_of(0.0)) <= 1  # the zero-loss peak where 0 eV is
    s.energy_offset_eV = cal.energy_offset_eV + 2.0
    counts = fresh_world.eels_counts(np.array([y]), np.array([x]), 0.0, 0.01, noise=False)[0]
    assert abs(int(np.argmax(counts)) - s.calibration().channel_of(0.0)) <= 1
    assert s.calibration().channel_of(0.0) < cal.channel_of(0.0) - 10  # 2 eV lower: the peak moved left


def test_core_loss_and_eegs_windows(spec, fresh_world):
    s = spec.spectrometer
    cal = s.core_loss([402.0, 1295.0])  # Sc L2,3 and Dy M4,5
    axis = fresh_world.energy_axis_eV()
    assert cal.dispersion_eV_per_channel == 1.0  # finer presets cannot hold 372-1345 eV
    assert axis[0] <= 402.0 - 30 + 0.5 and axis[-1] >= 1295.0 + 50 - 0.5
    np.testing.assert_allclose(axis, cal.axis_eV(1024))
    narrow = s.core_loss([402.0])
    assert narrow.dispersion_eV_per_channel == 0.1 and narrow.axis_eV(1024)[0] <= 372.0
    cal = s.eegs(1.0, 2)  # ±2 orders of 1 eV, half an order of margin
    axis = fresh_world.energy_axis_eV()
    assert cal.dispersion_eV_per_channel == 0.025
    assert axis[0] <= -2.5 and axis[-1] >= 2.5
    cal = s.eegs(2.1, 3)  # ±7.35 eV does not fit at 0.025 eV/channel (zero loss at channel 200)
    assert cal.dispersion_eV_per_channel == 0.05 and cal.axis_eV(1024)[0] <= -7.35


def test_hand_tuning_a_quadrupole_changes_the_simulated_dispersion(spec, fresh_world):
    s = spec.spectrometer
    q2 = s.element_currents()["q2"]
    s.set_element_current("q2", q2 + 800)
    assert s.calibration().tuned_by_hand
    assert fresh_world.spectrometer.dispersion_eV_per_channel != pytest.approx(0.1, rel=1e-3)
    s.set_element_current("fx", 1234)  # focus: no effect on the dispersion flag
    s.dispersion_eV_per_channel = 0.1
    assert not s.calibration().tuned_by_hand
    assert fresh_world.spectrometer.dispersion_eV_per_channel == pytest.approx(0.1)


def test_high_tension_change_reapplies_the_preset_index(spec, fresh_world):
    s = spec.spectrometer
    s.set_high_tension_kV(60)
    assert s.preset.high_tension_kV == 60.0 and s.preset.index == 3
    # the world's beam is still at 100 kV: 60 kV set points give another dispersion there
    assert fresh_world.spectrometer.dispersion_eV_per_channel != pytest.approx(0.1, rel=1e-3)
    fresh_world.beam.high_tension_V = 60_000.0
    s.set_high_tension_kV(60)
    assert fresh_world.spectrometer.dispersion_eV_per_channel == pytest.approx(0.1)
    with pytest.raises(LimitError, match=r"high tension 200.0 kV .* allowed: 40, 60, 80, 100 kV"):
        s.set_high_tension_kV(200.0)


@pytest.mark.parametrize("action, message", [
    (lambda s: setattr(s, "dispersion_eV_per_channel", 0.3),
     r"dispersion 0.3 eV/channel is not one of the presets at 100 kV .*allowed: 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1 eV"),
    (lambda s: setattr(s, "energy_offset_eV", 2000.0), r"energy offset .* 2000.0 eV outside the allowed range -20.0–980.0 eV"),
    (lambda s: setattr(s, "energy_offset_eV", float("nan")), r"energy offset .* nan eV outside"),
    (lambda s: s.set_element_current("q1", 40000), r"q1 = 40000 outside the allowed range -32766–32766"),
    (lambda s: s.set_element_current("q1", 1.5), r"q1 = 1.5 is not allowed; expected an integer"),
    (lambda s: s.set_element_current("zz", 1), r"unknown spectrometer element 'zz'"),
    (lambda s: s.core_loss([]), r"edges = \[\] is not allowed; expected a non-empty list of edge names"),
    (lambda s: s.core_loss(["Xx K"]), r"unknown edge .Xx K.; known edges: "),
    (lambda s: s.eegs(2.0, 0), r"orders = 0 is not allowed; expected an integer 1–50"),
    (lambda s: s.eegs(-1.0, 2), r"photon energy -1.0 eV outside the allowed range 0.1–10.0 eV"),
    (lambda s: s.core_loss([400.0, 3000.0]), r"no preset shows 370–3050 eV on 1024 channels"),
])
def test_bad_values_are_refused_before_sending(spec, action, message):
    s = spec.spectrometer
    before = (list(spec.lens_transport.written), list(spec.drift_transport.written))
    with pytest.raises(ValueError, match=message):
        action(s)
    assert (spec.lens_transport.written, spec.drift_transport.written) == before


def test_a_silent_lens_unit_times_out_naming_it(spec):
    spec.lens_simulator.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout, match=r"EELS spectrometer lens unit did not answer b'fx 0,.*' .* on "):
        spec.spectrometer.set_element_current("fx", 10)
    spec.clear_faults()
    spec.spectrometer.set_element_current("fx", 10)
    assert spec.optics.currents["fx"] == 10


def test_settings_file_presets_drive_the_bytes_and_the_world(tmp_path, fresh_world):
    path = tmp_path / "eels_settings.json"
    path.write_text(json.dumps({"100": NSLUMIERE_100KV, "last": 1}))
    with SimulatedEELSSpectrometer(fresh_world, {"settings_file": str(path)}, timeout_s=0.3) as sim:
        s = sim.spectrometer
        assert s.dispersion_eV_per_channel == 0.0588 and s.dispersions_eV_per_channel() == (0.0231, 0.0588)
        s.dispersion_eV_per_channel = 0.0231
        assert sim.lens_transport.written[-11:] == NSLUMIERE_PRESET_0_BYTES
        assert fresh_world.spectrometer.dispersion_eV_per_channel == pytest.approx(0.0231)
        assert s.calibration().preset == "100 kV #0 (0.0231 eV/channel)"


def test_config_keys_and_addresses():
    with pytest.raises(ValueError, match=r"unknown key eels_spectrometer.prot;"):
        EELSSpectrometerConfig.from_dict({"prot": "COM3"})
    with pytest.raises(ValueError, match=r"eels_spectrometer.port = '' is not allowed"):
        check_addresses(EELSSpectrometerConfig())
    with pytest.raises(ValueError, match=r"eels_spectrometer.drift_tube_port = 0 is not allowed; expected a TCP port"):
        check_addresses(EELSSpectrometerConfig(port="/dev/ttyUSB5", drift_tube_host="192.168.0.40"))
    check_addresses(EELSSpectrometerConfig(), required=False)  # the simulated backend needs none
    with pytest.raises(ValueError, match=r"settings file '/nonexistent/eels.json' does not exist"):
        EELSSpectrometerConfig(settings_file="/nonexistent/eels.json").presets()
    with pytest.raises(ValueError, match=r"drift_tube_range_V: lower limit 10.0 must be below upper limit 0.0"):
        EELSSpectrometerConfig(drift_tube_range_V=(10.0, 0.0))


def test_bad_settings_file_names_the_entry(tmp_path):
    bad = {"100": {"0": dict(NSLUMIERE_100KV["0"], q3="lots")}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"bad.json: \[100\]\[0\]: q3 = 'lots' is not an integer set point"):
        EELSSpectrometerConfig(settings_file=str(path)).presets()


def test_serial_backend_reaches_the_simulator_through_the_site_keys(fresh_world):
    with SimulatedEELSSpectrometer(fresh_world, connect=False) as sim:
        table = sim.site_table()
        with connect_eels_spectrometer(dict(table, timeout_s=0.3)) as s:
            s.energy_offset_eV = 0.0
            sim.drift_simulator.wait_processed(2)  # the supply sends nothing back to wait for
            assert fresh_world.spectrometer.energy_offset_eV == pytest.approx(0.0, abs=0.25)
            assert sim.lens_simulator.requests[0] == b"fx 0,2328"
            assert sim.drift_simulator.requests[:1] == [b"HV+ 0"]
        sim.lens_simulator.fault = Fault.NO_REPLY
        with pytest.raises(DeviceTimeout, match=r"EELS spectrometer lens unit did not answer .* on serial port /dev/"):
            connect_eels_spectrometer(dict(table, timeout_s=0.2))


def test_an_unreachable_drift_tube_supply_is_named(fresh_world):
    with SimulatedEELSSpectrometer(fresh_world, connect=False) as sim:
        table = dict(sim.site_table(), timeout_s=0.3, drift_tube_connect_timeout_s=0.5)
        port = table["drift_tube_port"]
        sim.drift_server.stop()  # nobody listens there any more
        with pytest.raises(ConnectionLost, match=rf"EELS drift-tube supply: cannot connect to 127.0.0.1:{port}"):
            connect_eels_spectrometer(table)


def test_plan_window_takes_the_finest_preset_that_reaches():
    reach = lambda d: (0.0 - 200 * d, 1000.0 - 200 * d)  # noqa: E731 - drift tube 0–1000 V, ZLP at 200
    d, offset = plan_window(-2.0, 2.0, np.int64(1024), (0.1, 0.01, 0.05), reach)
    assert d == 0.01 and offset == pytest.approx(-2.0)  # cannot centre: 0 V puts channel 0 at -2 eV
    d, offset = plan_window(100.0, 140.0, 1024, (0.1, 0.01, 0.05), reach)
    assert d == 0.05 and offset == pytest.approx(120.0 - 1023 * 0.05 / 2)  # centred
    with pytest.raises(LimitError, match=r"energy window 3.0–1.0 eV must be finite and increasing"):
        plan_window(3.0, 1.0, 1024, (0.1,), reach)


def test_the_configured_preset_must_exist():
    with pytest.raises(LimitError, match=r"preset 9 does not exist at 100 kV in <built-in presets>; allowed: \[0, 1"):
        EELSSpectrometerConfig(preset=9).presets()
    with pytest.raises(LimitError, match=r"high tension 120.0 kV has no spectrometer presets .*allowed: 40, 60, 80, 100 kV"):
        connect_eels_spectrometer({"high_tension_kV": 120.0, "port": "/dev/null-port", "drift_tube_host": "127.0.0.1",
                                   "drift_tube_port": 9})
