"""Numba kernels of the decomposition package, each with a plain numpy reference (for the tests).

Kernels take preallocated output buffers and do not allocate; rows are independent, so the
row loops run in parallel (``prange``).
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["scale_center_block", "scale_center_reference", "row_col_sums", "row_col_sums_reference",
           "hals_nnls_rows", "hals_nnls_rows_reference"]


@numba.njit(cache=True, nogil=True)
def row_col_sums(block, row_sum, col_sum_acc):  # pragma: no cover - compiled
    """``row_sum[i] = Σ_j block[i, j]`` and ``col_sum_acc[j] += Σ_i block[i, j]`` in one pass."""
    m, n = block.shape
    for i in range(m):
        s = 0.0
        for j in range(n):
            v = float(block[i, j])
            s += v
            col_sum_acc[j] += v
        row_sum[i] = s


def row_col_sums_reference(block: np.ndarray, row_sum: np.ndarray, col_sum_acc: np.ndarray) -> None:
    """numpy reference of :func:`row_col_sums`."""
    b = np.asarray(block, dtype=np.float64)
    row_sum[:] = b.sum(axis=1)
    col_sum_acc += b.sum(axis=0)


@numba.njit(cache=True, nogil=True)
def scale_center_block(block, row_w, col_w, out, col_mean):  # pragma: no cover - compiled
    """``out = row_w[:, None] * block * col_w[None, :]``, then centred on its own column mean.

    ``col_mean`` receives the mean of the scaled rows (before centring). Two passes over
    ``out`` (m, n), none over anything larger.
    """
    m, n = block.shape
    for j in range(n):
        col_mean[j] = 0.0
    for i in range(m):
        wi = row_w[i]
        for j in range(n):
            v = wi * float(block[i, j]) * col_w[j]
            out[i, j] = v
            col_mean[j] += v
    inv = 1.0 / m
    for j in range(n):
        col_mean[j] *= inv
    for i in range(m):
        for j in range(n):
            out[i, j] -= col_mean[j]


def scale_center_reference(block, row_w, col_w, out, col_mean) -> None:
    """numpy reference of :func:`scale_center_block`."""
    v = row_w[:, None] * np.asarray(block, dtype=np.float64) * col_w[None, :]
    col_mean[:] = v.mean(axis=0)
    out[:] = v - col_mean


@numba.njit(cache=True, nogil=True, parallel=True)
def hals_nnls_rows(W, XHt, HHt, n_iter):  # pragma: no cover - compiled
    """In-place coordinate descent (HALS) for the row-wise NNLS problems ``min ||x_i − w_i H||²``,
    ``w_i ≥ 0``, given the Gram ``HHt = H Hᵀ`` (k, k) and ``XHt = X Hᵀ`` (m, k).

    One sweep updates every coordinate j of every row i:
    ``w_ij ← max(0, w_ij + (XHt_ij − Σ_l w_il HHt_lj) / HHt_jj)``; coordinates with
    ``HHt_jj == 0`` are left unchanged. Each row is an independent convex problem, so the
    sweeps converge to the exact NNLS solution (Cichocki & Phan 2009).
    """
    m, k = W.shape
    for i in numba.prange(m):
        for _ in range(n_iter):
            for j in range(k):
                d = HHt[j, j]
                if d <= 0.0:
                    continue
                g = XHt[i, j]
                for l in range(k):
                    g -= W[i, l] * HHt[l, j]
                v = W[i, j] + g / d
                W[i, j] = v if v > 0.0 else 0.0


def hals_nnls_rows_reference(W: np.ndarray, XHt: np.ndarray, HHt: np.ndarray, n_iter: int) -> None:
    """numpy reference of :func:`hals_nnls_rows` (the same sweep order, vectorised over rows)."""
    k = W.shape[1]
    for _ in range(n_iter):
        for j in range(k):
            d = HHt[j, j]
            if d <= 0.0:
                continue
            g = XHt[:, j] - W @ HHt[:, j]
            W[:, j] = np.maximum(W[:, j] + g / d, 0.0)
