"""Lumière's scan device for Swift (``scan_module``): device_kit's pacing, buffering and
synchronization over our scan geometry (:func:`scan_frame_from_nion`) and the instrument's scan
generator (:mod:`detectors.scan`: the simulated world, or a scan unit over our TCP protocol)."""
from __future__ import annotations

import dataclasses
import logging
import math
import threading
import typing

import numpy as np
from nion.device_kit import ScanDevice
from nion.instrumentation import scan_base
from nion.utils import Geometry

from detectors.instrument import Instrument
from detectors.interfaces import ScanFrame
from detectors.scan import BlockData, LineEdges, OutputLine, ScanGenerator, Visits
from nionswift_plugin.lumiere.stem_device import INSTRUMENT_ID, LumiereInstrument

SCAN_DEVICE_ID = "lumiere_scan"

log = logging.getLogger(__name__)


def scan_frame_from_nion(fp: scan_base.ScanFrameParameters) -> ScanFrame:
    """Our :class:`ScanFrame` for Nion scan frame parameters, subscan and rotation included.

    The scanned pixel grid is ``subscan_pixel_size`` (if any) else ``pixel_size``; its pixel size
    is ``fov_nm / max(context size)``; the subscan's fractional centre is rotated with the frame.
    """
    size = Geometry.IntSize.make(fp.pixel_size)
    context_pixel_nm = fp.fov_nm / max(size.height, size.width)
    center_y, center_x = fp.center_nm[0], fp.center_nm[1]
    rotation = fp.rotation_rad
    scanned = size
    if fp.subscan_pixel_size and fp.subscan_fractional_size and fp.subscan_fractional_center:
        sub_size = Geometry.FloatSize.make(fp.subscan_fractional_size)
        sub_center = Geometry.FloatPoint.make(fp.subscan_fractional_center)
        scanned = Geometry.IntSize.make(fp.subscan_pixel_size)
        v = (sub_center.y - 0.5) * size.height * context_pixel_nm
        u = (sub_center.x - 0.5) * size.width * context_pixel_nm
        context = ScanFrame((size.height, size.width), fp.fov_nm, (center_y, center_x), rotation)
        center_y, center_x = (float(c) for c in context.to_microscope_nm(v, u))
        fov_sub = max(sub_size.height * size.height, sub_size.width * size.width) * context_pixel_nm
        rotation -= fp.subscan_rotation or 0.0
        return ScanFrame((scanned.height, scanned.width), fov_sub, (center_y, center_x), rotation,
                         dwell_s=max(fp.pixel_time_us, 0.01) * 1e-6)
    return ScanFrame((scanned.height, scanned.width), fp.fov_nm, (center_y, center_x), rotation,
                     dwell_s=max(fp.pixel_time_us, 0.01) * 1e-6)


class WorldScanBox:
    """``ScanDevice.ScanSimulatorLike``: device_kit's pixel counter (the images come from the scan
    generator through :meth:`LumiereScanDevice.get_scan_data`).

    In free-running scans the device advances the counter from the wall clock. In synchronized
    scans the camera sets it to the number of leading pixels that are final (:class:`SyncScan`);
    device_kit copies pixels ``[…, current_pixel_flat + 1)``, so in that mode the counter reads one
    less than the final count (a pixel is never copied before its signal is in).
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.scan_shape_pixels = Geometry.IntSize()
        self.pixel_size_nm = Geometry.FloatSize()
        self.external_clock = False
        self.device: "LumiereScanDevice | None" = None
        self._lock = threading.RLock()
        self._pixel = 0
        self._blanker = threading.Condition()

    @property
    def probe_position_pixels(self) -> Geometry.IntPoint:
        w = self.scan_shape_pixels.width or 1
        return Geometry.IntPoint(y=self._pixel // w, x=self._pixel % w)

    @property
    def blanker_signal_condition(self) -> threading.Condition:
        return self._blanker

    @property
    def current_pixel_flat(self) -> int:
        return self._pixel - 1 if self.external_clock else self._pixel

    def reset_frame(self) -> None:
        with self._lock:
            self._pixel = 0

    def _advance_pixel(self, n: int) -> None:
        self.set_pixels_done(self._pixel + n)

    def set_pixels_done(self, n: int) -> None:
        """The first ``n`` pixels of the frame are final (notifies the line blanker condition)."""
        with self._lock:
            w = self.scan_shape_pixels.width or 1
            line_before = self._pixel // w
            self._pixel = max(self._pixel, int(n))
            if self._pixel // w > line_before:
                with self._blanker:
                    self._blanker.notify_all()

    def advance_pixel(self) -> None:
        """device_kit's frame-by-frame synchronized path: one visit per camera frame."""
        if self.external_clock and self.device is not None:
            sync = self.device.sync_scan()
            if sync.done < sync.n_visits:  # the camera may count more frames than there are visits
                self.device.synchronized_block(1, sync.frame.dwell_s)
            self.set_pixels_done(sync.valid_count())

    def generate_scan_data(self, instrument: typing.Any, scan_frame_parameters: ScanDevice.ScanFrameParameters) -> np.ndarray:
        raise NotImplementedError("LumiereScanDevice.get_scan_data images through the scan generator")


