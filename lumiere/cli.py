"""The ``lumiere`` command line.

Every subcommand runs headless on the instrument of the site configuration (``--config``; the
default is the simulated instrument). Subcommands register themselves in :data:`SUBCOMMANDS`.

Errors end a command with one line on stderr and a non-zero exit status, never a traceback
(``--debug`` or ``LUMIERE_DEBUG=1`` prints it as well):

====  =====================================================================================
2     bad command line (argparse): ``lumiere si: error: argument --fov-nm: 'inf' is not …``
1     bad input (a parameter, the site file), refused before anything moved
3     a device failed: ``lumiere si: Merlin at 127.0.0.1:6341: reply b'…' does not answer …``
4     internal error (a bug): the line says so; run with --debug for the traceback
130   interrupted (Ctrl-C or an abort); devices left safe, partial results kept
====  =====================================================================================
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
import typing

from detectors.common.errors import DeviceError, describe_error
from detectors.interfaces import Aborted

EXIT_INPUT, EXIT_USAGE, EXIT_DEVICE, EXIT_INTERNAL = 1, 2, 3, 4
from lumiere.outputs import kept_message, run_recorded

#: name -> (module, help); each module has ``add_arguments(parser)`` and ``run(args) -> int``
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lumiere.cli_demo", "short headless experiment on the simulated instrument (HAADF survey + EELS SI)"),
    "config": ("lumiere.cli_config", "print or check a site configuration file"),
    "si": ("lumiere.cli_si", "EELS spectrum image: full raster or sparse (random / line-hopping + low-rank reconstruction), optional live PCA"),
    "drift-si": ("lumiere.cli_drift_si", "drift-corrected EELS spectrum image (N short sequences, tracked, re-centred, summed)"),
    "merlin-sim": ("lumiere.cli_merlin_sim", "simulated Merlin (Medipix3RX) control/data servers on 127.0.0.1"),
    "sim": ("lumiere.cli_sim", "the simulated microscope in its own process: scan unit, Merlin, laser bench, VG column, CL spectrometer on 127.0.0.1 behind their real protocols, and a site file pointing at them"),
    "eegs": ("lumiere.cli_eegs", "EEGS wavelength / power scans with analysis (HDF5 + PNG)"),
    "train": ("lumiere.cli_train", "training scenarios on the simulated instrument (goal, scripted run, check)"),
    "reprocess": ("lumiere.cli_reprocess", "out-of-core reprocessing of a sequence stack with Dask (correction, drift alignment, PCA, maps)"),
    "quantify": ("lumiere.cli_quantify", "areal-density (atoms/nm^2) and atomic-ratio maps with uncertainties from an EELS SI file (ratio method)"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the option, the bad value, where to look)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lumiere", description=(
        "Lumière: EEGS and drift-corrected EELS spectrum imaging for Nion Swift, with a simulated "
        "VG Lumière instrument. Run 'lumiere SUBCOMMAND --help' for details."))
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an error too (also LUMIERE_DEBUG=1)")
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
        return int(run_recorded(module.run, args) or 0)
    except (KeyboardInterrupt, Aborted) as e:  # Ctrl-C, or an abort from inside (an interlock)
        print(f"\ninterrupted: devices left safe; {kept_message(e)}", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every error ends in one line (see the module docstring)
        return report_error(f"lumiere {args.command}", e, debug=args.debug)


def report_error(prog: str, error: BaseException, *, debug: bool = False) -> int:
    """Print ``error`` as one line on stderr (with the traceback if ``debug`` or
    ``LUMIERE_DEBUG`` is set) and return the exit status for its kind."""
    if debug or os.environ.get("LUMIERE_DEBUG", "").strip() not in ("", "0"):
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, DeviceError):
        status = EXIT_DEVICE
    elif isinstance(error, (ValueError, LookupError, MemoryError, OSError)):
        status = EXIT_INPUT  # bad input, site file, unreadable/unwritable file, memory
    else:
        status = EXIT_INTERNAL
    text = describe_error(error)
    if getattr(error, "lumiere_kept", None):  # what the failed run left on disk (lumiere.outputs)
        text += f"; {kept_message(error)}"
    if status == EXIT_INTERNAL:
        text += " (a bug: run with --debug or LUMIERE_DEBUG=1 for the traceback and report it)"
    # device errors read "lumiere si: Merlin at …: …"; the others "lumiere si: error: …"
    print(f"{prog}: {text}" if status == EXIT_DEVICE else f"{prog}: error: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
