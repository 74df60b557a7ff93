"""Per-block pieces of ``lumiere reprocess`` (see :mod:`drift_eels.reprocess`).

Everything here runs on one Dask block, in a thread of the local scheduler or in a
``dask.distributed`` worker process, so it is picklable and opens files by path (an open h5py
handle cannot travel to another process). Each function is LiberTEM-UDF-shaped: it fills a
result for one block; the workflow merges the blocks (a Dask tree sum for the aligned SI, a
:meth:`StreamingPCA.merge` for the decomposition, plain placement for maps and scores).
"""
from __future__ import annotations

import dataclasses
import pathlib

import h5py
import numpy as np

from analysis.accumulate import AlignedAccumulator
from analysis.correction import correct_spectra
from analysis.decomposition import StreamingPCA
from analysis.eels.edges import lookup_edge
from analysis.eels.maps import default_windows, elemental_map
from drift_eels.parameters import DEFAULT_SIGNAL_WIDTHS_EV, EdgeWindows
from lumiere.sinks import Axis


class H5Array:
    """Picklable read-only view of one HDF5 dataset (shape, dtype, ``[...]``); the file is
    opened for each read, so a Dask worker in another process can read the same file by path
    (on a cluster the path must be visible to every worker)."""

    def __init__(self, path: str | pathlib.Path, dataset: str) -> None:
        self.path, self.dataset = str(path), dataset
        with h5py.File(self.path, "r") as f:
            d = f[dataset]
            self.shape: tuple[int, ...] = tuple(d.shape)
            self.dtype = d.dtype
            self.chunks: tuple[int, ...] | None = d.chunks
        self.ndim = len(self.shape)

    def __getitem__(self, index: tuple) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f[self.dataset][index]


