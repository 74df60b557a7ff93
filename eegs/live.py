"""Live EEGS tasks: power monitor and power lock. Both loop until aborted, logging to a sink.

Each logs one row per reading to ``name`` (rows preallocated to ``max_points``; unfilled rows
are NaN) and ends — on abort, error or after ``max_points`` — with the shutter closed (unless
``close_shutter=False``) and the log finished. An abort is the normal way to stop them:
:meth:`run` then returns the rows logged (it does not raise :class:`~detectors.interfaces.Aborted`).
"""
from __future__ import annotations

import math
import threading

import numpy as np

from detectors.laser.power_lock import AttenuatorActuator, DiodeCurrentActuator, PowerLock
from lumiere.sinks import Axis, Sink
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl, WorkerThread

from .devices import EEGSDevices, shutter_guard

MONITOR_COLUMNS = ("time_s", "power_uW", "power_out_uW", "wavelength_nm")
LOCK_COLUMNS = ("time_s", "power_uW", "error_uW", "actuator_value", "locked")


class _LiveTask:
    columns: tuple[str, ...] = ()
    kind = "live task"
    #: how the log reads as a plot (see :mod:`lumiere.sinks`): columns against time
    display: dict = {}

    def __init__(self, devices: EEGSDevices, *, name: str, interval_s: float, max_points: int,
                 close_shutter: bool) -> None:
        if not (math.isfinite(interval_s) and interval_s >= 0):
            raise ValueError(f"interval {interval_s} s must be ≥ 0 s")
        if not 1 <= max_points <= 10_000_000:
            raise ValueError(f"max_points {max_points} outside 1–10000000")
        self.devices = devices
        self.name = name
        self.interval_s = float(interval_s)
        self.max_points = int(max_points)
        self.close_shutter = close_shutter
        self.rows: list[np.ndarray] = []
        self._worker: WorkerThread | None = None

    @property
    def error(self) -> BaseException | None:
        """What the :meth:`start`-ed run raised (None while it runs or if it ended well)."""
        return self._worker.error if self._worker is not None else None

    def _start(self) -> None:
        """Set up the devices (after the sink result exists)."""

    def _row(self, t_s: float) -> np.ndarray:
        raise NotImplementedError

    def _metadata(self) -> dict:
        return {}

    def run(self, sink: Sink, task: TaskControl | None = None) -> np.ndarray:
        """Log until aborted (or ``max_points``); returns the rows (n, columns)."""
        task = task or TaskControl()
        d = self.devices
        created = False
        t0 = d.now_s()
        try:
            with shutter_guard(d.pump, self.close_shutter):
                sink.create(self.name, (self.max_points, len(self.columns)),
                            [Axis("reading", "", navigate=True), Axis("column", "")],
                            dtype="float64", title=f"EEGS {self.kind}",
                            metadata={"columns": list(self.columns), "interval_s": self.interval_s,
                                      "display": dict(self.display), **self._metadata(), **d.metadata()})
                created = True
                self._start()
                for i in range(self.max_points):
                    task.check_abort()
                    row = self._row(d.now_s() - t0)
                    self.rows.append(row)
                    sink.write(self.name, i, row)
                    task.progress((i + 1) / self.max_points, self._message(row))
                    if self.interval_s > 0:
                        task.check_abort()
                        d.sleep(self.interval_s)
        except Aborted:
            pass
        finally:
            if created:
                sink.update_metadata(self.name, {"readings": len(self.rows)})
                sink.finish(self.name)
        return np.array(self.rows).reshape(-1, len(self.columns))

    def _message(self, row: np.ndarray) -> str:
        return f"{row[1]:.3g} µW"

    def start(self, sink: Sink, task: TaskControl) -> threading.Thread:
        """Run in a worker thread until ``task.abort()``; errors land in :attr:`error`."""
        self._worker = WorkerThread(lambda: self.run(sink, task), name=f"eegs-{self.kind}").start()
        return self._worker.thread

    def join(self, timeout_s: float | None = None) -> np.ndarray:
        if self._worker is not None:
            self._worker.join(timeout_s)
        if self.error is not None:
            raise self.error
        return np.array(self.rows).reshape(-1, len(self.columns))


