"""Simulated EELS camera, spectrum imager and probe shift on the shared world.

(The simulated scan is :class:`detectors.scan.SimulatedScanGenerator`, which the workflows reach
through :class:`detectors.scan.adapters.GeneratorScan`.) They implement the protocols of :mod:`detectors.interfaces`. The probe shift (the microscope's
scan offset used by drift correction) is added to every scan position, as on the microscope.
"""
from __future__ import annotations

import dataclasses
import time
import typing

import numpy as np

from detectors.interfaces import Aborted, ScanFrame, visits_per_section
from detectors.simulation.world import SimulatedWorld


class SimulatedProbeShift:
    """Probe/scan shift of the simulated column, nm, in the microscope frame: a record the
    simulated scan generator adds to every position (``world`` may be None: it is not read)."""

    def __init__(self, world: SimulatedWorld | None = None, limit_nm: float = 2000.0) -> None:
        self.world = world
        self.limit_nm = limit_nm
        self._shift = (0.0, 0.0)

    def get_shift_nm(self) -> tuple[float, float]:
        return self._shift

    def set_shift_nm(self, dy_nm: float, dx_nm: float) -> None:
        if max(abs(dy_nm), abs(dx_nm)) > self.limit_nm:
            raise ValueError(f"probe shift ({dy_nm:.1f}, {dx_nm:.1f}) nm exceeds the ±{self.limit_nm} nm range")
        self._shift = (float(dy_nm), float(dx_nm))

    def apply(self, frame: ScanFrame) -> ScanFrame:
        cy, cx = frame.center_nm
        return dataclasses.replace(frame, center_nm=(cy + self._shift[0], cx + self._shift[1]))


class SimulatedEELSCamera:
    """EELS camera of the Merlin's geometry (256 rows × 1024 channels) on the world."""

    def __init__(self, world: SimulatedWorld) -> None:
        self.world = world

    @property
    def rows(self) -> int:
        return self.world.camera_rows

    def energy_axis_eV(self) -> np.ndarray:
        return self.world.energy_axis_eV()

    def acquire_spectra(self, n: int, exposure_s: float) -> np.ndarray:
        _check_exposure(n, exposure_s)
        with self.world.lock:
            return self.world.acquire_spectra(n, exposure_s)

    def acquire_frames(self, n: int, exposure_s: float) -> np.ndarray:
        _check_exposure(n, exposure_s)
        with self.world.lock:
            return self.world.eels_frames(n, exposure_s)


class SimulatedSpectrumImager:
    """Scan synchronised with the EELS camera: one spectrum per pixel, HAADF alongside.

    The scan's flyback is ignored for the camera (the camera is the clock: one exposure per pixel).
    With ``pixel_order`` (a sparse scan) the probe visits only those pixels, in that order, one
    exposure each and no flyback (:meth:`ScanFrame.visits`), in chunks of about 0.1 s like the
    raster.
    """

    def __init__(self, world: SimulatedWorld, probe_shift: SimulatedProbeShift | None = None,
                 rows_per_chunk: int | None = None) -> None:
        self.world = world
        self.probe_shift = probe_shift or SimulatedProbeShift(world)
        self.rows_per_chunk = rows_per_chunk

    def energy_axis_eV(self) -> np.ndarray:
        return self.world.energy_axis_eV()

    def acquire_spectrum_image(self, frame: ScanFrame, exposure_s: float, *,
                               rows_done: typing.Callable[[int], None] | None = None,
                               abort: typing.Callable[[], bool] | None = None,
                               pixel_order: np.ndarray | None = None,
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Raster: (si (h, w, channels), haadf (h, w)); with ``pixel_order`` (flat indices):
        (spectra (n, channels), haadf (n,)) in visit order. ``rows_done(k)``: raster, the first k
        rows are complete; with a pixel order, the first k visits. Raises :class:`Aborted` when
        ``abort()`` is true between chunks."""
        _check_exposure(1, exposure_s)
        sync = dataclasses.replace(self.probe_shift.apply(frame), dwell_s=exposure_s, flyback_px=0)
        h, w = frame.size_px
        raster = pixel_order is None
        order = np.arange(h * w) if raster else np.asarray(pixel_order, dtype=np.int64).ravel()
        if not raster:
            sync.visits(order, 0.0)  # validates the order (range, repeats) before the beam moves
        n = order.size
        chunk = visits_per_section(exposure_s, w, raster, rows=self.rows_per_chunk)
        y_all, x_all = (a.ravel() for a in sync.positions_nm())
        world = self.world
        spectra = np.zeros((n, world.spectrometer.channels), np.float32)
        haadf = np.zeros(n, np.float32)
        for start in range(0, n, chunk):
            if abort is not None and abort():
                what = f"{start // w} of {h} rows" if raster else f"{start} of {n} pixels"
                raise Aborted(f"spectrum image aborted after {what}")
            part = slice(start, min(start + chunk, n))
            visited = order[part]
            wall_start = time.monotonic()
            with world.lock:
                times = world.clock.now_s() + (np.arange(visited.size) + 0.5) * exposure_s
                spectra[part] = world.eels_counts(y_all[visited], x_all[visited], times, exposure_s)
                haadf[part] = world.haadf_counts(y_all[visited], x_all[visited], times, exposure_s)
                world.pace(wall_start, visited.size * exposure_s)
            if rows_done is not None:
                rows_done(part.stop // w if raster else part.stop)
        if raster:
            return spectra.reshape(h, w, -1), haadf.reshape(h, w)
        return spectra, haadf


def _check_exposure(n: int, exposure_s: float) -> None:
    if n < 1:
        raise ValueError(f"number of frames must be ≥ 1, got {n}")
    if not 0 < exposure_s <= 60:
        raise ValueError(f"exposure {exposure_s!r} s outside (0, 60] s")
