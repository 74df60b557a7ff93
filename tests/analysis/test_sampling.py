"""Tests of analysis.sampling: scan patterns; linear and low-rank inpainting of a simulated SI
(error falls with the sampled fraction; the low-rank reconstruction beats interpolation at 10 %)."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.interpolate import LinearNDInterpolator
from threadpoolctl import threadpool_limits

from analysis.eels.maps import elemental_map
from analysis.sampling import (inpaint_interpolate, inpaint_low_rank, interpolation_weights,
                               line_hopping_pattern, random_pattern)
from detectors.interfaces import ScanFrame
from detectors.simulation.world import SimulatedWorld

EDGES = {"Sc L2,3": 30.0, "Dy M4,5": 70.0}   # signal-window widths on the 350–1373 eV axis
FRACTIONS = (0.5, 0.25, 0.1)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(1):
        yield


@functools.lru_cache(maxsize=1)
def simulated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 64 × 64 × 1024 core-loss SI (noisy, noise-free) over Sc and Dy oxide grains; energy axis."""
    world = SimulatedWorld(2)
    world.specimen = SimulatedWorld(0).specimen
    world.spectrometer.energy_offset_eV = 350.0
    world.spectrometer.dispersion_eV_per_channel = 1.0
    world.beam.current_pA = 100.0
    frame = ScanFrame(size_px=(64, 64), fov_nm=256.0, center_nm=(60.0, 130.0))
    y, x = frame.positions_nm()
    t = frame.pixel_times_s(0.0)
    si = world.eels_counts(y, x, t, 0.01)
    clean = world.eels_counts(y, x, t, 0.01, noise=False).astype(np.float64)
    return si, clean, world.energy_axis_eV()


def maps(si: np.ndarray, energy: np.ndarray) -> dict[str, np.ndarray]:
    return {edge: elemental_map(si, energy, edge, signal_width_eV=w).signal for edge, w in EDGES.items()}


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, float) - b) ** 2)))


@functools.lru_cache(maxsize=None)
def reconstruction(method: str, fraction: float) -> np.ndarray:
    si, _, _ = simulated()
    p = random_pattern(si.shape[:2], fraction, seed=7)
    measured = si.reshape(-1, si.shape[-1])[p.order]
    fn = inpaint_interpolate if method == "interpolate" else inpaint_low_rank
    return fn(measured, p.order, si.shape[:2])


# -- patterns ------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_random_pattern(fraction):
    p = random_pattern((40, 30), fraction, seed=1)
    assert p.order.size == round(fraction * 1200) == p.mask.sum()
    assert np.unique(p.order).size == p.order.size
    assert p.mask.ravel()[p.order].all()
    assert np.all(np.diff(p.order) > 0)                 # raster order
    shuffled = random_pattern((40, 30), fraction, seed=1, raster=False)
    assert np.array_equal(np.sort(shuffled.order), p.order)


