"""The Merlin EELS camera on the simulated world, through the real control/data protocol."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.merlin.camera import simulated_merlin_camera
from detectors.merlin.settings import MerlinSettings
from detectors.simulation.world import SimulatedWorld


@pytest.fixture
def world_camera():
    world = SimulatedWorld(2)
    camera = simulated_merlin_camera(world.eels_frames, world.energy_axis_eV)
    try:
        yield world, camera
    finally:
        camera.close()


def test_spectra_through_tcp_match_the_world(world_camera):
    world, camera = world_camera
    world.beam.current_pA = 2.0  # stays well inside the 12-bit counter at 10 ms
    t0 = world.clock.now_s()
    spectra = camera.acquire_spectra(4, 0.01)
    assert spectra.shape == (4, 1024)
    assert world.clock.now_s() == pytest.approx(t0 + 0.04)
    expected = world.eels_counts(np.zeros(1), np.zeros(1), t0, 0.01, noise=False)[0]
    assert spectra.sum() / 4 == pytest.approx(expected.sum(), rel=0.02)
    five_sigma = 5 * np.sqrt(expected / 4) + 1  # Poisson scatter of a 4-frame mean
    assert (np.abs(spectra.mean(axis=0) - expected) < five_sigma).all()
    meta = camera.header_metadata()
    assert meta["frames_received"] == 4 and meta["dropped"] == 0 and "acquisition_header" in meta


def test_counter_depth_saturates_like_the_detector(world_camera):
    world, camera = world_camera
    world.beam.current_pA = 500.0
    camera.settings = MerlinSettings(counter_depth=6)
    frames = camera.acquire_frames(2, 0.01)
    assert frames.shape == (2, 256, 1024) and frames.max() == 63


def test_queued_probe_positions_step_through_a_scan(world_camera):
    world, camera = world_camera
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 50.0
    grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
    hole = world.specimen.hole_center_nm
    world.queue_probe_positions(np.array([grain.y_nm, hole[0]]), np.array([grain.x_nm, hole[1]]))
    on_grain, in_vacuum = camera.acquire_spectra(2, 0.02)
    assert on_grain[60:].sum() > 100 * max(in_vacuum[60:].sum(), 1)


def test_lumiere_merlin_sim_serves_the_world_to_the_real_client():
    import re
    import subprocess
    import sys

    from detectors.merlin.camera import connect_merlin_camera

    proc = subprocess.Popen([sys.executable, "-m", "lumiere.cli", "merlin-sim", "--world", "--no-realtime",
                             "--control-port", "0", "--data-port", "0", "--seed", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        ports = re.match(r"control_port=(\d+) data_port=(\d+)", line)
        assert ports, f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.poll() else ''}"
        camera = connect_merlin_camera("127.0.0.1", int(ports[1]), int(ports[2]), lambda: np.arange(1024.0))
        try:
            spectra = camera.acquire_spectra(2, 0.001)
        finally:
            camera.close()
    finally:
        proc.terminate()
        proc.wait(10)
    zlp_channel = int(np.argmax(spectra.sum(axis=0)))
    assert 150 <= zlp_channel <= 250, "the world's zero-loss peak (−20 eV offset, 0.1 eV/channel) at 0 eV"
