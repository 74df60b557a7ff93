"""Low-loss SI (−20 … 82 eV): relative thickness t/λ and ZLP alignment.

Swift: File ▸ Run Script…; command line: python examples/thickness_and_zlp.py
"""
import numpy as np

from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    world = lumiere.world
    centre, fov = (0.0, 0.0), 128.0
    if world is not None:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
        world.beam.current_pA = 50.0
        grain = world.specimen.grains[0]
        centre, fov = (grain.y_nm, grain.x_nm), 4 * grain.semi_axis_a_nm
    si = lumiere.run_spectrum_image(12, fov_nm=fov, center_nm=centre, exposure_ms=1.0).item("si")
    thickness = lumiere.thickness_map(si)
    aligned = lumiere.align_zlp(si)
    if lumiere.wait({**thickness, **aligned}):
        t = np.asarray(thickness["thickness"].data)
        z = np.asarray(aligned["zlp_shift"].data)
        print(f"t/λ from {np.nanmin(t):.2f} to {np.nanmax(t):.2f}; ZLP positions spread {z.std() * 1000:.2f} meV")
    return {"si": si, **thickness, **aligned}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
