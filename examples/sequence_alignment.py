"""HAADF image series of a gold particle, then drift alignment: the aligned sum and the drift of
every frame in nm.

Swift: File ▸ Run Script…; command line: python examples/sequence_alignment.py
"""
import numpy as np

from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    centre = (0.0, 0.0)
    if lumiere.world is not None:
        p = lumiere.world.specimen.particles[0]
        centre = (p.y_nm, p.x_nm)
    sequence = lumiere.run_image_sequence(6, 64, 128.0, centre, dwell_us=4.0, interval_s=1.0).item("haadf_sequence")
    aligned = lumiere.align_sequence(sequence)
    if lumiere.wait(aligned):
        dy, dx = np.asarray(aligned["drift_y"].data), np.asarray(aligned["drift_x"].data)
        print(f"drift of the last frame: dy {dy[-1]:.2f} nm, dx {dx[-1]:.2f} nm")
    return {"sequence": sequence, **aligned}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
