"""Counting noise for the simulated detectors: a parallel, seed-deterministic Poisson sampler.

numpy's ``Generator.poisson`` is single-threaded (≈0.8 s for a 128×128×1024 spectrum image on
these machines). This kernel draws each element from a counter-based random stream (SplitMix64 of
``seed`` and the element index), so the result is identical whatever the number of threads and
can be computed in parallel chunks.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always")
def _splitmix64(x: np.uint64) -> np.uint64:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _uniform(state: np.uint64) -> float:
    # 53 random bits -> (0, 1]; never 0 so that log() is safe
    return ((state >> np.uint64(11)) + 1) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _poisson_one(lam: float, key: np.uint64) -> int:
    if lam <= 0.0:
        return 0
    counter = key
    if lam < 12.0:
        # inversion by sequential search: exact, O(lam)
        counter = _splitmix64(counter)
        u = _uniform(counter)
        p = math.exp(-lam)
        cdf = p
        k = 0
        while u > cdf and k < 1000:
            k += 1
            p *= lam / k
            cdf += p
        return k
    # Hörmann (1993) transformed rejection with squeeze (PTRS): exact for lam >= 10
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        counter = _splitmix64(counter)
        u = _uniform(counter) - 0.5
        counter = _splitmix64(counter)
        v = _uniform(counter)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
                -lam + k * loglam - math.lgamma(k + 1.0)):
            return int(k)


@numba.njit(parallel=True, cache=True)
def _poisson_kernel(lam: np.ndarray, seed: np.uint64, out: np.ndarray) -> None:
    n = lam.size
    flat_lam = lam.reshape(n)
    flat_out = out.reshape(n)
    base = _splitmix64(seed)
    for i in numba.prange(n):
        key = _splitmix64(base ^ (np.uint64(i) * _GOLDEN))
        flat_out[i] = _poisson_one(flat_lam[i], key)


def poisson_counts(expected: np.ndarray, seed: int, out: np.ndarray | None = None) -> np.ndarray:
    """Draw Poisson counts with the given expectations, deterministically from ``seed``.

    Parameters
    ----------
    expected : ndarray of float
        Expected counts (any shape, C-contiguous or it will be copied). Negative values count as 0.
    seed : int
        Any non-negative integer; the same ``(expected, seed)`` always gives the same counts.
    out : ndarray of float32, float64 or an integer type, optional
        Preallocated result of the same shape.

    Returns
    -------
    ndarray
        The counts (float32 unless ``out`` says otherwise).
    """
    lam = np.ascontiguousarray(expected, dtype=np.float64)
    if out is None:
        out = np.empty(lam.shape, np.float32)
    elif out.shape != lam.shape:
        raise ValueError(f"out has shape {out.shape}, expected {lam.shape}")
    _poisson_kernel(lam, np.uint64(seed & 0xFFFFFFFFFFFFFFFF), out)
    return out
