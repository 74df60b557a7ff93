"""Workflow panels headless: fields, start, live data items with calibrations, abort, bad values."""
from __future__ import annotations

import time

import numpy as np
from nion.swift.test import TestContext

from nionswift_plugin.lumiere.panels import SpectrumImageHandler


def _run_until_idle(handler, document_controller, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document_controller.periodic()  # runs the tasks queued for the UI thread
        if not handler.running.value:
            return
        time.sleep(0.01)
    raise AssertionError(f"panel still running after {timeout_s} s: {handler.status.value}")


def test_si_panel_makes_calibrated_live_data_items(swift):
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = SpectrumImageHandler(document_controller)
        handler.models["size_px"].value = "8"
        handler.models["exposure_ms"].value = "1"
        handler.start_clicked()
        assert handler.running.value
        _run_until_idle(handler, document_controller)
        assert handler.status.value.startswith("Done. 8×8 SI"), handler.status.value
        assert handler.progress.value == 100
        si_item = handler.sink.data_item("si")
        assert si_item is not None and si_item in document_controller.document_model.data_items
        assert si_item.title == "Lumière SI: EELS spectrum image"
        assert [c.units for c in si_item.dimensional_calibrations] == ["nm", "nm", "eV"]
        assert si_item.xdata.is_collection and si_item.xdata.datum_dimension_count == 1
        assert si_item.data.shape == (8, 8, 1024) and (si_item.data.sum(axis=-1) > 0).all()
        haadf = handler.sink.data_item("si_haadf")
        assert haadf.data.shape == (8, 8)


def test_si_panel_abort_and_bad_values(swift):
    test_setup = TestContext.TestSetup()
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = SpectrumImageHandler(document_controller)
        handler.models["size_px"].value = "abc"
        handler.start_clicked()
        assert not handler.running.value and "SI size = 'abc' is not a whole number" in handler.status.value
        handler.models["size_px"].value = "16"
        handler.models["fov_nm"].value = "-5"
        handler.start_clicked()
        assert "field of view = -5.0 nm outside" in handler.status.value
        handler.models["fov_nm"].value = "64"
        handler.models["exposure_ms"].value = "20"  # 16 rows of ~0.3 s on the real-time clock
        handler.start_clicked()
        time.sleep(0.3)
        handler.abort_clicked()
        _run_until_idle(handler, document_controller)
        assert handler.status.value.startswith("Aborted"), handler.status.value
        document_controller.periodic()
        data = handler.sink.data_item("si").data
        rows_done = int((data.sum(axis=(1, 2)) > 0).sum())
        assert 0 < rows_done < 16, "some rows kept, the rest never acquired"


def test_eegs_panel_scans_analyses_and_refuses_bad_limits(swift):
    from nionswift_plugin.lumiere.panels import EEGSWavelengthScanHandler

    test_setup = TestContext.TestSetup()
    world = swift.devices.instrument.world
    p = world.specimen.particles[0]
    world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm + p.radius_nm + 7.5
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -8.0, 0.01
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = EEGSWavelengthScanHandler(document_controller)
        handler.models["stop_nm"].value = "900"
        handler.start_clicked()
        assert not handler.running.value
        assert "outside the allowed range 532.0–800.0 nm" in handler.status.value, handler.status.value
        for name, value in (("start_nm", "630"), ("stop_nm", "650"), ("step_nm", "10"),
                            ("spectra_per_point", "2"), ("exposure_ms", "10")):
            handler.models[name].value = value
        handler.start_clicked()
        _run_until_idle(handler, document_controller, timeout_s=120)
        assert handler.status.value.startswith("Done."), handler.status.value
        item = handler.sink.data_item("eegs")
        assert item.data.shape[0] == 3 and item.dimensional_calibrations[0].units == "nm"
        assert item.dimensional_calibrations[1].units == "eV"
        assert (item.data.sum(axis=1) > 0).all()
        assert not world.laser.shutter_open, "the shutter is closed at the end"


def test_drift_corrected_si_panel_runs_and_validates(swift):
    from nionswift_plugin.lumiere.panels import DriftCorrectedSIHandler

    test_setup = TestContext.TestSetup()
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 200.0
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = DriftCorrectedSIHandler(document_controller)
        handler.models["edges"].value = "Sc L2,3; Xx Q9"
        handler.start_clicked()
        assert not handler.running.value and "Xx Q9" in handler.status.value, handler.status.value
        handler.models["edges"].value = "Sc L2,3"
        handler.models["si_fov_nm"].value = "5000"
        handler.start_clicked()
        assert not handler.running.value and handler.status.value.startswith("Not started"), handler.status.value
        handler.models["si_fov_nm"].value = "96"
        handler.models["size_px"].value = "16"
        handler.models["n_sequences"].value = "2"
        handler.models["dwell_ms"].value = "1"
        handler.start_clicked()
        _run_until_idle(handler, document_controller, timeout_s=120)
        assert handler.status.value.startswith("Done. 2 sequences summed"), handler.status.value
        names = [item.title for item in document_controller.document_model.data_items]
        assert any("HAADF survey" in n for n in names)
        si = next(i for i in document_controller.document_model.data_items if i.xdata is not None
                  and i.xdata.is_collection and i.xdata.datum_dimension_count == 1 and i.data.shape[:2] == (16, 16))
        assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "eV"]
        drift_plot = handler.sink.data_item("drift_plot")
        assert drift_plot.data.shape == (3, 2) and drift_plot.xdata.datum_dimension_count == 1
        assert np.all(drift_plot.data[2] >= 0)  # |d|
