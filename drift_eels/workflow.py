"""The drift-corrected EELS spectrum image: N short sequences, tracked, re-centred and summed.

Before each sequence the drift reference region is scanned and registered against the first
reference (:class:`~drift_eels.tracker.DriftTracker`), the drift is predicted linearly over the
coming sequence and the scan is re-centred (probe shift) ahead of it — before every section of
rows with ``feed_forward`` (default), else once per sequence. After each sequence its
simultaneous HAADF is registered against the first sequence's HAADF; the residual shift places
the sequence on the first sequence's grid, sub-pixel, in an
:class:`analysis.accumulate.AlignedAccumulator` (with a count map). After every sequence the
summed SI, HAADF, count map, elemental maps with their SNR and the drift log are written to the
sink, so a crash or an abort keeps every completed sequence.

Results (names in the sink; ``prefix`` is prepended)
----------------------------------------------------
``si``               (y, x, E) summed SI normalised to the completed sequences (counts of
                     ``sequences_done`` sequences; NaN where no sequence landed); nm, nm, eV
``haadf``            (y, x) summed simultaneous HAADF, same normalisation
``count_map``        (y, x) sequences that covered each pixel (bilinear weights)
``map_<edge>``       (y, x) background-subtracted edge counts, same normalisation
``snr_<edge>``       (y, x) signal / Poisson uncertainty of the summed counts
``drift_log``        (sequence, column): :data:`LOG_COLUMNS` (times s, shifts nm)
``haadf_sequences``  (sequence, y, x) the HAADF of every sequence as acquired
``drift_references`` (sequence, y, x) every reference scan
``si_sequences``     (sequence, y, x, E) every raw sequence, with ``keep_sequences``
"""
from __future__ import annotations

import dataclasses
import logging
import time
import typing

import numpy as np

from analysis.accumulate import AlignedAccumulator
from analysis.eels.maps import elemental_map
from detectors.interfaces import Aborted, ProbeShift, ScanDevice, SpectrumImager
from drift_eels.parameters import DriftSIParameters, SequencePlan
from drift_eels.spectrum_image import energy_axis, frame_metadata, image_axes
from drift_eels.tracker import Clock, DriftMeasurement, DriftTracker, instrument_clock
from lumiere.sinks import Axis, Sink, stop_metadata
from lumiere.tasks import TaskControl, WorkerThread

log = logging.getLogger(__name__)

#: columns of the ``drift_log`` result, one row per sequence (nm in the microscope frame)
LOG_COLUMNS = (
    "reference_time_s",       # instrument time of the reference scan before the sequence (from the first)
    "measured_dy_nm", "measured_dx_nm", "measured_abs_nm",  # drift measured on that reference
    "sequence_time_s",        # middle of the sequence
    "applied_dy_nm", "applied_dx_nm", "applied_abs_nm",     # mean probe-shift offset s − s₀ during it
    "residual_dy_nm", "residual_dx_nm",  # residual shift of its HAADF vs the first sequence's
    "reference_quality", "residual_quality",
)


@dataclasses.dataclass(frozen=True)
class SequenceRecord:
    """What happened in one sequence (times relative to the first reference, s; shifts nm)."""

    index: int
    measurement: DriftMeasurement
    start_s: float
    end_s: float
    applied_nm: tuple[float, float]
    residual_px: tuple[float, float]
    residual_nm: tuple[float, float]
    residual_quality: float
    #: mean placement (dy, dx) of the sequence on the first sequence's grid, SI px
    placement_px: tuple[float, float] = (0.0, 0.0)

    def row(self, t0_s: float) -> list[float]:
        m = self.measurement
        a = self.applied_nm
        q = m.quality if np.isfinite(m.quality) else -1.0
        return [m.time_s - t0_s, *m.drift_nm, float(np.hypot(*m.drift_nm)),
                0.5 * (self.start_s + self.end_s) - t0_s, *a, float(np.hypot(*a)),
                *self.residual_nm, q, self.residual_quality]


@dataclasses.dataclass
class EdgeMap:
    """An elemental map of the summed SI: ``signal`` normalised like ``si``, ``snr`` of the
    summed counts."""

    edge: str
    signal: np.ndarray
    snr: np.ndarray
    fit_window_eV: tuple[float, float]
    signal_window_eV: tuple[float, float]