class SyncScan:
    """One synchronized (externally clocked) frame: the camera steps the scan generator block-wise
    through the frame's visits (raster, or the device's pixel order); the channels' signals are
    written into the images device_kit reads (0 at unvisited pixels).

    ``valid_count()`` is the number of leading pixels (row-major) that are final: every visit of a
    pixel below it is done. Swift copies results in that flat order, so this is what the camera
    and the scan report as progress.
    """

    def __init__(self, device: "LumiereScanDevice", frame_number: int, fp: scan_base.ScanFrameParameters) -> None:
        self.device = device
        self.frame_number = frame_number
        self.frame = dataclasses.replace(scan_frame_from_nion(fp), flyback_px=0)
        h, w = self.frame.size_px
        self.count = h * w
        self.order = device.usable_pixel_order(self.frame)
        self.n_visits = self.count if self.order is None else self.order.size
        # smallest flat index still to come after k visits: the valid prefix (monotonic)
        self._pending_min = (None if self.order is None else
                             np.minimum.accumulate(self.order[::-1])[::-1])
        self.images = {name: np.zeros((h, w), np.float32) for name in device.generator.channel_names}
        self.done = 0
        self.visits: list[Visits] = []
        self._lock = threading.Lock()
        self._configured_dwell: float | None = None

    def valid_count(self) -> int:
        if self.done >= self.n_visits:
            return self.count
        if self._pending_min is None:
            return self.done
        return int(self._pending_min[self.done])

    def block(self, n: int, dwell_s: float) -> BlockData:
        """Step the next ``n`` visits (``dwell_s`` each, the camera's exposure) and store the
        channels' signals at their pixels."""
        with self._lock:
            generator = self.device.generator
            n = min(n, self.n_visits - self.done)
            if self._configured_dwell != dwell_s:
                generator.set_pixel_order(None)
                generator.configure(dataclasses.replace(self.frame, dwell_s=dwell_s))
                generator.set_pixel_order(self.order)
                generator.set_channels(list(self.images))
                self._configured_dwell = dwell_s
            data = generator.acquire_block(self.done, n)
            for name, values in data.values.items():
                self.images[name].ravel()[data.visits.order] = values
            self.done += n
            self.visits.append(data.visits)
            return data

    def pixel_visits(self) -> "PixelVisits":
        """The visits so far (positions include the probe shift, as where the beam was)."""
        dy, dx = self.device.lumiere.probe_shift.get_shift_nm()
        return PixelVisits(*(np.concatenate([getattr(v, f) for v in self.visits] or [np.zeros(0)])
                             for f in ("order", "y_nm", "x_nm", "t_s")))._shifted(dy, dx)


