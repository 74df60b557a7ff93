"""The suite inside headless Nion Swift: registration, HAADF, EELS spectra, synchronized SI."""
from __future__ import annotations

import numpy as np
import pytest
from nion.swift.test import TestContext
from nion.utils import Geometry

pytestmark = pytest.mark.swift


def test_plugin_registers_instrument_scan_and_eels_camera(swift):
    from nionswift_plugin.lumiere.stem_device import LumiereInstrument

    assert isinstance(swift.stem_controller, LumiereInstrument)
    assert swift.scan is not None and swift.camera is not None
    assert swift.camera.camera.camera_type == "eels"
    assert swift.stem_controller.eels_camera is swift.camera
    assert swift.stem_controller.GetVal("EHT") == 100_000.0
    assert swift.stem_controller.SetVal("BeamCurrent", 50e-12)
    assert swift.devices.instrument.world.beam.current_pA == pytest.approx(50.0)


def _one_frame(hardware_source, timeout=20.0):
    hardware_source.start_playing()
    try:
        hardware_source.get_next_xdatas_to_finish(timeout)  # may have started before the last change
        return hardware_source.get_next_xdatas_to_finish(timeout)
    finally:
        hardware_source.stop_playing(sync_timeout=10.0)


def test_haadf_shows_the_specimen(swift):
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    fp = swift.scan.get_current_frame_parameters()
    fp.pixel_size = Geometry.IntSize(64, 64)
    fp.pixel_time_us = 2
    fp.fov_nm = 256.0
    fp.center_nm = Geometry.FloatPoint(y=p.y_nm, x=p.x_nm)
    swift.scan.set_current_frame_parameters(fp)
    [haadf] = _one_frame(swift.scan)
    assert haadf.data.shape == (64, 64)
    assert haadf.dimensional_calibrations[0].units == "nm"
    assert haadf.data[32, 32] > 5 * np.median(haadf.data), "the particle is bright in the centre"


def _spectrum_at(swift, y_nm: float, x_nm: float) -> tuple[np.ndarray, np.ndarray]:
    world = swift.devices.instrument.world
    world.beam.probe_y_nm, world.beam.probe_x_nm = y_nm, x_nm
    camera = swift.camera
    params = camera.get_current_frame_parameters()
    params.exposure_ms = 20
    params.binning = 1
    params.processing = "sum_project"
    camera.set_current_frame_parameters(params)
    image, xdata = _one_frame(camera)  # the camera image and its sum over the non-dispersive axis
    assert image.data.shape == (256, 1024) and xdata.data.shape == (1024,)
    calibration = xdata.dimensional_calibrations[-1]
    assert calibration.units == "eV"
    energy = calibration.offset + calibration.scale * np.arange(xdata.data.shape[-1])
    return energy, xdata.data


def test_eels_camera_edges_change_with_probe_position(swift):
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 500.0
    grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
    energy, on_grain = _spectrum_at(swift, grain.y_nm, grain.x_nm)
    _, in_vacuum_hole = _spectrum_at(swift, *world.specimen.hole_center_nm)
    assert energy[0] == pytest.approx(350.0) and energy[1] - energy[0] == pytest.approx(1.0)
    jump = lambda s: s[(energy > 403) & (energy < 412)].sum() / s[(energy > 385) & (energy < 395)].sum()
    assert on_grain.sum() > 0
    assert jump(on_grain) > 1.5
    assert in_vacuum_hole[energy > 360].sum() == 0  # vacuum: no inelastic scattering at all


def test_synchronized_si_is_calibrated_nm_nm_eV_in_a_data_item(swift):
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop of this test
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    camera_params = swift.camera.get_current_frame_parameters()
    camera_params.exposure_ms = 1
    camera_params.binning = 1
    camera_params.processing = "sum_project"
    scan_params = swift.scan.get_current_frame_parameters()
    scan_params.pixel_size = Geometry.IntSize(16, 16)
    scan_params.fov_nm = 64.0
    results = swift.scan.grab_synchronized(scan_frame_parameters=scan_params, camera=swift.camera,
                                           camera_frame_parameters=camera_params)
    [haadf], [si] = results
    assert si.data.shape == (16, 16, 1024)
    assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "eV"]
    assert si.dimensional_calibrations[0].scale == pytest.approx(4.0)
    assert si.dimensional_calibrations[2].offset == pytest.approx(-20.0)
    assert si.data_descriptor.collection_dimension_count == 2 and si.data_descriptor.datum_dimension_count == 1
    zlp_channel = np.argmax(si.data.sum(axis=(0, 1)))
    assert abs(-20.0 + 0.1 * zlp_channel) < 0.2, "the zero-loss peak sits at 0 eV"
    assert (si.data.sum(axis=-1) > 0).all(), "every pixel received electrons"
    with TestContext.create_memory_context() as test_context:
        document_model = test_context.create_document_controller().document_model
        from nion.swift.model import DataItem
        data_item = DataItem.new_data_item(si)
        document_model.append_data_item(data_item)
        assert data_item.xdata.is_collection and data_item.dimensional_calibrations[2].units == "eV"
