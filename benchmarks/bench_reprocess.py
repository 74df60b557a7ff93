"""``lumiere reprocess`` throughput: Dask threaded and LocalCluster against a plain h5py read.

Usage::

    python benchmarks/bench_reprocess.py [--quick] [--sequences N] [--chunk-mb MB]

A synthetic stack (:func:`drift_eels.reprocess_synthetic.write_synthetic_stack`, 20 × 64 × 64 ×
2048 float32 = 671 MB; 10 sequences with ``--quick``) is written to a temporary directory and
read once (warm page cache, so every timing below reads from memory, not the disk). Reported:

* baseline: plain h5py read of ``si_sequences``, one sequence at a time (the floor for any
  pass over the file), MB/s;
* reprocess with Dask's local threaded scheduler, and with a ``distributed.LocalCluster`` of 2
  worker processes × 1 thread (400 MiB memory limit each, i.e. less than the stack), both as
  wall time, MB/s of input and the ratio to the baseline read; the per-stage times
  (registration, correction + alignment, maps + PCA, scores).

The cluster start-up is not timed. Both runs produce the same file (checked).
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import h5py
import numpy as np

from drift_eels.reprocess import reprocess
from drift_eels.reprocess_synthetic import write_synthetic_stack

EDGES = ("Sc L2,3", "Dy M4,5")


def plain_read(path: pathlib.Path) -> float:
    """Seconds to read every sequence of si_sequences with h5py."""
    t = time.perf_counter()
    with h5py.File(path, "r") as f:
        d = f["Experiments/si_sequences/data"]
        for k in range(d.shape[0]):
            d[k]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sequences", type=int, default=None)
    parser.add_argument("--chunk-mb", type=float, default=16.0)
    args = parser.parse_args()
    n = args.sequences or (10 if args.quick else 20)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        path = tmp / "stack.h5"
        write_synthetic_stack(path, n)
        size_mb = path.stat().st_size / 1e6
        plain_read(path)  # warm the page cache
        read_s = min(plain_read(path) for _ in range(3))
        rows = [("h5py read (baseline)", read_s, {})]
        t = time.perf_counter()
        s = reprocess(path, tmp / "threads.h5", edges=EDGES, chunk_mb=args.chunk_mb)
        rows.append(("reprocess, threads", time.perf_counter() - t, s.timing))
        from distributed import LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, memory_limit=400 << 20, silence_logs=40) as cluster:
            reprocess(path, tmp / "warmup.h5", edges=EDGES, chunk_mb=args.chunk_mb,
                      scheduler=cluster.scheduler_address)  # workers import + numba caches loaded
            t = time.perf_counter()
            s = reprocess(path, tmp / "cluster.h5", edges=EDGES, chunk_mb=args.chunk_mb,
                          scheduler=cluster.scheduler_address)
            rows.append(("reprocess, LocalCluster 2×1", time.perf_counter() - t, s.timing))
        with h5py.File(tmp / "threads.h5", "r") as a, h5py.File(tmp / "cluster.h5", "r") as b:
            same = np.allclose(a["Experiments/si/data"][()], b["Experiments/si/data"][()], rtol=1e-5, equal_nan=True)
    print(f"stack {n} × 64 × 64 × 2048 float32 = {size_mb:.0f} MB, blocks of {args.chunk_mb:g} MiB, "
          f"warm page cache; 2 cores shared")
    hdr = f"{'':30s} {'wall s':>8s} {'MB/s':>8s} {'× read':>8s}   stages (s)"
    print(hdr)
    print("-" * len(hdr))
    for name, wall, timing in rows:
        stages = ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in timing.items())
        print(f"{name:30s} {wall:8.2f} {size_mb / wall:8.0f} {wall / read_s:8.1f}   {stages}")
    print(f"threaded and cluster results equal: {same}")


if __name__ == "__main__":
    main()
