"""The ``lumiere`` command line.

Every subcommand runs headless on the instrument of the site configuration (``--config``; the
default is the simulated instrument). Subcommands register themselves in :data:`SUBCOMMANDS`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import typing

#: name -> (module, help); each module has ``add_arguments(parser)`` and ``run(args) -> int``
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lumiere.cli_demo", "short headless experiment on the simulated instrument (HAADF survey + EELS SI)"),
    "config": ("lumiere.cli_config", "print or check a site configuration file"),
    "si": ("lumiere.cli_si", "EELS spectrum image: full raster or sparse (random / line-hopping + low-rank reconstruction), optional live PCA"),
    "drift-si": ("lumiere.cli_drift_si", "drift-corrected EELS spectrum image (N short sequences, tracked, re-centred, summed)"),
    "merlin-sim": ("lumiere.cli_merlin_sim", "simulated Merlin (Medipix3RX) control/data servers on 127.0.0.1"),
    "eegs": ("lumiere.cli_eegs", "EEGS wavelength / power scans with analysis (HDF5 + PNG)"),
    "train": ("lumiere.cli_train", "training scenarios on the simulated instrument (goal, scripted run, check)"),
    "reprocess": ("lumiere.cli_reprocess", "out-of-core reprocessing of a sequence stack with Dask (correction, drift alignment, PCA, maps)"),
    "quantify": ("lumiere.cli_quantify", "areal-density (atoms/nm^2) and atomic-ratio maps with uncertainties from an EELS SI file (ratio method)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lumiere", description=(
        "Lumière: EEGS and drift-corrected EELS spectrum imaging for Nion Swift, with a simulated "
        "VG Lumière instrument. Run 'lumiere SUBCOMMAND --help' for details."))
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: typing.Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted: devices left safe, partial results kept", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:
        print(f"lumiere {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
