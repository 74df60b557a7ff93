"""The Lumière quantification computation in headless Swift: the same maps as
:func:`analysis.eels.quant.quantify`, "atoms/nm^2" intensity calibration, the menu entry, and a
clear status message for a wrong input."""
from __future__ import annotations

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade

from analysis.eels import quant
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from nionswift_plugin.lumiere import computations, computations_quant, menus
from nionswift_plugin.lumiere.testing import recompute, swift_document

Facade.initialize()


def _si_xdata(world: SimulatedWorld, grain_index: int, offset_eV: float, dispersion_eV: float, n: int = 10):
    g = world.specimen.grains[grain_index]
    off = (np.arange(n) - (n - 1) / 2) * 2.0 * g.semi_axis_a_nm / n
    y, x = np.meshgrid(g.y_nm + off, g.x_nm + off, indexing="ij")
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = offset_eV, dispersion_eV
    data = world.eels_counts(y, x, 0.0, 0.02).astype(np.float32)
    step = 2.0 * g.semi_axis_a_nm / n
    cals = [Calibration.Calibration(0.0, step, "nm"), Calibration.Calibration(0.0, step, "nm"),
            Calibration.Calibration(offset_eV, dispersion_eV, "eV")]
    return DataAndMetadata.new_data_and_metadata(data, intensity_calibration=Calibration.Calibration(units="counts"),
                                                 dimensional_calibrations=cals,
                                                 data_descriptor=DataAndMetadata.DataDescriptor(False, 2, 1))


def test_quantified_maps_equal_the_analysis_and_are_calibrated(swift):  # swift: plug-in loaded, types registered
    world = SimulatedWorld(0, drift=DriftSettings((0.0, 0.0), 0.0))
    world.beam.current_pA = 200.0
    core = _si_xdata(world, 5, 350.0, 1.0)
    low = _si_xdata(world, 5, -20.0, 0.1)
    with swift_document() as (api, document_controller, document_model):
        si = api.library.create_data_item_from_data_and_metadata(core, "core SI")
        ll = api.library.create_data_item_from_data_and_metadata(low, "low-loss SI")
        made = computations_quant.attach_quantification(api, si, "Dy_M5,Sc_L3", lowloss=ll,
                                                        sigmas="Dy M4,5=2.4e-7")
        recompute(document_controller)
        assert not [c.error_text for c in document_model.computations if c.error_text]
        expected, _, _ = quant.quantify(
            core.data, 350.0 + np.arange(core.data_shape[-1]), ["Dy M4,5", "Sc L2,3"], beam_energy_kV=100,
            convergence_mrad=10, collection_mrad=25,
            lowloss=quant.lowloss_intensity(low.data, -20.0 + 0.1 * np.arange(low.data_shape[-1]), 50.0),
            cross_sections={"Dy M4,5": quant.CrossSection("Dy M4,5", (1295.0, 1345.0), 2.4e-7, "t")})
        sc = made["density_b"].xdata
        assert sc.intensity_calibration.units == "atoms/nm^2"
        assert [c.units for c in sc.dimensional_calibrations] == ["nm", "nm"]
        np.testing.assert_allclose(sc.data, expected["Sc L2,3"].value, rtol=1e-5)
        np.testing.assert_allclose(made["uncertainty_a"].xdata.data, expected["Dy M4,5"].uncertainty, rtol=1e-5)
        np.testing.assert_allclose(made["ratio"].xdata.data, expected["Dy M4,5/Sc L2,3"].value, rtol=1e-5,
                                   equal_nan=True)
        assert made["ratio_uncertainty"].xdata.metadata["lumiere"]["ratio"] == "Dy M4,5/Sc L2,3"
        # an edge without a hydrogenic GOS and no given σ: one clear sentence in the status
        bad = computations_quant.attach_quantification(api, si, "Dy M4,5, Sc L2,3")
        recompute(document_controller)
        text = bad["computation"]._computation.error_text
        assert text and "k_factor" in text


def test_registered_and_in_the_lumiere_menu():
    assert computations.computation_types()["lumiere.eels.quantify"] is computations_quant.Quantify
    assert any(title.startswith("Quantified Maps") for title, _ in menus.menu_items())
