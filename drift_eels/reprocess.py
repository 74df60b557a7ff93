"""Out-of-core reprocessing of a drift-corrected SI's sequence stack with Dask (``lumiere reprocess``).

Input: an HDF5 file as :class:`~drift_eels.workflow.DriftCorrectedSI` writes it with
``keep_sequences`` (``si_sequences`` (sequence, y, x, E) and ``haadf_sequences`` (sequence, y,
x), HyperSpy layout, calibrated axes). The stack may be larger than memory: nothing here holds
more than a few blocks of it.

Pipeline
--------
1. **Registration** (eager, the HAADF stack is small): every complete sequence's HAADF against
   the first one's, :func:`analysis.registration.measure_shift` — ``(dy, dx)`` px means the
   sequence equals the first translated by (dy, dx) — and the summed HAADF with its count map.
   One shift per sequence: the live workflow also places each row by its drift model, so drift
   *within* a sequence is not corrected again here (on the simulator the two sums correlate
   > 0.999, ``tests/workflows/test_reprocess.py``).
2. **Correction + alignment** (Dask, blocks of (y, x, channels)): a ``map_blocks`` task reads
   a group of sequences' channel block one sequence at a time, corrects it per channel (numba
   :func:`analysis.correction.correct_spectra`: dark, gain, dead channels), places it sub-pixel
   on the first sequence's grid (:class:`analysis.accumulate.AlignedAccumulator`) and sums the
   group; Dask adds the ≤ 4 group sums. The energy axis is the chunked one: a sequence's shift
   is the same for every channel, so a block of channels is aligned on its own. Normalised like
   the workflow's ``si`` (sum · n / count: n sequences' worth of counts, NaN where none landed),
   written block-wise.
3. **Maps + PCA** (Dask, blocks of rows of the aligned SI read back from the output file, all
   channels): elemental maps per block (:func:`analysis.eels.maps.elemental_map`, fitted on the
   summed counts as in the workflow) and a :class:`analysis.decomposition.StreamingPCA` partial
   model per block, merged in block order on the client (deterministic whatever the scheduler).
4. **Scores**: every block projected on the merged model.

Why StreamingPCA rather than ``dask.array.linalg.tsqr``/``svd``: it is the decomposition the
live pipeline uses (same code, same Keenan–Kotula Poisson option), its per-block partial fit +
merge is exactly the UDF shape Dask needs, its state is K × E whatever the number of pixels, and
pixels no sequence covered (NaN) are simply left out of a block (tsqr would need the
uncovered rows removed, i.e. unknown chunk sizes). The price is the truncation to
``n_components + 5`` per update: the retained subspace matches the offline SVD to a small
principal angle when the data have a spectral gap (tests).

Scheduling is Dask's: the local threaded scheduler by default, a ``dask.distributed`` cluster
for ``scheduler="tcp://host:port"``. The workflow only walks the output blocks in batches (a
few per worker), so that every batch is written (the file is closed after each write: a crash
keeps every finished block, unfinished ones read NaN), progress is reported and an abort is
honoured between batches.

Results (names in the output file)
----------------------------------
``si``               (y, x, E) aligned, corrected SI normalised to n sequences; nm, nm, eV
``haadf``            (y, x) summed HAADF, same normalisation
``count_map``        (y, x) sequences that covered each pixel (bilinear weights)
``shifts``           (sequence, 3) dy_px, dx_px, registration quality of every used sequence
``map_<edge>``       (y, x) background-subtracted edge counts, normalised like ``si``
``snr_<edge>``       (y, x) signal / Poisson uncertainty of the summed counts
``pca_loadings``     (component, E) principal axes; ``pca_mean`` (E) the mean spectrum
``pca_scores``       (y, x, component) scores (NaN where no sequence landed)
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import time
import typing

import dask
import dask.array as da
import numpy as np
from threadpoolctl import threadpool_limits

from analysis.accumulate import AlignedAccumulator
from analysis.decomposition import StreamingPCA
from analysis.registration import measure_shift
from drift_eels.parameters import DEFAULT_EDGES, EdgeWindows
from drift_eels.reprocess_blocks import (ChannelCorrection, H5Array, analyse_block, correct_and_place,
                                         edge_windows, find_result, score_block)
from lumiere.sinks import Axis, HDF5Sink, stop_metadata
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl

#: progress fraction at the start of each stage
_STAGES = {"registration": 0.0, "alignment": 0.05, "maps_pca": 0.6, "scores": 0.85}


@dataclasses.dataclass
class ReprocessSummary:
    """What :func:`reprocess` did."""

    output_path: pathlib.Path
    n_sequences: int                 #: sequences used (complete in the input)
    shape: tuple[int, int, int]      #: (y, x, E) of the aligned SI
    shifts_px: np.ndarray            #: (n_sequences, 2) dy, dx of each sequence vs the first, px
    quality: np.ndarray              #: (n_sequences,) registration quality (NaN for the first)
    explained_variance: np.ndarray   #: (n_components,)
    scheduler: str
    energy_chunk: int                #: channels per block of the alignment stage
    row_chunk: int                   #: rows per block of the maps / PCA stage
    timing: dict[str, float]
    aborted: bool = False


def reprocess(input_path: str | pathlib.Path, output_path: str | pathlib.Path, *,
              edges: typing.Sequence[str] = DEFAULT_EDGES, n_components: int = 4,
              scheduler: str | None = None, chunk_mb: float = 32.0, prefix: str = "",
              gain: np.ndarray | None = None, dark: np.ndarray | None = None,
              dead_channels: typing.Sequence[int] | None = None, poisson: bool = False,
              task: TaskControl | None = None, overwrite: bool = False) -> ReprocessSummary:
    """Correct, drift-align, decompose and map a sequence stack out of core (module docstring).

    Parameters
    ----------
    input_path : path
        HDF5 file with ``<prefix>si_sequences`` and ``<prefix>haadf_sequences`` (HDF5Sink
        layout). Sequences whose HAADF holds NaN (not acquired: the run was aborted) are skipped.
    output_path : path
        HDF5 file to create; must differ from the input. An existing file is kept
        (:class:`FileExistsError`) unless ``overwrite`` — the CLI picks a free name first
        (:func:`lumiere.outputs.new_file`); ``.hspy`` opens with a plain ``hs.load``.
    edges : sequence of str
        Edge names for the elemental maps (:func:`analysis.eels.edges.known_edges`).
    n_components : int
        PCA components.
    scheduler : str, optional
        ``None``/``"threads"``: Dask's local threaded scheduler; ``"synchronous"``: one thread
        (debugging); ``"tcp://host:port"``: a ``dask.distributed`` scheduler (its workers must
        see both files at the same paths).
    chunk_mb : float
        Target size of one Dask block, MiB (float32). A worker needs ~6 blocks per thread on
        top of its imports (~250 MB with numba, scipy, h5py; measured with 16 MiB blocks).
    gain, dark, dead_channels : optional
        Per-channel correction (:mod:`analysis.correction`); default gain 1, dark 0, none dead.
    poisson : bool
        Keenan–Kotula weighting of the PCA (:class:`~analysis.decomposition.StreamingPCA`).
    task : TaskControl, optional
        Progress; an abort stops between batches of blocks, marks every result ``aborted``
        (what was written stays, the rest reads NaN) and raises :class:`~detectors.interfaces.Aborted`.

    Returns
    -------
    ReprocessSummary

    Raises
    ------
    ValueError
        Missing file or dataset, mismatched shapes, unknown edge, bad parameter, unknown
        scheduler — before any output is written.
    """
    task = task or TaskControl()
    input_path, output_path = pathlib.Path(input_path), pathlib.Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise ValueError(f"output {str(output_path)!r} is the input file; choose another path")
    if not chunk_mb > 0:
        raise ValueError(f"chunk_mb = {chunk_mb!r} must be > 0")
    stack, axes = find_result(input_path, prefix + "si_sequences")
    haadf_src, _ = find_result(input_path, prefix + "haadf_sequences")
    if stack.ndim != 4 or haadf_src.shape != stack.shape[:3]:
        raise ValueError(f"si_sequences {stack.shape} must be (sequence, y, x, E) and haadf_sequences "
                         f"{haadf_src.shape} its (sequence, y, x)")
    _, ny, nx, n_e = stack.shape
    energy = axes[3].values(n_e)
    windows = edge_windows(tuple(edges), energy)
    if not 1 <= int(n_components) <= n_e:
        raise ValueError(f"n_components = {n_components!r} must be in [1, {n_e}] (channels)")
    correction = ChannelCorrection.build(n_e, gain, dark, dead_channels)
    e_chunk, row_chunk = _chunking(stack, chunk_mb)
    with _scheduler(scheduler) as (get, n_workers, name):
        t = time.perf_counter()
        haadf_all = haadf_src[()]
        complete = np.flatnonzero(np.all(np.isfinite(haadf_all.reshape(len(haadf_all), -1)), axis=1))
        if complete.size == 0:
            raise ValueError(f"{str(input_path)!r}: no complete sequence in haadf_sequences")
        shifts, quality = _register(haadf_all[complete])
        hacc = AlignedAccumulator((ny, nx))
        for img, (dy, dx) in zip(haadf_all[complete], shifts):
            hacc.add(img, dy, dx)
        run = _Run(HDF5Sink(output_path, overwrite=overwrite), get, max(1, 2 * n_workers), task, stack, complete, shifts,
                   hacc.count, energy, windows, int(n_components), poisson, correction, e_chunk, row_chunk,
                   output_path)
        run.timing["registration_s"] = time.perf_counter() - t
        task.progress(_STAGES["alignment"], f"registered {complete.size} sequences")
        run.create_results(axes, {
            "input_file": str(input_path), "input_prefix": prefix, "sequences_used": complete.tolist(),
            "scheduler": name, "chunk_mb": float(chunk_mb), "energy_chunk": e_chunk, "row_chunk": row_chunk,
            "shifts_px": shifts.ravel().tolist(),
            "correction": {"gain_given": gain is not None, "dark_given": dark is not None,
                           "dead_channels": np.flatnonzero(correction.dead).tolist()}})
        run.sink.write("haadf", slice(None), (hacc.mean() * complete.size).astype(np.float32))
        run.sink.write("count_map", slice(None), hacc.count.astype(np.float32))
        run.sink.write("shifts", slice(None), np.column_stack([shifts, quality]).astype(np.float32))
        try:
            run.align()
            model = run.analyse()
            run.scores(model)
        except Aborted as e:
            run.mark({**stop_metadata(e), "abort_reason": str(e) or task.abort_reason, "timing": run.timing})
            raise
        except BaseException as e:
            run.mark({**stop_metadata(e), "timing": run.timing})
            raise
        finally:
            run.finish()
        run.mark({"timing": run.timing})
    task.progress(1.0, "done")
    return ReprocessSummary(output_path, complete.size, (ny, nx, n_e), shifts, quality, model.explained_variance_,
                            name, e_chunk, row_chunk, run.timing)


@dataclasses.dataclass
class _Run:
    """One reprocessing run after registration: the stages, each walking its output blocks in
    batches (:func:`_batches`) and writing them to the sink."""

    sink: HDF5Sink
    get: typing.Any                  #: scheduler for dask.compute
    batch: int                       #: blocks computed per batch
    task: TaskControl
    stack: H5Array                   #: si_sequences (sequence, y, x, E)
    sequences: np.ndarray            #: indices of the complete sequences
    shifts: np.ndarray               #: (n, 2) px
    count: np.ndarray                #: (y, x) count map
    energy: np.ndarray
    windows: tuple[EdgeWindows, ...]
    n_components: int
    poisson: bool
    correction: ChannelCorrection
    e_chunk: int
    row_chunk: int
    output_path: pathlib.Path
    names: list[str] = dataclasses.field(default_factory=list)
    timing: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.sequences)

    def create_results(self, axes: list[Axis], metadata: dict) -> None:
        _, ny, nx, n_e = self.stack.shape
        img = [dataclasses.replace(a, navigate=True) for a in axes[1:3]]
        e_axis = dataclasses.replace(axes[3], navigate=False)
        comp = Axis("component", "", navigate=True)
        k = self.n_components
        results: list[tuple[str, tuple[int, ...], list[Axis], dict]] = [
            ("si", (ny, nx, n_e), img + [e_axis], {}),
            ("haadf", (ny, nx), img, {}),
            ("count_map", (ny, nx), img, {}),
            ("shifts", (self.n, 3), [Axis("sequence", "", navigate=True), Axis("dy_dx_quality", "px")], {})]
        for e in self.windows:
            results += [(f"map_{e.key}", (ny, nx), img, {"edge": e.name, "fit_window_eV": list(e.fit_window_eV),
                                                         "signal_window_eV": list(e.signal_window_eV)}),
                        (f"snr_{e.key}", (ny, nx), img, {"edge": e.name})]
        results += [("pca_loadings", (k, n_e), [comp, e_axis], {}),
                    ("pca_mean", (n_e,), [e_axis], {}),
                    ("pca_scores", (ny, nx, k), img + [dataclasses.replace(comp, navigate=False)], {})]
        for name, shape, ax, meta in results:
            self.sink.create(name, shape, ax, metadata={**metadata, **meta},
                             signal_type="EELS" if name == "si" else "")
            self.names.append(name)

    def align(self) -> None:
        """Correction + alignment, blocks of channels → ``si``."""
        t = time.perf_counter()
        _, ny, nx, n_e = self.stack.shape
        e_chunks = _split(n_e, self.e_chunk)
        # ≤ 4 partial sums per channel block, each a group of sequences summed in one task
        groups = tuple(np.linspace(0, self.n, min(self.n, 4) + 1).round().astype(int))
        placed = da.map_blocks(correct_and_place, source=self.stack, sequences=self.sequences, groups=groups,
                               shifts_px=self.shifts, correction=self.correction, dtype=np.float32,
                               chunks=((1,) * (len(groups) - 1), (ny,), (nx,), e_chunks),
                               meta=np.empty((0, 0, 0, 0), np.float32))
        c = self.count
        scale = np.where(c > 0, self.n / np.where(c > 0, c, 1.0), np.nan).astype(np.float32)
        si = placed.sum(axis=0, dtype=np.float32, split_every=4) * scale[:, :, None]
        edges = np.cumsum((0,) + e_chunks)
        blocks = [si.blocks[0, 0, j] for j in range(len(e_chunks))]
        for j0, results in self._batches(blocks, "alignment", "channels"):
            for j, r in enumerate(results, j0):
                self.sink.write("si", (slice(None), slice(None), slice(edges[j], edges[j + 1])), r)
        self.timing["alignment_s"] = time.perf_counter() - t

    def _row_blocks(self) -> tuple[list, np.ndarray]:
        """Delayed (rows, x, E) blocks of the written ``si`` and the row boundaries."""
        written, _ = find_result(self.output_path, "si")
        ny, nx, n_e = written.shape
        rows = _split(ny, self.row_chunk)
        blocks = da.from_array(written, chunks=(rows, (nx,), (n_e,)), lock=False, asarray=True)
        return list(blocks.to_delayed().ravel()), np.cumsum((0,) + rows)

    def analyse(self) -> StreamingPCA:
        """Maps + PCA partial models, blocks of rows of the written SI; returns the merged model."""
        t = time.perf_counter()
        blocks, edges = self._row_blocks()
        work = [dask.delayed(analyse_block, pure=True)(b, self.count[edges[i]:edges[i + 1]], self.n, self.energy,
                                                       self.windows, self.n_components, self.poisson)
                for i, b in enumerate(blocks)]
        model: StreamingPCA | None = None
        for i0, results in self._batches(work, "maps_pca", "rows"):
            for i, (maps, partial) in enumerate(results, i0):
                rows = slice(edges[i], edges[i + 1])
                for key, (signal, snr) in maps.items():
                    self.sink.write(f"map_{key}", rows, signal)
                    self.sink.write(f"snr_{key}", rows, snr)
                if partial.n_samples_seen_:
                    model = partial if model is None else model.merge(partial)
        if model is None:
            raise ValueError("no pixel of the aligned SI is covered by a sequence")
        self.sink.write("pca_loadings", slice(None), model.components_.astype(np.float32))
        self.sink.write("pca_mean", slice(None), model.mean_.astype(np.float32))
        self.sink.update_metadata("pca_loadings", {"explained_variance": model.explained_variance_.tolist(),
                                                   "poisson_weighting": self.poisson})
        self.timing["maps_pca_s"] = time.perf_counter() - t
        return model

    def scores(self, model: StreamingPCA) -> None:
        """PCA scores of every block of rows on the merged model."""
        t = time.perf_counter()
        blocks, edges = self._row_blocks()
        model_d = dask.delayed(model, pure=True)  # one graph key: shipped to each worker once
        work = [dask.delayed(score_block, pure=True)(b, self.count[edges[i]:edges[i + 1]], model_d)
                for i, b in enumerate(blocks)]
        for i0, results in self._batches(work, "scores", "rows"):
            for i, scores in enumerate(results, i0):
                self.sink.write("pca_scores", slice(edges[i], edges[i + 1]), scores)
        self.timing["scores_s"] = time.perf_counter() - t

    def _batches(self, work: list, stage: str, what: str) -> typing.Iterator[tuple[int, tuple]]:
        """Compute ``work`` (Dask collections) ``batch`` at a time: yields (first index,
        results); progress and abort between batches."""
        stages = list(_STAGES)
        start = _STAGES[stage]
        span = (_STAGES[stages[stages.index(stage) + 1]] if stage != stages[-1] else 1.0) - start
        for i in range(0, len(work), self.batch):
            self.task.check_abort()
            yield i, dask.compute(*work[i:i + self.batch], scheduler=self.get)
            done = min(i + self.batch, len(work))
            self.task.progress(start + span * done / len(work), f"{stage}: {done}/{len(work)} blocks of {what}")

    def mark(self, metadata: dict) -> None:
        for name in self.names:
            try:
                self.sink.update_metadata(name, metadata)
            except Exception:  # noqa: BLE001 - must not hide the original error
                pass

    def finish(self) -> None:
        for name in self.names:
            self.sink.finish(name)


def _register(haadf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) shifts of every HAADF vs the first, px (measure_shift convention), and qualities."""
    if min(haadf.shape[1:]) < 16:
        raise ValueError(f"haadf_sequences images are {haadf.shape[1]}×{haadf.shape[2]} px; registration "
                         "needs at least 16×16 px")
    shifts = np.zeros((len(haadf), 2))
    quality = np.full(len(haadf), np.nan)
    for k in range(1, len(haadf)):
        r = measure_shift(haadf[0], haadf[k])
        shifts[k], quality[k] = (r.dy, r.dx), r.quality
    return shifts, quality


