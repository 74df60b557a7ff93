"""ScanFrame geometry: pixel positions, rotation, sub-frames, timing; simulated devices' checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.interfaces import ScanFrame
from detectors.scan import SimulatedScanGenerator
from detectors.scan.adapters import GeneratorScan
from detectors.simulation.devices import SimulatedEELSCamera, SimulatedProbeShift
from detectors.simulation.world import SimulatedWorld


def test_positions_cover_the_field_of_view_with_square_pixels():
    frame = ScanFrame(size_px=(4, 8), fov_nm=80.0, center_nm=(5.0, -5.0))
    y, x = frame.positions_nm()
    assert frame.pixel_size_nm == 10.0
    np.testing.assert_allclose(x[0], -5.0 + np.arange(-35, 40, 10))
    np.testing.assert_allclose(y[:, 0], 5.0 + np.array([-15, -5, 5, 15]))


def test_rotation_turns_the_scan_axes_counter_clockwise():
    frame = ScanFrame(size_px=(2, 2), fov_nm=2.0, rotation_rad=math.pi / 2)
    y, x = frame.to_microscope_nm(0.0, 1.0)  # one nm along the scan's fast axis
    assert (float(y), float(x)) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_subframe_keeps_pixels_in_place_even_when_rotated():
    frame = ScanFrame(size_px=(16, 16), fov_nm=64.0, center_nm=(3.0, 4.0), rotation_rad=0.3)
    y, x = frame.positions_nm()
    sub = frame.subframe(4, 2, 5, 7)
    sy, sx = sub.positions_nm()
    np.testing.assert_allclose(sy, y[4:9, 2:9], atol=1e-9)
    np.testing.assert_allclose(sx, x[4:9, 2:9], atol=1e-9)
    with pytest.raises(ValueError, match="outside the 16×16 frame"):
        frame.subframe(10, 0, 10, 4)


def test_pixel_times_include_flyback():
    frame = ScanFrame(size_px=(2, 3), fov_nm=3.0, dwell_s=1.0, flyback_px=2)
    t = frame.pixel_times_s(10.0)
    np.testing.assert_allclose(t, [[10.5, 11.5, 12.5], [15.5, 16.5, 17.5]])
    assert frame.frame_time_s == 10.0


@pytest.mark.parametrize("kwargs, word", [({"size_px": (0, 4)}, "size_px"), ({"fov_nm": -1.0}, "fov_nm"),
                                          ({"dwell_s": 0.0}, "dwell_s")])
def test_bad_frames_are_refused(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ScanFrame(**kwargs)


def test_probe_shift_moves_the_scanned_area_and_has_limits():
    world = SimulatedWorld(0)
    shift = SimulatedProbeShift(world, limit_nm=100.0)
    scan = GeneratorScan(SimulatedScanGenerator(world, shift))
    frame = ScanFrame(size_px=(64, 64), fov_nm=128.0, dwell_s=1e-4)
    world.clock.advance(0)
    reference = world.haadf_counts(*frame.positions_nm(), 0.0, 1e-4, noise=False)
    shift.set_shift_nm(0.0, 20.0)  # 10 px to the right
    moved = world.haadf_counts(*shift.apply(frame).positions_nm(), 0.0, 1e-4, noise=False)
    np.testing.assert_allclose(moved[:, :-10], reference[:, 10:], rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="exceeds the ±100.0 nm range"):
        shift.set_shift_nm(150.0, 0.0)
    assert scan.acquire_frame(frame).shape == (64, 64)


def test_camera_frames_have_merlin_geometry_and_sum_to_spectra():
    world = SimulatedWorld(0)
    camera = SimulatedEELSCamera(world)
    t0 = world.clock.now_s()
    frames = camera.acquire_frames(3, 0.01)
    assert frames.shape == (3, 256, 1024)
    assert world.clock.now_s() == pytest.approx(t0 + 0.03)
    expected = world.eels_counts(np.zeros(1), np.zeros(1), t0, 0.01, noise=False)[0]
    np.testing.assert_allclose(frames.sum(axis=(0, 1)) / 3, expected, rtol=0.05, atol=30)
    with pytest.raises(ValueError, match="exposure"):
        camera.acquire_spectra(1, 0.0)
