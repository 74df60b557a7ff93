"""`VGColumn`: the VG Lumière column as named controls, with interlocks.

Controls (units fixed per name; ``get``/``set``/``try_get``):

==========================  =====  ==========================================================
name                        unit   what
==========================  =====  ==========================================================
``EHT``                     V      high tension, one of the HT table's values (0 = off);
                                   setting it pushes the table's lens/spectrometer settings
``OL``, ``C1``, ``C2``      A      objective and condenser currents (lens power supply)
``CSH.x``, ``CSH.y``        nm     probe shift (microscope frame), ± ``probe_shift.limit_nm``
``StageX``, ``StageY``      nm     stage position (set waits for the move)
``OA.x`` … (config)         µm     aperture motors (``apertures.motors``)
``BeamBlanked``             0/1    beam blanker of the scan unit
``GunVacuum``               Pa     gun gauge (read only)
``ColumnVacuum``            Pa     column gauge (read only)
``ObjectiveTemperature``    °C     thermal-model estimate from the OL current history (read only)
==========================  =====  ==========================================================

The column also implements :class:`detectors.interfaces.ProbeShift` (``get_shift_nm``,
``set_shift_nm``), so drift correction can drive ``CSH`` directly.

Interlocks (checked by :meth:`VGColumn.poll` before every ``get``/``set``, or by a caller's
timer): objective over-temperature → objective current to the safe value and beam blanked;
gun vacuum above threshold → HT off and beam blanked; column vacuum above threshold → beam
blanked. A trip is latched, recorded in :attr:`VGColumn.events` and raised as
:class:`InterlockTripped`; while latched, requests that would undo the safe state are refused.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Mapping, Protocol, Sequence

from .apertures import ApertureMotors
from .bus import HighTension, ProbeUnit, Stage
from .config import VGConfig
from detectors.common.errors import DeviceError, DeviceTimeout
from .errors import ControlRangeError, InterlockEvent, InterlockTripped, ReadOnlyControl, SubsystemTimeout, UnknownControl
from .lenses import LensSupply, ObjectiveThermalModel
from .vacuum import GunGauge, PfeifferGauge

log = logging.getLogger(__name__)


class SpectrometerLink(Protocol):
    """Receives the EELS spectrometer part of the per-HT table when the HT changes."""

    def apply_high_tension_settings(self, high_tension_V: float, settings: Mapping[str, float]) -> None: ...


@dataclasses.dataclass(frozen=True)
class Control:
    """A named control: unit, owning subsystem, range (or choices) and accessors."""

    name: str
    unit: str
    subsystem: str
    getter: Callable[[], float]
    setter: Callable[[float], Any] | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[float, ...] | None = None

    @property
    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(f"{c:g}" for c in self.choices) + f" {self.unit}"
        return f"{self.low:g}–{self.high:g} {self.unit}"

    def check(self, value: float) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ControlRangeError(f"{self.name} = {value!r} is not a number; allowed {self.allowed}") from None
        ok = v in self.choices if self.choices is not None else (self.low <= v <= self.high)
        if not ok:  # NaN fails both tests
            raise ControlRangeError(f"{self.name} = {v:g} {self.unit} is out of range; allowed {self.allowed}")
        return v


def subsystem_call(subsystem: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, a driver's timeout re-raised as :class:`SubsystemTimeout` naming ``subsystem``."""
    try:
        return fn(*args)
    except SubsystemTimeout:
        raise
    except DeviceTimeout as exc:
        raise SubsystemTimeout(subsystem, str(exc)) from exc


