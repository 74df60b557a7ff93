"""Drift tracking: reference scans, sub-pixel registration, linear prediction, scan re-centring.

Signs (see ``detectors/simulation/drift.py``): the specimen drifts by ``d(t)`` (nm, microscope
frame); the probe at microscope position p sees specimen point ``p + s − d(t)`` where ``s`` is the
probe shift. To keep the same specimen area under the scan the probe shift must follow the
drift: ``s(t) = s₀ + d(t)``.

A reference scan taken with probe shift ``s`` registers against the first one (taken with
``s₀``) as ``(dy, dx)`` px (:func:`analysis.registration.measure_shift`: image = reference
translated by (dy, dx)); in nm (:func:`analysis.drift.pixels_to_nm`, the scan rotation
included) that shift is ``d − (s − s₀)``, so the measured drift is

    d = (s − s₀) + pixels_to_nm(dy, dx)

and :class:`DriftTracker` re-centres with ``s = s₀ + DriftPredictor.predict(t)``.
"""
from __future__ import annotations

import dataclasses
import time
import typing

import numpy as np

from analysis.drift import DriftPredictor, nm_to_pixels, pixels_to_nm
from analysis.registration import measure_shift
from detectors.interfaces import ProbeShift, ScanDevice, ScanFrame

Clock = typing.Callable[[], float]


@dataclasses.dataclass(frozen=True)
class DriftMeasurement:
    """One reference scan and what it measured.

    Attributes
    ----------
    time_s : float
        Instrument time at the middle of the reference scan, s.
    drift_nm : (dy, dx)
        Specimen drift since the first reference, microscope frame, nm.
    shift_px : (dy, dx)
        Registration of this reference against the first, reference pixels.
    probe_shift_nm : (dy, dx)
        Probe shift during the scan relative to the starting one (s − s₀), nm.
    quality : float
        Peak significance of the registration (below ~6: distrust).
    used : bool
        Whether the measurement entered the prediction.
    """

    time_s: float
    drift_nm: tuple[float, float]
    shift_px: tuple[float, float]
    probe_shift_nm: tuple[float, float]
    quality: float
    used: bool


def instrument_clock(instrument: typing.Any) -> Clock:
    """The instrument's time base, ``instrument.clock.now_s`` (the simulated world's clock only when
    every device is simulated, else the wall clock: :class:`detectors.instrument.Instrument`)."""
    return instrument.clock.now_s


