"""``lumiere sim`` itself: every instrument it serves answers its real driver at the address the
written site file gives, over sockets only with ``--tcp`` (what Windows gets: pyserial
``socket://`` ports), and it stops cleanly on SIGTERM."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from detectors.cl import connect_cl_spectrometer
from detectors.config import load_config
from detectors.interfaces import ScanFrame
from detectors.laser.bench import connect_bench
from detectors.laser.config import LaserConfig
from detectors.merlin.camera import connect_merlin_camera
from detectors.scan.tcp import TcpScanGenerator
from detectors.simulation.specimen import Specimen
from detectors.vg_lumiere import connect_column


def test_tcp_site_serves_every_instrument_to_its_real_driver_and_stops_cleanly(start_simulator):
    sim = start_simulator("--tcp")
    config = load_config(sim.site_file)
    laser = LaserConfig.from_site_section(config["laser"])
    vg, cl = config.vg_config(), config.cl_config()
    serial_ports = [laser.credo.port, laser.pump.port, laser.meter.port_in, laser.meter.port_out,
                    laser.attenuator.port, vg.lenses.port, vg.apertures.port, vg.vacuum.gun_port,
                    vg.vacuum.column_port, cl.port]
    assert all(port.startswith("socket://127.0.0.1:") for port in serial_ports), serial_ports
    assert len(set(serial_ports)) == len(serial_ports)

    scan = TcpScanGenerator.connect(config["scan"]["host"], config["scan"]["port"])
    column = connect_column(vg)
    try:
        scan.set_probe_position_nm(10.0, -20.0)
        assert scan.probe_position_nm() == pytest.approx((10.0, -20.0))
        assert column.get("EHT") == pytest.approx(100_000.0)
        # one world: the column's probe shift (CSH) moves the probe the scan unit scans, so the
        # particle moves the other way in its HAADF frame
        p = Specimen(sim.seed).particles[0]
        scan.configure(ScanFrame((32, 32), 128.0, (p.y_nm, p.x_nm), dwell_s=20e-6))
        scan.set_channels(["HAADF"])
        before = _centre_of_mass_px(scan.acquire_frame().images["HAADF"])
        column.set_shift_nm(0.0, 16.0)  # 4 px of 4 nm
        after = _centre_of_mass_px(scan.acquire_frame().images["HAADF"])
        assert after - before == pytest.approx((0.0, -4.0), abs=0.7)
    finally:
        column.set_shift_nm(0.0, 0.0)
        column.close()
        scan.close()

    bench = connect_bench(laser)
    try:
        low, high = bench.laser.wavelength_range_nm
        assert low <= bench.laser.wavelength_nm() <= high
        assert bench.meter_in.read_power_uW() >= 0.0
    finally:
        bench.close()
    with connect_cl_spectrometer(cl) as spectrometer:
        assert spectrometer.spectrometer.goto_nm(575.0) == pytest.approx(575.0)
    e = config["eels_camera"]
    camera = connect_merlin_camera(e["host"], e["control_port"], e["data_port"], lambda: np.arange(1024.0))
    try:
        spectra = camera.acquire_spectra(2, 0.005)
    finally:
        camera.close()
    assert spectra.shape == (2, 1024) and spectra.sum() > 0

    assert sim.stop() == 0
    assert "lumiere sim: stopped" in sim.lines


def test_unknown_devices_are_refused_with_the_choices():
    proc = subprocess.run([sys.executable, "-m", "lumiere.cli", "sim", "laser", "stage2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2  # a bad command line (argparse)
    assert "unknown device 'stage2'; choose from scan merlin laser vg cl" in proc.stderr


def _centre_of_mass_px(image: np.ndarray) -> np.ndarray:
    """(y, x) centre of mass of what is brighter than the median, px."""
    w = np.clip(image - np.median(image), 0, None)
    y, x = np.indices(image.shape)
    return np.array([(w * y).sum(), (w * x).sum()]) / w.sum()


def test_site_file_text_round_trips_windows_port_names():
    """COM ports above 9 are named ``\\\\.\\COM12`` on Windows: the written TOML must read back as is."""
    import tomllib

    from detectors.config import validate
    from detectors.simulation.site_server import site_file_text

    tables = {"cl": {"backend": "serial", "port": r"\\.\COM12", "timeout_s": 2.0},
              "vg": {"backend": "simulated", "lenses": {"port": "COM3", "baudrate": 57600}}}
    text = site_file_text(tables, "two ports\non Windows")
    assert text.startswith("# two ports\n# on Windows\n")
    assert tomllib.loads(text) == tables
    assert validate(tomllib.loads(text)).cl_config().port == r"\\.\COM12"
