"""Specimen drift: a constant rate plus a slow random walk, deterministic under a seed.

Sign convention: ``drift.offset_nm(t)`` is where the specimen has moved to, in the microscope
frame, relative to t = 0. A feature that was under the probe at position p at t = 0 is under the
probe at p + offset(t) at time t; a scan image of the same area therefore shows the specimen
translated by +offset (see ``SimulatedWorld.specimen_position_nm``).
"""
from __future__ import annotations

import dataclasses
import threading

import numpy as np


@dataclasses.dataclass
class DriftSettings:
    """Drift parameters.

    rate_nm_per_min : (vy, vx) constant drift velocity, nm/min (thermal drift: 0.1–2 nm/min).
    random_walk_nm_per_sqrt_min : diffusion amplitude of the random walk per axis, nm/√min.
    step_s : time step of the random walk (linearly interpolated between steps).
    """

    rate_nm_per_min: tuple[float, float] = (1.2, 1.6)
    random_walk_nm_per_sqrt_min: float = 0.3
    step_s: float = 1.0


class DriftModel:
    """Deterministic drift path ``offset_nm(t)`` for t ≥ 0 (seconds of simulated time).

    The random walk is generated in blocks of 4096 steps, each block from its own seeded stream,
    so the path is the same however far and in whatever order it is queried. Bursts (a sudden
    creep after a stage move, for training scenarios) can be added with :meth:`add_burst`.
    """

    _BLOCK = 4096

    def __init__(self, settings: DriftSettings | None = None, seed: int = 0) -> None:
        self.settings = settings or DriftSettings()
        if self.settings.step_s <= 0:
            raise ValueError(f"drift step_s must be > 0, got {self.settings.step_s}")
        self.seed = seed
        self._walk = np.zeros((1, 2))  # walk[k] = position at k*step_s
        self._lock = threading.Lock()
        self._bursts: list[tuple[float, float, float, float]] = []  # (t0, tau, dy, dx)

    def _extend(self, n_steps: int) -> None:
        sigma = self.settings.random_walk_nm_per_sqrt_min * np.sqrt(self.settings.step_s / 60.0)
        while self._walk.shape[0] <= n_steps + 1:
            block = (self._walk.shape[0] - 1) // self._BLOCK
            rng = np.random.default_rng([self.seed, 0xD21F7, block])
            steps = rng.standard_normal((self._BLOCK, 2)) * sigma
            self._walk = np.concatenate([self._walk, self._walk[-1] + np.cumsum(steps, axis=0)])

    def add_burst(self, t0_s: float, amplitude_nm: tuple[float, float], tau_s: float = 30.0) -> None:
        """Add a creep of total ``amplitude_nm`` (dy, dx) starting at ``t0_s``, relaxing with ``tau_s``."""
        self._bursts.append((t0_s, tau_s, amplitude_nm[0], amplitude_nm[1]))

    def offset_nm(self, t_s: np.ndarray | float) -> np.ndarray:
        """Drift offsets (…, 2) as (dy, dx) in nm at simulated times ``t_s`` (seconds)."""
        t = np.clip(np.asarray(t_s, dtype=np.float64), 0.0, None)
        s = self.settings
        k = t / s.step_s
        with self._lock:
            self._extend(int(np.max(k, initial=0.0)) + 2)
            walk = self._walk
        k0 = np.floor(k).astype(np.int64)
        frac = (k - k0)[..., None]
        random_part = walk[k0] * (1 - frac) + walk[k0 + 1] * frac
        linear = np.stack([t * s.rate_nm_per_min[0] / 60.0, t * s.rate_nm_per_min[1] / 60.0], axis=-1)
        out = linear + random_part
        for t0, tau, dy, dx in self._bursts:
            g = np.where(t > t0, 1.0 - np.exp(-(t - t0) / tau), 0.0)[..., None]
            out = out + g * np.array([dy, dx])
        return out