@pytest.mark.parametrize("fraction, band", [(0.5, 2), (0.25, 4), (0.1, 10)])
def test_line_hopping_pattern(fraction, band):
    h, w = 40, 30
    p = line_hopping_pattern((h, w), fraction, seed=2)
    assert p.fraction == pytest.approx(1 / band)
    assert np.unique(p.order).size == p.order.size == (h // band) * w
    rows, cols = np.divmod(p.order, w)
    for b in range(h // band):                          # one pixel per column in every band
        sel = rows // band == b
        assert np.array_equal(np.sort(cols[sel]), np.arange(w))
    assert np.all(np.diff(cols.reshape(-1, w), axis=1) == 1)   # sweeps along x


def test_pattern_validation():
    with pytest.raises(ValueError):
        random_pattern((4, 4), 0.0)
    with pytest.raises(ValueError):
        line_hopping_pattern((4, 4), 1.5)


# -- interpolation -------------------------------------------------------------------------
def test_interpolation_weights_match_scipy_linear_nd():
    rng = np.random.default_rng(0)
    p = random_pattern((20, 24), 0.2, seed=3)
    values = rng.normal(size=(p.order.size, 5))
    ours = inpaint_interpolate(values, p.order, (20, 24)).reshape(-1, 5)
    pts = np.column_stack(np.divmod(p.order, 24))
    grid = np.column_stack(np.divmod(np.arange(480), 24))
    ref = LinearNDInterpolator(pts, values)(grid)
    inside = ~np.isnan(ref[:, 0])
    np.testing.assert_allclose(ours[inside], ref[inside], atol=1e-10)
    verts, wts = interpolation_weights(p.order, (20, 24))
    np.testing.assert_allclose(wts.sum(axis=1), 1.0)
    assert (wts[inside] >= -1e-12).all()


def test_linear_interpolation_reproduces_a_plane_and_nearest_copies():
    p = random_pattern((16, 16), 0.3, seed=4)
    yy, xx = np.divmod(np.arange(256), 16)
    plane = np.stack([3.0 + 0.5 * yy - 2.0 * xx, np.ones(256)], axis=1)
    out = inpaint_interpolate(plane[p.order], p.order, (16, 16)).reshape(-1, 2)
    verts, wts = interpolation_weights(p.order, (16, 16))
    inside = wts[:, 1:].any(axis=1) | p.mask.ravel()
    np.testing.assert_allclose(out[inside], plane[inside], atol=1e-9)
    near = inpaint_interpolate(plane[p.order], p.order, (16, 16), method="nearest").reshape(-1, 2)
    np.testing.assert_array_equal(near[p.order], plane[p.order])
    with pytest.raises(ValueError):
        inpaint_interpolate(plane[p.order], p.order, (16, 16), method="cubic")


# -- reconstruction quality on the simulator -----------------------------------------------
@pytest.mark.parametrize("method", ["interpolate", "low_rank"])
def test_inpainting_error_falls_with_sampling_fraction(method):
    _, clean, _ = simulated()
    errors = [rmse(reconstruction(method, f), clean) for f in FRACTIONS]
    assert errors[0] < errors[1] < errors[2], errors


def test_low_rank_beats_interpolation_at_10_percent():
    si, clean, energy = simulated()
    lin, low = reconstruction("interpolate", 0.1), reconstruction("low_rank", 0.1)
    assert rmse(low, clean) < rmse(lin, clean)
    truth, full = maps(clean, energy), maps(si, energy)
    m_lin, m_low = maps(lin, energy), maps(low, energy)
    for edge in EDGES:
        # against the noise-free maps and against the fully sampled (noisy) maps
        assert rmse(m_low[edge], truth[edge]) < 0.85 * rmse(m_lin[edge], truth[edge]), edge
        assert rmse(m_low[edge], full[edge]) < rmse(m_lin[edge], full[edge]), edge


def test_low_rank_keeps_measured_and_is_exact_for_low_rank_data():
    rng = np.random.default_rng(0)
    si = rng.uniform(size=(20, 20, 3)) @ rng.uniform(1, 2, (3, 40))
    p = random_pattern((20, 20), 0.25, seed=5)
    measured = si.reshape(-1, 40)[p.order]
    out = inpaint_low_rank(measured, p.order, (20, 20), rank=3, poisson=False)
    np.testing.assert_allclose(out[p.mask], si[p.mask], atol=1e-8)
    lin = inpaint_interpolate(measured, p.order, (20, 20))
    np.testing.assert_allclose(out, lin, atol=1e-8)     # linear maps commute with the projection
    noisy = measured + rng.normal(0, 0.01, measured.shape)
    kept = inpaint_low_rank(noisy, p.order, (20, 20), rank=3, keep_measured=True)
    np.testing.assert_array_equal(kept[p.mask], noisy)


@pytest.mark.parametrize("module", ["analysis.sampling"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
