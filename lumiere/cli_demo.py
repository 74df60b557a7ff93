"""``lumiere demo --out DIR``."""
from __future__ import annotations

import argparse
import sys

from lumiere.demo import DEMO_EXPOSURE_S, DEMO_SI_SIZE_PX, run_demo
from lumiere.cli_checks import positive_float, positive_int
from lumiere.outputs import add_overwrite_argument
from lumiere.tasks import TaskControl, TextProgressBar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    add_overwrite_argument(parser)
    parser.add_argument("--config", default=None, help="site configuration TOML (default: simulated instrument)")
    parser.add_argument("--si-size", type=positive_int, default=DEMO_SI_SIZE_PX,
                        help=f"SI size in pixels (square), default {DEMO_SI_SIZE_PX}")
    parser.add_argument("--exposure-ms", type=positive_float, default=DEMO_EXPOSURE_S * 1000,
                        help=f"SI exposure per pixel in ms, default {DEMO_EXPOSURE_S * 1000:g}")


def run(args: argparse.Namespace) -> int:
    task = TaskControl(TextProgressBar("demo"))
    result = run_demo(args.out, config=args.config, si_size_px=args.si_size,
                      exposure_s=args.exposure_ms / 1000.0, task=task, overwrite=args.overwrite)
    print(f"wrote {result.hdf5_path}", file=sys.stdout)
    for path in result.pngs:
        print(f"wrote {path}", file=sys.stdout)
    return 0
