"""Tests of analysis.decomposition: numba kernels vs numpy, streaming PCA vs offline SVD
(principal angles), Poisson weighting, merge; online NMF vs scikit-learn's batch NMF."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.decomposition import NMF
from threadpoolctl import threadpool_limits

from analysis.decomposition import OnlineNMF, StreamingPCA, nnls_rows, principal_angles_deg
from analysis.decomposition import _kernels as K
from detectors.interfaces import ScanFrame
from detectors.simulation.world import SimulatedWorld

#: stated bounds: principal angles between streamed and offline signal subspaces
EXACT_RANK_BOUND_DEG = 1e-6
SIMULATED_SI_BOUND_DEG = 1.0
#: signal components of the simulated SI (above the Poisson noise floor: carbon, Sc, Dy oxides)
SIGNAL_RANK = 3


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Per-line updates are small BLAS calls: one thread is fastest (and robust on a loaded
    machine, where spinning BLAS threads slow them down by an order of magnitude)."""
    with threadpool_limits(1):
        yield


@functools.lru_cache(maxsize=1)
def simulated_si() -> tuple[np.ndarray, np.ndarray]:
    """A 48 × 64 × 1024 core-loss SI over Sc2O3, DyScO3 and Dy2O3 grains: (noisy, noise-free)."""
    world = SimulatedWorld(0)
    world.spectrometer.energy_offset_eV = 350.0
    world.spectrometer.dispersion_eV_per_channel = 1.0
    world.beam.current_pA = 100.0
    frame = ScanFrame(size_px=(48, 64), fov_nm=256.0, center_nm=(60.0, 130.0))
    y, x = frame.positions_nm()
    t = frame.pixel_times_s(0.0)
    return world.eels_counts(y, x, t, 0.01), world.eels_counts(y, x, t, 0.01, noise=False)


def offline_components(x: np.ndarray, k: int) -> np.ndarray:
    return np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2][:k]


def keenan_kotula(x: np.ndarray) -> np.ndarray:
    g = x.mean(axis=1)
    h = x.mean(axis=0)
    return x / np.sqrt(g)[:, None] / np.sqrt(h)[None, :]


# -- kernels vs numpy references -----------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_row_col_sums_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    block = rng.poisson(7, (13, 29)).astype(dtype)
    r1, c1 = np.zeros(13), np.full(29, 2.0)
    r2, c2 = np.zeros(13), np.full(29, 2.0)
    K.row_col_sums(block, r1, c1)
    K.row_col_sums_reference(block, r2, c2)
    np.testing.assert_allclose(r1, r2, rtol=1e-12)
    np.testing.assert_allclose(c1, c2, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_scale_center_matches_numpy(dtype):
    rng = np.random.default_rng(1)
    block = rng.poisson(5, (11, 17)).astype(dtype)
    rw, cw = rng.uniform(0, 2, 11), rng.uniform(0, 2, 17)
    o1, m1 = np.zeros((11, 17)), np.zeros(17)
    o2, m2 = np.zeros((11, 17)), np.zeros(17)
    K.scale_center_block(block, rw, cw, o1, m1)
    K.scale_center_reference(block, rw, cw, o2, m2)
    np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m1, m2, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_hals_kernel_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    h = rng.uniform(size=(4, 30))
    x = rng.normal(size=(25, 30)) + rng.uniform(size=(25, 4)) @ h
    w1 = rng.uniform(size=(25, 4))
    w2 = w1.copy()
    K.hals_nnls_rows(w1, x @ h.T, h @ h.T, 7)
    K.hals_nnls_rows_reference(w2, x @ h.T, h @ h.T, 7)
    np.testing.assert_allclose(w1, w2, rtol=1e-10, atol=1e-12)


def test_batch_nnls_matches_scipy_nnls():
    rng = np.random.default_rng(3)
    h = rng.uniform(size=(5, 40))
    x = rng.normal(size=(30, 40)) + rng.uniform(size=(30, 5)) @ h
    w = nnls_rows(x, h, n_iter=2000)
    ref = np.array([nnls(h.T, row)[0] for row in x])
    np.testing.assert_allclose(w, ref, atol=1e-6)


# -- streaming PCA -------------------------------------------------------------------------
def test_streaming_pca_is_exact_for_low_rank_data():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(600, 4)) * [50, 20, 10, 5] @ rng.normal(size=(4, 80)) + rng.uniform(0, 9, 80)
    pca = StreamingPCA(4, 80, block_size=40, oversample=0)
    for line in data.reshape(15, 40, 80):
        pca.partial_fit(line)
    ref = offline_components(data, 4)
    assert principal_angles_deg(pca.components_, ref).max() < EXACT_RANK_BOUND_DEG
    np.testing.assert_allclose(pca.mean_, data.mean(axis=0), rtol=1e-12)
    ref_sv = np.linalg.svd(data - data.mean(0), compute_uv=False)[:4]
    np.testing.assert_allclose(pca.singular_values_, ref_sv, rtol=1e-8)
    # scores equal the offline ones up to the sign of each component
    s_ref = (data - data.mean(0)) @ ref.T
    s = pca.transform(data)
    np.testing.assert_allclose(np.abs(s), np.abs(s_ref), rtol=1e-6, atol=1e-6 * np.abs(s_ref).max())
    assert pca.n_samples_seen_ == 600


