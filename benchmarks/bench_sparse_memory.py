"""Peak memory of a sparse SI from the command line, as a multiple of the SI cube.

``lumiere si --size N --sampling F --out TMP`` runs in a fresh subprocess per case (the simulated
instrument, 1024 channels, float32: the cube is N²·1024·4 bytes). Two figures per case:

- ``tracemalloc``: the peak of Python/numpy allocations during the run (numpy reports its data
  buffers to tracemalloc) minus that of a 16×16 run (imports, the simulated specimen: the
  baseline measured in this run), over the cube size — what the workflow itself holds;
- ``RSS``: the process's peak resident set (``ru_maxrss``) minus that of the 16×16 run, over
  the cube size (includes HDF5's and numba's native buffers).

The goal (issue 16) is a peak ≤ 2× the cube. Measured on the shared 2-core machine, 25 %:

=======  ============================  ===========================  ================
size     tracemalloc − baseline        RSS − baseline               note
=======  ============================  ===========================  ================
128²     5.57× before, 0.92× after     5.78× before, 1.66× after    (raw 7.66× before)
256²     failed before (attribute);    1.37× after
         1.17× after
512²     1.27× after                   1.34× after                  323 s
=======  ============================  ===========================  ================

Before, the reconstruction held the whole SI in float64 several times over; now the SI is held
once (float32), the visited spectra once more during the fit, and the reconstruction is rendered
and written in blocks of rows.

Usage: python benchmarks/bench_sparse_memory.py [--quick] [--sizes 256 512] [--sampling 0.25]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

CHANNELS = 1024

DRIVER = r"""
import json, resource, sys, tracemalloc
from lumiere.cli import main
tracemalloc.start()
code = main(sys.argv[1:])
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"code": code, "traced_peak": peak,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_case(size: int, sampling: float, out: pathlib.Path) -> dict:
    root = pathlib.Path(__file__).resolve().parents[1]
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, "si", "--out", str(out), "--size", str(size),
                           "--sampling", str(sampling), "--exposure-ms", "1"],
                          capture_output=True, text=True, cwd=root, timeout=3600,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    if proc.returncode != 0:
        raise RuntimeError(f"size {size}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="256² only")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="SI sizes (default 256 512)")
    parser.add_argument("--sampling", type=float, default=0.25, help="sampled fraction (default 0.25)")
    args = parser.parse_args()
    sizes = args.sizes or ([256] if args.quick else [256, 512])
    with tempfile.TemporaryDirectory() as tmp:
        base = run_case(16, args.sampling, pathlib.Path(tmp) / "base")
        print(f"baseline 16² run: tracemalloc peak {base['traced_peak'] / 2**20:.0f} MiB, "
              f"peak RSS {base['maxrss'] / 2**20:.0f} MiB")
        for size in sizes:
            cube = size * size * CHANNELS * 4
            r = run_case(size, args.sampling, pathlib.Path(tmp) / str(size))
            print(f"{size}² at {args.sampling:.0%}: cube {cube / 2**20:.0f} MiB; tracemalloc peak − baseline "
                  f"{(r['traced_peak'] - base['traced_peak']) / cube:.2f}× cube (raw "
                  f"{r['traced_peak'] / cube:.2f}×); RSS peak − baseline "
                  f"{(r['maxrss'] - base['maxrss']) / cube:.2f}× cube; {r['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
