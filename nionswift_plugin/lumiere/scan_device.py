"""Lumière's scan device for Swift (``scan_module``): device_kit's pacing, buffering and
synchronization over our scan geometry (:func:`scan_frame_from_nion`) and the simulated world."""
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
    """``ScanDevice.ScanSimulatorLike`` over the simulated world.

    The pixel counter follows the device_kit protocol: in free-running scans the device advances
    it from the wall clock; in synchronized scans the camera advances it (external clock).
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.scan_shape_pixels = Geometry.IntSize()
        self.pixel_size_nm = Geometry.FloatSize()
        self.external_clock = False
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
        return self._pixel

    def reset_frame(self) -> None:
        with self._lock:
            self._pixel = 0

    def _advance_pixel(self, n: int) -> None:
        with self._lock:
            w = self.scan_shape_pixels.width or 1
            line_before = self._pixel // w
            self._pixel += n
            if self._pixel // w > line_before:
                with self._blanker:
                    self._blanker.notify_all()

    def advance_pixel(self) -> None:
        if self.external_clock:
            self._advance_pixel(1)

    def generate_scan_data(self, instrument: typing.Any, scan_frame_parameters: ScanDevice.ScanFrameParameters) -> np.ndarray:
        frame = scan_frame_from_nion(scan_frame_parameters)
        frame = self.instrument.probe_shift.apply(frame)
        world = self.instrument.world
        with world.lock:
            t0 = world.clock.now_s()
            y, x = frame.positions_nm()
            return world.haadf_counts(y, x, frame.pixel_times_s(t0), frame.dwell_s).astype(np.float32)


class LumiereScanDevice(ScanDevice.Device):
    """Scan device over the simulated world: device_kit's pacing, buffering and synchronization,
    our geometry (:func:`scan_frame_from_nion`: subscan, line scan, rotation, probe shift) and signals.

    Channels: 0 ``HAADF`` (``world.haadf_counts``) and 1 ``ADF`` (``world.adf_counts``, a lower-angle
    ring: more signal, weaker Z-contrast), each switched with Swift's channel check boxes.

    Flyback: in free-running scans every line starts ``flyback_time_us`` (frame parameter, default
    30 µs) after the previous one ended, so pixel times (and drift) include the flyback; the data
    hold no flyback columns. Synchronized scans have no flyback pixels (the camera paces the scan
    block-wise).

    Arbitrary pixel order (the sparse/random scan hook): :meth:`set_pixel_order` takes flat pixel
    indices (row-major in the scanned grid: the subscan if any) and makes every following frame
    visit exactly those pixels, in that order, one dwell each; the others stay 0 (never
    illuminated). :attr:`last_visits` holds the order, positions (nm, microscope frame) and
    simulated times of the last frame's visits. ``set_pixel_order(None)`` returns to raster.
    """

    def __init__(self, device_id: str, device_name: str, instrument: LumiereInstrument,
                 scan_box: "WorldScanBox") -> None:
        super().__init__(device_id, device_name, instrument, scan_box)
        # device_kit keeps its channel list private (HAADF, MAADF, X1, X2): ours are HAADF and ADF
        self._Device__channels = [ScanDevice.Channel(0, "HAADF", True), ScanDevice.Channel(1, "ADF", False)]
        self.lumiere = instrument.lumiere
        self.pixel_order: np.ndarray | None = None
        self.last_visits: PixelVisits | None = None

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

    def _frame(self, frame_parameters: scan_base.ScanFrameParameters) -> ScanFrame:
        frame = scan_frame_from_nion(frame_parameters)
        flyback = self.calculate_flyback_pixels(frame_parameters)
        frame = dataclasses.replace(frame, flyback_px=flyback)
        return self.lumiere.probe_shift.apply(frame)

    def get_scan_data(self, frame_parameters: scan_base.ScanFrameParameters,
                      channel: typing.Union[int, ScanDevice.Channel]) -> np.ndarray:
        name = channel.name if isinstance(channel, ScanDevice.Channel) else self.get_channel_name(channel)
        frame = self._frame(frame_parameters)
        world = self.lumiere.world
        signal = world.adf_counts if name == "ADF" else world.haadf_counts
        with world.lock:
            t0 = world.clock.now_s()
            y, x = frame.positions_nm()
            order = self.pixel_order
            if order is not None and order.max() >= y.size:
                log.error("pixel order refused: index %d beyond the %d pixels of the frame; raster scan",
                          int(order.max()), y.size)
                order = None
            if order is None:
                return signal(y, x, frame.pixel_times_s(t0), frame.dwell_s).astype(np.float32)
            yf, xf, times = frame.visits(order, t0)
            out = np.zeros(y.size, np.float32)
            out[order] = signal(yf, xf, times, frame.dwell_s)
            self.last_visits = PixelVisits(order.copy(), yf, xf, times)
            return out.reshape(y.shape)

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


class LumiereScanModule(scan_base.ScanModule):
    def __init__(self, instrument: LumiereInstrument) -> None:
        self.stem_controller_id = INSTRUMENT_ID
        self.scan_box = WorldScanBox(instrument.lumiere)
        self.device = LumiereScanDevice(SCAN_DEVICE_ID, "Lumière Scan (simulated)", instrument, self.scan_box)
        setattr(self.device, "priority", 20)
        fp = ScanDevice.ScanFrameParameters
        modes = (
            scan_base.ScanSettingsMode("Fast", "fast", fp(pixel_size=(256, 256), pixel_time_us=2, fov_nm=512.0)),
            scan_base.ScanSettingsMode("Slow", "slow", fp(pixel_size=(512, 512), pixel_time_us=4, fov_nm=512.0)),
            scan_base.ScanSettingsMode("Record", "record", fp(pixel_size=(1024, 1024), pixel_time_us=4, fov_nm=512.0)),
        )
        self.settings = scan_base.ScanSettings(SCAN_DEVICE_ID, modes, lambda d: ScanDevice.ScanFrameParameters(d), 0, 2)
