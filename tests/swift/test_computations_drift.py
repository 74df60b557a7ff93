"""Sequence drift alignment in headless Swift on a drifting HAADF series from the simulated
instrument: same numbers as the analysis recipe, the drift found in nm, region changes recompute,
clear status messages."""
from __future__ import annotations


import numpy as np
import pytest
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade

from detectors.config import validate
from detectors.instrument import build_instrument
from nionswift_plugin.lumiere import computations_drift, menus, scripting
from nionswift_plugin.lumiere.testing import recompute, swift_document

pytestmark = pytest.mark.swift

Facade.initialize()


DRIFT = {"world": {"drift": {"rate_nm_per_min": [6.0, -9.0], "random_walk_nm_per_sqrt_min": 0.0}}}


def test_sequence_alignment_measures_the_drift_in_nm(swift):
    with swift_document() as (api, document_controller, document_model), \
            build_instrument(validate(DRIFT)) as instrument:
        p = instrument.world.specimen.particles[0]
        lumiere = scripting.connect(api, instrument=instrument, progress=None)
        run = lumiere.run_image_sequence(6, 64, 128.0, (p.y_nm, p.x_nm), dwell_us=4.0, interval_s=20.0)
        sequence = run.data_items["haadf_sequence"]
        assert [c.units for c in sequence.xdata.dimensional_calibrations] == ["s", "nm", "nm"]
        made = lumiere.align_sequence(sequence)
        recompute(document_controller)
        assert not any(c.error_text for c in document_model.computations)
        total, shifts, drift = computations_drift.align_sequence(sequence.xdata.data, 2.0)
        np.testing.assert_allclose(made["aligned_sum"].data, total, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(made["drift_y"].data, drift[:, 0], atol=1e-5)
        np.testing.assert_allclose(made["drift_x"].data, drift[:, 1], atol=1e-5)
        assert made["drift_y"].xdata.intensity_calibration.units == "nm"
        assert made["drift_y"].xdata.dimensional_calibrations[0].units == "s"
        assert made["aligned_sum"].xdata.dimensional_calibrations[0].units == "nm"
        # the specimen drifts by +rate·t: in the image it moves by +d (scan rotation 0)
        elapsed_min = 5 * sequence.xdata.dimensional_calibrations[0].scale / 60
        assert made["drift_y"].data[-1] == pytest.approx(6.0 * elapsed_min, abs=1.0)
        assert made["drift_x"].data[-1] == pytest.approx(-9.0 * elapsed_min, abs=1.0)
        # the aligned sum matches the reference frame better than the plain sum does
        plain = sequence.xdata.data.sum(axis=0)
        corr = lambda a: np.corrcoef(a[16:48, 16:48].ravel(), sequence.xdata.data[0, 16:48, 16:48].ravel())[0, 1]  # noqa: E731
        assert corr(made["aligned_sum"].data) > corr(plain) + 0.02
        # a registration region: recomputed when it moves, same numbers as the recipe
        region = sequence.add_rectangle_region(0.5, 0.5, 0.5, 0.5)
        made_r = computations_drift.attach_sequence_alignment(api, sequence, region)
        recompute(document_controller)
        _, _, drift_r = computations_drift.align_sequence(sequence.xdata.data, 2.0, region=(slice(16, 48), slice(16, 48)))
        np.testing.assert_allclose(made_r["drift_x"].data, drift_r[:, 1], atol=1e-5)
        region.bounds = ((0.0, 0.0), (0.04, 0.5))  # 2-3 px high: too small
        recompute(document_controller)
        status = made_r["computation"]._computation.status
        assert status.startswith("Error: Sequence alignment: the registration region is ") and "at least 8×8 px" in status
        region.bounds = ((0.25, 0.0), (0.5, 0.75))
        recompute(document_controller)
        _, _, drift_r = computations_drift.align_sequence(sequence.xdata.data, 2.0, region=(slice(16, 48), slice(0, 48)))
        np.testing.assert_allclose(made_r["drift_x"].data, drift_r[:, 1], atol=1e-5)
        # the Lumière menu item on the selected sequence (no rectangle selected: whole frames)
        document_controller.selected_display_panel.set_display_panel_display_item(
            document_model.get_display_item_for_data_item(sequence._data_item))
        via_menu = menus.run_action(document_controller, computations_drift._menu_action)
        recompute(document_controller)
        np.testing.assert_allclose(via_menu["drift_x"].data, drift[:, 1], atol=1e-5)


def test_sequence_alignment_wrong_inputs(swift):
    with swift_document() as (api, document_controller, document_model):
        si = api.library.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones((4, 4, 32), np.float32), dimensional_calibrations=[Calibration.Calibration(units="nm")] * 2
            + [Calibration.Calibration(units="eV")], data_descriptor=DataAndMetadata.DataDescriptor(False, 2, 1)), "an SI")
        pixels = api.library.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones((3, 16, 16), np.float32), data_descriptor=DataAndMetadata.DataDescriptor(True, 0, 2)), "uncalibrated")
        c = api.library.create_computation("lumiere.drift.align_sequence", inputs={"sequence": si},
                                           outputs={"aligned_sum": api.library.create_data_item("out")})
        made = computations_drift.attach_sequence_alignment(api, pixels)
        recompute(document_controller)
        assert c._computation.status == ("Error: Sequence alignment: 'an SI' is 3-D data (4×4×32); an image sequence "
                                         "(frame, y, x) is needed")
        assert made["computation"]._computation.status.startswith(
            "Error: Sequence alignment: the frames are calibrated in 'no units', not nm")