def test_blocks_larger_than_block_size_are_split():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(100, 3)) @ rng.normal(size=(3, 20))
    a = StreamingPCA(3, 20, block_size=16).partial_fit(data)
    b = StreamingPCA(3, 20, block_size=16)
    for i in range(0, 100, 16):
        b.partial_fit(data[i:i + 16])
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-10)


@pytest.mark.parametrize("poisson", [False, True])
def test_streaming_pca_per_scan_line_matches_offline_svd_on_simulated_si(poisson):
    si, _ = simulated_si()
    flat = si.reshape(-1, si.shape[-1]).astype(np.float64)
    pca = StreamingPCA(10, si.shape[-1], block_size=si.shape[1], poisson=poisson)
    for line in si:                                     # one scan line at a time
        pca.partial_fit(line)
    ref = offline_components(keenan_kotula(flat) if poisson else flat, SIGNAL_RANK)
    angles = principal_angles_deg(pca.components_[:SIGNAL_RANK], ref)
    assert angles.max() < SIMULATED_SI_BOUND_DEG, angles
    # the Poisson-weighted model reconstructs counts
    if poisson:
        rec = pca.reconstruct(si[10])
        _, clean = simulated_si()
        assert np.sqrt(np.mean((rec - clean[10]) ** 2)) < 0.5 * np.sqrt(np.mean((si[10] - clean[10]) ** 2))


@pytest.mark.parametrize("poisson", [False, True])
def test_merge_of_two_halves_equals_one_stream(poisson):
    si, _ = simulated_si()
    n = si.shape[-1]
    whole = StreamingPCA(6, n, block_size=64, poisson=poisson)
    top, bottom = StreamingPCA(6, n, block_size=64, poisson=poisson), StreamingPCA(6, n, block_size=64, poisson=poisson)
    for i, line in enumerate(si):
        whole.partial_fit(line)
        (top if i < 24 else bottom).partial_fit(line)
    top.merge(bottom)
    assert top.n_samples_seen_ == whole.n_samples_seen_
    np.testing.assert_allclose(top.mean_, whole.mean_, rtol=1e-9, atol=1e-12)
    # measured 0.57° (no Poisson weighting) since the simulator convolves its edges with every
    # valence order: components 5–7 of the clean SI grew (2e-3 vs 4e-4 of the first), the truncation
    # at 6 components per half weighs more on the weak third signal component
    assert principal_angles_deg(top.components_[:SIGNAL_RANK], whole.components_[:SIGNAL_RANK]).max() < 0.75


def test_pca_rejects_bad_input():
    with pytest.raises(ValueError):
        StreamingPCA(0, 10)
    with pytest.raises(ValueError):
        StreamingPCA(3, 10).partial_fit(np.zeros((4, 11)))
    with pytest.raises(ValueError):
        StreamingPCA(3, 10).merge(StreamingPCA(3, 12))


# -- online NMF ----------------------------------------------------------------------------
def rel_error(x, w, h):
    return np.linalg.norm(x - w @ h) / np.linalg.norm(x)


@functools.lru_cache(maxsize=1)
def sklearn_reference(k: int) -> float:
    si, _ = simulated_si()
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    m = NMF(k, init="nndsvda", max_iter=200, tol=1e-4)
    w = m.fit_transform(x)
    return rel_error(x, w, m.components_)


