"""A site whose devices are all real: no simulated world, the wall clock, the site's calibration.

Every backend of the site file is a real one (``tcp`` scan unit, ``merlin``, ``serial`` laser, VG
column and CL spectrometer), pointed at simulators on 127.0.0.1 and ptys: a scan unit served by
:class:`~detectors.scan.SimulatedScanUnit`, ``lumiere merlin-sim`` in its own process, the laser
bench's, VG column's and Acton's simulators. Those simulators have worlds of their own; the
instrument must not have one, nor read one.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from detectors.calibration import WallClock
from detectors.cl import SimulatedCLSpectrometer
from detectors.config import load_config
from detectors.simulation.site_server import site_file_text
from detectors.instrument import build_instrument
from detectors.laser.simulated import SimulatedLaserBench, SimulatedLaserSystem
from detectors.scan import SimulatedScanGenerator, SimulatedScanUnit
from detectors.simulation.clock import SimClock
from detectors.simulation.devices import SimulatedProbeShift
from detectors.simulation.state import LaserState
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import SimulatedVGColumn

#: the site's calibration, unlike the merlin-sim world's (−20 eV, 0.1 eV/channel)
OFFSET_EV, DISPERSION_EV = -5.0, 0.05




@pytest.fixture(scope="module")
def real_site(tmp_path_factory):
    """(site file path, the scan unit's own world): every backend real, on loopback simulators."""
    scan_world = SimulatedWorld(5)
    unit = SimulatedScanUnit(SimulatedScanGenerator(scan_world, SimulatedProbeShift()), timeout_s=5.0)
    unit.server.start()
    merlin = subprocess.Popen([sys.executable, "-m", "lumiere.cli", "merlin-sim", "--world", "--no-realtime",
                               "--control-port", "0", "--data-port", "0", "--seed", "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the laser simulators in real time: the real drivers wait on the wall clock
    laser = SimulatedLaserBench(SimulatedLaserSystem(LaserState(), SimClock(1.0), np.random.default_rng(3)),
                                timeout_s=2.0)
    device_world = SimulatedWorld(6)
    vg = SimulatedVGColumn(device_world, serial="tcp", connect=False)
    cl = SimulatedCLSpectrometer(device_world, serial="tcp", connect=False)
    try:
        line = merlin.stdout.readline()
        ports = re.match(r"control_port=(\d+) data_port=(\d+)", line)
        assert ports, f"merlin-sim did not start: {line!r}"
        laser.start()
        for transport in laser.transports.values():  # a pty has room for one client: the instrument's
            transport.close()
        s = laser.servers
        site = tmp_path_factory.mktemp("site") / "real_site.toml"
        site.write_text(site_file_text({
            "spectrometer": {"energy_offset_eV": OFFSET_EV, "dispersion_eV_per_channel": DISPERSION_EV},
            "scan": {"backend": "tcp", "host": "127.0.0.1", "port": unit.port, "timeout_s": 5.0},
            "eels_camera": {"backend": "merlin", "host": "127.0.0.1", "control_port": int(ports[1]),
                            "data_port": int(ports[2])},
            "laser": {"backend": "serial", "credo": {"port": s["laser"].port}, "pump": {"port": s["pump"].port},
                      "meter": {"port_in": s["meter_in"].port, "port_out": s["meter_out"].port},
                      "attenuator": {"port": s["attenuator"].port},
                      "blanker": {"host": s["blanker"].host, "port": s["blanker"].port}},
            "vg": {"backend": "serial", **vg.site_tables()},
            "cl": {"backend": "serial", **cl.site_table()},
        }), encoding="utf-8")
        yield site, scan_world
    finally:
        merlin.terminate()
        merlin.wait(10)
        laser.stop()
        vg.close()
        cl.close()
        unit.stop()


def test_a_real_site_has_no_world_runs_on_the_wall_clock_and_says_so(real_site):
    site, _ = real_site
    with build_instrument(load_config(site)) as inst:
        assert inst.world is None
        assert isinstance(inst.clock, WallClock) and not inst.fully_simulated
        meta = inst.metadata()
        assert meta["simulated"] is False and meta["clock"] == "wall"
        assert {name: d["simulated"] for name, d in meta["devices"].items()} == {
            "scan": False, "eels_camera": False, "laser": False, "vg": False, "cl": False}
        assert meta["beam_current_pA"] is None  # nothing measures it; the world's is not ours


def test_the_real_merlin_takes_its_energy_axis_from_the_site_file(real_site):
    site, _ = real_site
    with build_instrument(load_config(site)) as inst:
        axis = inst.eels_camera.energy_axis_eV()
        assert axis[0] == pytest.approx(OFFSET_EV) and axis[1] - axis[0] == pytest.approx(DISPERSION_EV)
        assert axis.size == 1024
        np.testing.assert_array_equal(inst.spectrum_imager.energy_axis_eV(), axis)
        spectra = inst.eels_camera.acquire_spectra(1, 0.001)
        # the detector's own world puts its zero-loss peak at its −20 eV + 0.1 eV/channel: channel ~200,
        # which the site calibrates as −5 + 200 × 0.05 = 5 eV; the axis is the site's, not the simulator's
        assert 150 <= int(np.argmax(spectra[0])) <= 250
        inst.spectrometer.set(energy_offset_eV=10.0)  # e.g. the spectrometer device recalibrates
        assert inst.eels_camera.energy_axis_eV()[0] == pytest.approx(10.0)


def test_the_probe_is_parked_through_the_scan_generator(real_site):
    site, scan_world = real_site
    with build_instrument(load_config(site)) as inst:
        inst.set_probe_position_nm(12.5, -30.0)
        assert inst.probe_position_nm() == pytest.approx((12.5, -30.0))
        assert (scan_world.beam.probe_y_nm, scan_world.beam.probe_x_nm) == pytest.approx((12.5, -30.0))


def test_eegs_on_a_real_site_uses_the_wall_clock_and_records_simulated_false(real_site):
    from eegs import EEGSDevices
    from eegs.live import PowerMonitor
    from lumiere.sinks import MemorySink

    site, _ = real_site
    with build_instrument(load_config(site)) as inst:
        devices = EEGSDevices.from_instrument(inst)
        assert devices.microscope["simulated"] is False
        sink = MemorySink()
        start = time.monotonic()
        rows = PowerMonitor(devices, interval_s=0.2, max_points=3).run(sink)
        elapsed = time.monotonic() - start
        assert rows.shape[0] == 3
        assert elapsed >= 0.4, f"3 readings 0.2 s apart took {elapsed:.3f} s of wall time"
        assert np.diff(rows[:, 0]).min() >= 0.2 - 1e-3  # the logged times are wall seconds
        meta = sink.results["power_monitor"].metadata
        assert meta["microscope"]["simulated"] is False
        assert meta["microscope"]["devices"]["laser"] == {"backend": "serial", "simulated": False}


def test_lumiere_eegs_on_a_real_site_asks_for_the_probe_position(real_site, tmp_path, capsys):
    from lumiere import cli

    site, _ = real_site
    code = cli.main(["eegs", "wavelength-scan", "--out", str(tmp_path), "--config", str(site), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 1
    assert "on a real instrument" in err and "give --probe-nm Y X" in err


def test_drift_si_on_a_real_site_asks_for_its_regions(real_site, tmp_path):
    from drift_eels.session import run_session

    site, _ = real_site
    with pytest.raises(ValueError, match=r"give --si-center-nm Y X and --ref-center-nm Y X"):
        run_session(tmp_path, config=str(site), size_px=8, n_sequences=1)
    with pytest.raises(ValueError, match=r"give --ref-center-nm Y X \("):
        run_session(tmp_path, config=str(site), size_px=8, n_sequences=1, si_center_nm=(0.0, 0.0))
    assert not (tmp_path / "drift_si.h5").exists()  # refused before anything moved or was written


def test_swift_stem_controller_without_a_world(real_site):
    """The Swift stem_controller on the real site: the world's controls are absent, the energy
    calibration is the instrument's, the probe graphic parks the probe through the scan unit."""
    from nion.instrumentation import stem_controller
    from nion.utils import Geometry

    from nionswift_plugin.lumiere.stem_device import LumiereInstrument

    site, scan_world = real_site
    with build_instrument(load_config(site)) as inst:
        stem = LumiereInstrument(inst)
        values = stem.vg_values
        assert values.get_value("eels_x_offset") == pytest.approx(OFFSET_EV)
        assert values.set_value("eels_x_scale", 0.2)
        assert inst.eels_camera.energy_axis_eV()[1] - OFFSET_EV == pytest.approx(0.2)
        assert not values.set_value("eels_x_scale", -1.0) and "must be > 0" in values.last_error
        assert values.get_value("BeamCurrent") is None and "BeamCurrent" not in values.known_names()
        props = stem.get_autostem_properties()
        assert props["simulated"] is False and "laser_wavelength_nm" not in props
        context = stem_controller.ScanContext(Geometry.IntSize(100, 100), Geometry.FloatPoint(), 200.0, 0.0)
        stem._set_scan_context_probe_position(context, Geometry.FloatPoint(y=0.75, x=0.25))
        assert inst.probe_position_nm() == pytest.approx((50.0, -50.0), abs=1.01)
        assert (scan_world.beam.probe_y_nm, scan_world.beam.probe_x_nm) == pytest.approx((50.0, -50.0), abs=1.01)


SWIFT_DEVICES_SCRIPT = """
import json, os, sys
from nionswift_plugin.lumiere.devices import create_devices
devices = create_devices(sys.argv[1])
try:
    cal = devices.eels_camera.simulator.get_dimensional_calibrations(None, None)[1]
    print("RESULT " + json.dumps({
        "world": devices.instrument.world is not None, "cl_camera": devices.cl_camera is not None,
        "same_generator": devices.scan_module.device.generator is devices.instrument.scan_generator,
        "offset": cal.offset, "units": cal.units}))
finally:
    devices.instrument.close()
    sys.stdout.flush()
    os._exit(0)  # the camera module's acquisition thread is not a daemon and no Swift is here to stop it
"""


def test_swift_devices_build_on_a_real_site(real_site):
    """Swift's adapters (stem_controller, scan device, Merlin camera) on the all-real site; no CL
    camera (no real CL CCD driver). In a process of its own: building the camera module registers
    its Swift component, which the Swift tests of this session have registered already."""
    site, _ = real_site
    proc = subprocess.run([sys.executable, "-c", SWIFT_DEVICES_SCRIPT, str(site)], capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    import json
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["world"] is False and out["cl_camera"] is False and out["same_generator"] is True
    assert out["offset"] == pytest.approx(OFFSET_EV) and out["units"] == "eV"
