"""The VG Lumière (real or simulated) as Swift's ``stem_controller``.

Built on nionswift-instrumentation's ``nion.device_kit`` base classes: the instrument is an
``InstrumentDevice.Instrument`` whose named controls (``GetVal``/``SetVal``) go to the VG column,
the instrument's energy calibration and, when a simulated world exists, the simulated beam and
laser. The probe is parked through the scan generator. The scan device is in
:mod:`nionswift_plugin.lumiere.scan_device`.

Drift correction (the stock hooks of nionswift-instrumentation 23.x): ``drift_channel_id``,
``drift_region`` (fractions of the scan context), ``drift_rotation`` and ``drift_settings``
(``DriftCorrectionSettings``: interval and unit) are the upstream ``STEMController`` properties;
``drift_tracker`` is ours, a :class:`ProbeShiftDriftTracker`: the synchronized acquisitions scan
the drift region between sections and submit it to the tracker (upstream
``DriftCorrectionBehavior``); each measured drift moves the probe shift (``CSH``, through the VG
column, which keeps the scan's ``instrument.probe_shift`` equal), and the tracker predicts no
further ``center_nm`` shift, so the correction is applied once, by the probe shift, as in our
workflows. :func:`drift_correction_functor` builds the upstream functor from these settings.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import typing

from nion.device_kit import InstrumentDevice
from nion.instrumentation import DriftTracker, stem_controller
from nion.utils import Geometry

from detectors.instrument import Instrument
from detectors.interfaces import ScanFrame

INSTRUMENT_ID = "lumiere_stem_controller"


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
    """Swift's named controls (``GetVal``/``SetVal``/``TryGetVal``) on the VG column, the
    instrument's energy calibration and (simulated instruments only) the world.

    Column controls go through the VG command layer (:class:`~detectors.vg_lumiere.VGColumn`, its
    drivers and interlocks): ``EHT`` (V; setting it pushes the per-HT lens and spectrometer
    settings), ``OL``/``C1``/``C2`` (A), ``CSH.x``/``CSH.y`` (m; the column's nm), ``StageX``/
    ``StageY`` (alias ``StageOutX``/``StageOutY``; m), ``OA.x``… (aperture motors; m), ``BeamBlanked``
    (alias ``C_Blank``; 0/1), read-only ``GunVacuum``/``ColumnVacuum`` (Pa) and
    ``ObjectiveTemperature`` (°C). The instrument's energy calibration (what every EELS camera
    reads): ``eels_x_scale``/``eels_x_offset`` (eV), ``eels_y_*``. Only with a simulated world
    (absent on a real site): ``BeamCurrent`` (A), ``ZLPFWHM`` (eV), ``LaserWavelength`` (nm),
    ``LaserPower`` (µW).

    A refused request (unknown name, read-only control, value out of range, interlock, silent
    device) makes ``SetVal`` return False and ``TryGetVal`` return (False, None); the reason is
    logged and kept in :attr:`last_error`. Interlock trips (from any request or the monitor) are
    logged and appended to :attr:`interlock_events`.
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.last_error: str | None = None
        self.interlock_events: list[typing.Any] = []
        self._column_hooked = False
        self._lock = threading.Lock()
        spec = instrument.spectrometer

        def setter(obj: typing.Any, attr: str, scale: float = 1.0) -> typing.Callable[[float], None]:
            return lambda v: setattr(obj, attr, float(v) * scale)

        self.controls: dict[str, Control] = {
            "eels_x_scale": Control(lambda: spec.dispersion_eV_per_channel,
                                    lambda v: spec.set(dispersion_eV_per_channel=float(v))),
            "eels_x_offset": Control(lambda: spec.energy_offset_eV, lambda v: spec.set(energy_offset_eV=float(v))),
            "eels_y_scale": Control(lambda: 1.0, None),
            "eels_y_offset": Control(lambda: 0.0, None),
        }
        world = instrument.world
        if world is not None:  # the simulated beam and laser: nothing real reads or has them
            beam, laser = world.beam, world.laser
            self.controls.update({
                "BeamCurrent": Control(lambda: beam.current_pA * 1e-12, setter(beam, "current_pA", 1e12)),
                "ZLPFWHM": Control(lambda: beam.zlp_fwhm_eV, setter(beam, "zlp_fwhm_eV")),
                "LaserWavelength": Control(lambda: laser.wavelength_nm, None),
                "LaserPower": Control(lambda: laser.power_uW, None),
            })

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
            try:
                control.set(value)
            except ValueError as e:
                self._refuse(f"SetVal {name} = {value!r}: {e}")
                return False
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


