"""Online non-negative matrix factorisation with running sufficient statistics (Mairal et al.).

Same shape as :class:`~analysis.decomposition.pca.StreamingPCA`: preallocated state,
:meth:`OnlineNMF.partial_fit` per block, :meth:`OnlineNMF.merge` of partial results.
"""
from __future__ import annotations

import copy
import typing

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._kernels import hals_nnls_rows

__all__ = ["OnlineNMF", "nndsvd", "nnls_rows"]


def as_float(x: np.ndarray) -> np.ndarray:
    """``x`` itself if float32 or float64, else a float64 copy (counts of any integer type)."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def nnls_rows(x: np.ndarray, h: np.ndarray, *, n_iter: int = 100, w0: np.ndarray | None = None,
              out: np.ndarray | None = None) -> np.ndarray:
    """Batch non-negative least squares: ``w_i = argmin_{w ≥ 0} ||x_i − w h||`` for every row.

    Parameters
    ----------
    x : ndarray (m, n)
        Rows to fit (spectra). float32 rows are used as they are (``x @ hᵀ`` in single
        precision: no float64 copy of a large SI); anything else is converted to float64.
    h : ndarray (k, n)
        Non-negative basis (components, endmembers).
    n_iter : int
        Coordinate-descent (HALS) sweeps; each sweep costs O(m k²) after one ``x @ hᵀ``.
    w0 : ndarray (m, k), optional
        Warm start; default the clipped unconstrained least-squares solution.
    out : ndarray (m, k) float64, optional
        Preallocated result (may be ``w0``).

    Returns
    -------
    w : ndarray (m, k)

    Notes
    -----
    Every row is an independent strictly convex quadratic problem when ``h`` has full row
    rank, and cyclic coordinate descent with projection on ``w ≥ 0`` converges to its unique
    solution (the NNLS solution that :func:`scipy.optimize.nnls` finds pixel by pixel),
    here for all rows at once in a parallel numba kernel.

    Examples
    --------
    >>> h = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> np.round(nnls_rows(np.array([[2.0, 3.0, 5.0], [-1.0, 2.0, 2.0]]), h), 6).tolist()
    [[2.0, 3.0], [0.0, 2.0]]
    """
    x = as_float(x).reshape(-1, np.shape(h)[-1])
    h = np.asarray(h, dtype=np.float64)
    xht = np.asarray(x @ h.T.astype(x.dtype), dtype=np.float64)
    hht = h @ h.T
    w = out if out is not None else np.empty((x.shape[0], h.shape[0]))
    if w0 is not None:
        if w0 is not w:
            w[:] = w0
    else:
        w[:] = np.clip(np.linalg.lstsq(hht, xht.T, rcond=None)[0].T, 0.0, None)
    hals_nnls_rows(w, xht, hht, n_iter)
    return w


def nndsvd(x: np.ndarray, k: int) -> np.ndarray:
    """NNDSVD-a initial components (k, n) of non-negative data x (m, n) (Boutsidis &
    Gallopoulos 2008): the positive or negative part of each singular pair, whichever is
    larger, zeros replaced by the data mean.

    Examples
    --------
    >>> h = nndsvd(np.abs(np.random.default_rng(0).normal(size=(20, 6))), 2)
    >>> h.shape, bool((h >= 0).all())
    ((2, 6), True)
    """
    x = np.asarray(x, dtype=np.float64)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    h = np.zeros((k, x.shape[1]))
    h[0] = np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, min(k, s.size)):
        uu, vv = u[:, j], vt[j]
        up, un = np.maximum(uu, 0), np.maximum(-uu, 0)
        vp, vn = np.maximum(vv, 0), np.maximum(-vv, 0)
        mp = np.linalg.norm(up) * np.linalg.norm(vp)
        mn = np.linalg.norm(un) * np.linalg.norm(vn)
        if mp >= mn:
            h[j] = np.sqrt(s[j] * mp) * vp / max(np.linalg.norm(vp), 1e-300)
        else:
            h[j] = np.sqrt(s[j] * mn) * vn / max(np.linalg.norm(vn), 1e-300)
    h[h == 0] = x.mean() / 100.0 if x.mean() > 0 else 1e-12
    return h


class OnlineNMF:
    """Online NMF ``X ≈ W H`` (W, H ≥ 0) from blocks of spectra, after Mairal et al. (2010).

    Parameters
    ----------
    n_components : int
        Number of components k.
    n_channels : int
        Spectrum length n.
    n_iter_w : int
        HALS sweeps for the scores of each block (warm-started from least squares).
    n_iter_h : int
        HALS sweeps over the components per block, using the running statistics.
    forget : float
        Weight of the past statistics at each block, ``0 < forget <= 1``; 1 keeps exact sums
        (the statistics of a stationary stream), < 1 forgets early blocks scored with poor
        early components (Mairal et al. 2010, sec. 3.4).
    init : ndarray (k, n), optional
        Initial components; default NNDSVD-a of the first block (which then needs ≥ k rows).

    Attributes
    ----------
    components_ : ndarray (k, n)
        H (not normalised: the scale is shared with the scores; :meth:`transform` gives the
        matching W).
    A_, B_ : ndarray (k, k), (k, n)
        Running sufficient statistics Σ Wᵀ W and Σ Wᵀ X.
    n_samples_seen_ : int

    Notes
    -----
    Per block X_t: scores ``W_t = argmin_{W ≥ 0} ||X_t − W H||`` (batch HALS NNLS,
    :func:`nnls_rows`), then ``A ← ρA + W_tᵀ W_t``, ``B ← ρB + W_tᵀ X_t`` and the components
    minimise the surrogate ``½ tr(H ᵀ A H) − tr(Hᵀ B)`` over ``H ≥ 0`` by HALS on the
    rows of Hᵀ (``h_j ← max(0, h_j + (B_j − A_j H)/A_jj)``; the same kernel as the scores).
    No per-block allocation of anything larger than the block's scores.

    :meth:`merge` adds the other model's statistics (the statistics are sums, so this is exact
    for models that share component identity — workers made by :meth:`spawn` from one model
    after its first block, fed disjoint parts of the data, e.g. on Dask workers) and re-solves
    H. Models started
    from different initialisations have unrelated component orders; merging them is refused
    (ValueError) unless their components pair up in order.

    References
    ----------
    J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online learning for matrix factorization and
    sparse coding", J. Mach. Learn. Res. 11, 19 (2010).
    A. Cichocki, A.-H. Phan, "Fast local algorithms for large scale nonnegative matrix and
    tensor factorizations", IEICE Trans. Fundamentals E92-A, 708 (2009).
    C. Boutsidis, E. Gallopoulos, "SVD based initialization: a head start for nonnegative
    matrix factorization", Pattern Recognit. 41, 1350 (2008).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> h_true = rng.uniform(size=(3, 50))
    >>> x = rng.uniform(size=(400, 3)) @ h_true
    >>> nmf = OnlineNMF(3, 50)
    >>> for _ in range(3):
    ...     for part in x.reshape(8, 50, 50):
    ...         _ = nmf.partial_fit(part)
    >>> err = np.linalg.norm(x - nmf.transform(x) @ nmf.components_) / np.linalg.norm(x)
    >>> bool(err < 0.1)  # slow for exact-rank data; see the tests for noisy spectra
    True
    """

    def __init__(self, n_components: int, n_channels: int, *, n_iter_w: int = 30, n_iter_h: int = 10,
                 forget: float = 1.0, init: np.ndarray | None = None) -> None:
        if not 1 <= n_components <= n_channels:
            raise ValueError(f"need 1 <= n_components <= n_channels, got {n_components}, {n_channels}")
        if not 0 < forget <= 1:
            raise ValueError(f"forget must be in (0, 1], got {forget}")
        self.n_components = int(n_components)
        self.n_channels = int(n_channels)
        self.n_iter_w = int(n_iter_w)
        self.n_iter_h = int(n_iter_h)
        self.forget = float(forget)
        k, n = self.n_components, self.n_channels
        self.A_ = np.zeros((k, k))
        self.B_ = np.zeros((k, n))
        self._h = np.zeros((k, n))
        self._ht = np.zeros((n, k))                  # Hᵀ, the layout the HALS kernel updates
        self._bt = np.zeros((n, k))                  # Bᵀ, likewise
        self._initialised = False
        if init is not None:
            init = np.asarray(init, dtype=np.float64)
            if init.shape != (k, n) or (init < 0).any():
                raise ValueError(f"init must be non-negative with shape {(k, n)}")
            self._set_h(init)
        self.n_samples_seen_ = 0

    def _set_h(self, h: np.ndarray) -> None:
        self._h[:] = h
        self._ht[:] = h.T
        self._initialised = True

    def copy(self) -> "OnlineNMF":
        """An independent copy (components and statistics)."""
        return copy.deepcopy(self)

    def spawn(self) -> "OnlineNMF":
        """A worker: a copy with the current components and empty statistics. Feed it part of
        the data and :meth:`merge` it back; the statistics then add up exactly."""
        w = copy.deepcopy(self)
        w.A_[:] = 0.0
        w.B_[:] = 0.0
        w.n_samples_seen_ = 0
        return w

    @property
    def components_(self) -> np.ndarray:
        return self._h.copy()

    @property
    def initialised(self) -> bool:
        """True once H exists (``init`` given, or the first block seen)."""
        return self._initialised

    def transform(self, block: np.ndarray) -> np.ndarray:
        """Non-negative scores W (m, k) of a block of spectra (…, n) on the current components."""
        x = as_float(block).reshape(-1, self.n_channels)
        return nnls_rows(x, self._h, n_iter=max(self.n_iter_w, 100))

    def _update_h(self) -> None:
        self._bt[:] = self.B_.T
        hals_nnls_rows(self._ht, self._bt, self.A_, self.n_iter_h)
        self._h[:] = self._ht.T
        # a component that lost all its support is restarted from the data-weighted mean
        dead = self._h.max(axis=1) <= 0
        if dead.any():
            self._h[dead] = self.B_.sum(axis=0) / max(self.B_.sum(), 1e-300) * self._h.sum() / self.n_components
            self._ht[:] = self._h.T

    def partial_fit(self, block: np.ndarray) -> "OnlineNMF":
        """Score a block of non-negative spectra (…, n) and update the statistics and H."""
        x = np.asarray(block, dtype=np.float64).reshape(-1, self.n_channels)
        if not self._initialised:
            if x.shape[0] < self.n_components:
                raise ValueError(f"the first block needs >= {self.n_components} spectra to initialise")
            self._set_h(nndsvd(x, self.n_components))
        w = nnls_rows(x, self._h, n_iter=self.n_iter_w)
        self.A_ *= self.forget
        self.B_ *= self.forget
        self.A_ += w.T @ w
        self.B_ += w.T @ x
        self.n_samples_seen_ += x.shape[0]
        self._update_h()
        return self

    def rescore(self, blocks: typing.Iterable[np.ndarray]) -> "OnlineNMF":
        """Replace the statistics by those of ``blocks`` (all the spectra seen, kept by the
        caller) scored on the current components, then update H: one alternating step of batch
        NMF. Early blocks were scored with poor early components, and their statistics keep that
        error for good (forgetting only fades it). A live SI keeps every spectrum in its buffer,
        so it can afford to re-score them after each section
        (:meth:`~analysis.decomposition.live.LiveDecomposition.refine`).
        """
        k = self.n_components
        a, b, seen = np.zeros((k, k)), np.zeros((k, self.n_channels)), 0
        for block in blocks:
            x = as_float(block).reshape(-1, self.n_channels)
            w = nnls_rows(x, self._h, n_iter=self.n_iter_w)
            a += w.T @ w
            b += w.T.astype(x.dtype) @ x
            seen += x.shape[0]
        if seen:
            self.A_[:], self.B_[:], self.n_samples_seen_ = a, b, seen
            self._update_h()
        return self

    def merge(self, other: "OnlineNMF") -> "OnlineNMF":
        """Add another model's sufficient statistics and update H.

        Raises ValueError when the two models' components do not correspond (the pairing of
        minimum spectral angle is not component i with component i): their statistics would
        not add up.
        """
        if (other.n_components, other.n_channels) != (self.n_components, self.n_channels):
            raise ValueError("can only merge models of the same size")
        if other.n_samples_seen_ == 0:
            return self
        if not self._initialised:
            self.__dict__.update(other.copy().__dict__)
            return self
        a = self._h / np.maximum(np.linalg.norm(self._h, axis=1, keepdims=True), 1e-300)
        b = other._h / np.maximum(np.linalg.norm(other._h, axis=1, keepdims=True), 1e-300)
        rows, cols = linear_sum_assignment(-(a @ b.T))      # best pairing by spectral angle
        if not np.array_equal(cols[np.argsort(rows)], np.arange(self.n_components)):
            raise ValueError("the models' components do not correspond (different initialisation?); "
                             "spawn the workers from one initialised model")
        self.A_ += other.A_
        self.B_ += other.B_
        self.n_samples_seen_ += other.n_samples_seen_
        self._update_h()
        return self
