"""Sparse scan patterns and the reconstruction of a spectrum image from the pixels visited.

A pattern is a visiting order of flat pixel indices (row-major, ``i = y·w + x``) plus the mask of
visited pixels; the measured spectra come in that order, ``(n_visited, n_channels)``. Two
reconstructions fill the SI ``(h, w, n_channels)``: per-channel linear interpolation (the
baseline) and a low-rank reconstruction that uses the few spectral components an SI consists of.
"""
from __future__ import annotations

import typing

import numpy as np
from scipy.spatial import Delaunay, cKDTree

from analysis.decomposition.pca import StreamingPCA

__all__ = ["ScanPattern", "random_pattern", "line_hopping_pattern", "interpolation_weights",
           "inpaint_interpolate", "inpaint_low_rank", "LowRankFill", "fit_low_rank_fill"]


class ScanPattern(typing.NamedTuple):
    """A sparse scan: ``order`` (flat pixel indices in visiting order) and ``mask`` (h, w)."""

    order: np.ndarray
    mask: np.ndarray

    @property
    def fraction(self) -> float:
        """Fraction of the pixels visited (the dose relative to a full scan)."""
        return float(self.mask.mean())


def _check(shape: tuple[int, int], fraction: float) -> tuple[int, int]:
    h, w = (int(v) for v in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be positive, got {shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return h, w


def random_pattern(shape: tuple[int, int], fraction: float, *, seed: int = 0,
                   raster: bool = True) -> ScanPattern:
    """Visit ``round(fraction·h·w)`` pixels chosen uniformly at random.

    Parameters
    ----------
    shape : (h, w)
    fraction : float in (0, 1]
    seed : int
    raster : bool
        Visit the chosen pixels in raster order (a normal scan with the beam blanked on the
        skipped pixels: no large probe jumps); ``False``: in random order.

    Returns
    -------
    ScanPattern

    Examples
    --------
    >>> p = random_pattern((8, 8), 0.25)
    >>> p.order.size, int(p.mask.sum()), bool(np.all(np.diff(p.order) > 0))
    (16, 16, True)
    """
    h, w = _check(shape, fraction)
    n = max(1, int(round(fraction * h * w)))
    order = np.random.default_rng(seed).choice(h * w, size=n, replace=False)
    if raster:
        order.sort()
    mask = np.zeros(h * w, dtype=bool)
    mask[order] = True
    return ScanPattern(order.astype(np.intp), mask.reshape(h, w))


def line_hopping_pattern(shape: tuple[int, int], fraction: float, *, seed: int = 0) -> ScanPattern:
    """Line-hop sampling: the probe sweeps x along bands of ``b = round(1/fraction)`` rows and,
    at every column, lands on one random row of the band (Kovarik et al. 2016).

    Every column of every band is visited exactly once, so the fraction visited is ``1/b``
    (the requested fraction rounded to the nearest reciprocal of an integer; a last, shorter band
    included) and the gaps are bounded (≤ 2b − 1 rows), unlike uniform random sampling; the fast
    scan direction stays x, the hops are small y steps a scan coil follows easily.

    Returns
    -------
    ScanPattern
        Order: band after band, columns in increasing x.

    References
    ----------
    L. Kovarik, A. Stevens, A. Liyu, N. D. Browning, "Implementing an accurate and rapid sparse
    sampling approach for low-dose atomic resolution STEM imaging", Appl. Phys. Lett. 109,
    164102 (2016).

    Examples
    --------
    >>> p = line_hopping_pattern((8, 6), 0.25)
    >>> p.mask.sum(axis=0).tolist(), p.fraction
    ([2, 2, 2, 2, 2, 2], 0.25)
    """
    h, w = _check(shape, fraction)
    b = max(1, int(round(1.0 / fraction)))
    rng = np.random.default_rng(seed)
    order = []
    for top in range(0, h, b):
        rows = top + rng.integers(0, min(b, h - top), size=w)
        order.append(rows * w + np.arange(w))
    order_arr = np.concatenate(order).astype(np.intp)
    mask = np.zeros(h * w, dtype=bool)
    mask[order_arr] = True
    return ScanPattern(order_arr, mask.reshape(h, w))


def interpolation_weights(indices: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Linear (Delaunay barycentric) interpolation weights from the visited pixels to every pixel.

    Parameters
    ----------
    indices : ndarray (n,)
        Flat indices of the visited pixels (any order; at least 3, not all on one line).
    shape : (h, w)

    Returns
    -------
    vertices : ndarray (h·w, 3) int
        Positions in ``indices`` of the three data points each pixel is interpolated from.
    weights : ndarray (h·w, 3)
        Their barycentric weights (sum 1). Pixels outside the convex hull of the visited ones
        take their nearest visited pixel (weights 1, 0, 0); visited pixels reproduce themselves.

    Notes
    -----
    Computed once per pattern; using them is one gather-and-sum per
    vertex, ``out = Σ_k w_k · values[v_k]``, for all channels at once — the same result as
    :class:`scipy.interpolate.LinearNDInterpolator`, without its per-channel loop.
    """
    h, w = (int(v) for v in shape)
    idx = np.asarray(indices, dtype=np.intp)
    pts = np.column_stack(np.divmod(idx, w)).astype(np.float64)
    gy, gx = np.divmod(np.arange(h * w), w)
    targets = np.column_stack([gy, gx]).astype(np.float64)
    tri = Delaunay(pts)
    simplex = tri.find_simplex(targets)
    inside = simplex >= 0
    verts = np.zeros((h * w, 3), dtype=np.intp)
    wts = np.zeros((h * w, 3))
    s = simplex[inside]
    t = tri.transform[s]                                       # (n, 3, 2)
    bary = np.einsum("nij,nj->ni", t[:, :2], targets[inside] - t[:, 2])
    wts[inside, :2] = bary
    wts[inside, 2] = 1.0 - bary.sum(axis=1)
    verts[inside] = tri.simplices[s]
    if (~inside).any():
        verts[~inside, 0] = cKDTree(pts).query(targets[~inside])[1]
        wts[~inside, 0] = 1.0
    verts[idx] = np.arange(idx.size)[:, None]
    wts[idx] = (1.0, 0.0, 0.0)
    return verts, wts


def _apply(values: np.ndarray, verts: np.ndarray, wts: np.ndarray) -> np.ndarray:
    out = wts[:, 0, None] * values[verts[:, 0]]
    for k in (1, 2):
        out += wts[:, k, None] * values[verts[:, k]]
    return out


def inpaint_interpolate(spectra: np.ndarray, indices: np.ndarray, shape: tuple[int, int], *,
                        method: str = "linear") -> np.ndarray:
    """Fill an SI from sparse spectra by interpolating every channel in the image plane.

    Parameters
    ----------
    spectra : ndarray (n, n_channels)
        The measured spectra, in the order of ``indices``.
    indices : ndarray (n,)
        Their flat pixel indices (e.g. ``pattern.order``).
    shape : (h, w)
    method : {"linear", "nearest"}
        Delaunay-linear interpolation (nearest visited pixel outside the hull), or nearest
        visited pixel everywhere.

    Returns
    -------
    ndarray (h, w, n_channels), float64

    Examples
    --------
    >>> si = np.arange(16.0).reshape(4, 4, 1)
    >>> p = random_pattern((4, 4), 0.5, seed=3)
    >>> bool(np.allclose(inpaint_interpolate(si.reshape(-1, 1)[p.order], p.order, (4, 4))[p.mask],
    ...                  si[p.mask]))
    True
    """
    x = np.asarray(spectra, dtype=np.float64).reshape(len(indices), -1)
    h, w = (int(v) for v in shape)
    if method == "nearest":
        idx = np.asarray(indices, dtype=np.intp)
        pts = np.column_stack(np.divmod(idx, w))
        grid = np.column_stack(np.divmod(np.arange(h * w), w))
        nearest = cKDTree(pts).query(grid)[1]
        return x[nearest].reshape(h, w, -1)
    if method != "linear":
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}")
    verts, wts = interpolation_weights(indices, (h, w))
    return _apply(x, verts, wts).reshape(h, w, -1)


def inpaint_low_rank(spectra: np.ndarray, indices: np.ndarray, shape: tuple[int, int], *,
                     rank: int = 8, poisson: bool = True, keep_measured: bool = False) -> np.ndarray:
    """Fill an SI from sparse spectra using its spectral low-rank structure.

    Parameters
    ----------
    spectra : ndarray (n, n_channels)
        The measured spectra (counts), in the order of ``indices``.
    indices : ndarray (n,)
        Their flat pixel indices.
    shape : (h, w)
    rank : int
        Number of spectral components kept (the mean spectrum comes on top).
    poisson : bool
        Weight the channels by ``1/sqrt(mean spectrum)`` before the decomposition
        (Keenan & Kotula 2004), so that Poisson noise is white across the channels.
    keep_measured : bool
        Put the measured spectra back at the visited pixels; by default they are replaced by
        their rank-``rank`` projection (denoised).

    Returns
    -------
    ndarray (h, w, n_channels), float64

    Notes
    -----
    The (pixels × channels) matrix has whole rows missing, which low-rank matrix completion
    alone cannot fill: a missing row's coefficients on the row space are unconstrained. The
    row space (the spectral components V and the mean μ) is learned from the measured rows —
    by the streaming PCA (:class:`~analysis.decomposition.StreamingPCA`) — and the missing
    rows' coefficients from the image plane: the r score maps ``s = (x − μ)V`` are
    interpolated (Delaunay-linear) and ``x̂ = μ + s Vᵀ``. This is the fixed point of the
    alternating projection between the rank-r matrices that agree with the measured rows
    (up to their projection) and the matrices whose missing rows are interpolated from their
    neighbours — the interpolation is linear, so it commutes with the projection and the
    fixed point is reached in one step. Compared with interpolating every channel, the
    measured spectra lose the noise outside the r-dimensional signal subspace (a fraction
    ``1 − r/n_channels`` of the Poisson noise), and interpolating r score maps instead of
    n_channels channels is cheaper.

    References
    ----------
    R. Mazumder, T. Hastie, R. Tibshirani, "Spectral regularization algorithms for learning
    large incomplete matrices", J. Mach. Learn. Res. 11, 2287 (2010) (soft-impute).
    M. R. Keenan, P. G. Kotula, Surf. Interface Anal. 36, 203 (2004).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> maps = rng.uniform(size=(16, 16, 2))
    >>> si = maps @ rng.uniform(1, 2, (2, 50))                 # rank 2, positive
    >>> p = random_pattern((16, 16), 0.5)
    >>> out = inpaint_low_rank(si.reshape(-1, 50)[p.order], p.order, (16, 16), rank=2)
    >>> bool(np.allclose(out[p.mask], si[p.mask]))
    True
    """
    x = np.asarray(spectra, dtype=np.float64).reshape(len(indices), -1)
    h, w = (int(v) for v in shape)
    out = fit_low_rank_fill(x, indices, (h, w), rank=rank, poisson=poisson).rows(0, h)
    if keep_measured:
        out.reshape(h * w, -1)[np.asarray(indices, dtype=np.intp)] = x
    return out


class LowRankFill(typing.NamedTuple):
    """The low-rank model of an SI fitted to sparse spectra (:func:`fit_low_rank_fill`): pixel
    ``i`` holds ``(mean + scores[i] @ components) * scale`` counts. Rendered a few rows at a time
    (:meth:`rows`), a large SI is reconstructed without holding it in memory twice."""

    mean: np.ndarray        # (n_channels,), weighted units
    components: np.ndarray  # (r, n_channels)
    scale: np.ndarray       # (n_channels,): weighted units → counts (1 without Poisson weighting)
    scores: np.ndarray      # (h·w, r): measured pixels' scores, the others interpolated
    shape: tuple[int, int]  # (h, w)

    def rows(self, start: int, stop: int, dtype: typing.Any = np.float64) -> np.ndarray:
        """The reconstruction of image rows ``start:stop``, (stop − start, w, n_channels)."""
        h, w = self.shape
        start, stop = max(0, int(start)), min(h, int(stop))
        out = self.scores[start * w:stop * w] @ self.components
        out += self.mean  # in place: one block-sized temporary
        out *= self.scale
        return out.astype(dtype, copy=False).reshape(stop - start, w, -1)


def fit_low_rank_fill(spectra: np.ndarray, indices: np.ndarray, shape: tuple[int, int], *, rank: int = 8,
                      poisson: bool = True, block_rows: int = 1024) -> LowRankFill:
    """The model of :func:`inpaint_low_rank` (its Notes), fitted ``block_rows`` spectra at a
    time: memory beyond ``spectra`` (any dtype, e.g. float32 counts) is a few blocks and the
    (h·w, rank) score maps.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> si = rng.uniform(size=(16, 16, 2)) @ rng.uniform(1, 2, (2, 50))
    >>> p = random_pattern((16, 16), 0.5)
    >>> fill = fit_low_rank_fill(si.reshape(-1, 50)[p.order], p.order, (16, 16), rank=2)
    >>> bool(np.allclose(fill.rows(0, 16)[p.mask], si[p.mask]))
    True
    """
    if block_rows < 256 or block_rows % 256:
        raise ValueError(f"block_rows = {block_rows} must be a positive multiple of 256 (the PCA's block)")
    x = np.asarray(spectra)
    x = x.reshape(len(indices), -1)
    h, w = (int(v) for v in shape)
    n, n_ch = x.shape
    if poisson:
        mean_spec = x.mean(axis=0, dtype=np.float64)
        scale = np.sqrt(np.clip(mean_spec, 0, None))
        inv = np.zeros_like(scale)
        np.divide(1.0, scale, out=inv, where=scale > 0)
    else:
        scale, inv = np.ones(n_ch), None

    def weighted(start: int) -> np.ndarray:  # one block of spectra in float64, weighted
        block = x[start:start + block_rows].astype(np.float64)
        if inv is not None:
            block *= inv
        return block

    r = int(min(rank, n_ch, n - 1))
    pca = StreamingPCA(r, n_ch, block_size=256)
    for start in range(0, n, block_rows):  # whole PCA blocks: the same folds as one call
        pca.partial_fit(weighted(start))
    scores = np.concatenate([pca.transform(weighted(start)) for start in range(0, n, block_rows)])  # (n, r)
    verts, wts = interpolation_weights(indices, (h, w))
    return LowRankFill(pca.mean_.copy(), pca.components_.copy(), scale, _apply(scores, verts, wts), (h, w))
