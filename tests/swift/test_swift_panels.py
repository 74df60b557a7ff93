"""Workflow panels headless: fields, start, live data items with calibrations, abort, bad values."""
from __future__ import annotations

import time

import numpy as np
from nion.swift.test import TestContext

from nionswift_plugin.lumiere.panels import SpectrumImageHandler
import pytest

import pathlib as _pathlib
import sys as _sys

_sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))  # panel_driving beside this file
from panel_driving import run_until_idle  # noqa: E402

pytestmark = pytest.mark.swift


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
        run_until_idle(handler, document_controller)
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
        run_until_idle(handler, document_controller)
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
        run_until_idle(handler, document_controller, timeout_s=120)
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
        run_until_idle(handler, document_controller, timeout_s=120)
        assert handler.status.value.startswith("Done. 2 sequences summed"), handler.status.value
        names = [item.title for item in document_controller.document_model.data_items]
        assert any("HAADF survey" in n for n in names)
        si = next(i for i in document_controller.document_model.data_items if i.xdata is not None
                  and i.xdata.is_collection and i.xdata.datum_dimension_count == 1 and i.data.shape[:2] == (16, 16))
        assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "eV"]
        drift_log = handler.sink.data_item("drift_log")  # a line plot of y and x drift (test_swift_displays)
        assert drift_log.data.shape[0] == 2 and drift_log.metadata["lumiere"]["table"]["rows"][1][0] > 0


def _weighted_components(si: np.ndarray, k: int) -> np.ndarray:
    """Top-k right singular vectors of the Keenan–Kotula-weighted, centred SI (offline PCA)."""
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    xw = x / np.sqrt(x.mean(axis=1)[:, None] * x.mean(axis=0)[None, :])
    return np.linalg.svd(xw - xw.mean(axis=0), full_matrices=False)[2][:k]


def _run_watching(handler, document_controller, name, timeout_s=60.0):
    """Start and run to the end, returning the distinct versions of result ``name``'s data item
    seen while the workflow ran (Swift data items are replaced by the sink on every flush)."""
    handler.start_clicked()
    assert handler.running.value, handler.status.value
    versions = []
    deadline = time.monotonic() + timeout_s
    while handler.running.value and time.monotonic() < deadline:
        document_controller.periodic()
        item = handler.sink.data_item(name)
        if item is not None and item.data is not None and (not versions or not np.array_equal(item.data, versions[-1])):
            versions.append(np.array(item.data))
        time.sleep(0.005)
    run_until_idle(handler, document_controller, 5.0)
    document_controller.periodic()
    return versions


