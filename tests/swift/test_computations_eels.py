"""Lumière EELS computations in headless Swift (TestContext + Facade API) on SIs acquired from the
simulated instrument: same numbers as the analysis functions, recomputation when a graphic moves
or the SI changes, clear status messages for wrong inputs, the Lumière menu."""
from __future__ import annotations

import typing

import numpy as np
import pytest
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade

from analysis import eels
from nionswift_plugin.lumiere import computations_eels, menus, scripting
from nionswift_plugin.lumiere.testing import recompute, swift_document

pytestmark = pytest.mark.swift

Facade.initialize()


def core_loss_si(swift: typing.Any, api: typing.Any, size: int = 16) -> typing.Any:
    """An SI data item over an Sc2O3 grain, 350–1373 eV at 1 eV/channel, from the instrument."""
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 2000.0
    grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
    lumiere = scripting.connect(api, progress=None)
    run = lumiere.run_spectrum_image(size, fov_nm=3 * grain.semi_axis_a_nm, center_nm=(grain.y_nm, grain.x_nm),
                                     exposure_ms=2.0)
    return run.data_items["si"]


def low_loss_si(swift: typing.Any, api: typing.Any, size: int = 12) -> typing.Any:
    world = swift.devices.instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    world.beam.current_pA = 50.0
    grain = world.specimen.grains[0]
    run = scripting.connect(api, progress=None).run_spectrum_image(
        size, fov_nm=4 * grain.semi_axis_a_nm, center_nm=(grain.y_nm, grain.x_nm), exposure_ms=1.0)
    return run.data_items["si"]


def energy(xdata: DataAndMetadata.DataAndMetadata) -> np.ndarray:
    cal = xdata.dimensional_calibrations[-1]
    return cal.offset + cal.scale * np.arange(xdata.data_shape[-1])


def window_of(graphic: typing.Any, xdata: DataAndMetadata.DataAndMetadata) -> tuple[float, float]:
    n, cal = xdata.data_shape[-1], xdata.dimensional_calibrations[-1]
    a, b = graphic.interval
    return cal.offset + cal.scale * a * n, cal.offset + cal.scale * b * n


def errors(document_model: typing.Any) -> dict[str, str]:
    return {c.processing_id: c.error_text for c in document_model.computations if c.error_text}


def test_elemental_map_equals_analysis_and_follows_the_intervals(swift):
    with swift_document() as (api, document_controller, document_model):
        si = core_loss_si(swift, api)
        assert [c.units for c in si.xdata.dimensional_calibrations] == ["nm", "nm", "eV"]
        made = computations_eels.attach_elemental_map(api, si, "Sc L2,3")
        recompute(document_controller)
        assert errors(document_model) == {}
        data, e = si.xdata.data, energy(si.xdata)
        fit_w, sig_w = window_of(made["fit_interval"], si.xdata), window_of(made["signal_interval"], si.xdata)
        assert fit_w == pytest.approx((0.93 * 402, 0.98 * 402)) and sig_w == pytest.approx((402, 442.2))
        ref = eels.elemental_map(data, e, "Sc L2,3", pre_edge=fit_w, signal_window_eV=sig_w)
        np.testing.assert_allclose(made["map"].data, ref.signal, rtol=1e-5, atol=1e-2)
        np.testing.assert_allclose(made["uncertainty"].data, ref.uncertainty, rtol=1e-5)
        np.testing.assert_allclose(made["snr"].data, ref.snr, rtol=1e-4, atol=1e-5)
        assert made["map"].xdata.dimensional_calibrations[0].units == "nm"
        assert made["map"].xdata.dimensional_calibrations[0].scale == pytest.approx(
            si.xdata.dimensional_calibrations[0].scale)
        assert made["map"].xdata.intensity_calibration.units == "counts"
        assert np.nanpercentile(ref.snr, 75) > 3  # the grain is really there
        # summed spectrum and its background layers
        assert made["spectrum"].xdata.dimensional_calibrations[0].units == "eV"
        np.testing.assert_allclose(made["spectrum"].data, data.sum(axis=(0, 1)), rtol=1e-5)
        spec_display = document_model.get_display_item_for_data_item(made["spectrum"]._data_item)
        assert len(spec_display.data_items) == 3
        p = eels.fit_powerlaw_two_area(made["spectrum"].data.astype(np.float64), e, fit_w)
        e0 = made["background"].xdata.dimensional_calibrations[0].offset
        k0 = int(round(e0 - e[0]))
        assert made["background"].data[0] == pytest.approx(float(eels.powerlaw_integral(p.A, p.r, e[k0] - 0.5, e[k0] + 0.5)), rel=1e-4)
        # move the signal window: everything recomputes with the new window
        made["signal_interval"].interval = (computations_eels.interval_position(si.xdata, 404.0),
                                            computations_eels.interval_position(si.xdata, 425.0))
        recompute(document_controller)
        assert errors(document_model) == {}
        ref2 = eels.elemental_map(data, e, "Sc L2,3", pre_edge=fit_w, signal_window_eV=(404.0, 425.0))
        np.testing.assert_allclose(made["map"].data, ref2.signal, rtol=1e-5, atol=1e-2)
        assert not np.allclose(ref2.signal, ref.signal)
        assert made["map"].xdata.metadata["lumiere"]["signal_window_eV"] == pytest.approx([404.0, 425.0])


