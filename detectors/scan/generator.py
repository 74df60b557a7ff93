"""The scan-generator interface: what Lumière needs from a scan unit, whatever drives it.

A scan generator steps the probe over a :class:`~detectors.interfaces.ScanFrame` (subscan, line
scan and rotation are expressed by the frame itself: its size, centre, field of view and
rotation), reads its detector channels (``HAADF``, ``ADF``) at every dwell, parks the probe between
scans and drives TTL output lines (:mod:`detectors.scan.outputs`).

Visit sequence
--------------
Without a pixel order a frame is visited in raster order (row by row, each row followed by
``flyback_px`` dwells of flyback). With a pixel order (flat row-major indices of distinct pixels) a
frame visits exactly those pixels, in that order, one dwell each, back to back (no flyback);
unvisited pixels read 0. Visit ``k`` of a frame is the ``k``-th element of this sequence.

Free-running frames (:meth:`ScanGenerator.acquire_frame`) follow the generator's own pixel clock.
Synchronized acquisitions use :meth:`ScanGenerator.acquire_block`: the external clock (a camera)
steps ``count`` visits of the sequence from visit ``start``, one ``dwell_s`` each, no flyback.

Positions in :class:`Visits` are the generator's *commanded* positions (microscope frame, nm);
a beam/probe shift applied by the column (drift correction) comes on top and is not included.
"""
from __future__ import annotations

import dataclasses
import typing

import numpy as np

from detectors.common.errors import InstrumentError
from detectors.interfaces import ScanFrame
from detectors.scan.outputs import LineEdges, OutputLine

CHANNELS = ("HAADF", "ADF")


class ScanGeneratorError(InstrumentError):
    """The scan unit refused a command (the message holds its reason)."""

    device_kind = "scan generator"


@dataclasses.dataclass(frozen=True)
class Visits:
    """Visits of a scan: flat pixel indices (row-major, in visit order), commanded positions (nm)
    and mid-dwell times (s, the generator's clock)."""

    order: np.ndarray
    y_nm: np.ndarray
    x_nm: np.ndarray
    t_s: np.ndarray


@dataclasses.dataclass(frozen=True)
class FrameData:
    """One free-running frame: ``images[name]`` (h, w) float32 counts, 0 at unvisited pixels."""

    frame: ScanFrame
    t0_s: float
    images: dict[str, np.ndarray]
    visits: Visits


@dataclasses.dataclass(frozen=True)
class BlockData:
    """Visits ``start … start + count − 1`` of a synchronized scan: ``values[name]`` (count,)."""

    start: int
    t0_s: float
    values: dict[str, np.ndarray]
    visits: Visits


@typing.runtime_checkable
class ScanGenerator(typing.Protocol):
    """A scan unit with detector channels and TTL outputs (see the module docstring)."""

    channel_names: tuple[str, ...]
    n_outputs: int

    def configure(self, frame: ScanFrame) -> None:
        """Set the frame of the following scans (refused if a pixel order set earlier does not fit)."""

    @property
    def frame(self) -> ScanFrame: ...

    def set_channels(self, names: typing.Sequence[str]) -> None:
        """Enable these channels (a non-empty subset of :attr:`channel_names`)."""

    def channels(self) -> tuple[str, ...]: ...

    def set_pixel_order(self, order: typing.Sequence[int] | np.ndarray | None) -> None:
        """Visit these flat indices, in this order (None: raster). ValueError if they do not fit."""

    def pixel_order(self) -> np.ndarray | None: ...

    def set_output_line(self, line: OutputLine) -> None:
        """Configure one output (validated; ValueError names the bad value)."""

    def output_lines(self) -> tuple[OutputLine, ...]: ...

    def edge_timeline(self) -> dict[int, LineEdges]:
        """Edges of every output over one frame of the present configuration, by output index."""

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        """Move the probe to a commanded position (nm) and leave it there (spot mode)."""

    def probe_position_nm(self) -> tuple[float, float]: ...

    def park(self) -> None:
        """Park the probe at the frame centre (where it waits between scans)."""

    def acquire_frame(self) -> FrameData:
        """Scan one frame on the generator's own clock."""

    def acquire_block(self, start: int, count: int) -> BlockData:
        """Step visits ``start … start+count−1`` on an external clock (synchronized acquisition)."""

    def close(self) -> None: ...


def visit_sequence(frame: ScanFrame, order: np.ndarray | None, t0_s: float,
                   start: int = 0, count: int | None = None, *, flyback: bool = True) -> Visits:
    """The visits ``start … start+count−1`` of a frame starting at ``t0_s`` (commanded positions).

    Raster visits include the flyback in their times when ``flyback`` is true (free-running); a
    block of an externally clocked scan is timed from ``t0_s`` with one dwell per visit.
    """
    h, w = frame.size_px
    n = h * w if order is None else order.size
    count = n - start if count is None else count
    if start < 0 or count < 1 or start + count > n:
        raise ValueError(f"visits {start}…{start + count - 1} outside the {n} visits of the frame")
    flat = np.arange(start, start + count) if order is None else order[start:start + count]
    y, x = frame.positions_nm()
    if order is None and flyback:
        t = frame.pixel_times_s(t0_s).ravel()[flat]
    else:
        t = t0_s + (np.arange(count) + (start if flyback else 0) + 0.5) * frame.dwell_s
    return Visits(flat.astype(np.int64), y.ravel()[flat], x.ravel()[flat], t)


def check_pixel_order(order: typing.Sequence[int] | np.ndarray, frame: ScanFrame) -> np.ndarray:
    """``order`` as int64 flat indices, or ValueError naming the bad index."""
    order = np.asarray(order).ravel()
    if order.size == 0 or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"a pixel order needs integer flat indices, got {order.size} of {order.dtype}")
    order = order.astype(np.int64)
    n = frame.size_px[0] * frame.size_px[1]
    bad = order[(order < 0) | (order >= n)]
    if bad.size:
        raise ValueError(f"pixel index {int(bad[0])} outside [0, {n}) of the {frame.size_px} frame")
    if np.unique(order).size != order.size:
        raise ValueError("a pixel order must not repeat a pixel")
    return order
