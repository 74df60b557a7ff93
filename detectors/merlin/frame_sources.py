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


class DefectiveChipSource:
    """Wrap a frame source with detector defects: hot and dead pixels, a noisy chip, and the
    counting threshold's noise floor (for training scenarios and tests of bad-pixel handling).

    Parameters
    ----------
    source : FrameSource
        The clean frames.
    hot_pixels, dead_pixels : sequence of (row, col)
        Hot pixels count ``hot_counts_per_s`` whatever the beam does; dead pixels count 0.
    noisy_chip : int, optional
        Index of the chip (256 columns each, left to right) whose noise floor is
        ``noisy_floor_keV`` instead of ``noise_floor_keV``.
    threshold_keV : callable () -> float, optional
        The detector's current lowest threshold (e.g. read from the simulator's parameters);
        below a chip's noise floor that chip counts noise at ``noise_counts_per_s_per_keV`` per
        keV below the floor, per pixel. ``None``: no threshold noise.
    seed : int
        Seed of the defects' noise.

    Notes
    -----
    Counts are the source's (clipping to the counter depth happens in the simulator).
    """

    def __init__(self, source: FrameSource, *, hot_pixels=(), dead_pixels=(), noisy_chip: int | None = None,
                 threshold_keV: Callable[[], float] | None = None, noise_floor_keV: float = 4.0,
                 noisy_floor_keV: float = 8.0, hot_counts_per_s: float = 2e5,
                 noise_counts_per_s_per_keV: float = 2e4, chip_columns: int = 256, seed: int = 0) -> None:
        self.source = source
        self.hot_pixels = tuple((int(r), int(c)) for r, c in hot_pixels)
        self.dead_pixels = tuple((int(r), int(c)) for r, c in dead_pixels)
        self.noisy_chip = noisy_chip
        self.threshold_keV = threshold_keV
        self.noise_floor_keV = float(noise_floor_keV)
        self.noisy_floor_keV = float(noisy_floor_keV)
        self.hot_counts_per_s = float(hot_counts_per_s)
        self.noise_counts_per_s_per_keV = float(noise_counts_per_s_per_keV)
        self.chip_columns = int(chip_columns)
        self._rng = np.random.default_rng([seed, 0xBAD])

    def noise_rate_per_s(self, cols: int, threshold_keV: float) -> np.ndarray:
        """Noise counts per pixel per second of each column at ``threshold_keV``."""
        floor = np.full(cols, self.noise_floor_keV)
        if self.noisy_chip is not None:
            c0 = self.noisy_chip * self.chip_columns
            floor[c0:c0 + self.chip_columns] = self.noisy_floor_keV
        return np.clip(floor - threshold_keV, 0.0, None) * self.noise_counts_per_s_per_keV

    def __call__(self, n_frames: int, exposure_s: float) -> np.ndarray:
        frames = np.asarray(self.source(n_frames, exposure_s))
        frames = frames.astype(np.uint32, copy=True)
        cols = frames.shape[-1]
        if self.threshold_keV is not None:
            rate = self.noise_rate_per_s(cols, float(self.threshold_keV()))
            noisy = np.flatnonzero(rate > 0)
            if noisy.size:
                lam = rate[noisy] * exposure_s
                frames[..., noisy] += self._rng.poisson(
                    lam, size=(*frames.shape[:-1], noisy.size)).astype(np.uint32)
        for r, c in self.hot_pixels:
            frames[:, r, c] += self._rng.poisson(self.hot_counts_per_s * exposure_s, n_frames).astype(np.uint32)
        for r, c in self.dead_pixels:
            frames[:, r, c] = 0
        return frames
