"""Elemental map by edge name: SI of a grain, then the Sc L2,3 map with its 1σ uncertainty and SNR.

In Swift the map is a live computation: drag the pre-edge or signal interval on the summed
spectrum and the maps follow. Swift: File ▸ Run Script…; command line: python examples/elemental_map.py
"""
import numpy as np

from nionswift_plugin.lumiere import scripting

EDGE = "Sc L2,3"


def run(lumiere: scripting.Lumiere) -> dict:
    world = lumiere.world
    centre, fov = (0.0, 0.0), 128.0
    if world is not None:
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
        world.beam.current_pA = 1000.0
        grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
        centre, fov = (grain.y_nm, grain.x_nm), 3 * grain.semi_axis_a_nm
    si = lumiere.run_spectrum_image(16, fov_nm=fov, center_nm=centre, exposure_ms=2.0).item("si")
    maps = lumiere.elemental_map(si, EDGE)
    if lumiere.wait(maps):
        snr = np.asarray(maps["snr"].data)
        print(f"{EDGE}: map {maps['map'].data.shape}, 90th-percentile SNR {np.percentile(snr, 90):.1f}")
    else:
        print(f"{EDGE}: map attached; Swift computes it in the background")
    return {"si": si, **maps}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
