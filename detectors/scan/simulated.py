"""The simulated scan generator: the shared world imaged through the scan-generator interface.

This is the one place where scan positions meet the world's detector signals (the Swift scan
device and the TCP simulator server both use it).
"""
from __future__ import annotations

import typing

import numpy as np

from detectors.interfaces import ScanFrame
from detectors.scan.base import GeneratorSettings
from detectors.scan.generator import BlockData, FrameData, Visits, visit_sequence
from detectors.scan.outputs import OutputLine
from detectors.simulation.world import SimulatedWorld


class ProbeShiftLike(typing.Protocol):
    def get_shift_nm(self) -> tuple[float, float]: ...


def world_signals(world: SimulatedWorld, names: typing.Iterable[str], visits: Visits,
                  shift_nm: tuple[float, float], dwell_s: float) -> dict[str, np.ndarray]:
    """Detector counts (float32) of each channel at the visits (commanded positions + shift).
    Call with ``world.lock`` held so the noise draws are in a fixed order."""
    y = visits.y_nm + shift_nm[0]
    x = visits.x_nm + shift_nm[1]
    signal = {"HAADF": world.haadf_counts, "ADF": world.adf_counts}
    return {name: np.asarray(signal[name](y, x, visits.t_s, dwell_s), np.float32) for name in names}


class SimulatedScanGenerator(GeneratorSettings):
    """Scan generator on the simulated world.

    Parameters
    ----------
    world : SimulatedWorld
        The shared world (its ``beam`` is where the probe parks; its clock times the visits).
    probe_shift : object with ``get_shift_nm()``, optional
        The column's probe shift, added to every commanded position (as on the microscope).
    n_outputs : int
        Number of TTL outputs.

    Notes
    -----
    A free-running frame lets its duration pass on a *virtual* clock (scaled clocks run on their
    own; the caller paces in wall time). A block of a synchronized scan takes no time here: the
    external clock (the camera) lets the exposure pass.
    """

    def __init__(self, world: SimulatedWorld, probe_shift: ProbeShiftLike | None = None,
                 n_outputs: int = 4, frame: ScanFrame | None = None) -> None:
        super().__init__(n_outputs, frame)
        self.world = world
        self.probe_shift = probe_shift
        self.frames_acquired = 0

    def _shift(self) -> tuple[float, float]:
        return self.probe_shift.get_shift_nm() if self.probe_shift is not None else (0.0, 0.0)

    def configure(self, frame: ScanFrame) -> None:
        self._store(frame=self._check_frame(frame))

    def set_channels(self, names: typing.Sequence[str]) -> None:
        self._store(channels=self._check_channels(names))

    def set_pixel_order(self, order: typing.Sequence[int] | np.ndarray | None) -> None:
        self._store(order=self._check_order(order))

    def set_output_line(self, line: OutputLine) -> None:
        self._store(line=self._check_line(line))

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        y, x = float(y_nm), float(x_nm)
        if not (np.isfinite(y) and np.isfinite(x)):
            raise ValueError(f"probe position ({y_nm!r}, {x_nm!r}) nm is not finite")
        dy, dx = self._shift()
        self.world.beam.probe_y_nm, self.world.beam.probe_x_nm = y + dy, x + dx

    def probe_position_nm(self) -> tuple[float, float]:
        dy, dx = self._shift()
        return self.world.beam.probe_y_nm - dy, self.world.beam.probe_x_nm - dx

    def park(self) -> None:
        self.set_probe_position_nm(*self._frame.center_nm)

    def acquire_frame(self) -> FrameData:
        frame, order, names = self._frame, self._order, self._channels
        world = self.world
        with world.lock:
            t0 = world.clock.now_s()
            visits = visit_sequence(frame, order, t0)
            values = world_signals(world, names, visits, self._shift(), frame.dwell_s)
            if world.clock.is_virtual:
                duration = frame.frame_time_s if order is None else order.size * frame.dwell_s
                world.clock.advance(duration)
        images = {}
        for name, v in values.items():
            image = np.zeros(frame.size_px[0] * frame.size_px[1], np.float32)
            image[visits.order] = v
            images[name] = image.reshape(frame.size_px)
        self.frames_acquired += 1
        return FrameData(frame, t0, images, visits)

    def acquire_block(self, start: int, count: int) -> BlockData:
        frame = self._frame
        world = self.world
        with world.lock:
            t0 = world.clock.now_s()
            visits = visit_sequence(frame, self._order, t0, start, count, flyback=False)
            values = world_signals(world, self._channels, visits, self._shift(), frame.dwell_s)
        return BlockData(start, t0, values, visits)

    def close(self) -> None:
        pass