def test_si_panel_live_pca_sparse_scan_and_abort(swift):
    """Issue 7 in Swift: live PCA loadings/scores during a raster SI, the same with live NMF, then a
    sparse SI at 25 % (mask, reconstruction, dose in the summary), an aborted sparse SI, and the
    new fields' checks. The region (Sc2O3, DyScO3, Dy2O3 grains, 350–1373 eV, 200 pA) has three components well above
    the Poisson noise, so the live subspace can be compared with the offline SVD."""
    from analysis.decomposition import principal_angles_deg
    from analysis.sampling import inpaint_interpolate

    test_setup = TestContext.TestSetup()
    world = swift.devices.instrument.world
    saved = world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel, world.beam.current_pA
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 200.0
    try:
        with TestContext.create_memory_context() as context:
            document_controller = context.create_document_controller()
            handler = SpectrumImageHandler(document_controller)
            for name, value in (("size_px", "16"), ("fov_nm", "256"), ("center_y_nm", "60"), ("center_x_nm", "130"),
                                ("exposure_ms", "3"), ("live_components", "3")):
                handler.models[name].value = value
            assert handler.models["sampling"].value == "1.0" and handler.models["pattern"].value == "random"
            # raster SI with live PCA: 4 sections of 4 rows, ~0.2 s each on the real-time clock
            versions = _run_watching(handler, document_controller, "pca_loadings")
            assert handler.status.value == "Done. 16×16 SI, 1024 channels; live PCA of 3 components.", handler.status.value
            loadings, scores = handler.sink.data_item("pca_loadings"), handler.sink.data_item("pca_scores")
            assert [c.units for c in loadings.dimensional_calibrations] == ["", "eV"]
            assert loadings.dimensional_calibrations[1].offset == 350.0 and loadings.data.shape == (3, 1024)
            assert [c.units for c in scores.dimensional_calibrations] == ["", "nm", "nm"]
            assert scores.data.shape == (3, 16, 16) and scores.dimensional_calibrations[1].scale == 16.0
            assert loadings.metadata["lumiere"]["updates"] == 4, "updated after every section"
            assert len(versions) >= 2, f"the loadings item changed {len(versions)} time(s) during the run"
            full = np.array(handler.sink.data_item("si").data)
            angles = principal_angles_deg(loadings.data, _weighted_components(full, 3))
            assert angles.max() < 2.0, angles

            # the same SI with live NMF (method combo box): non-negative components and abundances
            handler.field_live_method_index.value = 1
            assert handler.models["live_method"].value == "NMF"
            _run_watching(handler, document_controller, "nmf_loadings")
            assert handler.status.value == "Done. 16×16 SI, 1024 channels; live NMF of 3 components.", handler.status.value
            components, abundances = handler.sink.data_item("nmf_loadings"), handler.sink.data_item("nmf_scores")
            assert components.title.endswith("Live NMF components (3)") and components.data.shape == (3, 1024)
            assert [c.units for c in abundances.dimensional_calibrations] == ["", "nm", "nm"]
            assert (components.data >= 0).all() and (abundances.data >= 0).all()
            assert components.metadata["lumiere"]["updates"] == 4
            handler.models["live_method"].value = "PCA"
            assert handler.field_live_method_index.value == 0

            # sparse, 25 % random: mask, reconstruction, summary with the dose reduction
            handler.models["sampling"].value = "0.25"
            _run_watching(handler, document_controller, "pca_scores")
            assert handler.status.value.startswith("Done. sparse 16×16 SI (random), 1024 channels: 64 of 256 pixels "
                                                   "visited (25 %), dose reduced 4.0×"), handler.status.value
            mask = handler.sink.data_item("sampling_mask").data.astype(bool)
            assert abs(int(mask.sum()) - 64) <= 1
            recon_item = handler.sink.data_item("si_reconstructed")
            assert [c.units for c in recon_item.dimensional_calibrations] == ["nm", "nm", "eV"]
            sparse, recon = handler.sink.data_item("si").data, recon_item.data
            assert (sparse[~mask] == 0).all() and (sparse[mask].sum(axis=1) > 0).all()
            assert handler.sink.data_item("pca_loadings").metadata["lumiere"]["spectra_seen"] == 64
            # Error at the unvisited pixels against the fully sampled SI of the same region just
            # acquired (its own noise is the floor): finite, and below the per-channel
            # interpolation baseline (low rank drops the noise outside the signal subspace).
            order = np.flatnonzero(mask.ravel())
            lin = inpaint_interpolate(sparse.reshape(-1, 1024)[order], order, (16, 16))
            err_low = np.sqrt(np.mean((recon[~mask] - full[~mask]) ** 2))
            err_lin = np.sqrt(np.mean((lin[~mask] - full[~mask]) ** 2))
            assert np.isfinite(recon).all() and err_low < err_lin, (err_low, err_lin)

            # abort during a sparse run: the visited spectra and their mask are kept
            handler.models["exposure_ms"].value = "20"  # 4 sections of 16 visits of 20 ms: ~1.3 s
            handler.start_clicked()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # abort once the first section is on screen
                document_controller.periodic()
                item = handler.sink.data_item("sampling_mask")
                if item is not None and item.data.any():
                    break
                time.sleep(0.01)
            handler.abort_clicked()
            run_until_idle(handler, document_controller)
            document_controller.periodic()
            assert handler.status.value.startswith("Aborted"), handler.status.value
            mask = handler.sink.data_item("sampling_mask").data.astype(bool)
            si = handler.sink.data_item("si")
            assert 0 < mask.sum() < 64 and (si.data[mask].sum(axis=1) > 0).all()
            assert si.metadata["lumiere"]["aborted"] and si.metadata["lumiere"]["visits_done"] == mask.sum()
            assert handler.sink.data_item("si_reconstructed") is None

            # the new fields: checked before anything moves, the bad value named
            for name, value, message in (("sampling", "0", "sampling = 0.0 outside (0, 1]"),
                                         ("sampling", "0.005", "visits 1 pixels; at least 3"),
                                         ("live_components", "40", "live PCA components = 40 outside 0–32"),
                                         ("pattern", "spiral", "Pattern = 'spiral' is not one of random, line-hopping")):
                handler.models[name].value = value
                handler.start_clicked()
                assert not handler.running.value and message in handler.status.value, handler.status.value
                handler.models[name].value = {"sampling": "0.25", "live_components": "3", "pattern": "random"}[name]
            handler.models["pattern"].value = "line-hopping"
            assert handler.field_pattern_index.value == 1  # the combo box follows the text
            handler.field_pattern_index.value = 0
            assert handler.models["pattern"].value == "random"
    finally:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel, world.beam.current_pA = saved
