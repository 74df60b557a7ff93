"""EEGS acquisitions: wavelength scan and power scan.

Both have the same shape. Every limit is checked before any command is sent; then, at each
point of the first axis (a wavelength, or an attenuator angle / power set point at fixed λ), the
laser is set and allowed to hold, ``spectra_per_point`` spectra (each summed over the camera's
non-dispersive axis) are recorded and summed, and the laser power is read during
them. Laser-off references (shutter closed, the same exposures) are taken before every
``reference_every``-th point and at the end, so each spectrum has one nearby in time.
Whatever happens (abort, exception, lost connection) the shutter is closed and every result is
finished in the sink with what was acquired.

Results in the sink (``name`` = :attr:`name`, default ``"eegs"``)
-----------------------------------------------------------------
``name``              (n_points, channels) counts: first axis λ in nm (or power µW / angle °),
                      second the energy loss in eV; one write per point (grows live).
``name + "_power"``   (n_points, 4): columns :data:`POWER_COLUMNS` (λ nm, power µW of the
                      normalisation meter and of the second meter, both read during the
                      exposure, laser settle time s).
``name + "_laser_off"`` (channels,) the laser-off reference at the end; metadata
                      ``laser_off_power_uW``.
``name + "_laser_off_series"`` (references, channels) every laser-off reference in the order
                      taken (the last is the one at the end); metadata ``before_point`` (index of
                      the point each preceded, -1 = end) and ``time_s`` (mid-exposure, s). The
                      points' mid-exposure times are ``point_time_s`` in the metadata of ``name``.
``name + "_drift"``   (n_points, columns) with ``reimage_every`` > 0: the drift log of
                      :mod:`eegs.tracking` (columns :data:`~eegs.tracking.DRIFT_LOG_COLUMNS`, nm:
                      drift, probe shift applied, probe offset vs the particle since the start).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import threading
import typing

import numpy as np

from detectors.common.checks import check_memory
from analysis.sidebands import HC_EV_NM
from detectors.laser.attenuator import Attenuator
from detectors.laser.power_lock import AttenuatorActuator, PowerLock
from lumiere.sinks import Axis, Sink, mark_stopped
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl, WorkerThread

from .devices import EEGSDevices, Limits, close_shutter, shutter_guard
from .parameters import MAX_POINTS, PowerScanParameters, WavelengthScanParameters
from .tracking import ProbeTracking, ScanTracking

log = logging.getLogger(__name__)

POWER_COLUMNS = ("wavelength_nm", "power_uW", "power_out_uW", "settle_s")
@dataclasses.dataclass
class EEGSScanResult:
    """What a scan acquired (rows not acquired are NaN). Units in the names."""

    name: str
    axis: Axis
    axis_values: np.ndarray
    wavelength_nm: np.ndarray
    energy_eV: np.ndarray
    spectra: np.ndarray
    power_uW: np.ndarray
    power_out_uW: np.ndarray
    settle_s: np.ndarray
    laser_off_spectrum: np.ndarray | None
    laser_off_power_uW: float
    metadata: dict
    points_done: int = 0
    aborted: bool = False
    #: mid-exposure time of every point and of every laser-off reference (s, the devices' clock);
    #: the interleaved references (k, channels) in the order taken (the last = laser_off_spectrum)
    point_time_s: np.ndarray | None = None
    reference_spectra: np.ndarray | None = None
    reference_time_s: np.ndarray | None = None
    #: (n_points, len(DRIFT_LOG_COLUMNS)) with drift tracking (nm; see eegs.tracking), else None
    drift_log: np.ndarray | None = None

    @property
    def duty_cycle(self) -> float:
        return float(self.metadata.get("blanker", {}).get("duty_cycle", 1.0))


class _Scan:
    """Common machinery of the scans: validation, sink results, the point loop, laser-off."""

    kind = "scan"

    def __init__(self, devices: EEGSDevices, *, name: str = "eegs") -> None:
        self.devices = devices
        self.name = name
        self.result: EEGSScanResult | None = None
        self.tracking: ScanTracking | None = None
        self._worker: WorkerThread | None = None

    @property
    def error(self) -> BaseException | None:
        """What the :meth:`start`-ed scan raised (None while it runs or if it ended well)."""
        return self._worker.error if self._worker is not None else None

    # -- to specialise --------------------------------------------------------------------------
    def _points(self) -> int:
        raise NotImplementedError

    def _first_axis(self) -> tuple[Axis, np.ndarray]:
        raise NotImplementedError

    def _validate(self, limits: Limits) -> None:
        raise NotImplementedError

    def _prepare(self, task: TaskControl) -> None:
        """Move the devices to the scan's fixed settings (after validation)."""

    def _set_point(self, i: int, task: TaskControl) -> tuple[float, float]:
        """Bring the laser to point ``i``; returns (wavelength nm, settle s)."""
        raise NotImplementedError

    @property
    def params(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public ---------------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every requested value against the devices' limits (no command is sent).

        Raises :class:`~detectors.common.errors.LimitError` (a ``ValueError``) naming the value,
        its unit and the allowed range."""
        limits = self.devices.limits()
        p = self.params
        limits.check_exposure(p.exposure_s, p.spectra_per_point)
        if p.diode_current_A is not None:
            limits.check_current(p.diode_current_A)
        if int(p.reference_every) != p.reference_every or p.reference_every < 0:
            raise ValueError(f"reference_every {p.reference_every} must be an integer ≥ 0 (0 = a "
                             "laser-off reference at the end only)")
        if p.reimage_every and (self.devices.scan is None or self.devices.probe_shift is None):
            raise ValueError(f"reimage_every = {p.reimage_every} needs the scan and the probe shift "
                             "(EEGSDevices.scan, .probe_shift); reimage_every = 0 scans without drift tracking")
        self._validate(limits)

    def run(self, sink: Sink, task: TaskControl | None = None) -> EEGSScanResult:
        """Acquire inline; returns the result (also written to ``sink``).

        Raises :class:`~detectors.interfaces.Aborted` on abort, device errors as raised by the drivers,
        :class:`~eegs.devices.ShutterError` if the shutter cannot be confirmed closed; in every
        case the shutter was closed (if at all possible) and the sink finished."""
        task = task or TaskControl()
        self.validate()
        d = self.devices
        p = self.params
        n = self._points()
        energy = np.asarray(d.camera.energy_axis_eV(), dtype=float)
        check_memory(f"{n} points", [("spectra", (n, energy.size), np.float64)])  # before the sink
        axis, values = self._first_axis()
        names = [self.name, self.name + "_power", self.name + "_laser_off"]
        result = EEGSScanResult(
            self.name, axis, values, np.full(n, np.nan), energy, np.full((n, energy.size), np.nan),
            np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), None, math.nan,
            {"workflow": self.kind, "parameters": _plain(dataclasses.asdict(p))})
        result.point_time_s = np.full(n, np.nan)
        before = self._reference_points(n)
        k_refs = len(before) + 1 if p.laser_off_reference else 0
        result.reference_spectra = np.full((k_refs, energy.size), np.nan)
        result.reference_time_s = np.full(k_refs, np.nan)
        self.result = result
        created: list[str] = []
        try:
            with shutter_guard(d.pump):
                task.check_abort()
                self._prepare(task)
                result.metadata.update(d.metadata())
                result.metadata["camera"].update(exposure_s=p.exposure_s,
                                                 spectra_per_point=p.spectra_per_point)
                e_axis = Axis("Energy loss", "eV", float(energy[1] - energy[0]), float(energy[0]))
                sink.create(self.name, (n, energy.size), [dataclasses.replace(axis, navigate=True), e_axis],
                            metadata=result.metadata, title=f"EEGS {self.kind}", signal_type="EELS")
                created.append(self.name)
                sink.create(names[1], (n, len(POWER_COLUMNS)),
                            [dataclasses.replace(axis, navigate=True), Axis("column", "")],
                            metadata={"columns": list(POWER_COLUMNS),
                                      "display": {"plot": ["power_uW", "power_out_uW"],
                                                  "labels": {"power_uW": "power in", "power_out_uW": "power out"},
                                                  "intensity": "µW"}},
                            title=f"EEGS {self.kind} power log (µW)")
                created.append(names[1])
                if k_refs:
                    self._create_reference_series(result, sink, created, before)
                tracking = self._start_tracking(result, sink, created, axis, n)
                for i in range(n):
                    task.check_abort()
                    wl, settle = self._set_point(i, task)
                    task.check_abort()
                    if tracking is not None:
                        tracking.before_point(i)
                    if i in before:
                        self._interleaved_reference(before.index(i), result, sink, task)
                    self._acquire_point(i, wl, settle, result, sink, task)
                    task.progress((i + 1) / (n + 1), f"{self.kind} {i + 1}/{n} λ {wl:.1f} nm")
                if p.laser_off_reference:
                    task.check_abort()
                    self._laser_off(result, sink, created)
                if tracking is not None:
                    self.tracking = None
                    tracking.finish(result.points_done)
                sink.update_metadata(self.name, {"point_time_s": [float(t) for t in result.point_time_s]})
                task.progress(1.0, f"{self.kind} done")
        except BaseException as exc:
            if self.tracking is not None:  # the probe shift back to where it was, the log kept
                try:
                    self.tracking.tracking.restore()
                except Exception as restore_error:  # noqa: BLE001 - the scan's own error goes on
                    log.error("could not restore the probe shift after the EEGS scan stopped: %s",
                              restore_error)
                self.tracking = None
            result.aborted = isinstance(exc, Aborted)
            mark_stopped(sink, created, exc, {"points_done": result.points_done})
            raise
        finally:
            for key in created:
                sink.finish(key)
        return result

    def start(self, sink: Sink, task: TaskControl | None = None) -> threading.Thread:
        """Run in a worker thread; :attr:`result` / :attr:`error` hold the outcome."""
        task = task or TaskControl()
        self._worker = WorkerThread(lambda: self.run(sink, task), name=f"eegs-{self.kind}").start()
        return self._worker.thread

    def join(self, timeout_s: float | None = None) -> EEGSScanResult | None:
        """Wait for a :meth:`start`-ed scan; re-raises its error."""
        if self._worker is not None:
            self._worker.join(timeout_s)
        if self.error is not None:
            raise self.error
        return self.result

    # -- steps ----------------------------------------------------------------------------------
    def _acquire_point(self, i: int, wl: float, settle: float, result: EEGSScanResult,
                       sink: Sink, task: TaskControl) -> None:
        d, p = self.devices, self.params
        if self.tracking is not None:
            self.tracking.park(p.spectra_per_point * p.exposure_s)
        t0 = d.now_s()
        row, power, power_out = d.read_powers_during(
            lambda: acquire_summed(d.camera, p.spectra_per_point, p.exposure_s, task))
        result.point_time_s[i] = 0.5 * (t0 + d.now_s())
        result.spectra[i] = row
        result.wavelength_nm[i] = wl
        result.power_uW[i] = power
        result.power_out_uW[i] = power_out
        result.settle_s[i] = settle
        result.points_done = i + 1
        if self.tracking is not None:
            self.tracking.point_done(i, result.point_time_s[i])
        sink.write(self.name, i, row.astype(np.float32))
        sink.write(self.name + "_power", i, np.array([wl, power, power_out, settle], np.float32))

    def _laser_off(self, result: EEGSScanResult, sink: Sink, created: list[str]) -> None:
        d, p = self.devices, self.params
        close_shutter(d.pump)
        off_power, _ = d.read_powers_uW()
        if self.tracking is not None:
            self.tracking.park(p.spectra_per_point * p.exposure_s)
        t0 = d.now_s()
        row = acquire_summed(d.camera, p.spectra_per_point, p.exposure_s, None)
        self._store_reference(len(result.reference_time_s) - 1, row, 0.5 * (t0 + d.now_s()), result, sink)
        result.laser_off_spectrum = row
        result.laser_off_power_uW = off_power
        energy = result.energy_eV
        name = self.name + "_laser_off"
        sink.create(name, (energy.size,),
                    [Axis("Energy loss", "eV", float(energy[1] - energy[0]), float(energy[0]))],
                    metadata={"laser_off_power_uW": off_power, "exposure_s": p.exposure_s,
                              "spectra": p.spectra_per_point,
                              # opens on the sideband window of the scan's photon energies
                              "display": {"photon_energy_eV": _photon_range_eV(result.wavelength_nm)}},
                    title="EEGS laser-off reference", signal_type="EELS")
        created.append(name)
        sink.write(name, slice(None), row.astype(np.float32))
        for key in (self.name, self.name + "_power"):
            sink.update_metadata(key, {"laser_off_power_uW": off_power})
        result.metadata["laser_off_power_uW"] = off_power


    def _start_tracking(self, result: EEGSScanResult, sink: Sink, created: list[str], axis: Axis,
                        n: int) -> ScanTracking | None:
        """The drift tracking (:mod:`eegs.tracking`) with its first image, or None."""
        d, p = self.devices, self.params
        if not p.reimage_every:
            return None
        self.tracking = ScanTracking(ProbeTracking(d.scan, d.probe_shift, p.reimage_fov_nm, d.now_s),
                                     p.reimage_every, n)
        result.drift_log = self.tracking.log
        self.tracking.start(sink, self.name + "_drift", dataclasses.replace(axis, navigate=True))
        created.append(self.name + "_drift")
        return self.tracking

    # -- interleaved laser-off references ---------------------------------------------------
    def _reference_points(self, n: int) -> list[int]:
        """Points before which a laser-off reference is taken (besides the one at the end)."""
        p = self.params
        if not p.laser_off_reference or p.reference_every == 0:
            return []
        return list(range(0, n, int(p.reference_every)))

    def _create_reference_series(self, result: EEGSScanResult, sink: Sink, created: list[str],
                                 before: list[int]) -> None:
        energy = result.energy_eV
        name = self.name + "_laser_off_series"
        sink.create(name, result.reference_spectra.shape,
                    [Axis("reference", "", navigate=True),
                     Axis("Energy loss", "eV", float(energy[1] - energy[0]), float(energy[0]))],
                    metadata={"before_point": before + [-1], "exposure_s": self.params.exposure_s,
                              "spectra": self.params.spectra_per_point},
                    title="EEGS laser-off references (interleaved; -1 = at the end)", signal_type="EELS")
        created.append(name)

    def _store_reference(self, j: int, row: np.ndarray, t_s: float, result: EEGSScanResult,
                         sink: Sink) -> None:
        if j < 0:
            return
        result.reference_spectra[j] = row
        result.reference_time_s[j] = t_s
        name = self.name + "_laser_off_series"
        sink.write(name, j, row.astype(np.float32))
        sink.update_metadata(name, {"time_s": [float(t) for t in result.reference_time_s]})

    def _interleaved_reference(self, j: int, result: EEGSScanResult, sink: Sink,
                               task: TaskControl) -> None:
        """Shutter closed, a reference with the points' exposures, shutter open again (the laser
        keeps its wavelength and power: only the light is blocked)."""
        d, p = self.devices, self.params
        close_shutter(d.pump)
        if self.tracking is not None:
            self.tracking.park(p.spectra_per_point * p.exposure_s)
        t0 = d.now_s()
        row = acquire_summed(d.camera, p.spectra_per_point, p.exposure_s, task)
        self._store_reference(j, row, 0.5 * (t0 + d.now_s()), result, sink)
        task.check_abort()
        d.pump.set_shutter(True)


class WavelengthScan(_Scan):
    """EEGS wavelength scan (see the module docstring).

    Examples
    --------
    >>> from detectors.instrument import build_instrument       # doctest: +SKIP
    >>> with build_instrument() as instrument:                   # doctest: +SKIP
    ...     scan = WavelengthScan(EEGSDevices.from_instrument(instrument),
    ...                           WavelengthScanParameters(600, 700, 5))
    ...     result = scan.run(MemorySink())
    """

    kind = "wavelength scan"

    def __init__(self, devices: EEGSDevices, params: WavelengthScanParameters, *,
                 name: str = "eegs") -> None:
        super().__init__(devices, name=name)
        self._params = params
        self.validate()

    @property
    def params(self) -> WavelengthScanParameters:
        return self._params

    def _points(self) -> int:
        return self._params.wavelengths_nm().size

    def _first_axis(self) -> tuple[Axis, np.ndarray]:
        wl = self._params.wavelengths_nm()
        scale = float(wl[1] - wl[0]) if wl.size > 1 else self._params.step_nm
        return Axis("Wavelength", "nm", scale, float(wl[0]), navigate=True), wl

    def _validate(self, limits: Limits) -> None:
        for wl in self._params.wavelengths_nm():
            limits.check_wavelength(float(wl))
        if self._params.attenuator_angle_deg is not None:
            limits.check_angle(self._params.attenuator_angle_deg)

    def _prepare(self, task: TaskControl) -> None:
        d, p = self.devices, self._params
        if p.gating is not None and d.blanker is not None:
            d.blanker.set_gating(p.gating)
        if p.attenuator_angle_deg is not None:
            d.attenuator.set_angle_deg(p.attenuator_angle_deg)
        d.set_wavelength_nm(float(self._params.wavelengths_nm()[0]), timeout_s=p.hold_timeout_s,
                            abort=lambda: task.aborted)
        task.check_abort()
        d.laser_on(p.diode_current_A)

    def _set_point(self, i: int, task: TaskControl) -> tuple[float, float]:
        wl = float(self._params.wavelengths_nm()[i])
        settle = self.devices.set_wavelength_nm(wl, timeout_s=self._params.hold_timeout_s,
                                                abort=lambda: task.aborted)
        return wl, settle


class PowerScan(_Scan):
    """EEGS power scan at a fixed wavelength (see :class:`PowerScanParameters`)."""

    kind = "power scan"

    def __init__(self, devices: EEGSDevices, params: PowerScanParameters, *,
                 name: str = "eegs_power") -> None:
        super().__init__(devices, name=name)
        self._params = params  # PowerScanParameters checked itself (exactly one of angles / set points)
        self.lock_results: list = []
        self.validate()

    @property
    def params(self) -> PowerScanParameters:
        return self._params

    def _values(self) -> np.ndarray:
        p = self._params
        return np.asarray(p.angles_deg if p.angles_deg is not None else p.setpoints_uW, float)

    def _points(self) -> int:
        n = self._values().size
        if not 1 <= n <= MAX_POINTS:
            raise ValueError(f"a power scan needs 1–{MAX_POINTS} points, got {n}")
        return n

    def _first_axis(self) -> tuple[Axis, np.ndarray]:
        v = self._values()
        uniform = v.size > 1 and np.allclose(np.diff(v), v[1] - v[0])
        if self._params.angles_deg is not None:
            name, units = "Attenuator angle", "°"
        else:
            name, units = "Laser power", "µW"
        if uniform:
            return Axis(name, units, float(v[1] - v[0]), float(v[0]), navigate=True), v
        return Axis(f"{name} (index; values in metadata)", "", 1.0, 0.0, navigate=True), v

    def _validate(self, limits: Limits) -> None:
        p = self._params
        limits.check_wavelength(p.wavelength_nm)
        if p.angles_deg is not None:
            for a in p.angles_deg:
                limits.check_angle(a)
        else:
            for s in p.setpoints_uW:
                limits.check_power(s)
        self._points()

    def _prepare(self, task: TaskControl) -> None:
        d, p = self.devices, self._params
        if p.gating is not None and d.blanker is not None:
            d.blanker.set_gating(p.gating)
        if p.angles_deg is not None:
            d.attenuator.set_angle_deg(int(p.angles_deg[0]))
        d.set_wavelength_nm(p.wavelength_nm, timeout_s=p.hold_timeout_s, abort=lambda: task.aborted)
        task.check_abort()
        d.laser_on(p.diode_current_A)

    def _set_point(self, i: int, task: TaskControl) -> tuple[float, float]:
        d, p = self.devices, self._params
        t0 = d.now_s()
        if p.angles_deg is not None:
            d.attenuator.set_angle_deg(int(p.angles_deg[i]))
        else:
            lock = PowerLock(d.meter, AttenuatorActuator(typing.cast(Attenuator, d.attenuator)),
                             float(p.setpoints_uW[i]), tolerance_uW=p.lock_tolerance_rel * p.setpoints_uW[i],
                             max_power_uW=d.max_power_uW if math.isfinite(d.max_power_uW) else 1e12)
            outcome = lock.run(max_steps=p.lock_max_steps, abort=lambda: task.aborted)
            self.lock_results.append(outcome)
        return p.wavelength_nm, d.now_s() - t0


def acquire_summed(camera, n: int, exposure_s: float, task: TaskControl | None,
                   chunk_s: float = 0.5) -> np.ndarray:
    """Sum of ``n`` spectra (channels,) as float64, acquired in chunks of about ``chunk_s`` so
    that an abort is seen within one chunk (``task.check_abort()`` between chunks)."""
    per_chunk = max(1, int(chunk_s // exposure_s))
    total = None
    left = n
    while left > 0:
        if task is not None:
            task.check_abort()
        k = min(per_chunk, left)
        part = np.asarray(camera.acquire_spectra(k, exposure_s)).sum(axis=0, dtype=np.float64)
        total = part if total is None else total + part
        left -= k
    return total


def _plain(value: typing.Any) -> typing.Any:
    """Parameters as sink-friendly metadata (None → "None", tuples → lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return "None" if value is None else value


def _photon_range_eV(wavelength_nm: np.ndarray) -> list[float]:
    """[lowest, highest] photon energy (eV) of the wavelengths acquired (display hint)."""
    wl = np.asarray(wavelength_nm, float)
    wl = wl[np.isfinite(wl) & (wl > 0)]
    return [float(HC_EV_NM / wl.max()), float(HC_EV_NM / wl.min())] if wl.size else []
