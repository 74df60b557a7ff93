"""The VG Lumière (simulated) as Swift's ``stem_controller``, and its scan device.

Built on nionswift-instrumentation's ``nion.device_kit`` base classes: the instrument is an
``InstrumentDevice.Instrument`` whose named controls (``GetVal``/``SetVal``) read and write the
shared simulated world; the scan is a ``ScanDevice.Device`` driven by :class:`WorldScanBox`, which
images the world's specimen (with its drift) at the scan's geometry.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import threading
import typing

import numpy as np
from nion.device_kit import InstrumentDevice, ScanDevice
from nion.instrumentation import scan_base, stem_controller
from nion.utils import Geometry

from detectors.instrument import Instrument
from detectors.interfaces import ScanFrame

INSTRUMENT_ID = "lumiere_stem_controller"
SCAN_DEVICE_ID = "lumiere_scan"


log = logging.getLogger(__name__)


class Control(typing.NamedTuple):
    get: typing.Callable[[], float]
    set: typing.Callable[[float], None] | None


#: Swift name → (VG column control, factor Swift unit → column unit). Swift's units are SI (V, A,
#: m, Pa, °C); the column speaks nm for the probe shift and stage and µm for the apertures.
VG_CONTROLS: dict[str, tuple[str, float]] = {
    "EHT": ("EHT", 1.0), "OL": ("OL", 1.0), "C1": ("C1", 1.0), "C2": ("C2", 1.0),
    "CSH.x": ("CSH.x", 1e9), "CSH.y": ("CSH.y", 1e9),
    "StageX": ("StageX", 1e9), "StageY": ("StageY", 1e9),
    "StageOutX": ("StageX", 1e9), "StageOutY": ("StageY", 1e9),
    "BeamBlanked": ("BeamBlanked", 1.0), "C_Blank": ("BeamBlanked", 1.0),
    "GunVacuum": ("GunVacuum", 1.0), "ColumnVacuum": ("ColumnVacuum", 1.0),
    "ObjectiveTemperature": ("ObjectiveTemperature", 1.0),
}


class VGValueManager:
    """Swift's named controls (``GetVal``/``SetVal``/``TryGetVal``) on the VG column and the world.

    Column controls go through the VG command layer (:class:`~detectors.vg_lumiere.VGColumn`, its
    drivers and interlocks): ``EHT`` (V; setting it pushes the per-HT lens and spectrometer
    settings), ``OL``/``C1``/``C2`` (A), ``CSH.x``/``CSH.y`` (m; the column's nm), ``StageX``/
    ``StageY`` (alias ``StageOutX``/``StageOutY``; m), ``OA.x``… (aperture motors; m), ``BeamBlanked``
    (alias ``C_Blank``; 0/1), read-only ``GunVacuum``/``ColumnVacuum`` (Pa) and
    ``ObjectiveTemperature`` (°C). The world's own: ``BeamCurrent`` (A), ``ZLPFWHM`` (eV),
    ``eels_x_scale``/``eels_x_offset`` (eV), ``eels_y_*``, ``LaserWavelength`` (nm), ``LaserPower`` (µW).

    A refused request (unknown name, read-only control, value out of range, interlock, silent
    device) makes ``SetVal`` return False and ``TryGetVal`` return (False, None); the reason is
    logged and kept in :attr:`last_error`. Interlock trips (from any request or the monitor) are
    logged and appended to :attr:`interlock_events`.
    """

    def __init__(self, instrument: Instrument) -> None:
        world = instrument.world
        assert world is not None, "the simulated stem_controller needs a simulated world"
        self.instrument = instrument
        self.last_error: str | None = None
        self.interlock_events: list[typing.Any] = []
        self._column_hooked = False
        self._lock = threading.Lock()
        beam, spec, laser = world.beam, world.spectrometer, world.laser

        def setter(obj: typing.Any, attr: str, scale: float = 1.0) -> typing.Callable[[float], None]:
            return lambda v: setattr(obj, attr, float(v) * scale)

        self.controls: dict[str, Control] = {
            "BeamCurrent": Control(lambda: beam.current_pA * 1e-12, setter(beam, "current_pA", 1e12)),
            "ZLPFWHM": Control(lambda: beam.zlp_fwhm_eV, setter(beam, "zlp_fwhm_eV")),
            "eels_x_scale": Control(lambda: spec.dispersion_eV_per_channel, setter(spec, "dispersion_eV_per_channel")),
            "eels_x_offset": Control(lambda: spec.energy_offset_eV, setter(spec, "energy_offset_eV")),
            "eels_y_scale": Control(lambda: 1.0, None),
            "eels_y_offset": Control(lambda: 0.0, None),
            "LaserWavelength": Control(lambda: laser.wavelength_nm, None),
            "LaserPower": Control(lambda: laser.power_uW, None),
        }

    # -- the column ------------------------------------------------------------------------
    @property
    def column(self) -> typing.Any:
        column = self.instrument.column
        with self._lock:
            if not self._column_hooked:
                column.on_interlock.append(self._on_interlock)
                self._column_hooked = True
        return column

    def _on_interlock(self, event: typing.Any) -> None:
        self.interlock_events.append(event)
        log.error("VG interlock %s: %s; %s", event.interlock, event.reason,
                  ", ".join(event.actions) or "no action")

    def vg_name(self, name: str) -> tuple[str, float] | None:
        """(column control, factor) for a Swift name, or None if the column does not have it."""
        if name in VG_CONTROLS:
            return VG_CONTROLS[name]
        if name.endswith((".x", ".y")) and name[:-2] in ("OA", "CA", "SA", "VOA"):
            return name, 1e6  # aperture motors: m ↔ µm (names from the column's config)
        return None

    def known_names(self) -> list[str]:
        return sorted(set(VG_CONTROLS) | set(self.controls))

    def _refuse(self, message: str) -> None:
        self.last_error = message
        log.warning("%s", message)

    def get_value(self, name: str) -> float | None:
        control = self.controls.get(name)
        if control is not None:
            return control.get()
        vg = self.vg_name(name)
        if vg is None:  # panels probe names freely: not worth a warning
            self.last_error = f"GetVal {name}: no control named {name!r}; known: {', '.join(self.known_names())}"
            log.debug("%s", self.last_error)
            return None
        try:
            return self.column.get(vg[0]) / vg[1]
        except Exception as e:  # noqa: BLE001 - every refusal of the column → (False, None), logged
            self._refuse(f"GetVal {name}: {type(e).__name__}: {e}")
            return None

    def set_value(self, name: str, value: float) -> bool:
        control = self.controls.get(name)
        if control is not None:
            if control.set is None:
                self._refuse(f"SetVal {name}: read-only control")
                return False
            control.set(value)
            return True
        vg = self.vg_name(name)
        if vg is None:
            self._refuse(f"SetVal {name}: no control named {name!r}; known: {', '.join(self.known_names())}")
            return False
        try:
            self.column.set(vg[0], float(value) * vg[1])
        except Exception as e:  # noqa: BLE001 - range, read-only, interlock, device errors → False
            self._refuse(f"SetVal {name} = {value!r}: {type(e).__name__}: {e}")
            return False
        return True

    def inform_value(self, name: str, value: float) -> bool:
        return self.set_value(name, value)

    def get_value_2d(self, s: str, default_value: Geometry.FloatPoint | None = None, *,
                     axis: stem_controller.AxisType | None = None) -> Geometry.FloatPoint:
        y, x = self.get_value(f"{s}.y"), self.get_value(f"{s}.x")
        if y is None or x is None:
            if default_value is None:
                raise KeyError(f"no 2-D control named {s!r}; known: CSH")
            return default_value
        return Geometry.FloatPoint(y=y, x=x)

    def set_value_2d(self, s: str, value: Geometry.FloatPoint, *, axis: stem_controller.AxisType | None = None) -> bool:
        return self.set_value(f"{s}.y", value.y) and self.set_value(f"{s}.x", value.x)

    def inform_control_2d(self, s: str, value: Geometry.FloatPoint, *, axis: stem_controller.AxisType) -> bool:
        return self.set_value_2d(s, value)

    def get_reference_setting_index(self, settings_control: str) -> int:
        return 0


@dataclasses.dataclass(frozen=True)
class AxisDescription:
    """An ``stem_controller.AxisDescription`` (a Protocol upstream, so it needs a concrete class)."""

    axis_id: str
    axis_name_0: str
    axis_name_1: str
    display_name: str
    axis_name: str

    @property
    def axis_type(self) -> tuple[str, str]:
        return self.axis_name_0, self.axis_name_1


class AxisManager:
    """One native axis: the scan axis (u, v) coincides with the microscope frame here."""

    _AXES = (AxisDescription("scan", "u", "v", "Scan (u, v)", "Scan"),)

    @property
    def supported_axis_descriptions(self) -> typing.Sequence[stem_controller.AxisDescription]:
        return list(self._AXES)

    def axis_transform_point(self, point: Geometry.FloatPoint, from_axis: stem_controller.AxisDescription,
                             to_axis: stem_controller.AxisDescription) -> Geometry.FloatPoint:
        return point


class LumiereInstrument(InstrumentDevice.Instrument):
    """Swift's ``stem_controller`` for the (simulated) VG Lumière."""

    def __init__(self, instrument: Instrument) -> None:
        self.vg_values = VGValueManager(instrument)
        super().__init__(INSTRUMENT_ID, self.vg_values, AxisManager())
        self.lumiere = instrument
        self.world = instrument.world
        self.monitor_error: Exception | None = None
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()

    @property
    def last_error(self) -> str | None:
        """Why the last refused ``GetVal``/``SetVal`` was refused."""
        return self.vg_values.last_error

    @property
    def interlock_events(self) -> list[typing.Any]:
        """Every VG interlock trip seen (``InterlockEvent``: interlock, reason, actions, time)."""
        return self.vg_values.interlock_events

    def poll_interlocks(self) -> list[typing.Any]:
        """Read the gauges and the objective temperature now; new trips are logged and stored."""
        return self.vg_values.column.poll()

    def start_interlock_monitor(self, interval_s: float = 1.0) -> None:
        """Poll the interlocks every ``interval_s`` from a daemon thread (the plug-in does this at
        start-up); stops when the instrument is closed. New trips are logged and stored; a device
        error while polling (a silent gauge) is logged as a warning and kept in
        :attr:`monitor_error`, and the polling goes on."""
        if self._monitor is not None:
            return
        self.vg_values.column  # connect now (and hook the interlock callback)
        stop = self._monitor_stop

        def run() -> None:
            while not stop.wait(interval_s):
                if not self.lumiere.column_connected:
                    return  # the instrument was closed
                try:
                    self.lumiere.column.poll()
                    self.monitor_error = None
                except Exception as e:  # noqa: BLE001 - a monitor must outlive any one failed read
                    if self.lumiere._closed:
                        return
                    if str(e) != str(self.monitor_error):
                        log.warning("VG interlock monitor: %s: %s", type(e).__name__, e)
                    self.monitor_error = e

        self._monitor = threading.Thread(target=run, name="Lumière VG interlock monitor", daemon=True)
        self._monitor.start()

    def stop_interlock_monitor(self) -> None:
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5.0)
            self._monitor = None

    @property
    def interlock_status(self) -> str:
        """"OK" or the latched interlocks with their reasons."""
        if not self.lumiere.column_connected:
            return "OK"
        latched = self.lumiere.column.latched
        return "; ".join(f"{e.interlock}: {e.reason}" for e in latched.values()) or "OK"

    def _set_scan_context_probe_position(self, scan_context: stem_controller.ScanContext,
                                         probe_position: Geometry.FloatPoint | None) -> None:
        """Park the simulated probe where Swift's probe graphic is (fractional position in the
        scan context → microscope nm, rotation and the probe shift (``CSH``) included)."""
        super()._set_scan_context_probe_position(scan_context, probe_position)
        if probe_position is None or scan_context is None or not scan_context.size or scan_context.fov_nm is None:
            return
        size = Geometry.IntSize.make(scan_context.size)
        center = Geometry.FloatPoint.make(scan_context.center_nm or (0.0, 0.0))
        frame = ScanFrame((size.height, size.width), float(scan_context.fov_nm), (center.y, center.x),
                          float(scan_context.rotation_rad or 0.0))
        frame = self.lumiere.probe_shift.apply(frame)
        h, w = frame.size_px
        v = (probe_position.y - 0.5) * h * frame.pixel_size_nm
        u = (probe_position.x - 0.5) * w * frame.pixel_size_nm
        y, x = frame.to_microscope_nm(v, u)
        self.world.beam.probe_y_nm, self.world.beam.probe_x_nm = float(y), float(x)

    def camera_sensor_dimensions(self, camera_type: str) -> typing.Tuple[int, int]:
        if camera_type == "cl":  # the CL CCD read in full vertical binning
            return 1, 1024
        return super().camera_sensor_dimensions(camera_type)

    def camera_readout_area(self, camera_type: str) -> typing.Tuple[int, int, int, int]:
        if camera_type == "cl":
            return 0, 0, 1, 1024
        return super().camera_readout_area(camera_type)

    def get_autostem_properties(self) -> typing.Mapping[str, typing.Any]:
        beam = self.world.beam
        return {"high_tension_v": beam.high_tension_V, "beam_current_pA": beam.current_pA,
                "zlp_fwhm_eV": beam.zlp_fwhm_eV, "laser_wavelength_nm": self.world.laser.wavelength_nm}


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
            yf, xf = y.ravel()[order], x.ravel()[order]
            times = t0 + (np.arange(order.size) + 0.5) * frame.dwell_s
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