def test_online_nmf_error_comparable_to_sklearn_batch_nmf():
    si, _ = simulated_si()
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    nmf = OnlineNMF(4, x.shape[1])
    for _ in range(2):                                  # two passes over the scan lines
        for line in si:
            nmf.partial_fit(line)
    h = nmf.components_
    assert (h >= 0).all()
    w = nmf.transform(x)
    assert (w >= 0).all()
    assert rel_error(x, w, h) < 1.02 * sklearn_reference(4)


def test_online_nmf_rescore_rebuilds_the_statistics_and_lowers_the_error():
    si, _ = simulated_si()
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    nmf = OnlineNMF(4, x.shape[1])
    for line in si:                                     # one pass: early lines scored on poor components
        nmf.partial_fit(line)
    one_pass = rel_error(x, nmf.transform(x), nmf.components_)
    h_before = nmf.components_
    nmf.rescore(iter(np.array_split(x, 3)))             # chunks, as the live view feeds it
    w = nnls_rows(x, h_before, n_iter=nmf.n_iter_w)
    np.testing.assert_allclose(nmf.A_, w.T @ w, rtol=1e-9)
    np.testing.assert_allclose(nmf.B_, w.T @ x, rtol=1e-9)
    assert nmf.n_samples_seen_ == x.shape[0]
    nmf.rescore([x])
    assert rel_error(x, nmf.transform(x), nmf.components_) < one_pass
    assert rel_error(x, nmf.transform(x), nmf.components_) < 1.02 * sklearn_reference(4)


def test_online_nmf_merge_of_workers():
    si, _ = simulated_si()
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    model = OnlineNMF(4, x.shape[1]).partial_fit(si[0])
    a, b = model.spawn(), model.spawn()                 # e.g. two Dask workers
    for _ in range(2):
        for i, line in enumerate(si[1:]):
            (a if i % 2 else b).partial_fit(line)
    model.merge(a).merge(b)
    assert model.n_samples_seen_ == si.shape[1] * (1 + 2 * (si.shape[0] - 1))
    assert rel_error(x, model.transform(x), model.components_) < 1.03 * sklearn_reference(4)


def test_online_nmf_merge_refuses_unrelated_models():
    rng = np.random.default_rng(0)
    h = np.array([[1.0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    a = OnlineNMF(2, 6, init=h)
    b = OnlineNMF(2, 6, init=h[::-1])                  # same components, other order
    a.partial_fit(rng.uniform(size=(5, 2)) @ h)
    b.partial_fit(rng.uniform(size=(5, 2)) @ h)
    with pytest.raises(ValueError, match="correspond"):
        a.merge(b)


@pytest.mark.parametrize("module", ["analysis.decomposition.pca", "analysis.decomposition.nmf"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_live_nmf_holds_back_sections_smaller_than_its_components():
    from analysis.decomposition.live import LiveDecomposition

    rng = np.random.default_rng(2)
    si = rng.poisson(rng.uniform(1, 3, (16, 3)) @ rng.uniform(5, 20, (3, 40))).astype(np.float32)
    live = LiveDecomposition("nmf", 3, 40, (4, 4))
    live.partial_fit(si[[5]], [5])
    live.partial_fit(si[[9]], [9])
    assert live.updates == 0 and not live.visited.any() and (live.loadings() == 0).all()
    assert (live.score_maps(si) == 0).all()                # nothing to show yet
    live.partial_fit(si[[0, 1]], [0, 1])                    # 4 spectra ≥ 3 components: initialise on all
    assert live.updates == 1 and np.flatnonzero(live.visited).tolist() == [0, 1, 5, 9]
    assert live.model.n_samples_seen_ == 4 and (live.loadings() > 0).any()
    live.refine(si)
    maps = live.score_maps(si)
    assert (maps >= 0).all() and (maps.reshape(3, -1)[:, [0, 1, 5, 9]].sum(axis=0) > 0).all()
    assert (maps.reshape(3, -1)[:, [2, 3, 4]] == 0).all()
    with pytest.raises(ValueError, match="method = 'ica'"):
        LiveDecomposition("ica", 3, 40, (4, 4))
