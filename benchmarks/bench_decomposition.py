"""Streaming decomposition speed on a 128×128×1024 EELS SI, one scan line (128 spectra) at a time.

Baseline in the same run: ``sklearn.decomposition.IncrementalPCA.partial_fit`` per line (same
number of components). Targets: ≥ 3× faster than the baseline, and a per-line update shorter
than the line itself at a 1 kHz pixel rate (128 ms for 128 pixels). Both are timed with one BLAS
thread (the setting for a live pipeline, where the update shares the machine with acquisition)
and, without ``--quick``, with the default BLAS threads. Also reported: the principal angles of the signal subspace
(first 3 components) to the offline SVD, the online NMF per line, the batch NNLS abundances
of VCA endmembers against ``scipy.optimize.nnls`` pixel by pixel, and the live view's cost per
section of 4 lines (update + NMF re-scoring + loadings + score maps of every pixel so far, as
``drift_eels.live_decomposition`` does) against the section's acquisition time at 1 kHz, with
sklearn's ``IncrementalPCA`` doing the same job (partial_fit + transform) as the baseline.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import nnls
from sklearn.decomposition import IncrementalPCA
from threadpoolctl import threadpool_limits

from analysis.decomposition import OnlineNMF, StreamingPCA, principal_angles_deg
from analysis.decomposition.live import LiveDecomposition
from analysis.vca import abundances, vca
from detectors.interfaces import ScanFrame
from detectors.simulation.world import SimulatedWorld

N_COMPONENTS = 10
SIGNAL_RANK = 3
LINE_BUDGET_S = 128 * 1e-3       # 128 pixels at 1 kHz
LIVE_SECTION_LINES = 4           # the SI workflows' default rows_per_section


def simulated_si(size: int = 128) -> np.ndarray:
    world = SimulatedWorld(0)
    world.spectrometer.energy_offset_eV = 350.0
    world.spectrometer.dispersion_eV_per_channel = 1.0
    world.beam.current_pA = 100.0
    frame = ScanFrame(size_px=(size, size), fov_nm=256.0, center_nm=(60.0, 130.0), dwell_s=1e-3)
    y, x = frame.positions_nm()
    return world.eels_counts(y, x, frame.pixel_times_s(0.0), 1e-3)


def per_line(make, si: np.ndarray, repeats: int) -> tuple[float, object]:
    """Best-of-``repeats`` mean time per line of feeding every line to a fresh model."""
    best, model = np.inf, None
    for _ in range(repeats):
        model = make()
        t = time.perf_counter()
        for line in si:
            model.partial_fit(line)
        best = min(best, (time.perf_counter() - t) / si.shape[0])
    return best, model


def live_section_times(method: str, si: np.ndarray, k: int = 3) -> np.ndarray:
    """Seconds per section of ``LIVE_SECTION_LINES`` lines of the live view over a whole SI:
    ``method`` "pca" / "nmf" (ours) or "sklearn" (IncrementalPCA.partial_fit + transform of every
    pixel acquired so far: the same live view built on scikit-learn)."""
    h, w, n = si.shape
    flat = si.reshape(h * w, n)
    live = LiveDecomposition(method, k, n, (h, w), block_size=w) if method != "sklearn" else None
    sk = IncrementalPCA(k) if method == "sklearn" else None
    times = []
    for top in range(0, h, LIVE_SECTION_LINES):
        idx = np.arange(top * w, (top + LIVE_SECTION_LINES) * w)
        t = time.perf_counter()
        if sk is not None:
            sk.partial_fit(flat[idx])
            sk.transform(flat[:idx[-1] + 1])
        else:
            live.partial_fit(flat[idx], idx)
            live.refine(flat)
            live.loadings()
            live.score_maps(flat)
        times.append(time.perf_counter() - t)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    si = simulated_si()
    n_ch = si.shape[-1]
    flat = si.reshape(-1, n_ch).astype(np.float64)
    StreamingPCA(2, n_ch).partial_fit(si[0])               # compile the kernels
    OnlineNMF(2, n_ch).partial_fit(si[0])
    print(f"SI {si.shape}, {N_COMPONENTS} components, partial_fit per scan line of {si.shape[1]} spectra")
    print(f"{'what':<52}{'ms/line':>9}{'vs sklearn':>12}{'1 kHz margin':>14}")
    results = {}
    configs = [(1, "1 BLAS thread")] + ([] if args.quick else [(None, "default BLAS threads")])
    for threads, label in configs:
        with threadpool_limits(threads):
            t_sk, sk = per_line(lambda: IncrementalPCA(N_COMPONENTS), si, repeats)
            t_ours, ours = per_line(lambda: StreamingPCA(N_COMPONENTS, n_ch), si, repeats)
            t_pois, pois = per_line(lambda: StreamingPCA(N_COMPONENTS, n_ch, poisson=True), si, repeats)
            t_nmf, _ = per_line(lambda: OnlineNMF(4, n_ch), si, repeats)
        results[label] = (sk, ours, pois)
        for name, t in ((f"sklearn IncrementalPCA [{label}]", t_sk), (f"StreamingPCA [{label}]", t_ours),
                        (f"StreamingPCA, Poisson-weighted [{label}]", t_pois),
                        (f"OnlineNMF, 4 components [{label}]", t_nmf)):
            print(f"{name:<52}{1e3 * t:>9.2f}{t_sk / t:>11.2f}x{LINE_BUDGET_S / t:>13.1f}x")
    with threadpool_limits(1):
        ref = np.linalg.svd(flat - flat.mean(0), full_matrices=False)[2][:SIGNAL_RANK]
        g, h = flat.mean(1), flat.mean(0)
        kk = flat / np.sqrt(g)[:, None] / np.sqrt(h)[None, :]
        ref_p = np.linalg.svd(kk - kk.mean(0), full_matrices=False)[2][:SIGNAL_RANK]
    sk, ours, pois = results["1 BLAS thread"]
    print(f"largest principal angle of the first {SIGNAL_RANK} components to the offline SVD (deg): "
          f"ours {principal_angles_deg(ours.components_[:SIGNAL_RANK], ref).max():.3f}, "
          f"sklearn {principal_angles_deg(sk.components_[:SIGNAL_RANK], ref).max():.3f}, "
          f"ours Poisson-weighted vs offline Keenan-Kotula "
          f"{principal_angles_deg(pois.components_[:SIGNAL_RANK], ref_p).max():.3f}")

    # the live view (Swift's pca_/nmf_ loadings and score maps) per section of the SI
    section_budget_s = LIVE_SECTION_LINES * LINE_BUDGET_S
    print(f"live view per section of {LIVE_SECTION_LINES} lines, 3 components, 1 BLAS thread "
          f"(budget at 1 kHz: {1e3 * section_budget_s:.0f} ms)")
    print(f"{'what':<52}{'mean ms':>9}{'last ms':>9}{'vs sklearn':>12}{'1 kHz margin':>14}")
    with threadpool_limits(1):
        live_section_times("nmf", si[:8])                    # compile the NMF kernels
        live = {m: live_section_times(m, si) for m in ("sklearn", "pca", "nmf")}
    for name, m in (("sklearn IncrementalPCA + transform", "sklearn"), ("live PCA (Poisson-weighted)", "pca"),
                    ("live NMF (online, re-scored)", "nmf")):
        t = live[m]
        print(f"{name:<52}{1e3 * t.mean():>9.1f}{1e3 * t[-1]:>9.1f}{live['sklearn'].mean() / t.mean():>11.2f}x"
              f"{section_budget_s / t.max():>13.1f}x")

    # VCA endmembers + abundance maps: batch NNLS vs scipy.optimize.nnls per pixel
    with threadpool_limits(1):
        t = time.perf_counter()
        ends = vca(flat, 3).endmembers
        t_vca = time.perf_counter() - t
        t = time.perf_counter()
        abundances(flat, ends)
        t_ab = time.perf_counter() - t
        sub = flat[:: max(1, flat.shape[0] // (200 if args.quick else 1000))]
        t = time.perf_counter()
        ref_ab = np.array([nnls(ends.T, row)[0] for row in sub])
        t_nnls = (time.perf_counter() - t) / sub.shape[0] * flat.shape[0]
    err = np.abs(abundances(sub, ends) - ref_ab).max() / np.abs(ref_ab).max()
    print(f"VCA (3 endmembers) {t_vca:.2f} s; abundance maps 128x128: batch NNLS {t_ab:.2f} s, "
          f"scipy nnls per pixel {t_nnls:.1f} s (extrapolated) -> {t_nnls / t_ab:.0f}x; "
          f"max rel. difference {err:.1e}")


if __name__ == "__main__":
    main()
