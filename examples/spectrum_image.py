"""EELS spectrum image of an Sc2O3 grain (16×16 px, core loss 350–1373 eV).

Swift: File ▸ Run Script… (calls script_main). Command line: python examples/spectrum_image.py
"""
from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    world = lumiere.world  # the simulated instrument (None on real hardware)
    centre, fov = (0.0, 0.0), 128.0
    if world is not None:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
        grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
        centre, fov = (grain.y_nm, grain.x_nm), 3 * grain.semi_axis_a_nm
    result = lumiere.run_spectrum_image(16, fov_nm=fov, center_nm=centre, exposure_ms=2.0)
    print(f"done: {result.summary}; total counts {result.arrays['si'].sum():.3g}")
    return {"si": result.item("si"), "haadf": result.item("si_haadf")}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
