"""The CL camera in headless Swift: live spectra with an nm axis, a synchronized CL SI
(nm, nm, nm), and the "CL spectrometer" panel (validation, apply)."""
from __future__ import annotations

import numpy as np
import pytest
from nion.swift.test import TestContext
from nion.utils import Geometry

pytestmark = pytest.mark.swift


@pytest.fixture
def cl_camera(swift):
    from nion.instrumentation import HardwareSource

    return HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id("lumiere_cl_camera")


def test_cl_camera_is_registered_with_live_spectra_in_nm(swift, cl_camera):
    assert cl_camera is not None and cl_camera.camera.camera_type == "cl"
    world = swift.devices.instrument.world
    world.beam.current_pA = 500.0
    p = world.specimen.particles[0]
    world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm
    params = cl_camera.get_current_frame_parameters()
    params.exposure_ms = 20
    params.processing = None
    cl_camera.set_current_frame_parameters(params)
    cl_camera.start_playing()
    try:
        cl_camera.get_next_xdatas_to_finish(20.0)
        [spectrum] = cl_camera.get_next_xdatas_to_finish(20.0)
    finally:
        cl_camera.stop_playing(sync_timeout=10.0)
    assert spectrum.data.shape == (1024,)
    calibration = spectrum.dimensional_calibrations[-1]
    assert calibration.units == "nm"
    expected = swift.devices.cl_camera.backend.cl.spectrometer.linear_calibration()
    assert calibration.offset == pytest.approx(expected.offset_nm)
    assert calibration.scale == pytest.approx(expected.scale_nm)
    assert spectrum.data.sum() > 0


def test_synchronized_cl_si_is_calibrated_nm_nm_nm(swift, cl_camera):
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop of this test
    world = swift.devices.instrument.world
    world.beam.current_pA = 500.0
    camera_params = cl_camera.get_current_frame_parameters()
    camera_params.exposure_ms = 2
    camera_params.processing = "sum_project"
    scan_params = swift.scan.get_current_frame_parameters()
    scan_params.pixel_size = Geometry.IntSize(16, 16)
    scan_params.fov_nm = 64.0
    scan_params.center_nm = Geometry.FloatPoint(y=world.specimen.particles[0].y_nm, x=world.specimen.particles[0].x_nm)
    scan_params.rotation_rad = 0.0
    [haadf], [si] = swift.scan.grab_synchronized(scan_frame_parameters=scan_params, camera=cl_camera,
                                                 camera_frame_parameters=camera_params)
    assert si.data.shape == (16, 16, 1024)
    assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "nm"]
    assert si.dimensional_calibrations[0].scale == pytest.approx(4.0)
    cal = swift.devices.cl_camera.backend.calibration()
    assert si.dimensional_calibrations[2].offset == pytest.approx(cal.offset_nm)
    assert si.dimensional_calibrations[2].scale == pytest.approx(cal.scale_nm)
    assert si.data_descriptor.collection_dimension_count == 2 and si.data_descriptor.datum_dimension_count == 1
    assert si.data.sum() > 0
    assert haadf.data.shape == (16, 16)


def test_uniform_axis_rebins_onto_exact_linear_nm():
    from detectors.instrument import build_instrument
    from nionswift_plugin.lumiere.cl_camera_device import CLBackend

    with build_instrument() as instrument:
        backend = CLBackend(instrument, uniform_axis=True)
        cal = backend.refresh_calibration()
        assert cal.max_error_px == 0
        y = np.full(4, instrument.world.specimen.particles[0].y_nm)
        x = np.full(4, instrument.world.specimen.particles[0].x_nm)
        instrument.world.beam.current_pA = 1000.0
        spectra = backend.block(y, x, 0.05, summed=True)
        assert spectra.shape == (4, 1024) and spectra.sum() > 0