def test_maps_update_live_when_the_si_changes(swift):
    """A drift-corrected acquisition rewrites its SI data item as sequences are summed: the map
    follows without any user action."""
    with swift_document() as (api, document_controller, document_model):
        si = core_loss_si(swift, api, size=8)
        made = computations_eels.attach_elemental_map(api, si, "Sc L2,3", method="lsq")
        recompute(document_controller)
        first = made["map"].data.copy()
        doubled = DataAndMetadata.new_data_and_metadata(
            si.xdata.data * 2, intensity_calibration=si.xdata.intensity_calibration,
            dimensional_calibrations=si.xdata.dimensional_calibrations, data_descriptor=si.xdata.data_descriptor)
        si.set_data_and_metadata(doubled)
        recompute(document_controller)
        fit_w, sig_w = window_of(made["fit_interval"], si.xdata), window_of(made["signal_interval"], si.xdata)
        ref = eels.elemental_map(doubled.data, energy(doubled), "Sc L2,3", pre_edge=fit_w,
                                 signal_window_eV=sig_w, method="lsq")
        np.testing.assert_allclose(made["map"].data, ref.signal, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(made["map"].data, 2 * first, rtol=1e-3, atol=0.5)


def test_thickness_and_zlp_alignment_equal_analysis(swift):
    with swift_document() as (api, document_controller, document_model):
        si = low_loss_si(swift, api)
        thickness = computations_eels.attach_thickness_map(api, si)
        aligned = computations_eels.attach_zlp_alignment(api, si)
        recompute(document_controller)
        assert errors(document_model) == {}
        data, e = si.xdata.data, energy(si.xdata)
        np.testing.assert_allclose(thickness["thickness"].data, eels.thickness_map(data, e), rtol=1e-5)
        assert thickness["thickness"].xdata.dimensional_calibrations[1].units == "nm"
        ref_aligned, ref_zlp = eels.align_zlp(data, e, window_eV=(-2.0, 2.0))
        np.testing.assert_allclose(aligned["aligned"].data, ref_aligned, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(aligned["zlp_shift"].data, ref_zlp, atol=1e-6)
        assert aligned["zlp_shift"].xdata.intensity_calibration.units == "eV"
        assert [c.units for c in aligned["aligned"].xdata.dimensional_calibrations] == ["nm", "nm", "eV"]


def test_wrong_inputs_end_in_a_clear_status(swift):
    with swift_document() as (api, document_controller, document_model):
        si = core_loss_si(swift, api, size=8)
        image = api.library.create_data_item_from_data_and_metadata(DataAndMetadata.new_data_and_metadata(
            np.ones((8, 8), np.float32), dimensional_calibrations=[Calibration.Calibration(units="nm")] * 2), "HAADF image")
        out = api.library.create_data_item("out")
        c_image = api.library.create_computation("lumiere.eels.elemental_map", inputs={"si": image, "edge": "Sc L2,3"},
                                                 outputs={"map": out})
        c_edge = api.library.create_computation("lumiere.eels.elemental_map", inputs={"si": si, "edge": "Ca L2,3"},
                                                outputs={"map": api.library.create_data_item("out2")})
        c_unknown = api.library.create_computation("lumiere.eels.elemental_map", inputs={"si": si, "edge": "Xx K"},
                                                   outputs={"map": api.library.create_data_item("out3")})
        empty = si.add_rectangle_region(0.5, 0.5, 0.0, 0.3)
        region_sum = api.library.create_data_item("out4")
        c_region = api.library.create_computation("lumiere.eels.si_sum", inputs={"si": si, "region": empty},
                                                  outputs={"spectrum": region_sum})
        c_thick = api.library.create_computation("lumiere.eels.thickness", inputs={"si": si},
                                                 outputs={"thickness": api.library.create_data_item("out5")})
        recompute(document_controller)
        status = {name: c._computation.status for name, c in
                  (("image", c_image), ("edge", c_edge), ("unknown", c_unknown), ("region", c_region), ("thick", c_thick))}
        assert status["image"] == ("Error: Elemental map: 'HAADF image' is a 2-D image (8×8); "
                                   "a spectrum image (y, x, eV) is needed")
        assert status["edge"] == ("Error: Elemental map: edge Ca L2,3 (onset 346 eV) is outside the energy "
                                  "range [349.5, 1373.5] eV of the spectra")
        assert status["unknown"].startswith("Error: Elemental map: unknown edge 'Xx K'; known edges: C K,")
        assert status["region"] == "Error: SI sum: the region is empty: it covers no pixel centre of the 8×8 scan"
        assert status["thick"].startswith("Error: Thickness map: the energy axis [350, 1373] eV does not contain "
                                          "the zero-loss peak")
        assert all("Traceback" not in s and "\n" not in s for s in status.values())
        assert out.xdata is None  # nothing committed on error
        # fixing the input clears the error
        empty.bounds = ((0.25, 0.25), (0.5, 0.5))
        recompute(document_controller)
        assert c_region._computation.error_text is None
        np.testing.assert_allclose(region_sum.data, si.xdata.data[2:6, 2:6].sum(axis=(0, 1)), rtol=1e-5)
        empty.bounds = ((0.0, 0.5), (0.25, 0.5))  # moving the region recomputes the sum
        recompute(document_controller)
        np.testing.assert_allclose(region_sum.data, si.xdata.data[0:2, 4:8].sum(axis=(0, 1)), rtol=1e-5)
        with pytest.raises(computations_eels.InputError, match="is a 2-D image"):
            computations_eels.attach_elemental_map(api, image, "Sc L2,3")


def test_lumiere_menu_items_attach_the_computations(swift):
    with swift_document() as (api, document_controller, document_model):
        menus.build_menus(document_controller)
        menu = document_controller.get_or_create_menu("lumiere_menu", "Lumière", "window_menu")
        titles = [action.title for action in menu.get_menu_actions()]
        assert {"Elemental Map (edge by name)…", "Thickness Map t/λ", "Align ZLP of SI"} <= set(titles)
        si = core_loss_si(swift, api, size=8)
        display_panel = document_controller.selected_display_panel
        display_panel.set_display_panel_display_item(document_model.get_display_item_for_data_item(si._data_item))
        made = menus.run_action(document_controller, menus.elemental_map_action("O K"))
        recompute(document_controller)
        assert made is not None and made["map"].data.shape == (8, 8) and errors(document_model) == {}
        # a wrong target gives a message, not an exception
        image = api.library.create_data_item_from_data(np.ones((4, 4), np.float32), "plain image")
        display_panel.set_display_panel_display_item(document_model.get_display_item_for_data_item(image._data_item))
        assert menus.run_action(document_controller, menus.elemental_map_action("O K")) is None
