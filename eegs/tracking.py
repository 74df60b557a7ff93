"""Drift tracking during EEGS scans: the particle re-imaged, the probe re-parked beside it.

An EEGS scan parks the probe a few nm outside a particle for minutes; the specimen drifts
(~2 nm/min) and |β|² falls off within a few nm of the surface, so without tracking the gain
changes along the scan for a reason that is not the laser (issue 17). :class:`ProbeTracking`
reuses the drift-corrected SI's tracker (:class:`drift_eels.tracker.DriftTracker`: a HAADF scan
of a region around the parked probe, sub-pixel registration against the first one, linear
prediction of the drift, the probe shift set ahead of it). Every ``reimage_every`` points the
region is scanned again; before every point (and every laser-off reference) the probe shift is
set to the drift predicted at the middle of the exposure and the probe is parked again at its
commanded position, so it sits at the same place relative to the particle. Only scan images are
used: on a real site nothing is read from a simulation.

The per-point log (:data:`DRIFT_LOG_COLUMNS`, microscope frame nm, times from the first image)
holds the specimen drift measured by the images (interpolated to the point's mid-exposure), the
probe shift applied (s − s₀), and their difference: the probe's displacement relative to the
particle since the scan began (0 = the same place; ``offset_nm`` is its length).
"""
from __future__ import annotations

import typing

import numpy as np

from detectors.interfaces import ProbeShift, ScanDevice, ScanFrame
from drift_eels.tracker import DriftTracker
from lumiere.sinks import Axis, Sink

#: columns of the ``<name>_drift`` result, one row per scan point
DRIFT_LOG_COLUMNS = ("time_s", "drift_dy_nm", "drift_dx_nm", "applied_dy_nm", "applied_dx_nm",
                     "offset_dy_nm", "offset_dx_nm", "offset_nm")
#: the re-imaged region: pixels per side and dwell (64 × 66 × 20 µs ≈ 0.08 s per image, about 1 %
#: of a point of 100 × 0.1 s); its field of view is a scan parameter (``reimage_fov_nm``)
REIMAGE_SIZE_PX = 64
REIMAGE_DWELL_S = 20e-6


class ProbeTracking:
    """Re-images the region around the parked probe and keeps the probe beside the particle.

    Parameters
    ----------
    scan : ScanDevice
        Scans the region (HAADF) and parks the probe (commanded position, nm).
    probe_shift : ProbeShift
        The beam shift the drift is followed with (nm, microscope frame).
    fov_nm : float
        Side of the square region, centred on the parked probe; it must show the particle's
        edge (the default 128 nm holds a 20–45 nm-radius particle whose edge is ≤ 20 nm away).
    clock : callable() -> float
        Instrument time, s (the EEGS devices' ``now_s``).
    """

    def __init__(self, scan: ScanDevice, probe_shift: ProbeShift, fov_nm: float,
                 clock: typing.Callable[[], float]) -> None:
        self.scan = scan
        self.probe_nm = tuple(float(v) for v in scan.probe_position_nm())
        frame = ScanFrame(size_px=(REIMAGE_SIZE_PX, REIMAGE_SIZE_PX), fov_nm=float(fov_nm),
                          center_nm=self.probe_nm, dwell_s=REIMAGE_DWELL_S)
        self.tracker = DriftTracker(scan, probe_shift, frame, clock)
        self.clock = clock

    def reimage(self) -> None:
        """Scan the region, register it, update the prediction, park the probe again."""
        self.tracker.measure()
        self.park(self.clock())

    def park(self, time_s: float) -> tuple[float, float]:
        """Probe shift to s₀ + the drift predicted at ``time_s`` and the probe parked at its
        commanded position (which the shift moves with the specimen); returns s − s₀, nm."""
        applied = self.tracker.recentre(time_s)
        self.scan.set_probe_position_nm(*self.probe_nm)
        return applied

    def restore(self) -> None:
        """Probe shift back to s₀ and the probe at its commanded position (where the user put it)."""
        self.tracker.restore()
        self.scan.set_probe_position_nm(*self.probe_nm)

    @property
    def images(self) -> int:
        return len(self.tracker.measurements)

    def log_rows(self, times_s: np.ndarray, applied_nm: np.ndarray) -> np.ndarray:
        """Rows of :data:`DRIFT_LOG_COLUMNS` for points at mid-exposure ``times_s`` (n,) with the
        shift ``applied_nm`` (n, 2): the drift interpolated between the images (extrapolated
        along the prediction after the last one)."""
        t = np.asarray(times_s, float)
        applied = np.asarray(applied_nm, float).reshape(-1, 2)
        drift = self.tracker.drift_at_nm(t)
        offset = drift - applied
        t0 = self.tracker.measurements[0].time_s if self.tracker.measurements else 0.0
        return np.column_stack([t - t0, drift, applied, offset, np.hypot(offset[:, 0], offset[:, 1])])


