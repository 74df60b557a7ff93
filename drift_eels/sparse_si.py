"""Sparse EELS spectrum image: visit a fraction of the pixels, reconstruct the rest.

The scan visits the pixels of a pattern of :mod:`analysis.sampling` (``random``: a random
subset in raster order; ``line-hopping``: one random row per column in bands of 1/fraction
rows) as a flat pixel order sent to the spectrum imager, in sections (progress, abort, live
results), then fills the unvisited pixels with the low-rank reconstruction
(:func:`analysis.sampling.inpaint_low_rank`).

Results written to the sink (``name`` = "si" by default):

``si``
    (y, x, energy loss) counts of the visited pixels; unvisited pixels of a row that was
    reached hold 0, rows never reached the sink's fill value (NaN in memory/HDF5, 0 in Swift);
    ``sampling_mask`` is the authority. Metadata ``sampling``: pattern, seed, requested and
    actual fraction, visits planned and done, dose fraction and reduction.
``si_haadf``
    (y, x) simultaneous HAADF, same convention.
``sampling_mask``
    (y, x) uint8, 1 = visited, updated after every section (so an abort leaves the visited
    pixels marked); metadata ``pixel_order``: the planned visiting order (flat indices, an
    int32 array; a dataset in HDF5, where attributes cannot hold it beyond ~16 k pixels).
``si_reconstructed``
    (y, x, energy loss) the low-rank reconstruction (only when the acquisition completes),
    written a few rows at a time.

Memory: the workflow holds the SI once (float32, NaN where not visited) plus the visited spectra
again during the fit (the sampled fraction of it); the reconstruction is rendered and written in
blocks of rows (:class:`analysis.sampling.LowRankFill`), never held whole. Peak ≈ (1 + fraction)
× the SI cube plus the sink's own copy if it keeps one (the memory sink does; HDF5 does not):
``benchmarks/bench_sparse_memory.py``.
``pca_loadings``, ``pca_scores`` (or ``nmf_…``)
    With ``live_components > 0``: live PCA (or NMF, ``live_method="nmf"``) of the visited
    spectra (:mod:`drift_eels.live_decomposition`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from analysis.sampling import LowRankFill, ScanPattern, fit_low_rank_fill, line_hopping_pattern, random_pattern
from detectors.interfaces import ScanFrame, SpectrumImager
from drift_eels.parameters import SPARSE_SI_CUBES, check_si_memory
from drift_eels.spectrum_image import (check_si_inputs, create_si_results, frame_metadata, image_axes,
                                       energy_axis, live_writer)
from lumiere.sinks import Sink, mark_stopped
from lumiere.tasks import TaskControl

PATTERNS = ("random", "line-hopping")


@dataclasses.dataclass
class SparseSI:
    """What :func:`acquire_sparse_spectrum_image` acquired.

    ``si`` (h, w, n) with NaN at unvisited pixels, ``haadf`` (h, w) likewise, ``pattern`` the
    planned :class:`~analysis.sampling.ScanPattern`, ``visits_done`` how many of its pixels were
    acquired, ``reconstruction`` the low-rank model (``reconstruction.rows(0, h)`` renders the
    (h, w, n) SI; the sink holds it as ``<name>_reconstructed``) or None if aborted.
    """

    si: np.ndarray
    haadf: np.ndarray
    pattern: ScanPattern
    visits_done: int
    reconstruction: LowRankFill | None

    @property
    def mask(self) -> np.ndarray:
        """(h, w) bool: pixels acquired."""
        h, w = self.pattern.mask.shape
        mask = np.zeros(h * w, dtype=bool)
        mask[self.pattern.order[:self.visits_done]] = True
        return mask.reshape(h, w)


def make_pattern(shape_px: tuple[int, int], pattern: str, fraction: float, *, seed: int = 0) -> ScanPattern:
    """The scan pattern ``pattern`` ("random" | "line-hopping") visiting ``fraction`` of the pixels."""
    if pattern == "random":
        return random_pattern(shape_px, fraction, seed=seed)
    if pattern == "line-hopping":
        return line_hopping_pattern(shape_px, fraction, seed=seed)
    raise ValueError(f"pattern = {pattern!r}; it must be one of {', '.join(PATTERNS)}")


def acquire_sparse_spectrum_image(imager: SpectrumImager, frame: ScanFrame, exposure_s: float, sink: Sink, *,
                                  pattern: str = "random", fraction: float = 0.25, seed: int = 0,
                                  name: str = "si", task: TaskControl | None = None, rows_per_section: int = 4,
                                  live_components: int = 0, live_method: str = "pca", rank: int = 8,
                                  metadata: dict | None = None) -> SparseSI:
    """Acquire a sparse EELS SI of ``frame`` and its low-rank reconstruction (see the module).

    Parameters
    ----------
    imager : SpectrumImager
        Must accept ``pixel_order``.
    frame : ScanFrame
    exposure_s : float
        Per visited pixel, (0, 60] s.
    sink : Sink
    pattern : {"random", "line-hopping"}
    fraction : float in (0, 1]
        Pixels visited (line-hopping rounds it to 1/integer); the dose relative to a full scan.
    seed : int
        Pattern seed.
    rows_per_section : int
        Sections hold the visits of about this many raster rows (``rows·w·fraction``): as many
        progress/abort/live-PCA steps as the raster SI.
    live_components : int
        Live decomposition of the visited spectra with this many components (0 = off).
    live_method : {"pca", "nmf"}
    rank : int
        Spectral components of the low-rank reconstruction.

    Returns
    -------
    SparseSI

    Raises
    ------
    ValueError
        Bad inputs, before anything moves.
    detectors.interfaces.Aborted
        After writing every completed section and the mask of the visited pixels (no
        reconstruction); the results record the stop (:func:`lumiere.sinks.mark_stopped`).
    """
    task = task or TaskControl()
    check_si_inputs(exposure_s, rows_per_section, live_components, live_method)
    if rank < 1:
        raise ValueError(f"reconstruction rank must be ≥ 1, got {rank}")
    h, w = frame.size_px
    energy = imager.energy_axis_eV()
    check_si_memory(f"size_px = {tuple(frame.size_px)}", (h, w), energy.size, SPARSE_SI_CUBES)  # before any write
    plan = make_pattern((h, w), pattern, fraction, seed=seed)
    n_visits = plan.order.size
    if n_visits < 3:
        raise ValueError(f"sampling {fraction} of a {h}×{w} scan visits {n_visits} pixels; at least 3 are needed")
    sampling = {"pattern": pattern, "seed": seed, "fraction_requested": fraction, "fraction": plan.fraction,
                "visits_planned": int(n_visits), "dose_fraction": plan.fraction,
                "dose_reduction": 1.0 / plan.fraction, "exposure_total_s": n_visits * exposure_s}
    meta = {**frame_metadata(frame), "exposure_s": exposure_s, "sampling": sampling, **(metadata or {})}
    create_si_results(sink, name, frame, energy, meta)
    sink.create("sampling_mask", (h, w), [dataclasses.replace(a, navigate=False) for a in image_axes(frame)],
                dtype="uint8", metadata={"sampling": sampling, "pixel_order": plan.order.astype(np.int32)},
                title=f"Sampling mask ({100 * plan.fraction:.0f} %, {pattern})")
    live = live_writer(sink, live_components, live_method, frame, energy, metadata={"sampling": sampling})
    names = [name, name + "_haadf", "sampling_mask", *(live.names if live is not None else ())]
    si = np.full((h * w, energy.size), np.nan, np.float32)
    haadf = np.full(h * w, np.nan, np.float32)
    mask = np.zeros(h * w, np.uint8)
    per_section = max(1, int(round(rows_per_section * w * plan.fraction)))
    done = 0
    try:
        for start in range(0, n_visits, per_section):
            task.check_abort()
            order = plan.order[start:start + per_section]
            spectra, part_haadf = imager.acquire_spectrum_image(frame, exposure_s, pixel_order=order)
            si[order], haadf[order], mask[order] = spectra, part_haadf, 1
            done = start + order.size
            _write_rows(sink, name, si, haadf, mask, order, (h, w))
            if live is not None:
                live.update(si, order)
            task.progress(0.9 * done / n_visits, f"sparse SI: {done}/{n_visits} pixels")
    except BaseException as exc:
        mark_stopped(sink, names, exc, {"visits_done": done})
        raise
    finally:
        for result in names:
            sink.finish(result)
    sink.update_metadata(name, {"visits_done": done})
    task.progress(0.9, "reconstructing (low rank)")
    fill = fit_low_rank_fill(si[plan.order], plan.order, (h, w), rank=rank)
    recon = name + "_reconstructed"
    sink.create(recon, (h, w, energy.size), image_axes(frame) + [energy_axis(energy)],
                metadata={**meta, "reconstruction": {"method": "low_rank", "rank": rank, "poisson": True}},
                title=f"EELS SI reconstructed from {100 * plan.fraction:.0f} % ({pattern})", signal_type="EELS")
    # rows rendered in float64 blocks of ~8 MiB: the reconstruction is never held whole
    block = max(1, (8 << 20) // (w * energy.size * 8))
    try:
        for top in range(0, h, block):
            task.check_abort()
            sink.write(recon, np.s_[top:top + block], fill.rows(top, top + block, np.float32))
            task.progress(0.9 + 0.1 * min(h, top + block) / h, "reconstructing (low rank)")
    except BaseException as exc:
        mark_stopped(sink, [recon], exc)
        raise
    finally:
        sink.finish(recon)
    task.progress(1.0, "sparse SI reconstructed")
    return SparseSI(si.reshape(h, w, -1), haadf.reshape(h, w), plan, done, fill)


def _write_rows(sink: Sink, name: str, si: np.ndarray, haadf: np.ndarray, mask: np.ndarray,
                order: np.ndarray, shape: tuple[int, int]) -> None:
    """Write the rows a section touched (slices only, so every sink, HDF5 included, takes them);
    unvisited pixels in them are written as 0, the mask as a whole."""
    h, w = shape
    rows = np.s_[int(order.min()) // w:int(order.max()) // w + 1]
    block_mask = mask.reshape(h, w)[rows].astype(bool)
    sink.write(name, rows, np.where(block_mask[..., None], si.reshape(h, w, -1)[rows], 0.0))
    sink.write(name + "_haadf", rows, np.where(block_mask, haadf.reshape(h, w)[rows], 0.0))
    sink.write("sampling_mask", np.s_[:], mask.reshape(h, w))