class VGColumn:
    """Facade over the column's drivers.

    Parameters
    ----------
    ht, lenses, probe, stage, apertures, gun_gauge, column_gauge : drivers
        Connected drivers (:mod:`.bus`, :mod:`.lenses`, :mod:`.apertures`, :mod:`.vacuum`).
    config : VGConfig
        Limits, HT table, interlock thresholds, thermal model.
    spectrometer : SpectrometerLink, optional
        Gets the per-HT EELS spectrometer settings.
    monotonic : callable
        Time base of the thermal model and of the events, s (the simulated column passes the
        world clock's ``now_s``).
    check_on_access : bool
        Run :meth:`poll` before every ``get``/``set`` (two gauge reads).
    owned_transports : sequence of Transport
        Closed by :meth:`close` (those :func:`~.connect.connect_column` opened); the simulated
        column closes its own.
    """

    def __init__(self, *, ht: HighTension, lenses: LensSupply, probe: ProbeUnit, stage: Stage,
                 apertures: ApertureMotors, gun_gauge: GunGauge, column_gauge: PfeifferGauge,
                 config: VGConfig | None = None, spectrometer: SpectrometerLink | None = None,
                 monotonic: Callable[[], float] = time.monotonic, check_on_access: bool = True,
                 owned_transports: Sequence[Any] = ()) -> None:
        self.config = config or VGConfig()
        self.ht, self.lenses, self.probe, self.stage = ht, lenses, probe, stage
        self.apertures, self.gun_gauge, self.column_gauge = apertures, gun_gauge, column_gauge
        self.spectrometer = spectrometer
        self.owned_transports = list(owned_transports)
        self._now = monotonic
        self.check_on_access = check_on_access
        self.events: list[InterlockEvent] = []
        self.latched: dict[str, InterlockEvent] = {}
        #: called with every new :class:`InterlockEvent` (from any thread that polled)
        self.on_interlock: list[Callable[[InterlockEvent], None]] = []
        #: last error of the background monitor (a silent gauge …), None when it polls fine
        self.monitor_error: Exception | None = None
        self._lock = threading.RLock()
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        self.thermal = ObjectiveThermalModel(self.config.lenses, self._now(),
                                             self._call("lens power supply", lenses.current_A, "OL"))
        self._controls = self._build_controls()

    # -- controls -------------------------------------------------------------------------------
    def _build_controls(self) -> dict[str, Control]:
        cfg = self.config
        ps, st, ap = cfg.probe_shift.limit_nm, cfg.stage, cfg.apertures
        c: list[Control] = [
            Control("EHT", "V", "high tension", lambda: self._call("high tension", self.ht.high_tension_V),
                    self.set_high_tension_V, choices=(0.0,) + cfg.ht.choices_V),
            Control("OL", "A", "lens power supply", lambda: self._lens("OL"), lambda v: self._set_lens("OL", v),
                    0.0, cfg.lenses.objective_max_A),
            Control("C1", "A", "lens power supply", lambda: self._lens("C1"), lambda v: self._set_lens("C1", v),
                    0.0, cfg.lenses.condenser_max_A),
            Control("C2", "A", "lens power supply", lambda: self._lens("C2"), lambda v: self._set_lens("C2", v),
                    0.0, cfg.lenses.condenser_max_A),
            Control("CSH.x", "nm", "probe unit", lambda: self._shift()[1], lambda v: self._set_shift(x=v), -ps, ps),
            Control("CSH.y", "nm", "probe unit", lambda: self._shift()[0], lambda v: self._set_shift(y=v), -ps, ps),
            Control("StageX", "nm", "stage", lambda: self._stage()[0], lambda v: self._set_stage(x=v), *st.x_range_nm),
            Control("StageY", "nm", "stage", lambda: self._stage()[1], lambda v: self._set_stage(y=v), *st.y_range_nm),
            Control("BeamBlanked", "", "probe unit", lambda: float(self._call("probe unit", self.probe.blanked)),
                    self._set_blanked, choices=(0.0, 1.0)),
            Control("GunVacuum", "Pa", "gun gauge", lambda: self._call("gun gauge", self.gun_gauge.pressure_Pa)),
            Control("ColumnVacuum", "Pa", "column gauge",
                    lambda: self._call("column gauge", self.column_gauge.pressure_Pa)),
            Control("ObjectiveTemperature", "C", "objective thermal model", self.objective_temperature_C),
        ]
        for name in ap.motors:
            c.append(Control(name, "µm", "aperture motors",
                             lambda n=name: self._call("aperture motors", self.apertures.position_um, n),
                             lambda v, n=name: self._call("aperture motors", self.apertures.move_to_um, n, v),
                             *ap.range_um))
        return {control.name: control for control in c}

    @property
    def controls(self) -> tuple[str, ...]:
        """Every control name."""
        return tuple(self._controls)

    def control(self, name: str) -> Control:
        try:
            return self._controls[name]
        except KeyError:
            raise UnknownControl(name, list(self._controls)) from None

    def get(self, name: str) -> float:
        """Value of control ``name`` in its unit (see the module table).

        Raises :class:`UnknownControl`, :class:`SubsystemTimeout`, another
        :class:`DeviceError`, or :class:`InterlockTripped` if an interlock trips now.
        """
        control = self.control(name)
        with self._lock:
            self._check_interlocks()
            return float(control.getter())

    def try_get(self, name: str) -> tuple[bool, float | None]:
        """``(True, value)``, or ``(False, None)`` for an unknown name or a device error
        (the shape of Swift's ``stem_controller.TryGetVal``)."""
        try:
            return True, self.get(name)
        except (UnknownControl, DeviceError):
            return False, None

    def set(self, name: str, value: float) -> None:
        """Set control ``name`` (unit of the table); checks the range before sending anything.

        Raises :class:`UnknownControl`, :class:`ReadOnlyControl`, :class:`ControlRangeError`,
        :class:`SubsystemTimeout` or :class:`InterlockTripped` (an interlock tripped now, or a
        latched one forbids this value; nothing was changed).
        """
        control = self.control(name)
        if control.setter is None:
            raise ReadOnlyControl(f"{name} is read-only")
        v = control.check(value)
        with self._lock:
            self._check_interlocks()
            self._refuse_if_latched(name, v)
            control.setter(v)

    # -- ProbeShift protocol (detectors.interfaces) -----------------------------------------------
    def get_shift_nm(self) -> tuple[float, float]:
        """Probe shift ``(dy, dx)``, nm (``CSH.y``, ``CSH.x``)."""
        with self._lock:
            self._check_interlocks()
            return self._shift()

    def set_shift_nm(self, dy_nm: float, dx_nm: float) -> None:
        """Set both axes of the probe shift in one request, nm (range-checked like ``CSH.*``)."""
        dy = self.control("CSH.y").check(dy_nm)
        dx = self.control("CSH.x").check(dx_nm)
        with self._lock:
            self._check_interlocks()
            self._call("probe unit", self.probe.set_shift_nm, dy, dx)

    # -- subsystems -----------------------------------------------------------------------------
    _call = staticmethod(subsystem_call)

    def _lens(self, lens: str) -> float:
        return self._call("lens power supply", self.lenses.current_A, lens)

    def _set_lens(self, lens: str, value_A: float) -> None:
        self._call("lens power supply", self.lenses.set_current_A, lens, value_A)
        if lens == "OL":
            self.thermal.set_current(self._now(), value_A)

    def _shift(self) -> tuple[float, float]:
        return self._call("probe unit", self.probe.get_shift_nm)

    def _set_shift(self, y: float | None = None, x: float | None = None) -> None:
        dy, dx = self._shift()
        self._call("probe unit", self.probe.set_shift_nm, dy if y is None else y, dx if x is None else x)

    def _stage(self) -> tuple[float, float]:
        return self._call("stage", self.stage.position_nm)

    def _set_stage(self, x: float | None = None, y: float | None = None) -> None:
        px, py = self._stage()
        self._call("stage", self.stage.move_to_nm, px if x is None else x, py if y is None else y)

    def _set_blanked(self, value: float) -> None:
        self._call("probe unit", self.probe.set_blanked, bool(value))

    def objective_temperature_C(self) -> float:
        """Estimated objective temperature now, °C."""
        return self.thermal.temperature_C(self._now())

    def set_high_tension_V(self, value_V: float) -> None:
        """Set the HT (a table value, or 0 = off) and push that HT's lens and spectrometer settings.

        Order: HT, then OL, C1, C2, then the spectrometer link. If a subsystem fails on the way
        the error names it and the column is partly switched: set ``EHT`` again.
        """
        value = self.control("EHT").check(value_V)
        with self._lock:
            if value == 0.0:
                self._call("high tension", self.ht.off)
                return
            self._refuse_if_latched("EHT", value)
            self._call("high tension", self.ht.set_high_tension_V, value)
            settings = self.config.ht.table[value]
            for lens, current in (("OL", settings.OL_A), ("C1", settings.C1_A), ("C2", settings.C2_A)):
                self._set_lens(lens, current)
            if self.spectrometer is not None and settings.spectrometer:
                self.spectrometer.apply_high_tension_settings(value, settings.spectrometer)

    # -- interlocks -----------------------------------------------------------------------------
    def _check_interlocks(self) -> None:
        if self.check_on_access:
            new = self.poll()
            if new:
                raise InterlockTripped(new)

    def _refuse_if_latched(self, name: str, value: float) -> None:
        blocking = []
        if name == "BeamBlanked" and value == 0.0:
            blocking = list(self.latched.values())
        elif name == "EHT" and value > 0:  # HT on, and the table pushes an objective current
            blocking = [self.latched[k] for k in ("gun_vacuum", "objective_temperature") if k in self.latched]
        elif (name == "OL" and value > self.config.lenses.objective_safe_A
              and "objective_temperature" in self.latched):
            blocking = [self.latched["objective_temperature"]]
        if blocking:
            raise InterlockTripped(blocking, f"{name} = {value:g} refused while interlock(s) "
                                   f"{', '.join(e.interlock for e in blocking)} latched: "
                                   + "; ".join(e.reason for e in blocking)
                                   + " (call reset_interlocks() once the cause is gone)")

    def poll(self) -> list[InterlockEvent]:
        """Check every interlock once; make the column safe for new trips. Returns the new events."""
        with self._lock:
            new = self._poll()
        for event in new:
            log.error("%s", event)
            for callback in self.on_interlock:
                callback(event)
        return new

    def _poll(self) -> list[InterlockEvent]:
        new: list[InterlockEvent] = []
        vac = self.config.vacuum
        lens = self.config.lenses
        checks = (
            ("gun_vacuum", "gun vacuum", lambda: self._call("gun gauge", self.gun_gauge.pressure_Pa),
             vac.gun_max_Pa, "Pa", self._trip_gun),
            ("column_vacuum", "column vacuum", lambda: self._call("column gauge", self.column_gauge.pressure_Pa),
             vac.column_max_Pa, "Pa", self._trip_column),
            ("objective_temperature", "objective temperature (estimated)", self.objective_temperature_C,
             lens.objective_max_C, "C", self._trip_objective),
        )
        for key, label, read, limit, unit, act in checks:
            if key in self.latched:
                continue
            value = read()
            if value > limit:
                reason = f"{label} {value:.3g} {unit} above the limit {limit:.3g} {unit}"
                event = InterlockEvent(key, reason, value, limit, unit, tuple(act()), self._now())
                self.latched[key] = event
                self.events.append(event)
                new.append(event)
        return new

    def _safely(self, what: str, fn: Callable[..., Any], *args: Any) -> str:
        try:
            fn(*args)
            return what
        except DeviceError as exc:
            return f"FAILED: {what} ({exc})"

    def _trip_gun(self) -> list[str]:
        return [self._safely("high tension switched off", self.ht.off),
                self._safely("beam blanked", self.probe.set_blanked, True)]

    def _trip_column(self) -> list[str]:
        return [self._safely("beam blanked", self.probe.set_blanked, True)]

    def _trip_objective(self) -> list[str]:
        safe = self.config.lenses.objective_safe_A
        return [self._safely(f"objective current reduced to {safe:g} A", self._set_lens, "OL", safe),
                self._safely("beam blanked", self.probe.set_blanked, True)]

    def reset_interlocks(self) -> list[str]:
        """Clear the latched interlocks whose cause is gone; returns the names still latched.

        Nothing is switched back on: the HT, the objective current and the blanker stay as the
        interlock left them until set again.
        """
        with self._lock:
            return self._reset_interlocks()

    def _reset_interlocks(self) -> list[str]:
        vac, lens = self.config.vacuum, self.config.lenses
        still = []
        for key in list(self.latched):
            if key == "gun_vacuum":
                ok = self._call("gun gauge", self.gun_gauge.pressure_Pa) <= vac.gun_max_Pa
            elif key == "column_vacuum":
                ok = self._call("column gauge", self.column_gauge.pressure_Pa) <= vac.column_max_Pa
            else:
                ok = self.objective_temperature_C() <= lens.objective_max_C
            if ok:
                del self.latched[key]
            else:
                still.append(key)
        return still

    # -- background monitor ---------------------------------------------------------------------
    def start_monitor(self, interval_s: float = 1.0) -> None:
        """Poll the interlocks every ``interval_s`` (wall-clock s) from a daemon thread.

        New trips go to :attr:`events` and the :attr:`on_interlock` callbacks; a device error
        is kept in :attr:`monitor_error` (and logged) and the polling goes on.
        """
        if not interval_s > 0:
            raise ValueError(f"monitor interval {interval_s} s must be > 0")
        if self._monitor is not None:
            return
        self._monitor_stop.clear()

        def run() -> None:
            while not self._monitor_stop.wait(interval_s):
                try:
                    self.poll()
                    self.monitor_error = None
                except DeviceError as exc:
                    if self.monitor_error is None:
                        log.error("interlock monitor: %s", exc)
                    self.monitor_error = exc

        self._monitor = threading.Thread(target=run, name="VGColumn interlock monitor", daemon=True)
        self._monitor.start()

    def stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor_stop.set()
            self._monitor.join(timeout=5.0)
            self._monitor = None

    def close(self) -> None:
        """Stop the monitor and close the :attr:`owned_transports` (safe to call twice)."""
        self.stop_monitor()
        for transport in self.owned_transports:
            try:
                transport.close()
            except DeviceError as exc:
                log.warning("closing a VG column transport: %s", exc)
        self.owned_transports = []
