"""Workflows on the "real site on loopback": ``lumiere sim`` in its own process, this process holding
only the real drivers (no simulated world), every result saying ``simulated: false``, and the
acquisitions taking their time on the wall clock."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from detectors.config import load_config
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.specimen import Specimen
from lumiere.sinks import MemorySink


def _specimen(sim) -> Specimen:
    """Ground truth the test knows (the specimen of the simulator's seed); no world is built."""
    return Specimen(sim.seed)


def test_the_site_file_names_only_real_backends_and_builds_no_world(site):
    config = load_config(site.site_file)
    assert config["scan"]["backend"] == "tcp" and config["eels_camera"]["backend"] == "merlin"
    assert {config[d]["backend"] for d in ("laser", "vg", "cl")} == {"serial"}
    with build_instrument(config) as instrument:
        assert instrument.world is None
        meta = instrument.metadata()
        assert meta["simulated"] is False
        assert not any(device["simulated"] for device in meta["devices"].values())
        # the column and the CL spectrometer answer through their serial ports / sockets
        assert instrument.column.get("EHT") == pytest.approx(100_000.0)
        assert instrument.cl.spectrometer.goto_nm(575.0) == pytest.approx(575.0)


def test_spectrum_image_follows_the_scan_unit_and_the_wall_clock(site):
    """The Merlin in the simulator's process records its spectra where the scan unit (same
    process, reached over TCP) put the beam: the inelastic fraction follows the HAADF."""
    p = _specimen(site).particles[0]
    frame = ScanFrame((12, 12), 128.0, (p.y_nm, p.x_nm))
    exposure_s = 0.01
    with build_instrument(site.site_file) as instrument:
        energy = instrument.spectrum_imager.energy_axis_eV()
        assert energy[0] == pytest.approx(-20.0) and energy[1] - energy[0] == pytest.approx(0.1)
        sink = MemorySink()
        from drift_eels.spectrum_image import acquire_spectrum_image

        start = time.monotonic()
        si, haadf = acquire_spectrum_image(instrument.spectrum_imager, frame, exposure_s, sink,
                                           metadata=instrument.metadata())
        elapsed = time.monotonic() - start
    assert elapsed >= 0.95 * 144 * exposure_s, f"144 exposures of {exposure_s} s took only {elapsed:.2f} s"
    assert sink.results["si"].metadata["simulated"] is False
    assert np.isfinite(si).all() and si.shape == (12, 12, 1024)
    inelastic = si[..., energy > 5.0].sum(axis=-1) / si.sum(axis=-1)
    r = np.corrcoef(haadf.ravel(), inelastic.ravel())[0, 1]
    assert r > 0.5, f"inelastic fraction vs HAADF correlation {r:.2f}: spectra not taken where the beam was"
    assert haadf[6, 6] > 3 * np.median(haadf[[0, -1]]), "the particle is bright in the centre of the HAADF"


def test_drift_corrected_si_with_given_regions_measures_the_wall_clock_drift(core_loss_site, tmp_path):
    from drift_eels.session import run_session

    specimen = _specimen(core_loss_site)
    grain = min((g for g in specimen.grains if g.material == "DyScO3"), key=lambda g: math.hypot(g.y_nm, g.x_nm))
    particle = specimen.particles[0]
    start = time.monotonic()
    result = run_session(tmp_path, config=str(core_loss_site.site_file), size_px=16, n_sequences=4, dwell_s=2e-3,
                         si_center_nm=(grain.y_nm, grain.x_nm), reference_center_nm=(particle.y_nm, particle.x_nm),
                         baseline=False)
    elapsed = time.monotonic() - start
    corrected = result.corrected
    assert corrected.sequences_done == 4 and not corrected.aborted
    assert elapsed >= 4 * 16 * 16 * 2e-3, "4 sequences of 256 exposures of 2 ms"
    # the simulator drifts at (36, 48) nm/min = (0.6, 0.8) nm/s of wall time
    log = [(m.time_s, m.drift_nm) for m in corrected.measurements]
    (t0, d0), (t1, d1) = log[0], log[-1]
    velocity = (np.asarray(d1) - np.asarray(d0)) / (t1 - t0)
    assert velocity == pytest.approx([0.6, 0.8], abs=0.25), (
        f"measured drift velocity {velocity} nm/s; several times too fast means the re-centring "
        "(instrument.probe_shift) did not reach the scan unit, so it was counted as drift")
    with h5py.File(result.hdf5_path, "r") as f:
        meta = f["Experiments/si/metadata/Lumiere"]
        assert meta.attrs["simulated"] == False  # noqa: E712 - a numpy bool read back from HDF5
        assert meta["devices/scan"].attrs["backend"] == "tcp"
    assert set(corrected.maps) == {"Sc L2,3", "Dy M4,5"}


def test_eegs_wavelength_scan_at_a_given_probe_sees_the_simulators_laser(site, tmp_path):
    from eegs import EEGSDevices, WavelengthScan
    from eegs.scans import WavelengthScanParameters

    # the particle whose plasmon the dye (Pyrromethene 597, 582 nm peak) reaches with most power
    p = min(_specimen(site).particles, key=lambda p: abs(p.resonance_nm - 582.0))
    with build_instrument(site.site_file) as instrument:
        instrument.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + 7.5)
        devices = EEGSDevices.from_instrument(instrument)
        params = WavelengthScanParameters(p.resonance_nm - 6.0, p.resonance_nm + 6.0, 6.0, spectra_per_point=2,
                                          exposure_s=0.02)
        start = time.monotonic()
        result = WavelengthScan(devices, params).run(MemorySink())
        elapsed = time.monotonic() - start
    assert result.points_done == 3 and not result.aborted
    assert elapsed >= 4 * 2 * 0.02, "3 points and the laser-off reference, 2 exposures of 20 ms each"
    assert result.metadata["microscope"]["simulated"] is False
    e = result.energy_eV
    hw = 1239.84 / result.wavelength_nm[1]
    gain = (e > -hw - 0.4) & (e < -hw + 0.4)
    on = result.spectra[1, gain].sum() / result.spectra[1].sum()
    off = result.laser_off_spectrum[gain].sum() / result.laser_off_spectrum.sum()
    assert on > 10 * max(off, 1e-7), f"gain fraction {on:.2e} with the laser, {off:.2e} without"
    assert np.all(result.power_uW[:3] > 1.0), "the power meters read the simulator's laser"


