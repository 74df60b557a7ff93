"""The simulator's hidden truth, for tests and benchmarks (never workflows): EEGS and maps.

:class:`EEGSTruth` wraps a simulated EELS camera's ``acquire_spectra``: for every exposure with
the laser on it records, from the world, the exposure-mean |β|² at the probe's true position
and time, and the probe's distance from a particle's surface (nm, at mid-exposure). Per scan
point (:meth:`per_point`) the chunks of that point are pooled: |β| = √(mean |β|²).
:func:`areal_density_map` is the truth behind an elemental map (atoms/nm² on a scan grid).
"""
from __future__ import annotations

import numpy as np

from detectors.simulation.world import SimulatedWorld


class EEGSTruth:
    """Records the truth of every illuminated exposure of ``camera`` (a simulated EELS camera
    on ``world``); ``particle`` = which particle's distance is recorded."""

    def __init__(self, world: SimulatedWorld, camera, particle: int = 0) -> None:
        self.world = world
        self.particle = world.specimen.particles[particle]
        self._acquire = camera.acquire_spectra
        self.chunks: list[tuple[float, float, float]] = []  # (mid time s, mean |β|², distance nm)
        camera.acquire_spectra = self._recording

    def _recording(self, n: int, exposure_s: float):
        w, p = self.world, self.particle
        t0, y, x = w.clock.now_s(), w.beam.probe_y_nm, w.beam.probe_x_nm
        out = self._acquire(n, exposure_s)
        if w.laser.illuminating:
            times = t0 + exposure_s * (np.arange(n) + 0.5)
            beta = w.beta(w.composition(np.full(n, y), np.full(n, x), times))
            sy, sx = w.specimen_position_nm(np.array([y]), np.array([x]), t0 + 0.5 * n * exposure_s)
            distance = float(np.hypot(sy[0] - p.y_nm, sx[0] - p.x_nm)) - p.radius_nm
            self.chunks.append((t0 + 0.5 * n * exposure_s, float(np.mean(beta ** 2)), distance))
        return out

    def per_point(self, point_time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(|β|, distance nm) per point, each chunk given to the point whose mid-exposure time
        (``point_time_s``, the scan result's) is nearest."""
        pt = np.asarray(point_time_s, float)
        c = np.array(self.chunks)
        owner = np.abs(c[:, :1] - pt[None, :]).argmin(axis=1)
        beta = np.array([np.sqrt(c[owner == i, 1].mean()) for i in range(pt.size)])
        distance = np.array([c[owner == i, 2].mean() for i in range(pt.size)])
        return beta, distance

    def resonance(self) -> tuple[float, float]:
        """(centre eV, FWHM eV) of the particle's plasmon, the truth the resonance fit targets."""
        return float(self.particle.resonance_eV), float(self.particle.resonance_fwhm_eV)


def areal_density_map(world: SimulatedWorld, frame, element: str,
                      offset_nm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Atoms per nm² of ``element`` (e.g. "Dy") at the pixels of ``frame`` (a ScanFrame), the
    specimen seen at nominal position + ``offset_nm`` and at t = 0 (no drift): the truth an
    elemental map on that grid is compared with (correlation, grain masks)."""
    y, x = frame.positions_nm()
    comp = world.composition((y + offset_nm[0]).ravel(), (x + offset_nm[1]).ravel(), 0.0)
    return comp.areal_density_per_nm2(element).reshape(y.shape)
