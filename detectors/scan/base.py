"""Settings shared by every scan generator: validated frame, channels, pixel order, outputs.

Both backends keep these on the host side: the simulated generator acts on them, the TCP driver
validates them *before* sending anything (so an error names the bad value and the unit is left as
it was) and uses them to compute visit positions/times and output timelines, which are pure
geometry (:func:`~detectors.scan.generator.visit_sequence`, :func:`~detectors.scan.outputs.edge_timeline`).
"""
from __future__ import annotations

import typing

import numpy as np

from detectors.interfaces import ScanFrame
from detectors.scan.generator import CHANNELS, check_pixel_order
from detectors.scan.outputs import LineEdges, OutputLine, default_lines, edge_timeline, validate_output_line


class GeneratorSettings:
    """Validated state of a scan generator (see :class:`~detectors.scan.generator.ScanGenerator`)."""

    channel_names: tuple[str, ...] = CHANNELS

    def __init__(self, n_outputs: int = 4, frame: ScanFrame | None = None) -> None:
        if not 1 <= n_outputs <= 16:
            raise ValueError(f"number of outputs {n_outputs} outside 1–16")
        self.n_outputs = n_outputs
        self._frame = frame or ScanFrame()
        self._channels: tuple[str, ...] = ("HAADF",)
        self._order: np.ndarray | None = None
        self._lines: dict[int, OutputLine] = {line.index: line for line in default_lines(n_outputs)}

    # -- validation (nothing changes if it fails) -------------------------------------------------
    def _check_frame(self, frame: ScanFrame) -> ScanFrame:
        if not isinstance(frame, ScanFrame):
            raise TypeError(f"expected a ScanFrame, got {type(frame).__name__}")
        if frame.flyback_px < 0:
            raise ValueError(f"flyback_px {frame.flyback_px} must be ≥ 0")
        if self._order is not None:
            check_pixel_order(self._order, frame)
        return frame

    def _check_channels(self, names: typing.Sequence[str]) -> tuple[str, ...]:
        names = tuple(names)
        unknown = [n for n in names if n not in self.channel_names]
        if not names or unknown or len(set(names)) != len(names):
            raise ValueError(f"channels {list(names)}: need distinct names among {list(self.channel_names)}")
        return names

    def _check_order(self, order: typing.Sequence[int] | np.ndarray | None) -> np.ndarray | None:
        if order is None:
            return None
        return check_pixel_order(order, self._frame)

    def _check_line(self, line: OutputLine) -> OutputLine:
        return validate_output_line(line, self.n_outputs)

    # -- state ------------------------------------------------------------------------------------
    @property
    def frame(self) -> ScanFrame:
        return self._frame

    def channels(self) -> tuple[str, ...]:
        return self._channels

    def pixel_order(self) -> np.ndarray | None:
        return None if self._order is None else self._order.copy()

    def output_lines(self) -> tuple[OutputLine, ...]:
        return tuple(self._lines[i] for i in sorted(self._lines))

    def n_visits(self) -> int:
        h, w = self._frame.size_px
        return h * w if self._order is None else self._order.size

    def edge_timeline(self) -> dict[int, LineEdges]:
        return {i: edge_timeline(line, self._frame, self._order) for i, line in sorted(self._lines.items())}

    def _store(self, *, frame: ScanFrame | None = None, channels: tuple[str, ...] | None = None,
               order: np.ndarray | None | bool = False, line: OutputLine | None = None) -> None:
        if frame is not None:
            self._frame = frame
        if channels is not None:
            self._channels = channels
        if order is not False:
            self._order = typing.cast("np.ndarray | None", order)
        if line is not None:
            self._lines[line.index] = line


def frame_fields(frame: ScanFrame) -> tuple:
    """The fields of a frame in wire order: h w fov_nm cy cx rotation_rad dwell_s flyback_px."""
    return (frame.size_px[0], frame.size_px[1], frame.fov_nm, frame.center_nm[0], frame.center_nm[1],
            frame.rotation_rad, frame.dwell_s, frame.flyback_px)


def frame_from_fields(fields: typing.Sequence[str]) -> ScanFrame:
    """Parse the wire fields of :func:`frame_fields` (ValueError if they do not parse)."""
    if len(fields) != 8:
        raise ValueError(f"a frame has 8 fields, got {len(fields)}")
    h, w, fov, cy, cx, rot, dwell, fb = fields
    return ScanFrame((int(h), int(w)), float(fov), (float(cy), float(cx)), float(rot), float(dwell), int(fb))
