"""``lumiere si --out DIR [--sampling 0.25 --pattern random] [--live-pca 3 | --live-nmf 3]``.

A plain core-loss EELS spectrum image on the instrument of the site configuration (default: the
simulated one, set to the core-loss window and 200 pA): a full raster, or with ``--sampling F
< 1`` a sparse scan (random or line-hopping pixel order) and its low-rank reconstruction; with
``--live-pca K`` (or ``--live-nmf K``) the PCA (NMF) loadings and score maps are updated after
every section, as in the "Lumière SI" panel. Writes ``DIR/si.hspy`` (HyperSpy, crash-safe: an
interrupted run keeps what was acquired, marked aborted; an existing file is never replaced
without ``--overwrite``: the next free ``si_001.hspy`` … is used, see :mod:`lumiere.outputs`).
"""
from __future__ import annotations

import argparse
import sys

from lumiere.cli_checks import finite_float, non_negative_int, positive_float, positive_int
from lumiere.outputs import WORKFLOW_STEMS, add_overwrite_argument, new_run_files
from lumiere.tasks import TaskControl, TextProgressBar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    add_overwrite_argument(parser)
    parser.add_argument("--config", default=None, help="site configuration TOML (default: simulated instrument)")
    parser.add_argument("--size", type=positive_int, default=32, help="SI size in pixels (square), default 32")
    parser.add_argument("--fov-nm", type=positive_float, default=256.0, help="field of view, nm (default 256)")
    parser.add_argument("--center-nm", type=finite_float, nargs=2, default=(60.0, 130.0), metavar=("Y", "X"),
                        help="SI centre, microscope frame nm (default 60 130: Sc and Dy oxide grains on the simulator)")
    parser.add_argument("--exposure-ms", type=positive_float, default=5.0, help="exposure per visited pixel, ms (default 5)")
    parser.add_argument("--sampling", type=finite_float, default=1.0,
                        help="fraction of the pixels visited, (0, 1]; 1 = full raster (default)")
    parser.add_argument("--pattern", choices=("random", "line-hopping"), default="random",
                        help="sparse scan pattern (default random)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="sparse pattern seed (default 0)")
    live = parser.add_mutually_exclusive_group()
    live.add_argument("--live-pca", type=non_negative_int, default=0, metavar="K",
                      help="live PCA with K components, updated per section (default 0 = off)")
    live.add_argument("--live-nmf", type=non_negative_int, default=0, metavar="K",
                      help="live online NMF with K components, updated per section (default 0 = off)")


def run(args: argparse.Namespace) -> int:
    from detectors.config import load_config
    from detectors.instrument import build_instrument
    from detectors.interfaces import ScanFrame
    from drift_eels.parameters import SI_CUBES, SPARSE_SI_CUBES, check_si_memory
    from detectors.simulation.setup import configure_simulation
    from drift_eels.sparse_si import acquire_sparse_spectrum_image
    from drift_eels.spectrum_image import acquire_spectrum_image, check_si_inputs
    from lumiere.sinks import HDF5Sink

    if not 0 < args.sampling <= 1:
        raise ValueError(f"--sampling {args.sampling} outside (0, 1]")
    config = load_config(args.config)
    instrument = build_instrument(config)
    try:
        if instrument.fully_simulated:  # the simulator's core-loss set-up; a real site keeps its own
            configure_simulation(instrument.world, drift_nm_per_min=None)
        frame = ScanFrame((args.size, args.size), args.fov_nm, tuple(args.center_nm), dwell_s=args.exposure_ms / 1000)
        exposure_s = args.exposure_ms / 1000
        live = {"live_components": args.live_nmf, "live_method": "nmf"} if args.live_nmf else \
            {"live_components": args.live_pca, "live_method": "pca"}
        # every input checked before the file is created (the workflows check again, for scripts)
        check_si_inputs(exposure_s, 4, **live)
        check_si_memory(f"--size {args.size}", frame.size_px, instrument.spectrum_imager.energy_axis_eV().size,
                        SI_CUBES if args.sampling >= 1 else SPARSE_SI_CUBES)
        path = new_run_files(args.out, WORKFLOW_STEMS["si"], overwrite=args.overwrite).data
        sink = HDF5Sink(path, overwrite=args.overwrite)
        task = TaskControl(TextProgressBar("si"))
        if args.sampling >= 1:
            si, _ = acquire_spectrum_image(instrument.spectrum_imager, frame, exposure_s, sink, task=task,
                                           metadata=instrument.metadata(), **live)
            print(f"{si.shape[0]}×{si.shape[1]} SI, {si.shape[2]} channels")
        else:
            result = acquire_sparse_spectrum_image(instrument.spectrum_imager, frame, exposure_s, sink,
                                                   pattern=args.pattern, fraction=args.sampling, seed=args.seed,
                                                   task=task, metadata=instrument.metadata(), **live)
            f = result.pattern.fraction
            print(f"sparse SI ({args.pattern}): {result.visits_done} of {args.size ** 2} pixels visited "
                  f"({100 * f:.0f} %), dose reduced {1 / f:.1f}×; low-rank reconstruction in si_reconstructed")
        print(f"wrote {path}", file=sys.stdout)
    finally:
        instrument.close()
    return 0