def scan_to_microscope_nm(v_nm: float, u_nm: float, rotation_rad: float) -> tuple[float, float]:
    """A displacement (v, u) in a scan frame rotated by ``rotation_rad`` → (dy, dx) in the
    microscope frame, nm (the vector part of :meth:`ScanFrame.to_microscope_nm`)."""
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    return u_nm * s + v_nm * c, u_nm * c - v_nm * s


class ProbeShiftDriftTracker(DriftTracker.DriftTracker):
    """Swift's drift tracker, whose measured drift is corrected with our probe shift.

    Upstream, a measured drift is corrected by shifting the scan's ``center_nm`` by
    :meth:`predict_drift` (accumulated drift plus rate × time). Here every measurement
    (``drift_changed_event``: the drift since the last correction, scan-context frame, nm) is
    rotated into the microscope frame (the context's ``rotation_rad`` from the drift scan's
    metadata) and added to the probe shift through ``shift_probe_nm(dy, dx)``; the scan then
    needs no ``center_nm`` shift, so :meth:`predict_drift` and :attr:`total_delta_nm` are zero.

    Sign: the tracker measures how far the specimen moved in the image; following it with the
    probe keeps the drift region's content in place (``PROBE_SIGN`` maps one onto the other).

    Attributes
    ----------
    measured_total_nm : Geometry.FloatSize
        Sum of the measured drifts since the last reset, scan-context frame (h = v, w = u), nm.
    corrections_nm : list of (dy, dx)
        Probe-shift changes applied, microscope frame, nm.
    last_error : str or None
        Why the last correction could not be applied (probe shift out of range, interlock …).
    submit_times_s : list of float
        ``now_s()`` (the instrument's clock, s: the simulated world's on a simulator) at every submitted drift
        image since the last reset; the first is the reference.
    """

    #: probe-shift change per measured drift (scan frame → microscope frame, then this sign)
    PROBE_SIGN = -1.0

    def __init__(self, shift_probe_nm: typing.Callable[[float, float], None],
                 now_s: typing.Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.shift_probe_nm = shift_probe_nm
        self.now_s = now_s
        self.submit_times_s: list[float] = []
        self.measured_total_nm = Geometry.FloatSize()
        self.corrections_nm: list[tuple[float, float]] = []
        self.last_error: str | None = None
        self._rotation_rad = 0.0
        self._listener = self.drift_changed_event.listen(self._apply)

    def reset(self) -> None:
        super().reset()
        self.measured_total_nm = Geometry.FloatSize()
        self.submit_times_s = []

    def submit_image(self, xdata: typing.Any, rotation: float, *, wait: bool = False) -> None:
        parameters = (xdata.metadata or {}).get("scan", {}).get("scan_device_parameters", {})
        self._rotation_rad = float(parameters.get("rotation_rad", 0.0) or 0.0)
        now = self.now_s()
        super().submit_image(xdata, rotation, wait=wait)  # may reset (first image, new rotation)
        self.submit_times_s.append(now)

    @property
    def total_delta_nm(self) -> Geometry.FloatSize:
        return Geometry.FloatSize()  # already corrected by the probe shift

    def predict_drift(self, utc_time: typing.Any, *, n: int | None = None) -> Geometry.FloatSize:
        return Geometry.FloatSize()  # the probe shift follows the drift: the scan centre stays

    def _apply(self, delta_nm: Geometry.FloatSize, elapsed_s: float) -> None:
        self.measured_total_nm = self.measured_total_nm + delta_nm
        dy, dx = scan_to_microscope_nm(delta_nm.height, delta_nm.width, self._rotation_rad)
        dy, dx = self.PROBE_SIGN * dy, self.PROBE_SIGN * dx
        try:
            self.shift_probe_nm(dy, dx)
        except Exception as e:  # noqa: BLE001 - a refused correction must not stop the acquisition
            self.last_error = f"drift correction ({dy:.2f}, {dx:.2f}) nm not applied: {type(e).__name__}: {e}"
            log.error("%s", self.last_error)
            return
        self.last_error = None
        self.corrections_nm.append((dy, dx))


def drift_correction_functor(scan_hardware_source: typing.Any, scan_frame_parameters: typing.Any,
                             pixel_time_s: float) -> tuple[typing.Any, int | None]:
    """``(functor, section_height)`` for ``grab_synchronized``/``make_synchronized_scan_data_stream``
    from the stem_controller's drift settings, as Swift's spectrum-imaging panel builds them
    (``pixel_time_s``: the camera exposure, which converts a TIME interval to lines);
    ``(None, None)`` when drift correction is off (no drift region/channel, or interval 0)."""
    width = Geometry.IntSize.make(scan_frame_parameters.subscan_pixel_size or scan_frame_parameters.pixel_size).width
    lines = scan_hardware_source.calculate_drift_lines(width, pixel_time_s)
    scans = scan_hardware_source.calculate_drift_scans()
    tracker = scan_hardware_source.drift_tracker
    if tracker is None or (lines <= 0 and scans <= 0):
        return None, None
    functor = DriftTracker.DriftCorrectionDataStreamFunctor(
        scan_hardware_source, scan_frame_parameters, tracker, scans, scan_hardware_source.drift_channel_id,
        scan_hardware_source.drift_region, scan_hardware_source.drift_rotation)
    return functor, (lines if lines > 0 else None)


#: the hardware source id of our EELS camera (nionswift_plugin.lumiere.devices registers it)
EELS_CAMERA_ID = "lumiere_eels_camera"


class LumiereInstrument(InstrumentDevice.Instrument):
    """Swift's ``stem_controller`` for the VG Lumière (real or simulated; :attr:`world` is None on
    a real site)."""

    def __init__(self, instrument: Instrument) -> None:
        self.vg_values = VGValueManager(instrument)
        super().__init__(INSTRUMENT_ID, self.vg_values, AxisManager())
        self.lumiere = instrument
        self.world = instrument.world
        self._drift_tracker = ProbeShiftDriftTracker(self.shift_probe_nm, instrument.clock.now_s)
        self.monitor_error: Exception | None = None
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()

    @property
    def drift_tracker(self) -> ProbeShiftDriftTracker:
        """Our drift tracker (measured drift → probe shift), instead of the registry's."""
        return self._drift_tracker

    @property
    def eels_camera(self) -> typing.Any:
        """Our EELS camera's hardware source. Upstream falls back to the registry's default EELS
        camera, which is another plug-in's when one is installed beside us (nionswift-usim)."""
        from nion.instrumentation import HardwareSource

        ours = HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id(EELS_CAMERA_ID)
        return ours if ours is not None else super().eels_camera

    def shift_probe_nm(self, dy_nm: float, dx_nm: float) -> None:
        """Move the probe shift (``CSH``, microscope frame) by (dy, dx) nm through the VG column,
        which keeps the scan's ``instrument.probe_shift`` equal (range-checked, interlocks)."""
        column = self.vg_values.column
        y, x = column.get_shift_nm()
        column.set_shift_nm(y + dy_nm, x + dx_nm)

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
        """Park the probe where Swift's probe graphic is (fractional position in the scan context →
        microscope nm, rotation and the probe shift (``CSH``) included), through the scan generator
        (which is commanded the position without the probe shift: the column adds it)."""
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
        dy, dx = self.lumiere.probe_shift.get_shift_nm()
        self.lumiere.set_probe_position_nm(float(y) - dy, float(x) - dx)

    def camera_sensor_dimensions(self, camera_type: str) -> typing.Tuple[int, int]:
        if camera_type == "cl":  # the CL CCD read in full vertical binning
            return 1, 1024
        return super().camera_sensor_dimensions(camera_type)

    def camera_readout_area(self, camera_type: str) -> typing.Tuple[int, int, int, int]:
        if camera_type == "cl":
            return 0, 0, 1, 1024
        return super().camera_readout_area(camera_type)

    def get_autostem_properties(self) -> typing.Mapping[str, typing.Any]:
        """The instrument's metadata (``simulated`` per device, beam, energy calibration) as
        Swift's autostem properties; the simulated laser's wavelength when there is one."""
        meta = self.lumiere.metadata()
        properties = {"high_tension_v": meta["high_tension_V"], "beam_current_pA": meta["beam_current_pA"],
                      "zlp_fwhm_eV": meta["zlp_fwhm_eV"], "simulated": meta["simulated"],
                      "devices": meta["devices"]}
        if self.world is not None and self.lumiere.simulated.get("laser", False):
            properties["laser_wavelength_nm"] = self.world.laser.wavelength_nm
        return properties
