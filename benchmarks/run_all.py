"""Run every benchmark in this folder, one process each (``--quick`` is passed on).

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names, e.g. bench_world")
    args = parser.parse_args()
    here = pathlib.Path(__file__).parent
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        if args.only and script.stem not in args.only:
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        failures += subprocess.call(cmd) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
