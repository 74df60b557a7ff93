"""Tests of analysis.vca: endmembers of simulated EELS mixtures (spectral angle < 5°), batch
NNLS / FCLS abundances against scipy's per-pixel NNLS."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.optimize import nnls
from threadpoolctl import threadpool_limits

from analysis.vca import abundances, match_endmembers, spectral_angle_deg, vca
from detectors.simulation.world import SimulatedWorld

pytestmark = pytest.mark.slow

ANGLE_BOUND_DEG = 5.0


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(1):
        yield


@functools.lru_cache(maxsize=1)
def pure_spectra() -> np.ndarray:
    """Noise-free core-loss spectra (3, 1024) of the carbon film, a Sc2O3 grain and a Dy2O3
    grain (350–1373 eV, 1 eV/channel, 100 pA, 10 ms), from the simulated instrument."""
    world = SimulatedWorld(0)
    world.spectrometer.energy_offset_eV = 350.0
    world.spectrometer.dispersion_eV_per_channel = 1.0
    world.beam.current_pA = 100.0
    grains = world.specimen.grains
    sc = next(g for g in grains if g.material == "Sc2O3")
    dy = next(g for g in grains if g.material == "Dy2O3")
    y = np.array([-300.0, sc.y_nm, dy.y_nm])
    x = np.array([-300.0, sc.x_nm, dy.x_nm])
    truth = world.specimen.truth_maps(y, x)
    assert truth["Sc"][0] == truth["Dy"][0] == 0 and truth["Sc"][1] > 0 and truth["Dy"][2] > 0
    return world.eels_counts(y, x, np.zeros(3), 0.01, noise=False).astype(np.float64)


def mixtures(n: int, seed: int, *, pure: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson-noisy linear mixtures (n, 1024) of the pure spectra, abundances (n, 3) from a
    Dirichlet distribution, the first three pixels pure when ``pure``."""
    ends = pure_spectra()
    rng = np.random.default_rng(seed)
    ab = rng.dirichlet(np.full(3, 0.7), n)
    if pure:
        ab[:3] = np.eye(3)
    return rng.poisson(ab @ ends).astype(np.float64), ab, ends


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vca_finds_known_endmembers(seed):
    data, _, ends = mixtures(1500, seed)
    res = vca(data, 3, seed=seed)
    order, angles = match_endmembers(res.endmembers, ends)
    assert angles.max() < ANGLE_BOUND_DEG, angles
    assert sorted(order.tolist()) == [0, 1, 2]


def test_vca_low_snr_branch_also_finds_endmembers():
    data, _, ends = mixtures(1500, 5)
    res = vca(data, 3, snr_db=0.0)                      # force the subspace + offset projection
    assert not res.projective
    assert match_endmembers(res.endmembers, ends)[1].max() < ANGLE_BOUND_DEG


def test_vca_on_a_spectrum_image_shape():
    data, _, _ = mixtures(64 * 32, 3)
    res = vca(data.reshape(32, 64, -1), 3)
    assert res.endmembers.shape == (3, data.shape[1]) and res.indices.shape == (3,)
    assert np.all(res.indices < 32 * 64)


def test_abundances_recover_mixing_fractions():
    data, ab, ends = mixtures(1500, 4)
    found = vca(data, 3).endmembers
    order, _ = match_endmembers(found, ends)
    est = abundances(data.reshape(30, 50, -1), found)
    assert est.shape == (30, 50, 3)
    est = est.reshape(-1, 3)[:, order]
    assert (est >= 0).all()
    assert np.sqrt(np.mean((est - ab) ** 2)) < 0.05
    fcls = abundances(data, found, sum_to_one=True)[:, order]
    assert np.abs(fcls.sum(axis=1) - 1).mean() < 0.02
    assert np.sqrt(np.mean((fcls - ab) ** 2)) < 0.05


def test_batch_abundances_match_scipy_nnls_per_pixel():
    data, _, ends = mixtures(40, 6, pure=False)
    # a bad endmember set makes many constraints active
    e = np.vstack([ends, ends[1] * 0.5 + ends[2] * 0.5 + 5.0])
    ours = abundances(data, e, n_iter=3000)
    ref = np.array([nnls(e.T, row)[0] for row in data])
    np.testing.assert_allclose(ours, ref, atol=1e-4 * np.abs(ref).max())


def test_spectral_angle_and_validation():
    assert spectral_angle_deg(np.ones(4), 2 * np.ones(4)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        vca(np.ones((10, 5)), 1)
    with pytest.raises(ValueError):
        abundances(np.ones((3, 5)), np.ones((2, 4)))


@pytest.mark.parametrize("module", ["analysis.vca"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
