"""Argument types of the ``lumiere`` subcommands: numbers checked when the command line is parsed.

Each type refuses what no option of ours accepts (inf, nan, a negative size …) with a message that
names the value and what is allowed; argparse prefixes the option (``argument --fov-nm: 'inf' is
not allowed; expected a finite number > 0``). Ranges that depend on the instrument (wavelength
limits, memory) are checked by the workflow parameters before anything moves
(:mod:`detectors.common.checks`), so scripts and panels get the same checks.
"""
from __future__ import annotations

import argparse
import math
import typing


def _parse(text: str, kind: type, expected: str) -> float | int:
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected {expected}") from None


def _checked(expected: str, kind: type, ok: typing.Callable[[float], bool]) -> typing.Callable[[str], typing.Any]:
    def convert(text: str) -> float | int:
        value = _parse(text, kind, expected)
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected {expected}")
        return value
    convert.__name__ = expected  # argparse names the type in some messages
    return convert


#: any finite number (positions, signed rates)
finite_float = _checked("a finite number", float, lambda v: True)
#: sizes, times, currents, wavelengths, fields of view
positive_float = _checked("a finite number > 0", float, lambda v: v > 0)
non_negative_float = _checked("a finite number ≥ 0", float, lambda v: v >= 0)
#: pixel counts, sequence and spectrum counts
positive_int = _checked("an integer ≥ 1", int, lambda v: v >= 1)
#: seeds, indices, component counts where 0 means off
non_negative_int = _checked("an integer ≥ 0", int, lambda v: v >= 0)