class ScanTracking:
    """The tracking of one EEGS scan: when to re-image, the probe parked before every exposure,
    the per-point log kept in the sink (``name + "_drift"``) and in ``log`` (n, columns)."""

    def __init__(self, tracking: ProbeTracking, every: int, n_points: int) -> None:
        self.tracking = tracking
        self.every = int(every)
        self.log = np.full((n_points, len(DRIFT_LOG_COLUMNS)), np.nan)
        self._times = np.full(n_points, np.nan)
        self._applied = np.full((n_points, 2), np.nan)
        self._applied_now = (0.0, 0.0)
        self._sink: Sink | None = None
        self._name = ""

    def start(self, sink: Sink, name: str, axis: Axis) -> None:
        """Create the log result ``name`` in ``sink`` and take the first image."""
        self._sink, self._name = sink, name
        sink.create(name, self.log.shape, [axis, Axis("column", "")],
                    metadata={"columns": list(DRIFT_LOG_COLUMNS), "reimage_every": self.every,
                              "region": {"size_px": REIMAGE_SIZE_PX, "dwell_s": REIMAGE_DWELL_S,
                                         "fov_nm": self.tracking.tracker.reference_frame.fov_nm,
                                         "center_nm": list(self.tracking.probe_nm)},
                              "display": {"plot": ["offset_nm", "drift_dy_nm", "drift_dx_nm"],
                                          "intensity": "nm"}},
                    title="EEGS drift log (nm; offset = probe vs particle since the start)")
        self.tracking.reimage()  # the first image: drift 0 by definition

    def before_point(self, i: int) -> None:
        """Re-image before point ``i`` when it is due (every ``every`` points)."""
        if i > 0 and i % self.every == 0:
            self.tracking.reimage()
            self._rewrite(i)

    def park(self, duration_s: float) -> None:
        """Park the probe for the middle of the coming exposure of ``duration_s``."""
        self._applied_now = self.tracking.park(self.tracking.clock() + 0.5 * duration_s)

    def point_done(self, i: int, time_s: float) -> None:
        self._times[i] = time_s
        self._applied[i] = self._applied_now
        self._write(slice(i, i + 1))

    def finish(self, done: int) -> None:
        """A last image (so the last points are interpolated, not extrapolated), every row
        rewritten with it, the probe shift restored."""
        try:
            if done:
                self.tracking.reimage()
                self._rewrite(done)
        finally:
            self.tracking.restore()

    def _rewrite(self, stop: int) -> None:
        self._write(slice(0, stop))

    def _write(self, rows: slice) -> None:
        t = self._times[rows]
        ok = np.isfinite(t)
        if not ok.any():
            return
        block = np.full((t.size, len(DRIFT_LOG_COLUMNS)), np.nan)
        block[ok] = self.tracking.log_rows(t[ok], self._applied[rows][ok])
        self.log[rows] = block
        for k in np.flatnonzero(ok):
            self._sink.write(self._name, rows.start + int(k), block[k].astype(np.float32))