def test_cl_panel_refuses_bad_values_and_applies_grating_and_centre():
    from detectors.instrument import build_instrument
    from nionswift_plugin.lumiere.cl_camera_device import CLBackend
    from nionswift_plugin.lumiere.cl_panel import CLSpectrometerHandler

    test_setup = TestContext.TestSetup()  # keep alive
    with build_instrument() as instrument:  # a virtual clock: the 15 s turret turn takes no wall time
        backend = CLBackend(instrument)
        handler = CLSpectrometerHandler(None, backend)
        assert handler.field_grating.value == "2" and handler.status.value.startswith("Grating 2")
        handler.field_grating.value = "4"
        handler.apply_clicked()
        assert handler.status.value == "Not applied: Grating = 4; allowed: an integer 1–3"
        handler.field_grating.value = "1"
        handler.field_center_nm.value = "2000"
        handler.apply_clicked()
        assert handler.status.value == "Not applied: Centre wavelength = 2000 nm outside the allowed 0–1400 nm"
        handler.field_center_nm.value = "650"
        handler.field_slit_um.value = "5"
        handler.apply_clicked()
        assert handler.status.value.startswith("Not applied: Slit = 5 µm outside")
        handler.field_slit_um.value = "50"
        handler.field_exit_mirror.value = "UP"
        handler.apply_clicked()
        assert handler.status.value == "Not applied: Exit mirror = 'UP'; allowed: FRONT, SIDE"
        assert instrument.cl.spectrometer.grating_index() == 2, "nothing was sent"
        handler.field_exit_mirror.value = "front"
        handler.apply_clicked()
        handler.worker.join(60)
        assert handler.status.value.startswith("Applied. Grating 1 (600 l/mm"), handler.status.value
        spectrometer = instrument.cl.spectrometer
        assert spectrometer.grating_index() == 1 and spectrometer.wavelength_nm() == pytest.approx(650.0)
        assert spectrometer.slit_um() == pytest.approx(50.0)
        cal = backend.calibration()
        assert cal.offset_nm + 511.5 * cal.scale_nm == pytest.approx(650.0, abs=1.0)


def test_cl_panel_acquires_a_spectrum_and_an_si_into_data_items(swift):
    """Issue 15: the CL panel has Acquire buttons; the exit mirror is a combo box."""
    from nionswift_plugin.lumiere.cl_panel import CLSpectrometerHandler

    test_setup = TestContext.TestSetup()  # keep alive
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = CLSpectrometerHandler(document_controller)  # the registered CL camera's backend
        handler.field_exit_mirror_index.value = 1
        assert handler.field_exit_mirror.value == "SIDE"
        handler.field_exit_mirror.value = "FRONT"
        assert handler.field_exit_mirror_index.value == 0
        handler.field_exposure_ms.value = "-1"
        handler.acquire_spectrum_clicked()
        assert handler.status.value == "Not acquired: Spectrum exposure = -1 ms outside (0, 600000] ms"
        handler.field_exposure_ms.value = "20"
        world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm
        handler.acquire_spectrum_clicked()
        handler.worker.join(30)
        document_controller.periodic()
        assert handler.status.value.startswith("CL spectrum acquired: 20 ms"), handler.status.value
        spectrum = handler.sink.data_item("cl_spectrum")
        assert spectrum.title == "CL: CL spectrum (20 ms)" and spectrum.data.shape == (1024,)
        assert spectrum.dimensional_calibrations[0].units == "nm" and spectrum.data.sum() > 0
        display = document_controller.document_model.get_display_item_for_data_item(spectrum)
        assert display.used_display_type == "line_plot"

        for name, value in (("si_size_px", "4"), ("si_fov_nm", "64"), ("si_dwell_ms", "2"),
                            ("si_center_y_nm", f"{p.y_nm:.1f}"), ("si_center_x_nm", f"{p.x_nm:.1f}")):
            handler.models[name].value = value
        handler.acquire_si_clicked()
        handler.worker.join(60)
        document_controller.periodic()
        assert handler.status.value == "CL SI acquired: 4×4 px, 1024 channels.", handler.status.value
        si = handler.sink.data_item("cl_si")
        assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "nm"] and si.data.shape == (4, 4, 1024)
        display = document_controller.document_model.get_display_item_for_data_item(si)
        channel = display.display_data_channels[0]
        assert display.used_display_type == "image" and (channel.slice_center, channel.slice_width) == (512, 1024)
        summed = handler.sink.derived_item("cl_si", "summed spectrum")
        assert summed.title == "CL: CL spectrum image summed spectrum" and summed.dimensional_calibrations[0].units == "nm"
        np.testing.assert_allclose(summed.data, si.data.sum(axis=(0, 1)), rtol=1e-5)