SWIFT_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys, tempfile
    from nion.instrumentation import DriftTracker, HardwareSource, camera_base, scan_base, stem_controller
    from nion.swift.model import PlugInManager
    from nion.utils import Geometry, Registry
    from detectors.simulation import world as world_module

    def refuse(self, *args, **kwargs):
        raise AssertionError("Swift built a SimulatedWorld on a real site")
    world_module.SimulatedWorld.__init__ = refuse

    import nionswift_plugin.lumiere as lumiere_plugin
    config_dir = tempfile.mkdtemp()
    stem_controller.register_event_loop(asyncio.new_event_loop())
    HardwareSource.run(); DriftTracker.run(); camera_base.run(config_dir); scan_base.run(config_dir)
    PlugInManager.load_plug_ins(None, config_dir, None)
    manager = HardwareSource.HardwareSourceManager()
    out = {}
    try:
        devices = lumiere_plugin.devices()
        out["world"] = devices.instrument.world is not None
        # ours by id: with nionswift-usim installed Swift's default stem_controller may be usim's
        ours = [c for c in Registry.get_components_by_type("stem_controller")
                if getattr(c, "instrument_id", None) == "lumiere_stem_controller"]
        out["stem_controller"] = type(ours[0]).__name__ if len(ours) == 1 else f"{len(ours)} registered"
        scan = manager.get_hardware_source_for_hardware_source_id("lumiere_scan")
        camera = manager.get_hardware_source_for_hardware_source_id("lumiere_eels_camera")
        out["camera"] = camera is not None
        fp = scan.get_current_frame_parameters()
        fp.pixel_size = Geometry.IntSize(32, 32)
        fp.pixel_time_us = 20
        fp.fov_nm = 128.0
        scan.set_current_frame_parameters(fp)
        scan.start_playing()
        try:
            scan.get_next_xdatas_to_finish(30.0)
            [haadf] = scan.get_next_xdatas_to_finish(30.0)
        finally:
            scan.stop_playing(sync_timeout=10.0)
        out["haadf_shape"] = list(haadf.data.shape)
        out["haadf_max"] = float(haadf.data.max())
        out["simulated"] = devices.instrument.metadata()["simulated"]
    finally:
        for hardware_source in list(manager.hardware_sources):
            hardware_source.abort_playing()
        lumiere_plugin.stop()
        manager.close()  # as Swift at quit: usim's cameras run non-daemon threads that keep a process alive
    print("RESULT " + json.dumps(out), flush=True)
""")


def test_swift_registers_the_real_sites_devices_headless(site):
    env = {**os.environ, "LUMIERE_CONFIG": str(site.site_file), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", SWIFT_SCRIPT], capture_output=True, text=True, timeout=180, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["world"] is False and out["simulated"] is False
    assert out["stem_controller"] == "LumiereInstrument" and out["camera"]
    assert out["haadf_shape"] == [32, 32] and out["haadf_max"] > 0