@dataclasses.dataclass
class DriftSIResult:
    """Everything the workflow produced (also what was completed before an abort)."""

    plan: SequencePlan
    si: np.ndarray
    haadf: np.ndarray
    count: np.ndarray
    maps: dict[str, EdgeMap]
    records: list[SequenceRecord]
    measurements: list[DriftMeasurement]
    sequences_done: int
    aborted: bool
    timing: dict[str, float]
    #: the summed SI's grid shows the specimen at nominal position + this offset (s − d, nm,
    #: d measured from the first reference): where the first sequence landed on average
    grid_offset_nm: tuple[float, float] = (0.0, 0.0)

    def drift_log(self) -> np.ndarray:
        """(sequences_done, len(LOG_COLUMNS)) array; see :data:`LOG_COLUMNS`."""
        t0 = self.measurements[0].time_s if self.measurements else 0.0
        return np.array([r.row(t0) for r in self.records], dtype=np.float64).reshape(-1, len(LOG_COLUMNS))


class DriftCorrectedSI:
    """Drift-corrected EELS SI workflow (inline with :meth:`run` or in a thread with :meth:`start`).

    Parameters
    ----------
    scan, imager, probe_shift : device protocols (:mod:`detectors.interfaces`)
    parameters : DriftSIParameters
        Validated here, before anything moves (:meth:`DriftSIParameters.plan` against the
        imager's energy axis): a bad value raises ``ValueError`` from the constructor.
    sink : Sink
        Receives the results (see the module docstring); :class:`lumiere.sinks.HDF5Sink` makes
        the run crash-safe.
    clock : callable() -> float
        Instrument time, s (:func:`~drift_eels.tracker.instrument_clock`).
    task : TaskControl, optional
        Progress and abort. On abort the scan is stopped at the next section, the probe shift
        restored (with ``restore_probe_shift``), every completed sequence stays in the sink
        (the sequence in progress is discarded), results are marked ``aborted`` and
        :class:`~detectors.interfaces.Aborted` is raised (by :meth:`run`; :meth:`join` returns the result).
    prefix : str
        Prepended to every result name (e.g. ``"uncorrected_"`` for a baseline in the same file).

    Examples
    --------
    >>> from detectors.instrument import build_instrument
    >>> from detectors.interfaces import ScanFrame
    >>> from lumiere.sinks import MemorySink
    >>> from detectors.simulation.setup import configure_simulation
    >>> inst = build_instrument()
    >>> configure_simulation(inst.world)  # core-loss axis 350-1373 eV, 2 nm/min drift
    >>> survey = ScanFrame(size_px=(256, 256), fov_nm=512.0)
    >>> params = DriftSIParameters(survey, (112, 112, 16, 16), (96, 96, 32, 32),
    ...                            si_shape_px=(16, 16), dwell_s=1e-3, n_sequences=2)
    >>> result = DriftCorrectedSI.from_instrument(inst, params, MemorySink()).run()
    >>> result.sequences_done, result.si.shape, sorted(result.maps)
    (2, (16, 16, 1024), ['Dy M4,5', 'Sc L2,3'])
    >>> inst.probe_shift.get_shift_nm()  # restored
    (0.0, 0.0)
    """

    def __init__(self, scan: ScanDevice, imager: SpectrumImager, probe_shift: ProbeShift,
                 parameters: DriftSIParameters, sink: Sink, *, clock: Clock,
                 task: TaskControl | None = None, prefix: str = "", metadata: dict | None = None) -> None:
        self.plan = parameters.plan(imager.energy_axis_eV())
        self.parameters = parameters
        self.scan, self.imager, self.probe_shift = scan, imager, probe_shift
        self.sink = sink
        self.clock = clock
        self.task = task or TaskControl()
        self.prefix = prefix
        self.metadata = dict(metadata or {})
        self.result: DriftSIResult | None = None
        self._names: list[str] = []
        self._worker: WorkerThread | None = None

    @classmethod
    def from_instrument(cls, instrument: typing.Any, parameters: DriftSIParameters, sink: Sink, *,
                        task: TaskControl | None = None, prefix: str = "",
                        metadata: dict | None = None) -> "DriftCorrectedSI":
        """Build from a :class:`detectors.instrument.Instrument` (its scan, spectrum imager, probe
        shift and clock); the results record :meth:`~detectors.instrument.Instrument.metadata`
        (``simulated`` per device) under ``metadata``'s own keys."""
        metadata = {**instrument.metadata(), **(metadata or {})}
        return cls(instrument.scan, instrument.spectrum_imager, instrument.beam_shift, parameters,
                   sink, clock=instrument_clock(instrument), task=task, prefix=prefix, metadata=metadata)

    # -- threads ---------------------------------------------------------------------------
    def start(self) -> "DriftCorrectedSI":
        """Run in a worker thread; :meth:`join` waits, :meth:`abort` stops."""
        if self._worker is not None:
            raise RuntimeError("this workflow was already started")
        self._worker = WorkerThread(self.run, name="drift-si").start()
        return self

    @property
    def error(self) -> BaseException | None:
        """What the :meth:`start`-ed run raised (:class:`Aborted` after an abort)."""
        return self._worker.error if self._worker is not None else None

    def join(self, timeout: float | None = None) -> DriftSIResult | None:
        """Wait for the worker; re-raises its error (not :class:`Aborted`), returns the result."""
        if self._worker is not None:
            self._worker.join(timeout)
        if self.error is not None and not isinstance(self.error, Aborted):
            raise self.error
        return self.result

    def abort(self, reason: str = "aborted by the user") -> None:
        self.task.abort(reason)

    # -- the acquisition -------------------------------------------------------------------
    def run(self) -> DriftSIResult:
        """Acquire every sequence; returns the result (raises Aborted after an abort)."""
        plan, p = self.plan, self.parameters
        frame = plan.si_frame
        h, w = frame.size_px
        energy = plan.energy_eV
        tracker = DriftTracker(self.scan, self.probe_shift, plan.reference_frame, self.clock,
                               history=p.predictor_history, search_radius_px=p.search_radius_px,
                               min_quality=p.min_quality, enabled=p.correct_drift)
        self._create_results(tracker)
        acc = AlignedAccumulator((h, w), (energy.size,), dtype=np.float32)
        hacc = AlignedAccumulator((h, w))
        records: list[SequenceRecord] = []
        first_haadf = np.zeros(0)
        grid_px = np.zeros(2)  # mean model shift of the first sequence: the target grid
        timing = {"acquisition_s": 0.0, "reference_scan_s": 0.0, "registration_s": 0.0,
                  "wall_s": 0.0}
        wall0 = time.perf_counter()
        aborted = False
        maps: dict[str, EdgeMap] = {}
        try:
            self.task.check_abort()
            tracker.measure()  # the first reference: drift 0 by definition
            for k in range(p.n_sequences):
                self.task.check_abort()
                si_k, haadf_k, applied, times, t_start, t_end = self._sequence(k, tracker)
                timing["acquisition_s"] += t_end - t_start
                tracker.measure()  # after this sequence = before the next one
                # model: row i shows the specimen shifted by d(t_i) − s_i (nm) → image shift, px
                rel = tracker.drift_at_nm(times) - applied
                model = np.array([tracker.to_px(dy, dx, frame) for dy, dx in rel])
                if k == 0:
                    first_haadf, grid_px = haadf_k, model.mean(axis=0)
                predicted = model.mean(axis=0) - grid_px
                if not p.correct_drift:
                    rows, res_px, res_q = np.zeros_like(model), (0.0, 0.0), float("nan")
                elif k == 0:
                    rows, res_px, res_q = model - grid_px, (0.0, 0.0), float("nan")
                else:
                    measured, res_q = tracker.register(first_haadf, haadf_k, frame, tuple(predicted))
                    rows = model - model.mean(axis=0) + np.asarray(measured)
                    res_px = (measured[0] - predicted[0], measured[1] - predicted[1])
                acc.add(si_k, rows[:, 0], rows[:, 1])
                hacc.add(haadf_k, rows[:, 0], rows[:, 1])
                mean_applied = applied.mean(axis=0)
                rec = SequenceRecord(k, tracker.measurements[k], t_start, t_end,
                                     (float(mean_applied[0]), float(mean_applied[1])), res_px,
                                     tracker.to_nm(*res_px, frame), res_q,
                                     tuple(float(v) for v in rows.mean(axis=0)))
                records.append(rec)
                maps = self._emit(k, rec, tracker, si_k, haadf_k, acc, hacc, records)
                self.task.progress((k + 1) / p.n_sequences, f"sequence {k + 1}/{p.n_sequences} done")
        except Aborted as e:  # from the task or from inside a device call (an SI's rows)
            aborted = True
            reason = str(e) or self.task.abort_reason
            self._mark({**stop_metadata(Aborted(reason)), "abort_reason": reason})
            raise
        except BaseException as e:  # Ctrl-C is recorded as aborted, anything else as failed
            aborted = isinstance(e, KeyboardInterrupt)
            self._mark(stop_metadata(e))
            raise
        finally:
            if p.restore_probe_shift:
                try:
                    tracker.restore()
                except Exception as e:  # noqa: BLE001 - keep the original error; record this one
                    log.error("could not restore the probe shift to %s nm: %s", tracker.origin_shift_nm, e)
                    self._mark({"probe_shift_restore_error": str(e)})
            timing["reference_scan_s"] = tracker.reference_scan_s
            timing["registration_s"] = tracker.registration_s
            timing["wall_s"] = time.perf_counter() - wall0
            done = len(records)
            self.result = DriftSIResult(plan, acc.mean() * max(done, 1), hacc.mean() * max(done, 1),
                                        acc.count.copy(), maps, records, list(tracker.measurements),
                                        done, aborted, timing,
                                        tuple(-v for v in tracker.to_nm(*grid_px, frame)))
            self._mark({"timing": timing, "final_probe_shift_nm": list(self.probe_shift.get_shift_nm()),
                        "probe_shift_restored": bool(p.restore_probe_shift)})
            for name in self._names:
                self.sink.finish(name)
        self.task.progress(1.0, "done")
        return self.result

    def _sequence(self, k: int, tracker: DriftTracker
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
        """Acquire sequence ``k`` in sections, re-centring before each (feed-forward) or once.
        Returns (si, haadf, applied (h, 2) nm per row, row mid-times (h,) s, start, end)."""
        p, frame = self.parameters, self.plan.si_frame
        h, w = frame.size_px
        si = np.empty((h, w, self.plan.energy_eV.size), np.float32)
        haadf = np.empty((h, w), np.float32)
        applied = np.zeros((h, 2))
        times = np.zeros(h)
        t_start = self.clock()
        n = p.n_sequences
        for top in range(0, h, p.rows_per_section):
            self.task.check_abort()
            rows = min(p.rows_per_section, h - top)
            if top == 0 or p.feed_forward:
                tracker.recentre(self.clock() + 0.5 * rows * w * p.dwell_s)
            applied[top:top + rows] = tracker.applied_nm()
            t0 = self.clock()
            section = frame.subframe(top, 0, rows, w)
            si[top:top + rows], haadf[top:top + rows] = self.imager.acquire_spectrum_image(
                section, p.dwell_s, abort=lambda: self.task.aborted)
            # rows share the section's time span in proportion (exact for the simulator)
            t1 = self.clock()
            times[top:top + rows] = t0 + (np.arange(rows) + 0.5) * (t1 - t0) / rows
            self.task.progress((k + (top + rows) / h) / n, f"sequence {k + 1}/{n}, row {top + rows}/{h}")
        return si, haadf, applied, times, t_start, self.clock()

    # -- sink ------------------------------------------------------------------------------
    def _create_results(self, tracker: DriftTracker) -> None:
        plan, p, s = self.plan, self.parameters, self.sink
        frame, ref = plan.si_frame, plan.reference_frame
        h, w = frame.size_px
        n, ne = p.n_sequences, plan.energy_eV.size
        img = [dataclasses.replace(a, navigate=False) for a in image_axes(frame)]
        seq = Axis("sequence", "", navigate=True)
        meta = {**frame_metadata(frame, p.survey), **self.metadata, "exposure_s": p.dwell_s, "n_sequences": n,
                "correct_drift": p.correct_drift, "feed_forward": p.feed_forward,
                "reference": frame_metadata(ref)["scan"],
                "initial_probe_shift_nm": list(tracker.origin_shift_nm), "sequences_done": 0,
                "edges": [e.name for e in plan.edges]}
        P = self.prefix

        def create(name: str, shape: tuple, axes: list, title: str, signal_type: str = "") -> None:
            self._names.append(P + name)
            s.create(P + name, shape, axes, metadata=meta, title=title, signal_type=signal_type)

        create("si", (h, w, ne), image_axes(frame) + [energy_axis(plan.energy_eV)],
               "Drift-corrected EELS SI (sum)" if p.correct_drift else "EELS SI (uncorrected sum)", "EELS")
        create("haadf", (h, w), img, "HAADF (sum of sequences)")
        create("count_map", (h, w), img, "Sequences per pixel")
        for e in plan.edges:
            create(f"map_{e.key}", (h, w), img, f"{e.name} map (counts)")
            create(f"snr_{e.key}", (h, w), img, f"{e.name} SNR")
            s.update_metadata(P + f"map_{e.key}", {"edge": e.name, "fit_window_eV": list(e.fit_window_eV),
                                                  "signal_window_eV": list(e.signal_window_eV),
                                                  "background": "power law, two-area"})
        self._names.append(P + "drift_log")
        s.create(P + "drift_log", (n, len(LOG_COLUMNS)), [seq, Axis("column", "")],
                 metadata={**meta, "columns": list(LOG_COLUMNS),
                           "display": {"plot": ["measured_dy_nm", "measured_dx_nm"], "x": "reference_time_s",
                                       "labels": {"measured_dy_nm": "y drift", "measured_dx_nm": "x drift"},
                                       "intensity": "nm"}},
                 title="Drift log: measured y and x drift (nm) vs time (s)")
        create("haadf_sequences", (n, h, w), [seq] + img, "HAADF of each sequence")
        ref_axes = [dataclasses.replace(a, navigate=False) for a in image_axes(ref)]
        create("drift_references", (n,) + ref.size_px, [seq] + ref_axes, "Drift reference scans")
        if p.keep_sequences:
            create("si_sequences", (n, h, w, ne), [seq] + image_axes(frame) + [energy_axis(plan.energy_eV)],
                   "EELS SI sequences (raw)", "EELS")

    def _emit(self, k: int, rec: SequenceRecord, tracker: DriftTracker, si_k: np.ndarray,
              haadf_k: np.ndarray, acc: AlignedAccumulator, hacc: AlignedAccumulator,
              records: list[SequenceRecord]) -> dict[str, EdgeMap]:
        """Write sequence ``k`` and the updated sums; raw per-sequence data first, the sums last,
        then ``sequences_done`` (the commit mark)."""
        s, P, done = self.sink, self.prefix, k + 1
        if self.parameters.keep_sequences:
            s.write(P + "si_sequences", k, si_k)
        s.write(P + "haadf_sequences", k, haadf_k)
        s.write(P + "drift_references", k, tracker.images[-1])
        s.write(P + "drift_log", k, np.asarray(rec.row(tracker.measurements[0].time_s), np.float32))
        s.write(P + "si", slice(None), acc.mean() * done)
        s.write(P + "haadf", slice(None), hacc.mean() * done)
        s.write(P + "count_map", slice(None), acc.count.astype(np.float32))
        maps = self.compute_maps(acc, done)
        for e in self.plan.edges:
            s.write(P + f"map_{e.key}", slice(None), maps[e.name].signal)
            s.write(P + f"snr_{e.key}", slice(None), maps[e.name].snr)
            s.update_metadata(P + f"map_{e.key}", {"median_snr": float(np.nanmedian(maps[e.name].snr))})
        s.update_metadata(P + "si", {"sequences_done": done})
        return maps

    def compute_maps(self, acc: AlignedAccumulator, done: int) -> dict[str, EdgeMap]:
        """Elemental maps of the summed counts: SNR from the raw sums (their Poisson statistics),
        signal normalised to ``done`` sequences per pixel like ``si``."""
        out = {}
        covered = acc.count > 0
        scale = np.where(covered, done / np.where(covered, acc.count, 1.0), np.nan)
        for e in self.plan.edges:
            with np.errstate(all="ignore"):
                m = elemental_map(acc.sum, self.plan.energy_eV, e.name, pre_edge=e.fit_window_eV,
                                  signal_width_eV=e.signal_width_eV)
            snr = np.where(covered, m.snr, np.nan).astype(np.float32)
            out[e.name] = EdgeMap(e.name, (m.signal * scale).astype(np.float32), snr,
                                  e.fit_window_eV, e.signal_window_eV)
        return out

    def _mark(self, metadata: dict) -> None:
        for name in getattr(self, "_names", []):
            try:
                self.sink.update_metadata(name, metadata)
            except Exception:  # noqa: BLE001 - a failing sink must not hide the original error
                pass
