"""Live PCA or NMF loadings and score maps written to a sink while a spectrum image is acquired.

Used by :func:`drift_eels.spectrum_image.acquire_spectrum_image` (raster) and
:func:`drift_eels.sparse_si.acquire_sparse_spectrum_image` (sparse: the visited spectra only)
with ``live_components=k``: after every section the results ``<method>_loadings`` (k, energy
loss; eV) and ``<method>_scores`` (k, y, x; nm) are rewritten, so a Swift data item of each
follows the acquisition. PCA is Poisson-weighted (Keenan–Kotula) streaming PCA and NMF is online
NMF on the counts, as the offline ``lumiere.decomposition`` computation does.
"""
from __future__ import annotations

import dataclasses
import typing

import numpy as np

from analysis.decomposition.live import LiveDecomposition
from lumiere.sinks import Axis, Sink

_TITLES = {"pca": ("Live PCA loadings", "Live PCA score maps"),
           "nmf": ("Live NMF components", "Live NMF abundance maps")}


class LiveDecompositionWriter:
    """Owns a :class:`~analysis.decomposition.live.LiveDecomposition` and its two sink results.

    Parameters
    ----------
    sink : Sink
    n_components : int
        k ≥ 1 (at most the number of channels).
    shape_px : (h, w)
        Scan shape.
    image_axes : [Axis, Axis]
        The SI's (y, x) axes in nm.
    energy : Axis
        The SI's energy-loss axis (eV).
    n_channels : int
    method : {"pca", "nmf"}
        Result names are ``method + "_loadings"`` and ``method + "_scores"``.
    metadata : dict, optional
        Added to both results' metadata.
    """

    def __init__(self, sink: Sink, n_components: int, shape_px: tuple[int, int], image_axes: typing.Sequence[Axis],
                 energy: Axis, n_channels: int, *, method: str = "pca", metadata: dict | None = None) -> None:
        if not 1 <= n_components <= n_channels:
            raise ValueError(f"live {method.upper()} components = {n_components}; it must be 1–{n_channels}")
        h, w = (int(v) for v in shape_px)
        self.live = LiveDecomposition(method, n_components, n_channels, (h, w), poisson=True, block_size=max(w, 16))
        self.sink = sink
        self.loadings_name, self.scores_name = method + "_loadings", method + "_scores"
        component = Axis("component", "", navigate=True)
        meta = {"method": method, "poisson_weighting": self.live.poisson, "components": n_components,
                **(metadata or {})}
        loadings_title, scores_title = _TITLES[method]
        sink.create(self.loadings_name, (n_components, n_channels), [component, energy], metadata=meta,
                    title=f"{loadings_title} ({n_components})")
        sink.create(self.scores_name, (n_components, h, w),
                    [component] + [dataclasses.replace(a, navigate=False) for a in image_axes],
                    metadata=meta, title=f"{scores_title} ({n_components})")

    @property
    def names(self) -> tuple[str, str]:
        return self.loadings_name, self.scores_name

    def update(self, si_flat: np.ndarray, indices: np.ndarray) -> None:
        """Fold in the pixels at flat ``indices`` of the SI buffer ``si_flat`` (h·w, n) and
        rewrite loadings and score maps."""
        self.live.partial_fit(si_flat[np.asarray(indices, dtype=np.intp).ravel()], indices)
        self.live.refine(si_flat)
        self.sink.write(self.loadings_name, np.s_[:], self.live.loadings().astype(np.float32))
        self.sink.write(self.scores_name, np.s_[:], self.live.score_maps(si_flat))
        seen = {"spectra_seen": int(self.live.visited.sum()), "updates": self.live.updates}
        self.sink.update_metadata(self.loadings_name, seen)
        self.sink.update_metadata(self.scores_name, seen)

    def finish(self) -> None:
        self.sink.finish(self.loadings_name)
        self.sink.finish(self.scores_name)