class DriftTracker:
    """Measures the specimen drift on a reference region and re-centres the scan ahead of it.

    Parameters
    ----------
    scan : ScanDevice
        Scans the reference region (``acquire_frame``); the probe shift applies to it.
    probe_shift : ProbeShift
        Moves the scanned area, nm, microscope frame.
    reference_frame : ScanFrame
        The drift reference region (nm, rotation of the survey).
    clock : callable() -> float
        Instrument time, s (:func:`instrument_clock`).
    history : int
        Measurements used by the linear prediction (:class:`analysis.drift.DriftPredictor`).
    search_radius_px : float
        Registration search window around the predicted shift (reference pixels), used once the
        predictor has a velocity (≥ 2 measurements); before that the whole correlation is searched.
    min_quality : float
        Measurements with a lower peak significance are kept in :attr:`measurements` but not fed
        to the predictor.
    enabled : bool
        False: measure only, never move the probe (the uncorrected baseline).

    Attributes
    ----------
    origin_shift_nm : (dy, dx)
        Probe shift s₀ when the tracker was created (restored by :meth:`restore`).
    measurements : list of DriftMeasurement
    reference_scan_s, registration_s : float
        Accumulated instrument time spent scanning references and wall time spent registering.
    """

    def __init__(self, scan: ScanDevice, probe_shift: ProbeShift, reference_frame: ScanFrame,
                 clock: Clock, *, history: int = 6, search_radius_px: float = 8.0,
                 min_quality: float = 0.0, enabled: bool = True) -> None:
        self.scan = scan
        self.probe_shift = probe_shift
        self.reference_frame = reference_frame
        self.clock = clock
        self.predictor = DriftPredictor(history)
        self.search_radius_px = float(search_radius_px)
        self.min_quality = float(min_quality)
        self.enabled = enabled
        self.origin_shift_nm = tuple(float(v) for v in probe_shift.get_shift_nm())
        self.reference_image: np.ndarray | None = None
        self.images: list[np.ndarray] = []
        self.measurements: list[DriftMeasurement] = []
        self.reference_scan_s = 0.0
        self.registration_s = 0.0

    # -- frame conversions ----------------------------------------------------------------
    @property
    def pixel_size_nm(self) -> float:
        return self.reference_frame.pixel_size_nm

    def to_nm(self, dy_px: float, dx_px: float, frame: ScanFrame | None = None) -> tuple[float, float]:
        """Image displacement (px of ``frame``, default the reference frame) → microscope nm."""
        f = frame or self.reference_frame
        return pixels_to_nm(dy_px, dx_px, f.pixel_size_nm, f.rotation_rad)

    def to_px(self, dy_nm: float, dx_nm: float, frame: ScanFrame | None = None) -> tuple[float, float]:
        f = frame or self.reference_frame
        return nm_to_pixels(dy_nm, dx_nm, f.pixel_size_nm, f.rotation_rad)

    # -- probe shift ----------------------------------------------------------------------
    def applied_nm(self) -> tuple[float, float]:
        """Current probe shift relative to the starting one (s − s₀), nm."""
        s = self.probe_shift.get_shift_nm()
        return (float(s[0]) - self.origin_shift_nm[0], float(s[1]) - self.origin_shift_nm[1])

    def predict_nm(self, time_s: float) -> tuple[float, float]:
        """Predicted drift (nm) at ``time_s``; (0, 0) before the first measurement."""
        return self.predictor.predict(time_s)

    def recentre(self, time_s: float) -> tuple[float, float]:
        """Move the probe shift to s₀ + predicted drift at ``time_s``; returns the applied
        offset (s − s₀) in nm. Does nothing when the tracker is disabled."""
        if self.enabled and len(self.predictor):
            dy, dx = self.predict_nm(time_s)
            self.probe_shift.set_shift_nm(self.origin_shift_nm[0] + dy, self.origin_shift_nm[1] + dx)
        return self.applied_nm()

    def restore(self) -> None:
        """Put the probe shift back to s₀."""
        self.probe_shift.set_shift_nm(*self.origin_shift_nm)

    # -- measuring ------------------------------------------------------------------------
    def measure(self) -> DriftMeasurement:
        """Re-centre for the reference scan, scan the reference region, register it against the
        first reference and add the result to the prediction."""
        t_start = self.clock()
        self.recentre(t_start + self.reference_frame.frame_time_s / 2)
        applied = self.applied_nm()
        image = self.scan.acquire_frame(self.reference_frame)
        t_end = self.clock()
        self.reference_scan_s += t_end - t_start
        t_mid = 0.5 * (t_start + t_end)
        self.images.append(image)
        if self.reference_image is None:
            self.reference_image = image
            m = DriftMeasurement(t_mid, applied, (0.0, 0.0), applied, float("inf"), True)
        else:
            wall = time.perf_counter()
            if len(self.predictor) >= 2:
                pdy, pdx = self.predict_nm(t_mid)
                predicted = self.to_px(pdy - applied[0], pdx - applied[1])
                r = measure_shift(self.reference_image, image, predicted=predicted,
                                  search_radius=self.search_radius_px)
            else:
                r = measure_shift(self.reference_image, image)
            self.registration_s += time.perf_counter() - wall
            sy, sx = self.to_nm(r.dy, r.dx)
            drift = (applied[0] + sy, applied[1] + sx)
            m = DriftMeasurement(t_mid, drift, (r.dy, r.dx), applied, r.quality,
                                 bool(r.quality >= self.min_quality))
        if m.used:
            self.predictor.add(m.time_s, *m.drift_nm)
        self.measurements.append(m)
        return m

    def drift_at_nm(self, times_s: np.ndarray) -> np.ndarray:
        """Drift (…, 2) nm at ``times_s``, interpolated linearly between the measurements used
        for the prediction (extrapolated with the prediction beyond the last one)."""
        t = np.asarray(times_s, dtype=np.float64)
        used = [m for m in self.measurements if m.used]
        if not used:
            return np.zeros(t.shape + (2,))
        mt = np.array([m.time_s for m in used])
        md = np.array([m.drift_nm for m in used])
        out = np.stack([np.interp(t, mt, md[:, 0]), np.interp(t, mt, md[:, 1])], axis=-1)
        late = t > mt[-1]
        if np.any(late) and len(self.predictor) >= 2:
            vy, vx = self.predictor.velocity_nm_per_s()
            out[late] = md[-1] + (t[late] - mt[-1])[:, None] * np.array([vy, vx])
        return out

    def register(self, reference: np.ndarray, image: np.ndarray, frame: ScanFrame,
                 predicted_px: tuple[float, float] = (0.0, 0.0),
                 search_radius_px: float | None = None) -> tuple[tuple[float, float], float]:
        """Shift of ``image`` against ``reference`` (two images of ``frame``, e.g. the HAADF
        recorded with two SI sequences), searched around ``predicted_px``: ((dy, dx) px,
        quality). Timed into :attr:`registration_s`."""
        wall = time.perf_counter()
        radius = search_radius_px if search_radius_px is not None else max(3.0, min(frame.size_px) / 8)
        r = measure_shift(reference, image, predicted=predicted_px, search_radius=radius)
        self.registration_s += time.perf_counter() - wall
        return (r.dy, r.dx), r.quality
