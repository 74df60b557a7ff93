"""The VG column and the CL spectrometer inside the simulated instrument (lazy, closed with it)."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame


def test_column_and_cl_start_on_first_use_and_close_with_the_instrument():
    instrument = build_instrument()
    assert not instrument.column_connected and not instrument.cl_connected
    column, cl = instrument.column, instrument.cl
    assert instrument.column is column and instrument.cl is cl
    assert column.get("EHT") == instrument.world.beam.high_tension_V
    instrument.close()
    assert column.servers == {} and cl.server is None
    with pytest.raises(RuntimeError, match="closed"):
        instrument.column


def test_column_probe_shift_moves_the_scan_and_the_cl_camera():
    with build_instrument() as instrument:
        instrument.column.set("CSH.x", 30.0)
        instrument.column.set("CSH.y", -10.0)
        assert instrument.probe_shift.get_shift_nm() == pytest.approx((-10.0, 30.0))
        frame = ScanFrame((4, 4), 40.0, (0.0, 0.0), 0.0, dwell_s=1e-3)
        y0, x0 = frame.positions_nm()
        y, x = instrument.probe_shift.apply(frame).positions_nm()
        assert np.allclose(x - x0, 30.0) and np.allclose(y - y0, -10.0)
        assert instrument.cl.camera.probe_shift is instrument.probe_shift


# -- the "serial" backends: the real column / spectrometer over the ports of a site file ----------

import os  # noqa: E402

from detectors.cl import CLSpectrometer, SimulatedCLSpectrometer  # noqa: E402
from detectors.config import ConfigError, load_config  # noqa: E402
from detectors.simulation.world import SimulatedWorld  # noqa: E402
from detectors.vg_lumiere import SimulatedVGColumn, SubsystemTimeout, VGColumn  # noqa: E402
from detectors.common.errors import DeviceTimeout  # noqa: E402
from detectors.simulation.site_server import site_file_text  # noqa: E402




@pytest.fixture
def served():
    """The VG simulators on ptys (serial instruments) and 127.0.0.1 sockets (HT, probe, stage),
    the Acton simulator on a socket (reached through a pyserial socket:// URL); no drivers."""
    world = SimulatedWorld(0)
    vg = SimulatedVGColumn(world, connect=False)
    cl = SimulatedCLSpectrometer(world, serial="tcp", connect=False)
    yield world, vg, cl
    vg.close()
    cl.close()


def test_serial_backends_drive_the_instruments_through_the_configured_ports(tmp_path, served):
    world, vg, cl = served
    site = tmp_path / "site.toml"
    site.write_text(site_file_text({"vg": {"backend": "serial", **vg.site_tables()},
                           "cl": {"backend": "serial", **cl.site_table()}}), encoding="utf-8")
    assert vg.site_tables()["lenses"]["port"].startswith("/dev/")  # a pty path
    with build_instrument(load_config(site)) as instrument:
        column = instrument.column
        assert isinstance(column, VGColumn)
        assert column.get("EHT") == 100_000.0 == vg.physics.ht_V
        column.set("OL", 6.5)
        assert vg.physics.lens_currents_A[1] == pytest.approx(6.5)
        column.set("OA.x", 25.0)
        assert column.get("OA.x") == pytest.approx(25.0, abs=0.05)  # whole microsteps
        assert column.get("GunVacuum") == pytest.approx(vg.physics.gun_pressure_Pa, rel=1e-3)
        assert column.get("ColumnVacuum") == pytest.approx(vg.physics.column_pressure_Pa, rel=1e-3)
        # a real column does not write the simulated world's probe shift
        column.set("CSH.x", 12.0)
        assert vg.physics.shift_nm == (0.0, 12.0) and instrument.probe_shift.get_shift_nm() == (0.0, 0.0)

        spectrometer = instrument.cl
        assert isinstance(spectrometer, CLSpectrometer)
        spectrometer.spectrometer.set_grating(1)
        assert spectrometer.spectrometer.goto_nm(600.0) == pytest.approx(600.0)
        assert cl.state.grating_index == 1 and cl.state.center_nm() == pytest.approx(600.0)
        with pytest.raises(RuntimeError, match="no CL camera"):
            spectrometer.camera
    assert column.owned_transports == [] and spectrometer.transport._closed


@pytest.fixture
def silent_pty():
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_a_silent_port_names_the_device_and_the_port(tmp_path, served, silent_pty):
    world, vg, cl = served
    tables = vg.site_tables()
    tables["vacuum"]["gun_port"] = silent_pty
    tables["vacuum"]["timeout_s"] = 0.2
    site = tmp_path / "site.toml"
    site.write_text(site_file_text({"vg": {"backend": "serial", **tables},
                           "cl": {"backend": "serial", "port": silent_pty, "timeout_s": 0.2}}), encoding="utf-8")
    with build_instrument(site) as instrument:
        with pytest.raises(SubsystemTimeout) as err:
            instrument.column
        assert err.value.subsystem == "gun gauge" and silent_pty in str(err.value)
        with pytest.raises(DeviceTimeout, match=f"CL spectrometer did not answer on serial port {silent_pty}"):
            instrument.cl
        assert not instrument.column_connected and not instrument.cl_connected


@pytest.mark.parametrize("text, expected", [
    ('[vg]\nbackend = "rs232"\n', ['vg.backend = "rs232"'.replace('"', "'"), '"simulated" or "serial"']),
    ('[vg]\nbackend = "serial"\n', ["vg.lenses.port = ''", "serial device path or a pyserial URL"]),
    ('[vg.lenses]\nport = "/dev/ttyUSB0"\nbaudrate = 56000\n[vg]\nbackend = "serial"\n',
     ["vg.lenses.baudrate = 56000", "57600"]),
    ('[vg.ht]\nhost = "vg-bridge"\nport = 70000\n', ["vg.ht.port = 70000", "1–65535"]),  # checked when given
    ('[vg.ht]\nport = "7001"\n', ["vg.ht.port = '7001'", "an integer"]),
    ('[vg.lenses]\nobjective_max_A = "high"\n', ["vg.lenses.objective_max_A = 'high'", "a number"]),
    ('[vg.lense]\nport = "x"\n', ["unknown section [vg.lense]"]),
    ('[vg.lenses]\nprot = "x"\n', ["unknown key vg.lenses.prot", "port"]),
    ('[cl]\nbackend = "serial"\n', ["cl.port = ''", "pyserial URL"]),
    ('[cl]\nbackend = "serial"\nport = "COM4"\nbaudrate = 9601\n', ["cl.baudrate = 9601", "9600"]),
    ('[cl]\nslit = 3\n', ["unknown key cl.slit", "slit_range_um"]),
])
def test_bad_vg_and_cl_values_name_the_key_the_value_and_what_is_allowed(tmp_path, text, expected):
    site = tmp_path / "site.toml"
    site.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(site)
    for part in expected:
        assert part in str(err.value)


def test_simulated_backends_use_the_vg_and_cl_tables(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[vg.lenses]\nobjective_max_A = 8.0\n[cl]\ninitial_grating = 1\n', encoding="utf-8")
    with build_instrument(site) as instrument:
        assert instrument.column.control("OL").high == 8.0
        assert instrument.cl.state.grating_index == 1
