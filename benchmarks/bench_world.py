"""Simulated instrument speed: a 128×128×1024 EELS SI with counting noise.

Baseline in the same run: the same expected spectra with numpy's single-threaded
``Generator.poisson`` (what a straightforward simulator does). Reports seconds and the ratio.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from detectors.interfaces import ScanFrame
from detectors.simulation.world import SimulatedWorld


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    world = SimulatedWorld(0)
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    frame = ScanFrame(size_px=(128, 128), fov_nm=256.0)
    y, x = frame.positions_nm()
    t = frame.pixel_times_s(0.0)
    world.eels_counts(y, x, t, 0.01)  # compile and warm caches
    ours = best_of(lambda: world.eels_counts(y, x, t, 0.01), repeats)
    rng = np.random.default_rng(0)
    baseline = best_of(lambda: rng.poisson(world.eels_counts(y, x, t, 0.01, noise=False)), repeats)
    expected_only = best_of(lambda: world.eels_counts(y, x, t, 0.01, noise=False), repeats)
    print(f"{'what':<48}{'seconds':>10}")
    print(f"{'expected spectra only (no noise)':<48}{expected_only:>10.3f}")
    print(f"{'ours: + parallel counter-based Poisson':<48}{ours:>10.3f}")
    print(f"{'baseline: + numpy Generator.poisson':<48}{baseline:>10.3f}")
    print(f"speed-up vs baseline: {baseline / ours:.2f}x  (target: full SI well under 1 s -> {ours:.2f} s)")


if __name__ == "__main__":
    main()
