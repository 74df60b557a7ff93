"""The EEGS computation in headless Swift, on a wavelength scan acquired through the scripting
facade from the simulated instrument: same numbers as the EEGS analysis, clear status messages."""
from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade

from detectors.config import validate
from detectors.instrument import build_instrument
from eegs import analyse_scan
from nionswift_plugin.lumiere import computations_eegs, menus, scripting
from nionswift_plugin.lumiere.testing import recompute, swift_document

pytestmark = pytest.mark.swift

Facade.initialize()


NO_DRIFT = {"world": {"drift": {"rate_nm_per_min": [0.0, 0.0], "random_walk_nm_per_sqrt_min": 0.0}}}


@pytest.fixture(scope="module")
def instrument() -> typing.Iterator[typing.Any]:
    """A virtual-clock simulated instrument (fast laser tuning), probe 5 nm off a particle."""
    with build_instrument(validate(NO_DRIFT)) as inst:
        p = inst.world.specimen.particles[0]
        inst.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + 5.0)
        yield inst


def test_eegs_orders_equal_the_analysis_and_find_the_resonance(swift, instrument):
    with swift_document() as (api, document_controller, document_model):
        lumiere = scripting.connect(api, instrument=instrument, progress=None)
        run = lumiere.run_eegs_wavelength_scan(580.0, 700.0, 8.0, spectra_per_point=4, exposure_s=0.2)
        items = run.data_items
        assert set(items) == {"eegs", "eegs_power", "eegs_laser_off", "eegs_laser_off_series", "eegs_drift"}
        scan = items["eegs"]
        assert [c.units for c in scan.xdata.dimensional_calibrations] == ["nm", "eV"]
        made = lumiere.eegs_orders(scan, items["eegs_laser_off"], items["eegs_power"])
        recompute(document_controller)
        assert not any(c.error_text for c in document_model.computations), [c.error_text for c in document_model.computations]
        # the same analysis on the workflow's own result object, with the one reference the
        # computation is given (the workflow's own analysis pools the interleaved series too)
        end_only = dataclasses.replace(run.value, reference_spectra=None, reference_time_s=None)
        ref = analyse_scan(end_only, orders=(1,), fit_resonance=True, fit_betas=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.testing.assert_allclose(made["gain"].data, ref.gain_counts[:, 0] / ref.zlp_counts, rtol=1e-4)
            np.testing.assert_allclose(made["loss"].data, ref.loss_counts[:, 0] / ref.zlp_counts, rtol=1e-4)
        np.testing.assert_allclose(made["eegs"].data, ref.gain_per_uW, rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(made["beta"].data, ref.beta_abs, rtol=1e-4, atol=1e-6)
        assert made["eegs"].xdata.dimensional_calibrations[0].units == "nm"
        assert made["eegs"].xdata.intensity_calibration.units == "1/µW"
        assert ref.resonance is not None
        meta = made["fit"].xdata.metadata["lumiere"]
        assert meta["resonance_centre_nm"] == pytest.approx(ref.resonance_centre_nm, rel=1e-6)
        particle = instrument.world.specimen.particles[0]
        assert abs(meta["resonance_centre_nm"] - particle.resonance_nm) < 16.0
        assert made["fit"].title.startswith("EEGS resonance fit: ") and "Q = " in made["fit"].title
        display_item = document_model.get_display_item_for_data_item(made["eegs"]._data_item)
        assert len(display_item.data_items) == 2  # EEGS spectrum and its fit as layers
        # the Lumière menu item on the selected scan finds the laser-off and power items itself
        document_controller.selected_display_panel.set_display_panel_display_item(
            document_model.get_display_item_for_data_item(scan._data_item))
        via_menu = menus.run_action(document_controller, computations_eegs._menu_action)
        recompute(document_controller)
        np.testing.assert_allclose(via_menu["beta"].data, made["beta"].data)


def test_eegs_wrong_inputs_give_a_status_message(swift):
    with swift_document() as (api, document_controller, document_model):
        lib = api.library
        si = lib.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones((4, 4, 32), np.float32), dimensional_calibrations=[Calibration.Calibration(units="nm")] * 2
            + [Calibration.Calibration(units="eV")], data_descriptor=DataAndMetadata.DataDescriptor(False, 2, 1)), "an SI")
        power_scan = lib.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones((8, 32), np.float32), dimensional_calibrations=[Calibration.Calibration(units="µW"),
                                                                    Calibration.Calibration(units="eV")]), "power scan")
        off = lib.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones(16, np.float32), dimensional_calibrations=[Calibration.Calibration(units="eV")]), "laser off")
        c1 = computations_eegs.attach_eegs_orders(api, si, off)["computation"]
        c2 = computations_eegs.attach_eegs_orders(api, power_scan, off)["computation"]
        recompute(document_controller)
        assert c1._computation.status == ("Error: EEGS orders: 'an SI' has shape 4×4×32; a wavelength × energy "
                                          "map (λ in nm, energy loss in eV) is needed")
        assert c2._computation.status == ("Error: EEGS orders: the first axis of 'power scan' is in 'µW': a "
                                          "wavelength scan (λ in nm) is needed (a power scan has no resonance to fit)")
