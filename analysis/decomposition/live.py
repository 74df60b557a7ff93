"""Live PCA of a spectrum image while it is acquired, in any pixel order (raster or sparse).

A thin layer over :class:`~analysis.decomposition.pca.StreamingPCA`: the spectra of each newly
acquired section are folded in as they arrive, and the score maps of every pixel acquired so
far are recomputed on the current components (the components change with every update, so old
scores go stale). No I/O: the workflow that owns the SI buffer calls :meth:`LivePCA.partial_fit`
and :meth:`LivePCA.score_maps` and writes the results wherever it writes.
"""
from __future__ import annotations

import numpy as np

from .pca import StreamingPCA

__all__ = ["LivePCA"]


class LivePCA:
    """Streaming PCA of an SI ``(h, w, n_channels)`` fed section by section.

    Parameters
    ----------
    n_components : int
        Components reported (loadings rows, score maps).
    n_channels : int
        Spectrum length.
    shape_px : (h, w)
        Scan shape; pixels are addressed by flat row-major index ``y·w + x``.
    poisson : bool
        Keenan–Kotula weighting (counts data; see :class:`StreamingPCA`). Loadings and scores
        live in the weighted space.
    block_size : int
        Largest block folded in one update (a scan line or a few).

    Attributes
    ----------
    pca : StreamingPCA
    visited : ndarray (h·w,) bool
        Pixels folded in so far.
    updates : int
        Number of :meth:`partial_fit` calls (sections).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> si = (rng.uniform(size=(8, 8, 2)) @ rng.uniform(1, 2, (2, 30))).reshape(64, 30)
    >>> live = LivePCA(2, 30, (8, 8), poisson=False)
    >>> for rows in np.split(np.arange(64), 4):
    ...     _ = live.partial_fit(si[rows], rows)
    >>> live.loadings().shape, live.score_maps(si).shape, live.updates
    ((2, 30), (2, 8, 8), 4)
    """

    def __init__(self, n_components: int, n_channels: int, shape_px: tuple[int, int], *,
                 poisson: bool = True, block_size: int = 128) -> None:
        h, w = (int(v) for v in shape_px)
        if h < 1 or w < 1:
            raise ValueError(f"shape_px must be positive, got {shape_px}")
        self.shape_px = (h, w)
        self.pca = StreamingPCA(n_components, n_channels, block_size=block_size, poisson=poisson)
        self.visited = np.zeros(h * w, dtype=bool)
        self.updates = 0

    @property
    def n_components(self) -> int:
        return self.pca.n_components

    def partial_fit(self, spectra: np.ndarray, indices: np.ndarray) -> "LivePCA":
        """Fold in the spectra (m, n_channels) of the pixels at flat ``indices`` (m,)."""
        indices = np.asarray(indices, dtype=np.intp).ravel()
        spectra = np.asarray(spectra).reshape(indices.size, -1)
        self.pca.partial_fit(spectra)
        self.visited[indices] = True
        self.updates += 1
        return self

    def loadings(self) -> np.ndarray:
        """Current principal axes (n_components, n_channels), float64."""
        return self.pca.components_

    def score_maps(self, si_flat: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Score maps (n_components, h, w), float32, of every visited pixel on the current
        components; 0 at pixels not visited yet (a score of 0 is the mean spectrum).

        ``si_flat`` is the SI buffer (h·w, n_channels) the spectra were taken from (only its
        visited rows are read, so unvisited rows may hold anything, NaN included).
        """
        h, w = self.shape_px
        out = np.zeros((h * w, self.n_components), np.float32)
        idx = np.flatnonzero(self.visited)
        for start in range(0, idx.size, chunk):  # bounded temporaries on large SIs
            part = idx[start:start + chunk]
            out[part] = self.pca.transform(si_flat[part])
        return np.ascontiguousarray(out.T).reshape(self.n_components, h, w)
