"""TTL output lines of the scan generator (laser gate, fast blanker, camera/spectrometer sync).

Each output line follows a *source* — a logical signal the generator derives from its scan —
shaped by polarity, delay and width:

=================================  ============================================================
source                             active while
=================================  ============================================================
``off``                            never; the output is not driven (reads low, any polarity)
``low`` / ``high``                 constant level (no edges)
``frame-active``                   from the first dwell's start to the last dwell's end
``line-active``                    each line's dwells (h pulses ``(w + flyback)·dwell`` apart);
                                   with a pixel order there are no lines: the whole sequence
``pixel-clock``                    the first half of every dwell (one pulse per pixel / visit)
``flyback``                        every line's flyback (``flyback_px·dwell`` after each line)
``beam-blank-between-visits``      raster: the flybacks (the beam is blanked while it returns);
                                   with a pixel order: ``width_us`` at the start of each visit
                                   that jumps (is not the raster neighbour of the previous one)
                                   while the beam settles — visits are back to back, so with
                                   width 0 there is nothing to blank (no edges)
=================================  ============================================================

Shaping, in this order: ``width_us > 0`` turns each active interval into a one-shot pulse of that
width starting where the interval starts (``0`` = follow the source); ``delay_us`` shifts every edge
later; overlapping pulses merge. ``polarity="high"`` drives the line high while active (a *rising*
edge starts each active interval); ``"low"`` inverts it (a *falling* edge starts it, the idle level
is high). Times are seconds from the start of the frame's first dwell.

Typical wiring (see ``detectors/scan/README.md``): output 1 → fast blanker input
(``beam-blank-between-visits``, active high), output 2 → laser shutter / pulse gate
(``frame-active`` or ``line-active``, the laser only lights while pixels are being acquired).
"""
from __future__ import annotations

import dataclasses
import typing

import numpy as np

from detectors.interfaces import ScanFrame

SOURCES = ("off", "frame-active", "line-active", "pixel-clock", "flyback",
           "beam-blank-between-visits", "high", "low")
POLARITIES = ("high", "low")
#: longest delay or width an output accepts, µs (one second: longer is a configuration mistake)
MAX_TIME_US = 1e6


@dataclasses.dataclass(frozen=True)
class OutputLine:
    """One TTL output: ``index`` (1-based, as printed on the box), source, polarity (active level),
    delay and one-shot width in µs (width 0: follow the source)."""

    index: int
    source: str = "off"
    polarity: str = "high"
    delay_us: float = 0.0
    width_us: float = 0.0

    def to_dict(self) -> dict[str, typing.Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: typing.Mapping[str, typing.Any]) -> "OutputLine":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown output-line keys {sorted(unknown)}")
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class LineEdges:
    """Edge timeline of one output over one frame: times (s from the first dwell's start) of
    rising and falling edges, and the level before the frame (``idle_high``)."""

    rising_s: np.ndarray
    falling_s: np.ndarray
    idle_high: bool


def validate_output_line(line: OutputLine, n_outputs: int) -> OutputLine:
    """Return ``line`` with float times if every field is valid, else raise ValueError naming the
    bad value and what is allowed."""
    if not isinstance(line.index, (int, np.integer)) or not 1 <= line.index <= n_outputs:
        raise ValueError(f"output index {line.index!r} outside 1–{n_outputs}")
    if line.source not in SOURCES:
        raise ValueError(f"output {line.index}: source {line.source!r} is not one of {', '.join(SOURCES)}")
    if line.polarity not in POLARITIES:
        raise ValueError(f"output {line.index}: polarity {line.polarity!r} is not 'high' or 'low'")
    for name in ("delay_us", "width_us"):
        value = getattr(line, name)
        if not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= float(value) <= MAX_TIME_US:
            raise ValueError(f"output {line.index}: {name} {value!r} outside 0–{MAX_TIME_US:g} µs")
    return dataclasses.replace(line, index=int(line.index), delay_us=float(line.delay_us),
                               width_us=float(line.width_us))


def source_intervals(source: str, frame: ScanFrame, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Active intervals ``(starts, ends)`` in s of a source over one frame (before shaping)."""
    h, w = frame.size_px
    dwell = frame.dwell_s
    empty = np.zeros(0)
    if source in ("off", "high", "low"):
        return empty, empty
    if order is not None:
        n = order.size
        k = np.arange(n)
        if source in ("frame-active", "line-active"):
            return np.array([0.0]), np.array([n * dwell])
        if source == "pixel-clock":
            return k * dwell, (k + 0.5) * dwell
        if source == "flyback":
            return empty, empty
        jumps = np.flatnonzero(np.diff(order) != 1) + 1  # beam-blank-between-visits
        return jumps * dwell, jumps * dwell
    period = (w + frame.flyback_px) * dwell
    rows = np.arange(h) * period
    if source == "frame-active":
        return np.array([0.0]), np.array([(h - 1) * period + w * dwell])
    if source == "line-active":
        return rows, rows + w * dwell
    if source == "pixel-clock":
        starts = (rows[:, None] + np.arange(w)[None, :] * dwell).ravel()
        return starts, starts + 0.5 * dwell
    if frame.flyback_px == 0:  # flyback, beam-blank-between-visits
        return empty, empty
    return rows + w * dwell, rows + period


def edge_timeline(line: OutputLine, frame: ScanFrame, order: np.ndarray | None = None) -> LineEdges:
    """Rising and falling edges of ``line`` over one frame (see the module docstring)."""
    active_high = line.polarity == "high"
    if line.source in ("off", "high", "low"):
        if line.source == "off":
            return LineEdges(np.zeros(0), np.zeros(0), False)
        level = line.source == "high"
        return LineEdges(np.zeros(0), np.zeros(0), level if active_high else not level)
    starts, ends = source_intervals(line.source, frame, order)
    if line.width_us > 0:
        ends = starts + line.width_us * 1e-6
    keep = ends > starts
    starts, ends = starts[keep] + line.delay_us * 1e-6, ends[keep] + line.delay_us * 1e-6
    if starts.size > 1:  # merge pulses that overlap or touch (a one-shot longer than the period)
        merged = np.concatenate([[True], starts[1:] > np.maximum.accumulate(ends)[:-1] + 1e-15])
        ends = np.maximum.reduceat(ends, np.flatnonzero(merged))
        starts = starts[merged]
    if active_high:
        return LineEdges(starts, ends, False)
    return LineEdges(ends, starts, True)


def default_lines(n_outputs: int) -> tuple[OutputLine, ...]:
    return tuple(OutputLine(i) for i in range(1, n_outputs + 1))