class LumiereScanDevice(ScanDevice.Device):
    """Scan device over the instrument's scan generator: device_kit's pacing, buffering and
    synchronization, our geometry (:func:`scan_frame_from_nion`: subscan, line scan, rotation; the
    probe shift is the column's) and signals.

    Channels: 0 ``HAADF`` and 1 ``ADF`` (a lower-angle ring: more signal, weaker Z-contrast), each
    switched with Swift's channel check boxes; one generator frame serves all enabled channels.

    Flyback: in free-running scans every line starts ``flyback_time_us`` (frame parameter, default
    30 µs) after the previous one ended, so pixel times (and drift) include the flyback; the data
    hold no flyback columns. Synchronized scans have no flyback pixels (the camera paces the scan
    block-wise, :class:`SyncScan`).

    Arbitrary pixel order (the sparse/random scan hook): :meth:`set_pixel_order` takes flat pixel
    indices (row-major in the scanned grid: the subscan if any) and makes every following frame —
    free-running or synchronized with a camera — visit exactly those pixels, in that order, one
    dwell each; the others stay 0 (never illuminated). :attr:`last_visits` holds the order,
    positions (nm, microscope frame, probe shift included) and times of the last frame's visits.
    ``set_pixel_order(None)`` returns to raster.

    Output lines (laser gate, fast blanker): :attr:`output_lines` (list of dicts, see
    :class:`detectors.scan.OutputLine`); a frame parameter ``output_lines`` of the same form is
    applied when a frame starts. :meth:`output_timeline` gives their edges over one frame.
    """

    def __init__(self, device_id: str, device_name: str, instrument: LumiereInstrument,
                 scan_box: "WorldScanBox") -> None:
        super().__init__(device_id, device_name, instrument, scan_box)
        # device_kit keeps its channel list private (HAADF, MAADF, X1, X2): ours are HAADF and ADF
        self._Device__channels = [ScanDevice.Channel(0, "HAADF", True), ScanDevice.Channel(1, "ADF", False)]
        self.lumiere = instrument.lumiere
        lumiere = instrument.lumiere
        if lumiere.scan_generator is None:
            raise ValueError("the Lumière scan device needs the instrument's scan generator (build_instrument makes one)")
        self.generator: ScanGenerator = lumiere.scan_generator
        scan_box.device = self
        self.pixel_order: np.ndarray | None = None
        self._last_visits: PixelVisits | SyncScan | None = None
        self._sync: SyncScan | None = None
        self._sync_lock = threading.Lock()
        self._frame_cache: tuple[typing.Any, dict[str, np.ndarray]] | None = None

    # -- pixel order and output lines -----------------------------------------------------------
    def set_pixel_order(self, flat_indices: typing.Sequence[int] | np.ndarray | None) -> None:
        """Visit these flat pixel indices, in this order, in every following frame (None: raster).

        Raises ValueError for negative or repeated indices; indices beyond the frame's pixel
        count are refused when a frame starts (logged, the frame is then scanned in raster).
        """
        if flat_indices is None:
            self.pixel_order = None
            return
        order = np.asarray(flat_indices, dtype=np.int64).ravel()
        if order.size == 0 or (order < 0).any() or np.unique(order).size != order.size:
            raise ValueError("a pixel order needs distinct flat indices ≥ 0")
        self.pixel_order = order

    @property
    def last_visits(self) -> PixelVisits | None:
        """Order, positions (nm, probe shift included) and times of the last pixel-order frame's
        visits (a synchronized one: those done so far)."""
        last = self._last_visits
        return last.pixel_visits() if isinstance(last, SyncScan) else last

    def usable_pixel_order(self, frame: ScanFrame) -> np.ndarray | None:
        order = self.pixel_order
        n = frame.size_px[0] * frame.size_px[1]
        if order is not None and order.max() >= n:
            log.error("pixel order refused: index %d beyond the %d pixels of the frame; raster scan",
                      int(order.max()), n)
            return None
        return order

    @property
    def output_lines(self) -> list[dict[str, typing.Any]]:
        """The generator's TTL outputs as dicts (index, source, polarity, delay_us, width_us)."""
        return [line.to_dict() for line in self.generator.output_lines()]

    @output_lines.setter
    def output_lines(self, lines: typing.Sequence[typing.Mapping[str, typing.Any]]) -> None:
        self._apply_output_lines(lines)

    def _apply_output_lines(self, lines: typing.Sequence[typing.Mapping[str, typing.Any]]) -> None:
        parsed = [OutputLine.from_dict(d) for d in lines]  # all parsed before any is set
        for line in parsed:
            self.generator.set_output_line(line)

    def output_timeline(self) -> dict[int, LineEdges]:
        """Edges of every output over one frame of the generator's present configuration."""
        return self.generator.edge_timeline()

    # -- free-running frames ------------------------------------------------------------------------
    def _frame(self, frame_parameters: scan_base.ScanFrameParameters) -> ScanFrame:
        frame = scan_frame_from_nion(frame_parameters)
        return dataclasses.replace(frame, flyback_px=self.calculate_flyback_pixels(frame_parameters))

    def _acquire(self, frame_parameters: scan_base.ScanFrameParameters, names: list[str]) -> dict[str, np.ndarray]:
        frame = self._frame(frame_parameters)
        order = self.usable_pixel_order(frame)
        generator = self.generator
        generator.set_pixel_order(None)
        generator.configure(frame)
        lines = frame_parameters.get_parameter("output_lines", None)
        if lines:
            self._apply_output_lines(lines)
        generator.set_pixel_order(order)
        generator.set_channels(names)
        data = generator.acquire_frame()
        if order is not None:
            dy, dx = self.lumiere.probe_shift.get_shift_nm()
            v = data.visits
            self._last_visits = PixelVisits(v.order.copy(), v.y_nm, v.x_nm, v.t_s)._shifted(dy, dx)
        return dict(data.images)

    def get_scan_data(self, frame_parameters: scan_base.ScanFrameParameters,
                      channel: typing.Union[int, ScanDevice.Channel]) -> np.ndarray:
        name = channel.name if isinstance(channel, ScanDevice.Channel) else self.get_channel_name(channel)
        if frame_parameters.get_parameter("external_clock_mode", 0):
            sync = self.sync_scan()
            return sync.images[name]
        # device_kit asks channel by channel with the same parameters: one generator frame for all
        cache = self._frame_cache
        if cache is None or cache[0] is not frame_parameters or name not in cache[1]:
            names = [self.get_channel_name(i) for i, on in enumerate(self.channels_enabled) if on]
            cache = (frame_parameters, self._acquire(frame_parameters, names if name in names else [name]))
        image = cache[1].pop(name)
        self._frame_cache = cache
        return image

    # -- synchronized frames ------------------------------------------------------------------------
    def sync_scan(self) -> SyncScan:
        """The synchronized frame in progress (created by whichever of scan and camera asks first
        for device_kit's present frame)."""
        with self._sync_lock:
            frame_number = self._Device__frame_number
            if self._sync is None or self._sync.frame_number != frame_number:
                current = self._Device__frame
                fp = current.frame_parameters if current is not None else self.current_frame_parameters
                self._sync = SyncScan(self, frame_number, fp)
            return self._sync

    def synchronized_block(self, n: int, exposure_s: float) -> BlockData:
        """Next ``n`` visits of the synchronized frame, one camera exposure each (called by the
        camera; device_kit's pixel counter follows the final prefix)."""
        sync = self.sync_scan()
        data = sync.block(n, exposure_s)
        if sync.order is not None:
            self._last_visits = sync
        return data

    def calculate_flyback_pixels(self, frame_parameters: scan_base.ScanFrameParameters) -> int:
        if frame_parameters.get_parameter("external_clock_mode", 0):
            return 0
        flyback_us = float(frame_parameters.get_parameter("flyback_time_us", 30.0))
        return int(math.ceil(flyback_us / max(frame_parameters.pixel_time_us, 0.01)))

    def calculate_max_field_of_view(self, frame_parameters: scan_base.ScanFrameParameters) -> float:
        return float(self.lumiere.config["scan"]["max_fov_nm"])


