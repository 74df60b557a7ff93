"""``lumiere reprocess``: out-of-core (Dask) reprocessing of a sequence stack equals the in-memory
numpy pipeline; the same through a ``distributed.LocalCluster`` on a stack larger than a worker's
memory limit; bad inputs are named."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from analysis.accumulate import AlignedAccumulator
from analysis.correction import correct_spectra_reference
from analysis.decomposition import principal_angles_deg
from analysis.eels.maps import elemental_map
from analysis.registration import measure_shift
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from drift_eels.parameters import DriftSIParameters
from drift_eels.reprocess import reprocess
from drift_eels.reprocess_blocks import edge_windows
from drift_eels.reprocess_synthetic import write_sequence_stack, write_synthetic_stack
from detectors.simulation.setup import configure_simulation
from drift_eels.workflow import DriftCorrectedSI
from lumiere import cli
from lumiere.sinks import HDF5Sink, read_hdf5_result
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl

pytestmark = pytest.mark.slow

SIZE, PIXEL_NM = 48, 3.0
#: drift of each sequence vs the first, px (the sequence = the first translated by (dy, dx))
SHIFTS_PX = [(0.0, 0.0), (1.5, -2.5), (-2.1, 1.3), (0.7, 3.2)]
EDGES = ("Sc L2,3", "Dy M4,5")


@pytest.fixture(scope="module")
def simulated_stack(tmp_path_factory):
    """4 sequences of a 48×48 SI of the oxide grain, each scanned with the specimen displaced by
    a known sub-pixel drift (no drift within a sequence)."""
    world = SimulatedWorld(1, drift=DriftSettings((0.0, 0.0), 0.0))
    configure_simulation(world, drift_nm_per_min=0.0, random_walk_nm_per_sqrt_min=0.0)
    g = min((g for g in world.specimen.grains if g.material == "DyScO3"), key=lambda g: math.hypot(g.y_nm, g.x_nm))
    si, haadf = [], []
    for dy, dx in SHIFTS_PX:
        # scan centre moved by −d nm: the specimen appears translated by +d in the image
        f = ScanFrame(size_px=(SIZE, SIZE), fov_nm=SIZE * PIXEL_NM,
                      center_nm=(g.y_nm + 10 - dy * PIXEL_NM, g.x_nm - 5 - dx * PIXEL_NM))
        y, x = f.positions_nm()
        haadf.append(world.haadf_counts(y, x, 0.0, 1e-5))
        si.append(world.eels_counts(y, x, 0.0, 2e-3))
    path = tmp_path_factory.mktemp("reprocess") / "stack.h5"
    si, haadf = np.array(si, np.float32), np.array(haadf, np.float32)
    write_sequence_stack(path, len(si), lambda k: (si[k], haadf[k]), pixel_nm=PIXEL_NM)
    return path, si, haadf, world.energy_axis_eV()


def in_memory(si, haadf, energy, gain, dead, n_components):
    """The same pipeline on arrays in memory, plain numpy (float64)."""
    corrected = correct_spectra_reference(si, None, gain, dead)
    shifts = [(0.0, 0.0)] + [measure_shift(haadf[0], h)[:2] for h in haadf[1:]]
    acc = AlignedAccumulator(si.shape[1:3], si.shape[3:])
    for c, (dy, dx) in zip(corrected, shifts):
        acc.add(c, dy, dx)
    n = len(si)
    out = {"si": acc.mean() * n, "count_map": acc.count, "shifts": np.array(shifts)}
    covered = acc.count > 0
    scale = np.where(covered, n / np.where(covered, acc.count, 1), np.nan)
    for e in edge_windows(EDGES, energy):
        m = elemental_map(acc.sum, energy, e.name, pre_edge=e.fit_window_eV, signal_window_eV=e.signal_window_eV)
        out[f"map_{e.key}"] = m.signal * scale
        out[f"snr_{e.key}"] = np.where(covered, m.snr, np.nan)
    good = covered & np.all(np.isfinite(out["si"]), axis=-1)
    x = out["si"][good]
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    out["pca_loadings"] = vt[:n_components]
    out["explained_variance"] = s[:n_components] ** 2 / (len(x) - 1)
    out["pca_mean"] = x.mean(0)
    scores = np.full(good.shape + (n_components,), np.nan)
    scores[good] = (x - x.mean(0)) @ vt[:n_components].T
    out["pca_scores"] = scores
    return out


def test_out_of_core_equals_in_memory(simulated_stack, tmp_path):
    path, si, haadf, energy = simulated_stack
    rng = np.random.default_rng(0)
    gain = (1 + 0.1 * rng.standard_normal(si.shape[-1])).astype(np.float32)
    dead = [112, 113, 226, 500]  # blocks of 113 channels: a dead pair across a block edge
    dead_mask = np.isin(np.arange(si.shape[-1]), dead)
    out = tmp_path / "out.h5"
    progress = []
    summary = reprocess(path, out, edges=EDGES, n_components=3, chunk_mb=1.0, gain=gain, dead_channels=dead,
                        task=TaskControl(lambda f, m: progress.append(f)))
    assert (summary.energy_chunk, summary.row_chunk) == (113, 5)   # really many small blocks
    assert progress[-1] == 1.0 and np.all(np.diff(progress) >= 0) and len(progress) >= 8
    ref = in_memory(si, haadf, energy, gain, dead_mask, 3)
    # the known drift is found, and it is what was applied
    np.testing.assert_allclose(summary.shifts_px, SHIFTS_PX, atol=0.1)
    np.testing.assert_allclose(summary.shifts_px, ref["shifts"], atol=1e-9)
    got = {name: read_hdf5_result(out, name) for name in
           ["si", "count_map", "shifts", "pca_loadings", "pca_mean", "pca_scores", "haadf"]
           + [f"{k}_{e}" for k in ("map", "snr") for e in ("Sc_L23", "Dy_M45")]}
    assert all(meta["finished"] and meta["input_file"] == str(path) for _, _, meta in got.values())
    assert got["si"][2]["shifts_px"] == pytest.approx(np.ravel(summary.shifts_px).tolist())
    data = {k: v[0] for k, v in got.items()}
    assert data["count_map"].min() < 2 and np.array_equal(np.isnan(data["si"]), np.isnan(ref["si"]))
    np.testing.assert_allclose(data["si"], ref["si"], rtol=1e-4, atol=1e-2, equal_nan=True)
    np.testing.assert_allclose(data["count_map"], ref["count_map"], rtol=1e-6)
    for key in ("map_Sc_L23", "map_Dy_M45", "snr_Sc_L23", "snr_Dy_M45"):
        np.testing.assert_allclose(data[key], ref[key], rtol=1e-3, atol=1e-2, equal_nan=True, err_msg=key)
    assert np.nanpercentile(data["snr_Dy_M45"], 95) > 4   # the Dy map shows the oxide grain
    axes = got["si"][1]
    assert (axes[2].units, axes[2].scale, axes[2].offset) == ("eV", 1.0, 350.0) and axes[0].scale == PIXEL_NM
    # PCA: the streamed, block-merged subspace is the offline SVD's (signal components)
    assert principal_angles_deg(data["pca_loadings"][:2], ref["pca_loadings"][:2]).max() < 0.5
    np.testing.assert_allclose(got["pca_loadings"][2]["explained_variance"][:2], ref["explained_variance"][:2],
                               rtol=1e-3)
    np.testing.assert_allclose(data["pca_mean"], ref["pca_mean"], rtol=1e-4, atol=1e-3)
    for c in range(2):
        a, b = data["pca_scores"][..., c], ref["pca_scores"][..., c]
        ok = np.isfinite(b)
        assert np.array_equal(ok, np.isfinite(a))
        assert abs(np.corrcoef(a[ok], b[ok])[0, 1]) > 0.9999


def test_abort_keeps_a_consistent_partial_file(simulated_stack, tmp_path):
    path = simulated_stack[0]
    out = tmp_path / "partial.h5"
    task = TaskControl()
    task.add_listener(lambda f, m: task.abort("enough") if f >= 0.3 else None)
    with pytest.raises(Aborted, match="enough"):
        reprocess(path, out, edges=EDGES, chunk_mb=1.0, scheduler="synchronous", task=task)
    si, _, meta = read_hdf5_result(out, "si")
    assert meta["aborted"] and meta["finished"] and meta["abort_reason"] == "enough"
    written = ~np.all(np.isnan(si), axis=(0, 1))
    assert 0 < written.sum() < si.shape[-1]           # some channel blocks written, whole
    assert np.all(written[:written.sum()])            # in order, no holes
    scores, _, meta = read_hdf5_result(out, "pca_scores")
    assert meta["aborted"] and np.all(np.isnan(scores))


@pytest.mark.parametrize("change, message", [
    ({"input_path": "missing.h5"}, r"input file '.*missing.h5' does not exist"),
    ({"prefix": "uncorrected_"}, r"no dataset 'uncorrected_si_sequences'"),
    ({"edges": ("Au M4,5",)}, r"unknown edge 'Au M4,5'"),
    ({"edges": ("C K",)}, r"C K \(onset 284 eV\) is outside the energy range \[349.5, 1373.5\] eV"),
    ({"n_components": 0}, r"n_components = 0"),
    ({"chunk_mb": 0}, r"chunk_mb = 0"),
    ({"dead_channels": [2000]}, r"dead channel 2000 is outside the energy axis \[0, 1023\]"),
    ({"gain": np.ones(10)}, r"gain must have 1024 finite values"),
    ({"scheduler": "ftp://x"}, r"scheduler = 'ftp://x'"),
])
def test_bad_inputs_are_named(simulated_stack, tmp_path, change, message):
    kwargs = {"input_path": simulated_stack[0], "output_path": tmp_path / "o.h5", **change}
    if kwargs["input_path"] == "missing.h5":
        kwargs["input_path"] = tmp_path / "missing.h5"
    with pytest.raises(ValueError, match=message):
        reprocess(**kwargs)
    assert not (tmp_path / "o.h5").exists()          # rejected before any output


def test_cli_errors_name_the_bad_value(simulated_stack, tmp_path, capsys):
    assert cli.main(["reprocess", str(simulated_stack[0]), "--out", str(tmp_path / "o.h5"),
                     "--edges", "Xx K"]) == 1
    assert "unknown edge 'Xx K'" in capsys.readouterr().err
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.zeros(3)
    assert cli.main(["reprocess", str(tmp_path / "plain.h5"), "--out", str(tmp_path / "o.h5")]) == 1
    assert "has no dataset 'si_sequences'" in capsys.readouterr().err


def test_local_cluster_on_a_stack_larger_than_worker_memory(tmp_path):
    from distributed import Client, LocalCluster

    path = tmp_path / "big.h5"
    shifts = write_synthetic_stack(path)   # 20 × 64 × 64 × 2048 float32
    limit = 400 << 20
    assert path.stat().st_size > 1.5 * limit
    threaded = reprocess(path, tmp_path / "threads.h5", edges=EDGES, chunk_mb=8.0)
    np.testing.assert_allclose(threaded.shifts_px, shifts, atol=0.1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit=limit) as cluster, Client(cluster) as client:
        assert cli.main(["reprocess", str(path), "--out", str(tmp_path / "cluster.h5"), "--chunk-mb", "8",
                         "--scheduler", cluster.scheduler_address]) == 0
        # the blocks ran in the worker processes, within their memory limit
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert all(v > 0 for v in executed.values()) and sum(executed.values()) > 16
        assert all(w.memory_limit == limit for w in cluster.scheduler.workers.values())
    # the stack is noise-free and of rank 2 (two phases): PCA components beyond the second are
    # rounding noise, which differs with the BLAS threads of the process; compare the first two
    for name, part in (("si", ...), ("count_map", ...), ("shifts", ...), ("map_Dy_M45", ...),
                       ("snr_Sc_L23", ...), ("pca_loadings", slice(0, 2)), ("pca_scores", (..., slice(0, 2)))):
        a, _, meta_a = read_hdf5_result(tmp_path / "threads.h5", name)
        b, _, meta_b = read_hdf5_result(tmp_path / "cluster.h5", name)
        a, b = a[part], b[part]
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
        assert meta_a["scheduler"] == "threads" and meta_b["scheduler"] == cluster.scheduler_address


def test_reprocesses_what_drift_si_writes(tmp_path):
    """The real input: DriftCorrectedSI with keep_sequences (re-centred sequences, HDF5Sink);
    the reprocessed SI and maps agree with the live workflow's own sum."""
    inst = build_instrument()
    configure_simulation(inst.world)
    params = DriftSIParameters(ScanFrame(size_px=(256, 256), fov_nm=512.0), (112, 112, 32, 32), (96, 96, 32, 32),
                               si_shape_px=(32, 32), dwell_s=1e-3, n_sequences=2, keep_sequences=True)
    DriftCorrectedSI.from_instrument(inst, params, HDF5Sink(tmp_path / "drift_si.h5")).run()
    assert cli.main(["reprocess", str(tmp_path / "drift_si.h5"), "--out", str(tmp_path / "re.h5"),
                     "--components", "2", "--chunk-mb", "1"]) == 0
    for name in ("si", "map_Dy_M45"):
        live, live_axes, _ = read_hdf5_result(tmp_path / "drift_si.h5", name)
        again, axes, _ = read_hdf5_result(tmp_path / "re.h5", name)
        assert again.shape == live.shape and [a.units for a in axes] == [a.units for a in live_axes]
        assert [a.scale for a in axes] == pytest.approx([a.scale for a in live_axes])
        # the live sum places rows by the drift model, reprocessing by one HAADF shift per sequence
        ok = np.isfinite(live) & np.isfinite(again)
        assert ok.mean() > 0.9 and np.corrcoef(live[ok], again[ok])[0, 1] > 0.999, name
