"""Drift-corrected EELS SI (two short sequences, tracked on a gold particle) and a live Dy M4,5
map of the summed SI: in Swift the map recomputes after every sequence.

Swift: File ▸ Run Script…; command line: python examples/drift_corrected_si.py
"""
import numpy as np

from detectors.interfaces import ScanFrame
from nionswift_plugin.lumiere import scripting


def run(lumiere: scripting.Lumiere) -> dict:
    if lumiere.world is not None:
        from detectors.simulation.setup import configure_simulation

        configure_simulation(lumiere.world, drift_nm_per_min=None)  # core-loss axis, keep the drift
    result = lumiere.run_drift_corrected_si(
        survey=ScanFrame(size_px=(256, 256), fov_nm=512.0), si_region_px=(112, 112, 16, 16),
        reference_region_px=(96, 96, 32, 32), si_shape_px=(16, 16), dwell_s=1e-3, n_sequences=2)
    maps = lumiere.elemental_map(result.item("si"), "Dy M4,5")
    log = result.arrays["drift_log"]
    print(f"{result.summary}; drift measured {np.round(log[:, 3], 2).tolist()} nm")
    lumiere.wait(maps)
    return {"si": result.item("si"), **maps}


def script_main(api_broker):
    run(scripting.connect(api_broker.get_api("~1.0", "~1.0")))


if __name__ == "__main__":
    with scripting.connect() as lumiere:
        run(lumiere)