@dataclasses.dataclass(frozen=True)
class PixelVisits:
    """The visits of a frame scanned in an arbitrary order: flat indices, nm, simulated s."""

    order: np.ndarray
    y_nm: np.ndarray
    x_nm: np.ndarray
    t_s: np.ndarray

    def _shifted(self, dy_nm: float, dx_nm: float) -> "PixelVisits":
        return dataclasses.replace(self, order=self.order.astype(np.int64), y_nm=self.y_nm + dy_nm,
                                   x_nm=self.x_nm + dx_nm)


class LumiereScanModule(scan_base.ScanModule):
    def __init__(self, instrument: LumiereInstrument) -> None:
        self.stem_controller_id = INSTRUMENT_ID
        self.scan_box = WorldScanBox(instrument.lumiere)
        backend = instrument.lumiere.config["scan"]["backend"]
        name = "Lumière Scan (simulated)" if backend == "simulated" else f"Lumière Scan ({backend})"
        self.device = LumiereScanDevice(SCAN_DEVICE_ID, name, instrument, self.scan_box)
        setattr(self.device, "priority", 20)
        fp = ScanDevice.ScanFrameParameters
        modes = (
            scan_base.ScanSettingsMode("Fast", "fast", fp(pixel_size=(256, 256), pixel_time_us=2, fov_nm=512.0)),
            scan_base.ScanSettingsMode("Slow", "slow", fp(pixel_size=(512, 512), pixel_time_us=4, fov_nm=512.0)),
            scan_base.ScanSettingsMode("Record", "record", fp(pixel_size=(1024, 1024), pixel_time_us=4, fov_nm=512.0)),
        )
        self.settings = scan_base.ScanSettings(SCAN_DEVICE_ID, modes, lambda d: ScanDevice.ScanFrameParameters(d), 0, 2)
