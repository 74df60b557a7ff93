"""Drift-aligned accumulation of spectrum-image sequences (and their HAADF images).

Each sequence is acquired while the specimen has drifted by (dy, dx) pixels relative to the
reference (convention of :mod:`analysis.registration`: the sequence equals the reference
translated by (dy, dx), so the sequence's pixel (y, x) shows the specimen point at reference
coordinates (y − dy, x − dx)). :class:`AlignedAccumulator` places every source pixel at that
sub-pixel position on a fixed target grid by bilinear splatting — its value is shared between the
4 surrounding target pixels with bilinear weights — and keeps the summed weights in a count map,
so that :meth:`AlignedAccumulator.mean` normalises each target pixel by what it really received.

The class has the shape of a LiberTEM UDF reduction: declared result buffers
(:meth:`~AlignedAccumulator.get_result_buffers`), a per-partition step
(:meth:`~AlignedAccumulator.add`) and :meth:`~AlignedAccumulator.merge` of two partial results,
so the same code runs live, offline and per Dask block.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["AlignedAccumulator", "splat_reference"]


@numba.njit(cache=True, nogil=True)
def _splat_kernel(data, ty, tx, out_sum, out_count):  # pragma: no cover - compiled
    """Bilinear splat of ``data`` (h, w, n) into ``out_sum`` (H, W, n) and ``out_count`` (H, W).

    Row ``y`` of the source lands at target row ``ty[y]`` (float) and column ``tx[y] + x``:
    one offset per row, so drift during the frame can be followed row by row. Weights outside
    the target grid are dropped (and therefore not counted).
    """
    h, w, n = data.shape
    H, W = out_count.shape
    for y in range(h):
        j0f = math.floor(ty[y])
        i0f = math.floor(tx[y])
        fy = ty[y] - j0f
        fx = tx[y] - i0f
        j0 = int(j0f)
        i0 = int(i0f)
        for dj in range(2):
            j = j0 + y + dj
            if j < 0 or j >= H:
                continue
            wy = (1.0 - fy) if dj == 0 else fy
            if wy == 0.0:
                continue
            for di in range(2):
                wgt = wy * ((1.0 - fx) if di == 0 else fx)
                if wgt == 0.0:
                    continue
                for x in range(w):
                    i = i0 + x + di
                    if i < 0 or i >= W:
                        continue
                    out_count[j, i] += wgt
                    src = data[y, x]
                    dst = out_sum[j, i]
                    for k in range(n):
                        dst[k] += wgt * src[k]


def splat_reference(data: np.ndarray, ty: np.ndarray, tx: np.ndarray,
                    out_sum: np.ndarray, out_count: np.ndarray) -> None:
    """Plain numpy reference of the numba splat kernel (same arguments; used by the tests)."""
    h, w = data.shape[:2]
    H, W = out_count.shape
    for y in range(h):
        j0, i0 = math.floor(ty[y]), math.floor(tx[y])
        fy, fx = ty[y] - j0, tx[y] - i0
        for dj, wy in ((0, 1 - fy), (1, fy)):
            for di, wx in ((0, 1 - fx), (1, fx)):
                j = j0 + y + dj
                cols = np.arange(w) + i0 + di
                ok = (cols >= 0) & (cols < W)
                if not (0 <= j < H) or wy * wx == 0 or not ok.any():
                    continue
                out_sum[j, cols[ok]] += wy * wx * data[y, ok].astype(out_sum.dtype)
                out_count[j, cols[ok]] += wy * wx


class AlignedAccumulator:
    """Running, drift-aligned sum of (y, x, E) spectrum images or (y, x) images.

    Parameters
    ----------
    shape : (int, int)
        Target grid (ny, nx) in reference pixels. Make it larger than the scan (and use
        ``origin_px``) to keep specimen areas that drift into view.
    signal_shape : tuple
        Per-pixel signal shape: ``(n_E,)`` for an SI, ``()`` for an image (the simultaneous
        HAADF).
    dtype : numpy dtype
        Sum buffer type. float64 default; float32 halves the memory of a large SI and is exact
        for integer counts up to 2**24 per channel.

    Attributes
    ----------
    sum : ndarray, shape ``shape + signal_shape``
        Weighted sum of the placed data.
    count : ndarray (float64), shape ``shape``
        Sum of the bilinear weights each target pixel received (1.0 per fully landed source
        pixel); the "dose map" of the accumulation.

    Notes
    -----
    :meth:`mean` returns ``sum / count``, with ``NaN`` where ``count`` is 0 (or below
    ``min_count``): a pixel that no sequence covered has no measurement, and NaN keeps it from
    being mistaken for zero signal in maps and fits (use ``fill=0`` for display).

    Examples
    --------
    >>> acc = AlignedAccumulator((4, 4), signal_shape=(3,))
    >>> acc.add(np.ones((4, 4, 3)), dy=0.5, dx=0.0)  # specimen moved half a pixel down
    >>> acc.count[:, 0]
    array([1. , 1. , 1. , 0.5])
    >>> float(acc.mean()[0, 0, 0])
    1.0
    """

    def __init__(self, shape: tuple[int, int], signal_shape: tuple[int, ...] = (),
                 dtype: np.dtype | type = np.float64) -> None:
        shape = tuple(int(s) for s in shape)
        signal_shape = tuple(int(s) for s in signal_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (ny, nx) with positive sizes, got {shape}")
        if any(s < 1 for s in signal_shape):
            raise ValueError(f"signal_shape must have positive sizes, got {signal_shape}")
        self.shape = shape
        self.signal_shape = signal_shape
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type, got {self.dtype}")
        bufs = self.get_result_buffers()
        self.sum = np.zeros(*bufs["sum"])
        self.count = np.zeros(*bufs["count"])
        self.n_added = 0

    def get_result_buffers(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Declared result buffers, name → (shape, dtype), as in a LiberTEM UDF."""
        return {"sum": (self.shape + self.signal_shape, self.dtype),
                "count": (self.shape, np.dtype(np.float64))}

    def add(self, data: np.ndarray, dy: float | np.ndarray, dx: float | np.ndarray, *,
            origin_px: tuple[float, float] = (0.0, 0.0)) -> None:
        """Place one sequence (or any partial result) on the target grid.

        Parameters
        ----------
        data : ndarray, shape ``(h, w) + signal_shape``
            The sequence's SI (or image), any real dtype (counts are fine).
        dy, dx : float or array of shape (h,)
            Drift of this sequence relative to the reference, pixels (the sequence equals the
            reference translated by (dy, dx)); an array gives one value per scan row, to follow
            drift during the frame.
        origin_px : (float, float)
            Target-grid position of ``data[0, 0]`` had there been no drift (e.g. the sub-scan
            offset, or the margin of a target grid larger than the scan).

        Notes
        -----
        Source pixel (y, x) lands at target (origin_y + y − dy, origin_x + x − dx).
        With scan re-centring (scan origin moved by Δ px to follow a specimen drift D), either
        pass the registration of the sequence's image against the reference (it measures
        D − Δ) with ``origin_px = 0``, or ``dy, dx = D`` with ``origin_px = Δ``: both place the
        pixel at (y, x) + Δ − D.
        """
        data = np.asarray(data)
        nsig = len(self.signal_shape)
        if data.ndim != 2 + nsig or data.shape[2:] != self.signal_shape:
            raise ValueError(f"data shape {data.shape} does not match (h, w) + signal_shape "
                             f"{self.signal_shape}")
        if data.dtype.kind not in "uif":
            raise ValueError(f"data dtype {data.dtype} is not a real number type")
        h, w = data.shape[:2]
        dy_rows = self._per_row(dy, h, "dy")
        dx_rows = self._per_row(dx, h, "dx")
        ty = float(origin_px[0]) - dy_rows
        tx = float(origin_px[1]) - dx_rows
        n = int(np.prod(self.signal_shape, dtype=np.int64))
        src = np.ascontiguousarray(data).reshape(h, w, n)
        _splat_kernel(src, ty, tx, self.sum.reshape(self.shape + (n,)), self.count)
        self.n_added += 1

    @staticmethod
    def _per_row(v: float | np.ndarray, h: int, name: str) -> np.ndarray:
        a = np.asarray(v, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(h, float(a))
        if a.shape != (h,):
            raise ValueError(f"{name} must be a scalar or have one value per row ({h}), "
                             f"got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got {v}")
        return a

    def merge(self, other: "AlignedAccumulator") -> None:
        """Add another accumulator's partial result (same grid and signal shape) into this one."""
        if (other.shape, other.signal_shape) != (self.shape, self.signal_shape):
            raise ValueError(f"cannot merge accumulator {other.shape}+{other.signal_shape} "
                             f"into {self.shape}+{self.signal_shape}")
        self.sum += other.sum
        self.count += other.count
        self.n_added += other.n_added

    def mean(self, *, fill: float = np.nan, min_count: float = 0.0) -> np.ndarray:
        """Normalised result ``sum / count``; ``fill`` (NaN by default) where count ≤ min_count
        (and wherever count is 0)."""
        good = self.count > max(min_count, 0.0)
        c = np.where(good, self.count, 1.0)
        c = c.reshape(self.shape + (1,) * len(self.signal_shape))
        out = (self.sum / c).astype(np.result_type(self.dtype, np.float32))
        out[~good] = fill
        return out