class PowerMonitor(_LiveTask):
    """Read the power meters every ``interval_s`` (device time base) until aborted.

    Rows: :data:`MONITOR_COLUMNS` (time since start s, power µW, second meter µW, λ nm).
    The monitor does not open the shutter; by default it closes it when it stops.
    """

    columns = MONITOR_COLUMNS
    kind = "power monitor"
    display = {"plot": ["power_uW", "power_out_uW"], "x": "time_s", "intensity": "µW",
               "labels": {"power_uW": "power in", "power_out_uW": "power out"}}

    def __init__(self, devices: EEGSDevices, *, name: str = "power_monitor", interval_s: float = 1.0,
                 max_points: int = 100_000, close_shutter: bool = True) -> None:
        super().__init__(devices, name=name, interval_s=interval_s, max_points=max_points,
                         close_shutter=close_shutter)

    def _row(self, t_s: float) -> np.ndarray:
        p, p_out = self.devices.read_powers_uW()
        return np.array([t_s, p, p_out, self.devices.laser.wavelength_nm()])


class PowerLockTask(_LiveTask):
    """Hold the power at ``setpoint_uW`` with the attenuator (or the diode current) until
    aborted, one lock step every ``interval_s``.

    Every value is checked before anything moves: the set point against the site's maximum
    power, ``wavelength_nm`` and ``diode_current_A`` against the laser's and the pump's limits.
    Opens the shutter (after setting λ and the current), closes it when stopped.
    Rows: :data:`LOCK_COLUMNS` (time s, power µW, set point − power µW, actuator value, locked 0/1).
    """

    columns = LOCK_COLUMNS
    kind = "power lock"
    display = {"plot": ["power_uW", "error_uW"], "x": "time_s", "intensity": "µW",
               "labels": {"power_uW": "power", "error_uW": "error (set point − power)"}}

    def __init__(self, devices: EEGSDevices, setpoint_uW: float, *, actuator: str = "attenuator",
                 wavelength_nm: float | None = None, diode_current_A: float | None = None,
                 tolerance_rel: float = 0.01, gain: float = 0.7, name: str = "power_lock",
                 interval_s: float = 0.5, max_points: int = 100_000, close_shutter: bool = True) -> None:
        super().__init__(devices, name=name, interval_s=interval_s, max_points=max_points,
                         close_shutter=close_shutter)
        limits = devices.limits()
        self.setpoint_uW = limits.check_power(setpoint_uW)
        if actuator not in ("attenuator", "current"):
            raise ValueError(f"actuator must be 'attenuator' or 'current', got {actuator!r}")
        if wavelength_nm is not None:
            limits.check_wavelength(wavelength_nm)
        if diode_current_A is not None:
            limits.check_current(diode_current_A)
        if not 0 < tolerance_rel < 1:
            raise ValueError(f"tolerance {tolerance_rel} must be in (0, 1)")
        self.actuator = actuator
        self.wavelength_nm = wavelength_nm
        self.diode_current_A = diode_current_A
        self.tolerance_rel = tolerance_rel
        self.gain = gain
        self.lock: PowerLock | None = None

    def _metadata(self) -> dict:
        return {"setpoint_uW": self.setpoint_uW, "actuator": self.actuator,
                "tolerance_rel": self.tolerance_rel}

    def _start(self) -> None:
        d = self.devices
        if self.wavelength_nm is not None:
            d.set_wavelength_nm(self.wavelength_nm)
        d.laser_on(self.diode_current_A)
        act = (AttenuatorActuator(d.attenuator) if self.actuator == "attenuator"
               else DiodeCurrentActuator(d.pump))
        self.lock = PowerLock(d.meter, act, self.setpoint_uW,
                              tolerance_uW=self.tolerance_rel * self.setpoint_uW, gain=self.gain,
                              max_power_uW=d.max_power_uW if math.isfinite(d.max_power_uW) else 1e12)

    def _row(self, t_s: float) -> np.ndarray:
        step = self.lock.step()
        return np.array([t_s, step.power_uW, step.error_uW, step.actuator_value, float(step.locked)])

    def _message(self, row: np.ndarray) -> str:
        return f"{row[1]:.3g} µW ({'locked' if row[4] else 'locking'})"


__all__ = ["PowerMonitor", "PowerLockTask", "MONITOR_COLUMNS", "LOCK_COLUMNS"]