def find_result(path: str | pathlib.Path, name: str) -> tuple[H5Array, list[Axis]]:
    """The dataset and calibrated axes of result ``name`` in an :class:`~lumiere.sinks.HDF5Sink`
    file (``/Experiments/<name>/data``); ``ValueError`` naming what is missing."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"input file {str(path)!r} does not exist")
    try:
        with h5py.File(path, "r") as f:
            exps = f.get("Experiments")
            if exps is None or name not in exps or "data" not in exps[name]:
                have = sorted(exps) if exps is not None else []
                raise ValueError(f"{str(path)!r} has no dataset {name!r} (results in the file: {have}); "
                                 "write it with 'lumiere drift-si --keep-sequences'")
            group = exps[name]
            axes = []
            for i in range(group["data"].ndim):
                a = group[f"axis-{i}"].attrs if f"axis-{i}" in group else {}
                axes.append(Axis(str(a.get("name", f"axis-{i}")), str(a.get("units", "")),
                                 float(a.get("scale", 1.0)), float(a.get("offset", 0.0)),
                                 bool(a.get("navigate", False))))
    except OSError as e:
        raise ValueError(f"cannot read {str(path)!r} as HDF5: {e}") from None
    return H5Array(path, f"Experiments/{name}/data"), axes


def edge_windows(edges: tuple[str, ...], energy_eV: np.ndarray) -> tuple[EdgeWindows, ...]:
    """Fit and signal windows of each edge as the drift-corrected SI uses them (default
    windows, the signal widths of :data:`~drift_eels.parameters.DEFAULT_SIGNAL_WIDTHS_EV`);
    ``ValueError`` naming an unknown edge or one outside the energy axis."""
    if isinstance(edges, str) or not edges:
        raise ValueError(f"edges = {edges!r}: give a non-empty list of edge names such as 'Sc L2,3'")
    out = []
    probe = np.ones((1, energy_eV.size))
    for name in edges:
        edge = lookup_edge(name)
        fit_w, sig_w = default_windows(edge.onset_eV)
        width = DEFAULT_SIGNAL_WIDTHS_EV.get(edge.name)
        if width is not None:
            sig_w = (edge.onset_eV, edge.onset_eV + width)
        # validates the windows against the axis (the message names the edge and the range)
        elemental_map(probe, energy_eV, edge.name, pre_edge=fit_w, signal_window_eV=sig_w)
        out.append(EdgeWindows(edge.name, edge.onset_eV, fit_w, sig_w))
    if len({e.key for e in out}) != len(out):
        raise ValueError(f"edges = {list(edges)} names an edge twice")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class ChannelCorrection:
    """Per-channel dark (counts), gain and dead-channel mask (:mod:`analysis.correction`)."""

    dark: np.ndarray
    gain: np.ndarray
    dead: np.ndarray

    @classmethod
    def build(cls, n_channels: int, gain: np.ndarray | None = None, dark: np.ndarray | None = None,
              dead_channels: list[int] | tuple[int, ...] | np.ndarray | None = None) -> "ChannelCorrection":
        def vector(name: str, v: np.ndarray | None, default: float) -> np.ndarray:
            if v is None:
                return np.full(n_channels, default, np.float32)
            a = np.asarray(v, np.float32).reshape(-1)
            if a.size != n_channels or not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must have {n_channels} finite values (one per energy channel), "
                                 f"got {a.size}")
            return a
        dead = np.zeros(n_channels, bool)
        for c in (dead_channels if dead_channels is not None else ()):
            if not 0 <= int(c) < n_channels:
                raise ValueError(f"dead channel {c} is outside the energy axis [0, {n_channels - 1}]")
            dead[int(c)] = True
        return cls(vector("dark", dark, 0.0), vector("gain", gain, 1.0), dead)


def correct_and_place(source: H5Array, sequences: np.ndarray, groups: tuple[int, ...], shifts_px: np.ndarray,
                      correction: ChannelCorrection, *, block_info: dict | None = None) -> np.ndarray:
    """One (1, y, x, channels) block: the sum of a group of sequences' channel block, each read,
    corrected (numba :func:`~analysis.correction.correct_spectra`) and placed sub-pixel on the
    first sequence's grid (:class:`~analysis.accumulate.AlignedAccumulator`), unnormalised.

    Block (i, 0, 0, j) covers the sequences ``groups[i]:groups[i + 1]`` (indices into
    ``sequences``, the stack's sequences to use, and ``shifts_px``) and the channels of the
    block's array location. One channel beyond each side is read too and dropped after the
    correction: a dead channel at the block's edge is repaired from its true neighbour (the halo
    of a ``map_overlap`` without loading the neighbouring blocks). The sequences of a group
    are summed here, one in memory at a time, so a task holds ~3 blocks whatever the group size.
    """
    i = block_info[None]["chunk-location"][0]
    _, (y0, y1), (x0, x1), (e0, e1) = block_info[None]["array-location"]
    lo, hi = max(e0 - 1, 0), min(e1 + 1, source.shape[-1])
    c = correction
    dark, gain, dead = c.dark[lo:hi], c.gain[lo:hi], c.dead[lo:hi]
    acc = AlignedAccumulator((y1 - y0, x1 - x0), (e1 - e0,), dtype=np.float32)
    corrected = None
    for k in range(groups[i], groups[i + 1]):
        raw = source[(int(sequences[k]), slice(y0, y1), slice(x0, x1), slice(lo, hi))]
        if corrected is None:
            corrected = np.empty(raw.shape, np.float32)
        correct_spectra(raw, dark, gain, dead, out=corrected)
        acc.add(corrected[..., e0 - lo:e1 - lo], float(shifts_px[k, 0]), float(shifts_px[k, 1]))
    return acc.sum[None]


def map_block(si: np.ndarray, count: np.ndarray, n_sequences: int, energy_eV: np.ndarray,
              edges: tuple[EdgeWindows, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Elemental maps of a (rows, x, E) block of the aligned SI: edge key → (signal, snr).

    As in the drift-corrected SI: the fit runs on the summed counts (``si · count / n``, their
    Poisson statistics give the SNR), the signal is normalised like ``si`` (n sequences per
    pixel); NaN where no sequence landed."""
    covered = count > 0
    sums = np.where(covered[..., None], si * (count / n_sequences)[..., None], 0.0)
    scale = np.where(covered, n_sequences / np.where(covered, count, 1.0), np.nan)
    out = {}
    for e in edges:
        with np.errstate(all="ignore"):
            m = elemental_map(sums, energy_eV, e.name, pre_edge=e.fit_window_eV,
                              signal_window_eV=e.signal_window_eV)
        out[e.key] = ((m.signal * scale).astype(np.float32), np.where(covered, m.snr, np.nan).astype(np.float32))
    return out


def valid_pixels(si: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(rows, x) pixels that enter the decomposition: covered and finite in every channel."""
    return (count > 0) & np.all(np.isfinite(si), axis=-1)


def pca_block(si: np.ndarray, count: np.ndarray, n_components: int, poisson: bool) -> StreamingPCA:
    """A StreamingPCA partial model of one (rows, x, E) block's valid spectra."""
    model = StreamingPCA(n_components, si.shape[-1], block_size=256, poisson=poisson)
    good = valid_pixels(si, count)
    if good.any():
        model.partial_fit(si[good].astype(np.float64))
    return model


def analyse_block(si: np.ndarray, count: np.ndarray, n_sequences: int, energy_eV: np.ndarray,
                  edges: tuple[EdgeWindows, ...], n_components: int, poisson: bool
                  ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], StreamingPCA]:
    """Maps and the PCA partial model of one block: one read of the block for both."""
    return (map_block(si, count, n_sequences, energy_eV, edges),
            pca_block(si, count, n_components, poisson))


def score_block(si: np.ndarray, count: np.ndarray, model: StreamingPCA) -> np.ndarray:
    """(rows, x, k) PCA scores of a block on the merged model; NaN where not valid."""
    good = valid_pixels(si, count)
    out = np.full(si.shape[:-1] + (model.n_components,), np.nan, np.float32)
    if good.any():
        out[good] = model.transform(si[good].astype(np.float64))
    return out
