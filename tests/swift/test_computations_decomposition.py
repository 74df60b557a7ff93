"""PCA / NMF of an SI from the simulated instrument in headless Swift: same numbers as the
streaming decomposition classes, an energy range that recomputes when moved, status messages."""
from __future__ import annotations


import numpy as np
from nion.swift import Facade

from analysis.decomposition import OnlineNMF, StreamingPCA
from nionswift_plugin.lumiere import computations_decomposition, computations_eels, scripting
from nionswift_plugin.lumiere.testing import recompute, swift_document
import pytest

pytestmark = pytest.mark.swift

Facade.initialize()


def test_pca_and_nmf_equal_the_streaming_classes(swift):
    with swift_document() as (api, document_controller, document_model):
        world = swift.devices.instrument.world
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
        world.beam.current_pA = 1000.0
        grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
        lumiere = scripting.connect(api, progress=None)
        si = lumiere.run_spectrum_image(16, 3 * grain.semi_axis_a_nm, (grain.y_nm, grain.x_nm), 2.0).data_items["si"]
        pca = lumiere.decompose(si, method="pca", components=3)
        nmf = lumiere.decompose(si, method="nmf", components=3)
        recompute(document_controller)
        assert not any(c.error_text for c in document_model.computations)
        data = si.xdata.data.astype(np.float64)
        ref = StreamingPCA(3, 1024, block_size=16, poisson=True)
        for row in data:
            ref.partial_fit(row)
        np.testing.assert_allclose(pca["loadings"].data, ref.components_, atol=1e-5)
        scores = ref.transform(data.reshape(-1, 1024)).T.reshape(3, 16, 16)
        np.testing.assert_allclose(pca["scores"].data, scores, rtol=1e-4, atol=1e-4)
        ref_nmf = OnlineNMF(3, 1024)
        for _ in range(computations_decomposition.NMF_PASSES):
            for row in data:
                ref_nmf.partial_fit(row)
        np.testing.assert_allclose(nmf["loadings"].data, ref_nmf.components_, rtol=1e-4, atol=1e-3)
        assert (nmf["scores"].data >= 0).all()
        assert nmf["loadings"].xdata.dimensional_calibrations[-1].units == "eV"
        assert [c.units for c in pca["scores"].xdata.dimensional_calibrations][1:] == ["nm", "nm"]
        assert pca["scores"].xdata.is_sequence and pca["scores"].data.shape == (3, 16, 16)
        # an energy range on the SI's spectra: recomputed when moved
        spectrum = computations_eels.attach_si_sum(api, si)["spectrum"]
        interval = spectrum.add_interval_region(0.0, 0.25)
        ranged = computations_decomposition.attach_decomposition(api, si, components=2, signal_interval=interval)
        recompute(document_controller)
        assert ranged["loadings"].data.shape == (2, 256)
        assert ranged["loadings"].xdata.dimensional_calibrations[-1].offset == 350.0
        interval.interval = (0.5, 0.6)
        recompute(document_controller)
        loadings, _ = computations_decomposition.decompose_si(data[..., 512:615], "pca", 2)
        np.testing.assert_allclose(ranged["loadings"].data, loadings, atol=1e-5)
        assert ranged["loadings"].xdata.dimensional_calibrations[-1].offset == 862.0
        interval.interval = (0.5, 0.5005)
        recompute(document_controller)
        assert ranged["computation"]._computation.status == ("Error: Decomposition: the energy range [862, 862.5] eV "
                                                             "holds 1 channels; at least 2 are needed")
        bad = api.library.create_computation("lumiere.decomposition", inputs={"si": si, "method": "ica", "components": 2},
                                             outputs={"loadings": api.library.create_data_item("x")})
        recompute(document_controller)
        assert bad._computation.status == "Error: Decomposition: method must be 'pca' or 'nmf', got 'ica'"
