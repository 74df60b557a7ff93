"""Stock scan control through Lumière's scan hardware source: start/stop, channels, subscan,
line scan, probe position, flyback, arbitrary pixel order (headless Swift session)."""
from __future__ import annotations

import numpy as np
import pytest
from nion.utils import Geometry

pytestmark = pytest.mark.swift


def _frames(scan, timeout=20.0):
    scan.start_playing()
    try:
        scan.get_next_xdatas_to_finish(timeout)  # may have started before the last change
        return scan.get_next_xdatas_to_finish(timeout)
    finally:
        scan.stop_playing(sync_timeout=10.0)


def _small_frame(swift, size=32, fov=128.0):
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    fp = swift.scan.get_current_frame_parameters()
    fp.pixel_size = Geometry.IntSize(size, size)
    fp.pixel_time_us = 4
    fp.fov_nm = fov
    fp.rotation_rad = 0.0
    fp.center_nm = Geometry.FloatPoint(y=p.y_nm, x=p.x_nm)
    swift.scan.set_current_frame_parameters(fp)
    return fp


def test_start_stop_and_haadf_adf_channels(swift):
    scan = swift.scan
    _small_frame(swift)
    assert [scan.get_channel_state(i).name for i in range(scan.channel_count)] == ["HAADF", "ADF"]
    scan.set_channel_enabled(1, True)
    try:
        haadf, adf = _frames(scan)
    finally:
        scan.set_channel_enabled(1, False)
    assert not scan.is_playing
    assert haadf.data.shape == adf.data.shape == (32, 32)
    assert haadf.data[16, 16] > 3 * np.median(haadf.data), "the particle in the centre"
    assert adf.data.sum() > haadf.data.sum(), "the lower-angle ring collects more"
    assert not np.array_equal(haadf.data, adf.data)


def test_subscan_and_line_scan_shapes_and_calibrations(swift):
    scan, stem = swift.scan, swift.stem_controller
    _small_frame(swift, 32, 128.0)
    [full] = _frames(scan)
    scan.subscan_enabled = True
    scan.subscan_region = Geometry.FloatRect.from_tlhw(0.25, 0.25, 0.5, 0.5)
    try:
        [sub] = _frames(scan)
    finally:
        scan.subscan_enabled = False
    assert sub.data.shape == (16, 16)
    assert sub.dimensional_calibrations[0].scale == pytest.approx(4.0)  # the context's pixel size
    centre = full.data[8:24, 8:24]
    assert sub.data.mean() == pytest.approx(centre.mean(), rel=0.25), "the subscan images the centre"
    assert sub.data.mean() > 2 * full.data.mean()
    stem.line_scan_vector = ((0.5, 0.25), (0.5, 0.75))
    scan.line_scan_enabled = True
    try:
        [line] = _frames(scan)
    finally:
        scan.line_scan_enabled = False
    assert line.data.shape[-1] == 16 and line.data.size == 16
    assert line.data.ravel()[8] > 2 * full.data.mean(), "the line crosses the particle"


def test_probe_position_parks_the_worlds_probe(swift):
    scan = swift.scan
    fp = _small_frame(swift, 32, 128.0)
    _frames(scan)  # a scan context for the probe graphic
    world = swift.devices.instrument.world
    scan.probe_position = Geometry.FloatPoint(y=0.25, x=0.75)
    try:
        shift = swift.devices.instrument.probe_shift.get_shift_nm()
        expected_y = fp.center_nm[0] + (0.25 - 0.5) * 128.0 + shift[0]
        expected_x = fp.center_nm[1] + (0.75 - 0.5) * 128.0 + shift[1]
        assert world.beam.probe_y_nm == pytest.approx(expected_y, abs=1e-6)
        assert world.beam.probe_x_nm == pytest.approx(expected_x, abs=1e-6)
    finally:
        scan.probe_position = None


def test_flyback_pixels_free_running_and_none_when_synchronized(swift):
    device = swift.devices.scan_module.device
    fp = swift.scan.get_current_frame_parameters()
    fp.pixel_time_us = 2
    fp.set_parameter("flyback_time_us", 30.0)
    assert device.calculate_flyback_pixels(fp) == 15
    fp.set_parameter("external_clock_mode", 1)
    assert device.calculate_flyback_pixels(fp) == 0


def test_arbitrary_pixel_order_is_visited_in_that_order(swift):
    device = swift.devices.scan_module.device
    _small_frame(swift, 16, 64.0)
    order = np.random.default_rng(1).permutation(256)[:40]
    device.set_pixel_order(order)
    try:
        [haadf] = _frames(swift.scan)
    finally:
        device.set_pixel_order(None)
    visits = device.last_visits
    np.testing.assert_array_equal(visits.order, order)
    assert (np.diff(visits.t_s) > 0).all(), "one dwell after the other, in the given order"
    flat = haadf.data.ravel()
    unvisited = np.setdiff1d(np.arange(256), order)
    assert (flat[unvisited] == 0).all(), "pixels not in the order are never illuminated"
    assert (flat[order] > 0).sum() > 0.8 * order.size
    with pytest.raises(ValueError):
        device.set_pixel_order([3, 3])
