"""SI of a DyScO3 grain, then PCA (Poisson-weighted, streamed row by row) and NMF: loadings
(spectra in eV) and score maps (nm).

Swift: File ▸ Run Script…; command line: python examples/decomposition.py
"""
import numpy as np

from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    centre, fov = (0.0, 0.0), 128.0
    if lumiere.world is not None:
        world = lumiere.world
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
        world.beam.current_pA = 1000.0
        grain = next(g for g in world.specimen.grains if g.material == "DyScO3")
        centre, fov = (grain.y_nm, grain.x_nm), 3 * grain.semi_axis_a_nm
    si = lumiere.run_spectrum_image(16, fov_nm=fov, center_nm=centre, exposure_ms=2.0).item("si")
    pca = lumiere.decompose(si, method="pca", components=3)
    nmf = lumiere.decompose(si, method="nmf", components=3)
    if lumiere.wait({**pca, **nmf}):
        print("PCA loadings", np.asarray(pca["loadings"].data).shape, "NMF score maps", np.asarray(nmf["scores"].data).shape)
    return {"si": si, "pca_loadings": pca["loadings"], "pca_scores": pca["scores"],
            "nmf_loadings": nmf["loadings"], "nmf_scores": nmf["scores"]}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
