"""``lumiere drift-si --out DIR [--size 64] [--sequences 8] [--dwell-ms 2] [--drift-nm-per-min 10]``.

Drift-corrected EELS SI on the instrument of the site configuration (default: the simulated
one): HAADF survey, N short sequences with drift tracking and re-centring, and (``--baseline``,
on by default) the same acquisition without correction for comparison. Writes
``DIR/drift_si.hspy`` (HyperSpy; crash-safe) and PNGs (survey, summed HAADF, maps corrected
vs uncorrected, drift log in nm); existing files are kept (numbered names, :mod:`lumiere.outputs`)
unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from detectors.simulation.setup import DRIFT_SI_DRIFT_NM_PER_MIN
from drift_eels.parameters import DEFAULT_EDGES
from lumiere.cli_checks import finite_float, non_negative_float, positive_float, positive_int
from lumiere.outputs import add_overwrite_argument
from lumiere.tasks import TaskControl, TextProgressBar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    add_overwrite_argument(parser)
    parser.add_argument("--config", default=None, help="site configuration TOML (default: simulated instrument)")
    parser.add_argument("--size", type=positive_int, default=64, help="SI size in pixels (square), default 64")
    parser.add_argument("--sequences", type=positive_int, default=8, help="number of SI sequences, default 8")
    parser.add_argument("--dwell-ms", type=positive_float, default=2.0, help="EELS dwell per pixel and sequence, ms (default 2)")
    parser.add_argument("--drift-nm-per-min", type=non_negative_float, default=DRIFT_SI_DRIFT_NM_PER_MIN,
                        help="simulated drift rate, nm/min (simulated instrument only; default "
                        f"{DRIFT_SI_DRIFT_NM_PER_MIN:g}: a settling holder, so that the uncorrected "
                        "baseline visibly smears)")
    parser.add_argument("--random-walk", type=non_negative_float, default=0.3,
                        help="simulated drift random walk, nm/sqrt(min) (default 0.3)")
    parser.add_argument("--current-pA", type=positive_float, default=200.0, help="simulated beam current, pA (default 200)")
    parser.add_argument("--edges", nargs="+", default=list(DEFAULT_EDGES), metavar="EDGE",
                        help='edges to map, e.g. --edges "Sc L2,3" "Dy M4,5" (default)')
    parser.add_argument("--si-fov-nm", type=positive_float, default=None, help="SI field of view, nm (default 2 nm/px)")
    parser.add_argument("--si-center-nm", type=finite_float, nargs=2, default=None, metavar=("Y", "X"),
                        help="SI centre, microscope frame nm (default: an oxide grain of the simulated specimen)")
    parser.add_argument("--ref-center-nm", type=finite_float, nargs=2, default=None, metavar=("Y", "X"),
                        help="drift reference centre, nm (default: a gold particle of the simulated specimen)")
    parser.add_argument("--ref-size-nm", type=positive_float, default=96.0, help="drift reference region size, nm (default 96)")
    parser.add_argument("--ref-dwell-us", type=positive_float, default=20.0, help="reference scan dwell, µs (default 20)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the uncorrected baseline acquisition")
    parser.add_argument("--keep-sequences", action="store_true", help="also save every raw sequence")


def run(args: argparse.Namespace) -> int:
    from drift_eels.session import run_session

    task = TaskControl(TextProgressBar("drift-si"))
    result = run_session(
        args.out, config=args.config, size_px=args.size, n_sequences=args.sequences,
        dwell_s=args.dwell_ms / 1000.0, drift_nm_per_min=args.drift_nm_per_min,
        random_walk_nm_per_sqrt_min=args.random_walk, current_pA=args.current_pA, edges=args.edges,
        si_fov_nm=args.si_fov_nm, si_center_nm=tuple(args.si_center_nm) if args.si_center_nm else None,
        reference_center_nm=tuple(args.ref_center_nm) if args.ref_center_nm else None,
        reference_size_nm=args.ref_size_nm, reference_dwell_s=args.ref_dwell_us * 1e-6,
        baseline=args.baseline, keep_sequences=args.keep_sequences, task=task, overwrite=args.overwrite)
    c = result.corrected
    log = c.drift_log()
    if len(log):
        print(f"drift over the run: {log[-1, 3]:.2f} nm in {log[-1, 0]:.1f} s; "
              f"overhead (reference scans + registration) {_overhead(c.timing):.1%} of the SI time")
    for run_name, res in (("corrected", c), ("uncorrected", result.uncorrected)):
        if res is None:
            continue
        snr = ", ".join(f"{k} median SNR {float(np.nanmedian(m.snr)):.1f}" for k, m in res.maps.items())
        print(f"{run_name}: {res.sequences_done} sequences; {snr}")
    print(f"wrote {result.hdf5_path}", file=sys.stdout)
    for path in result.pngs:
        print(f"wrote {path}", file=sys.stdout)
    return 0


def _overhead(timing: dict) -> float:
    a = timing.get("acquisition_s", 0.0)
    return (timing.get("reference_scan_s", 0.0) + timing.get("registration_s", 0.0)) / a if a > 0 else float("nan")