def _chunking(stack: typing.Any, chunk_mb: float) -> tuple[int, int]:
    """Channels per alignment block (a multiple of the file's channel chunk when it fits, so a
    block reads whole HDF5 chunks) and rows per maps/PCA block, for ~``chunk_mb`` MiB float32."""
    _, ny, nx, n_e = stack.shape
    budget = chunk_mb * (1 << 20) / 4
    e_chunk = int(min(n_e, max(1, budget // (ny * nx))))
    file_e = stack.chunks[-1] if stack.chunks else 1
    if e_chunk >= file_e:
        e_chunk = e_chunk // file_e * file_e
    row_chunk = int(min(ny, max(1, budget // (nx * n_e))))
    return e_chunk, row_chunk


def _split(size: int, chunk: int) -> tuple[int, ...]:
    return tuple(min(chunk, size - s) for s in range(0, size, chunk))


@contextlib.contextmanager
def _scheduler(address: str | None) -> typing.Iterator[tuple[typing.Any, int, str]]:
    """(scheduler for dask.compute, worker threads, name); a distributed Client is closed after."""
    if address in (None, "threads", "synchronous"):
        # the PCA updates are small BLAS calls: BLAS threads inside Dask's threads oversubscribe
        # the cores (measured 13× slower with 2 × 2 threads). dask.distributed workers already
        # start with OPENBLAS/OMP/MKL_NUM_THREADS=1; the threaded scheduler runs in this process.
        with threadpool_limits(1):
            if address == "synchronous":
                yield "synchronous", 1, "synchronous"
            else:
                yield "threads", os.cpu_count() or 1, "threads"
    elif isinstance(address, str) and address.startswith("tcp://"):
        from distributed import Client
        try:
            client = Client(address, timeout="10s", set_as_default=False)
        except OSError as e:
            raise ValueError(f"cannot connect to the Dask scheduler {address!r}: {e}") from None
        try:
            yield client.get, max(1, sum(client.nthreads().values())), address
        finally:
            client.close()
    else:
        raise ValueError(f"scheduler = {address!r}: use 'threads' (default), 'synchronous' or a "
                         "dask.distributed address 'tcp://host:port'")
