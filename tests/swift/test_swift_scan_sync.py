"""Pixel orders in synchronized SIs, output lines and the TCP scan backend behind Swift's scan
device (headless Swift session; the TCP case on a separate instrument with a virtual clock)."""
from __future__ import annotations

import numpy as np
import pytest
from nion.instrumentation import scan_base, stem_controller
from nion.utils import Geometry

from detectors.config import validate
from detectors.instrument import build_instrument

pytestmark = pytest.mark.swift


def _grab_si(swift, size=16, fov=64.0):
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    camera_params = swift.camera.get_current_frame_parameters()
    camera_params.exposure_ms = 1
    camera_params.binning = 1
    camera_params.processing = "sum_project"
    scan_params = swift.scan.get_current_frame_parameters()
    scan_params.pixel_size = Geometry.IntSize(size, size)
    scan_params.fov_nm = fov
    scan_params.rotation_rad = 0.0
    scan_params.center_nm = Geometry.FloatPoint(y=p.y_nm, x=p.x_nm)
    [haadf], [si] = swift.scan.grab_synchronized(scan_frame_parameters=scan_params, camera=swift.camera,
                                                 camera_frame_parameters=camera_params)
    return haadf.data, si.data


def test_synchronized_si_follows_the_pixel_order(swift):
    device = swift.devices.scan_module.device
    world = swift.devices.instrument.world
    raster_haadf, raster_si = _grab_si(swift)
    order = np.random.default_rng(7).permutation(256)[:64]  # a 25 % random scan
    device.set_pixel_order(order)
    try:
        haadf, si = _grab_si(swift)
    finally:
        device.set_pixel_order(None)
    assert si.shape == raster_si.shape == (16, 16, 1024) and haadf.shape == (16, 16)
    unvisited = np.setdiff1d(np.arange(256), order)
    assert (si.reshape(256, -1)[unvisited] == 0).all() and (haadf.ravel()[unvisited] == 0).all()
    visits = device.last_visits
    np.testing.assert_array_equal(visits.order, order)
    assert (np.diff(visits.t_s) > 0).all(), "visits one after the other, in the order given"
    # the spectra are those of the visited positions at the visit times (Poisson around the model)
    spectra = si.reshape(256, -1)[order]
    with world.lock:
        expected = world.eels_counts(visits.y_nm, visits.x_nm, visits.t_s, 1e-3, noise=False)
        expected_haadf = world.haadf_counts(visits.y_nm, visits.x_nm, visits.t_s, 1e-3, noise=False)
    assert spectra.sum() == pytest.approx(expected.sum(), rel=0.02)
    assert np.abs(spectra.sum(1) - expected.sum(1)).max() < 5 * np.sqrt(expected.sum(1).max()) + 5
    assert np.corrcoef(haadf.ravel()[order], expected_haadf)[0, 1] > 0.9
    # … and statistically what a raster scan gives at those pixels
    raster = raster_si.reshape(256, -1)[order]
    assert spectra.sum(0)[spectra.sum(0) > 1000] == pytest.approx(raster.sum(0)[spectra.sum(0) > 1000], rel=0.15)
    assert np.corrcoef(haadf.ravel()[order], raster_haadf.ravel()[order])[0, 1] > 0.8


def test_a_pixel_order_with_masked_sums_is_refused_not_misplaced(swift, capsys):
    """Masked sums go through device_kit's frame-by-frame path, which stores frame k at pixel k:
    with a sparse order that would put every spectrum at the wrong pixel, so the camera refuses to
    begin, by name. device_kit prints that error and then fails the grab on its own (it asserts on
    the missing scan data), so the test checks both: nothing acquired, our reason printed."""
    device = swift.devices.scan_module.device
    camera_params = swift.camera.get_current_frame_parameters()
    camera_params.exposure_ms = 1
    camera_params.processing = "sum_masked"
    scan_params = swift.scan.get_current_frame_parameters()
    scan_params.pixel_size = Geometry.IntSize(8, 8)
    scan_params.fov_nm = 32.0
    device.set_pixel_order(np.arange(0, 64, 4))
    try:
        with pytest.raises(Exception):
            swift.scan.grab_synchronized(scan_frame_parameters=scan_params, camera=swift.camera,
                                         camera_frame_parameters=camera_params)
    finally:
        device.set_pixel_order(None)
    printed = capsys.readouterr()
    assert ("ValueError: a pixel order (sparse scan) needs a plain or summed readout; processing 'sum_masked' "
            "would store the frames in raster order") in printed.err + printed.out
    haadf, si = _grab_si(swift, size=8, fov=32.0)  # the devices are usable afterwards
    assert si.shape == (8, 8, 1024) and (si.sum(axis=2) > 0).all()


def test_output_lines_on_the_scan_device(swift):
    device = swift.devices.scan_module.device
    before = device.output_lines
    try:
        device.output_lines = [{"index": 1, "source": "beam-blank-between-visits"},
                               {"index": 2, "source": "line-active", "delay_us": 5.0}]
        fp = scan_base.ScanFrameParameters({"size": (8, 8), "pixel_time_us": 2, "fov_nm": 32.0,
                                            "flyback_time_us": 10.0})
        device.get_scan_data(fp, 0)  # one frame configures the generator
        timeline = device.output_timeline()
        period = (8 + 5) * 2e-6  # 5 flyback pixels of 2 µs
        np.testing.assert_allclose(np.diff(timeline[2].rising_s), period)
        assert timeline[2].rising_s[0] == pytest.approx(5e-6)
        np.testing.assert_allclose(timeline[1].rising_s, np.arange(8) * period + 16e-6)
        with pytest.raises(ValueError, match="polarity 'up'"):
            device.output_lines = [{"index": 3, "source": "flyback", "polarity": "up"}]
    finally:
        device.output_lines = before
    assert device.output_lines == before


def test_scan_device_over_the_tcp_backend_images_as_the_simulated_one():
    from nionswift_plugin.lumiere.scan_device import LumiereScanModule
    from nionswift_plugin.lumiere.stem_device import LumiereInstrument

    fp = scan_base.ScanFrameParameters({"size": (12, 12), "pixel_time_us": 50, "fov_nm": 48.0})
    images = {}
    for backend in ("simulated", "tcp-simulated"):
        instrument = build_instrument(validate({"world": {"seed": 5}, "scan": {"backend": backend}}))
        try:
            module = LumiereScanModule(LumiereInstrument(instrument))
            assert module.device.generator is instrument.scan_generator
            images[backend] = module.device.get_scan_data(fp, 0)
            context = stem_controller.ScanContext(Geometry.IntSize(12, 12), Geometry.FloatPoint(10.0, -20.0), 48.0, 0.0)
            module.device.set_scan_context_probe_position(context, Geometry.FloatPoint(y=0.25, x=0.5))
            assert instrument.scan_generator.probe_position_nm() == pytest.approx((10.0 - 12.0, -20.0))
        finally:
            instrument.close()
    assert images["simulated"].sum() > 0
    np.testing.assert_array_equal(images["simulated"], images["tcp-simulated"])
