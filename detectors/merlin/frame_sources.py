"""Frame sources for the simulated Merlin: ``frame_source(n_frames, exposure_s) -> counts (n, rows, cols)``.

The simulator calls its source once per block of successive frames of an acquisition; a source keeps
its own state (random stream, simulated time), so consecutive calls continue the same experiment.
The project's simulated world plugs in here by passing any callable with this signature.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

FrameSource = Callable[[int, float], np.ndarray]


class SyntheticEelsSource:
    """A deterministic EELS-like pattern on a 256 x 1024 (Nx1) camera, with Poisson noise.

    Parameters
    ----------
    seed : int
        Seed of the noise stream; equal seeds give identical frame sequences.
    shape : tuple of int
        (rows, cols) of the camera.
    zlp_counts_per_ms : float
        Peak zero-loss counts per pixel per millisecond of exposure.
    dispersion_eV : float
        eV per column; the zero-loss peak sits at column ``cols // 5``.

    Notes
    -----
    The spectrum is a Gaussian zero-loss peak (0.5 eV FWHM), a 15 eV plasmon, a power-law tail and an
    edge at 285 eV, spread over a Gaussian band of rows around the camera centre (the spectrometer's
    non-dispersive focus). Expected counts scale with ``exposure_s``.
    """

    def __init__(self, seed: int = 0, shape: tuple[int, int] = (256, 1024), zlp_counts_per_ms: float = 400.0,
                 dispersion_eV: float = 0.3) -> None:
        self.seed = seed
        self.shape = shape
        self._rng = np.random.default_rng(seed)
        rows, cols = shape
        energy_eV = (np.arange(cols) - cols // 5) * dispersion_eV
        zlp = np.exp(-0.5 * (energy_eV / (0.5 / 2.355)) ** 2)
        plasmon = 0.08 * np.exp(-0.5 * ((energy_eV - 15.0) / 3.0) ** 2)
        tail = np.where(energy_eV > 2.0, 0.02 * (np.maximum(energy_eV, 2.0) / 2.0) ** -2.5, 0.0)
        edge = np.where(energy_eV > 285.0, 2e-4 * (np.maximum(energy_eV, 285.0) / 285.0) ** -3.0, 0.0)
        spectrum = zlp + plasmon + tail + edge
        band = np.exp(-0.5 * ((np.arange(rows) - rows / 2) / (rows / 16)) ** 2)
        self._rate_per_ms = (zlp_counts_per_ms * band[:, None] * spectrum[None, :]).astype(np.float64)

    def expected_counts(self, exposure_s: float) -> np.ndarray:
        """Mean counts per pixel for one frame of ``exposure_s`` seconds."""
        return self._rate_per_ms * (exposure_s * 1e3)

    def __call__(self, n_frames: int, exposure_s: float) -> np.ndarray:
        mean = self.expected_counts(exposure_s)
        return self._rng.poisson(mean, size=(n_frames, *self.shape)).astype(np.uint32)


class PatternSource:
    """Counts that encode the frame index and pixel position (cheap, exact, for tests of ordering).

    Frame ``k`` (0-based over the source's lifetime) holds a multiplicative hash of ``(k, row, col)``
    modulo ``max_count + 1``, so all bits of the counter are used and a swapped, shifted or flipped pixel
    or frame is detected.
    """

    def __init__(self, shape: tuple[int, int] = (256, 1024), max_count: int = 4095) -> None:
        self.shape, self.max_count = shape, max_count
        self._next = 0
        rows, cols = shape
        self._base = (np.arange(rows)[:, None] * 1031 + np.arange(cols)[None, :]).astype(np.int64)

    def __call__(self, n_frames: int, exposure_s: float) -> np.ndarray:
        k = np.arange(self._next, self._next + n_frames, dtype=np.int64)[:, None, None]
        self._next += n_frames
        key = (k % 4096) * 1_000_003 + self._base[None]
        return ((key * 2654435761) % (self.max_count + 1)).astype(np.uint32)
