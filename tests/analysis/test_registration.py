"""Tests of analysis.registration: kernels vs numpy references, accuracy at low dose, aliasing."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.optimize

from analysis import _registration_kernels as kern
from analysis import registration as reg
from analysis.registration import ShiftMeasurer, measure_shift, shift_image


# --------------------------------------------------------------------------- synthetic specimens
def specimen(rng: np.random.Generator, shape=(320, 320)) -> np.ndarray:
    """STEM-HAADF-like texture, mean 1: amorphous carbon speckle + grains + particles."""
    img = 1.0 + 0.25 * ndi.gaussian_filter(rng.standard_normal(shape), 1.2) / 0.23
    img += 0.3 * ndi.gaussian_filter(rng.standard_normal(shape), 12) / 0.02
    blobs = np.zeros(shape)
    idx = rng.integers(0, shape[0], (150, 2))
    blobs[idx[:, 0], idx[:, 1]] = rng.uniform(1, 3, len(idx))
    img += ndi.gaussian_filter(blobs, 1.0) * 2 * np.pi
    discs = np.zeros(shape)
    idx = rng.integers(0, shape[0], (20, 2))
    discs[idx[:, 0], idx[:, 1]] = 1
    img += ndi.gaussian_filter(ndi.binary_dilation(discs, iterations=5).astype(float), 0.8) * 2
    img = np.clip(img, 0.05, None)
    return img / img.mean()


def crop(a: np.ndarray, n: int = 256) -> np.ndarray:
    m = (a.shape[0] - n) // 2
    return a[m:m + n, m:m + n]


SHIFTS = [(0.3, 0.0), (-0.45, 0.0), (0.0, 0.7), (0.0, -0.25), (2.6, -5.35), (-3.8, 1.15),
          (7.2, 6.6), (-6.55, -7.4), (0.5, 0.5), (-1.5, 3.25), (4.1, -0.9), (-0.2, -2.75)]


def rms_error(dose: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    spec = specimen(rng)
    err2 = []
    for s in SHIFTS:
        ref = rng.poisson(dose * crop(spec))
        img = rng.poisson(dose * np.clip(crop(shift_image(spec, *s)), 0, None))
        r = measure_shift(ref, img)
        err2.append((r.dy - s[0]) ** 2 + (r.dx - s[1]) ** 2)
    return float(np.sqrt(np.mean(err2)))


# --------------------------------------------------------------------------- conventions
def test_shift_image_matches_roll_for_integer_shifts():
    a = np.random.default_rng(0).random((16, 12))
    np.testing.assert_allclose(shift_image(a, 3, -2), np.roll(a, (3, -2), axis=(0, 1)),
                               atol=1e-12)


def test_shift_image_convention():
    yy, xx = np.indices((32, 32))
    a = np.exp(-((yy - 10) ** 2 + (xx - 12) ** 2) / 8.0)
    b = shift_image(a, 0.5, -1.0)
    # image[y, x] = reference[y - dy, x - dx]: the feature moves to (10.5, 11)
    assert np.isclose((b * yy).sum() / b.sum(), 10.5)
    assert np.isclose((b * xx).sum() / b.sum(), 11.0)


@pytest.mark.parametrize("shift", [(3, -5), (-7, 2), (0, 9)])
def test_integer_roll_noise_free_is_exact(shift):
    ref = crop(specimen(np.random.default_rng(1)))
    img = np.roll(ref, shift, axis=(0, 1))
    r = measure_shift(ref, img)
    assert abs(r.dy - shift[0]) < 0.05 and abs(r.dx - shift[1]) < 0.05


@pytest.mark.parametrize("dose, bound_px", [(0.5, 0.35), (5.0, 0.08), (50.0, 0.04)])
def test_subpixel_accuracy_poisson(dose, bound_px):
    # measured (seeds 10..12): ≈ 0.2 / 0.04 / 0.018 px; bounds ≈ 2× that
    assert rms_error(dose, seed=10 + int(dose)) < bound_px


@pytest.mark.parametrize("bin_factor", [1, 2])
def test_both_signs_both_axes_and_bin_factors(bin_factor):
    rng = np.random.default_rng(5)
    spec = specimen(rng)
    for s in [(1.3, 0.0), (-1.3, 0.0), (0.0, 2.7), (0.0, -2.7)]:
        ref = rng.poisson(20 * crop(spec))
        img = rng.poisson(20 * np.clip(crop(shift_image(spec, *s)), 0, None))
        r = measure_shift(ref, img, bin_factor=bin_factor)
        assert abs(r.dy - s[0]) < 0.1 and abs(r.dx - s[1]) < 0.1, (s, r)


def test_small_nonsquare_images():
    rng = np.random.default_rng(7)
    spec = specimen(rng, (120, 150))
    ref = spec[20:84, 20:116]
    img = shift_image(spec, 1.25, -2.5)[20:84, 20:116]
    r = measure_shift(ref, img)
    assert abs(r.dy - 1.25) < 0.1 and abs(r.dx + 2.5) < 0.1


def lattice(shape, period, shift=(0.0, 0.0), blob=True):
    yy, xx = np.indices(shape, dtype=float)
    yy, xx = yy - shift[0], xx - shift[1]
    img = 1.0 + 0.5 * (np.cos(2 * np.pi * yy / period) + np.cos(2 * np.pi * xx / period))
    if blob:  # a weak non-periodic feature
        img += 0.3 * np.exp(-((yy - 100.3) ** 2 + (xx - 90.7) ** 2) / 400)
    return img


def is_alias(got, want, period, tol):
    return all(abs(g - w - round((g - w) / period) * period) < tol for g, w in zip(got, want))


def test_search_window_avoids_lattice_alias():
    """On a perfect lattice the correlation peaks repeat every period; which one the free
    search returns is arbitrary, the search window picks the one near the prediction."""
    rng = np.random.default_rng(8)
    period = 12.0
    true = (14.3, -3.6)
    ref = rng.poisson(20 * lattice((192, 192), period, blob=False))
    img = rng.poisson(20 * lattice((192, 192), period, true, blob=False))
    free = measure_shift(ref, img)
    assert is_alias((free.dy, free.dx), true, period, 0.3)
    guided = measure_shift(ref, img, predicted=(13.0, -3.0), search_radius=4.0)
    assert abs(guided.dy - true[0]) < 0.15 and abs(guided.dx - true[1]) < 0.15
    other = measure_shift(ref, img, predicted=(2.0, -3.0), search_radius=4.0)
    assert abs(other.dy - (true[0] - period)) < 0.15 and abs(other.dx - true[1]) < 0.15


@pytest.mark.parametrize("period, dose", [(5.0, 0.5), (7.3, 5.0)])
def test_fine_lattice_beyond_the_fast_band(period, dose):
    """A lattice finer than the fast search's low-pass is detected (or the search window asks
    for it) and searched with the fine band: the guided shift is exact, the free one an alias."""
    rng = np.random.default_rng(int(period))
    true = (0.37 * period, -0.21 * period)
    ref = rng.poisson(dose * lattice((256, 256), period))
    img = rng.poisson(dose * lattice((256, 256), period, true))
    guided = measure_shift(ref, img, predicted=(true[0] + 0.8, true[1] - 0.6),
                           search_radius=period / 3)
    assert abs(guided.dy - true[0]) < 0.15 and abs(guided.dx - true[1]) < 0.15
    free = measure_shift(ref, img)
    assert is_alias((free.dy, free.dx), true, period, 0.2)


def test_search_window_wraps_and_radius_floor():
    ref = crop(specimen(np.random.default_rng(9)))
    img = np.roll(ref, (4, -6), axis=(0, 1))
    r = measure_shift(ref, img, predicted=(4.5, -5.5), search_radius=0.1)  # floor: 1 coarse cell
    assert abs(r.dy - 4) < 0.1 and abs(r.dx + 6) < 0.1


def test_quality_separates_match_from_noise():
    rng = np.random.default_rng(11)
    spec = crop(specimen(rng))
    good = measure_shift(rng.poisson(5 * spec), rng.poisson(5 * spec))
    bad = measure_shift(rng.poisson(5 * spec), rng.poisson(5.0, spec.shape))
    assert good.quality > 8 > bad.quality


def test_measurer_is_cached_and_buffers_reused():
    ref = crop(specimen(np.random.default_rng(12)))
    measure_shift(ref, ref)
    key = [k for k in reg._cache() if k[0] == ref.shape]
    m = reg._cache()[key[0]]
    buf_id = id(m._buf)
    measure_shift(ref, np.roll(ref, 1, 0))
    assert reg._cache()[key[0]] is m and id(m._buf) == buf_id


def test_repeated_calls_allocate_no_large_buffers():
    """Only the FFT output (2 × 128 × 65 complex64 ≈ 0.13 MB for 256², binned) and the small
    coarse map are allocated per call; windows, filters and work arrays are cached."""
    import tracemalloc
    rng = np.random.default_rng(13)
    a = rng.poisson(5, (256, 256)).astype(np.float32)
    b = rng.poisson(5, (256, 256)).astype(np.float32)
    measure_shift(a, b)
    tracemalloc.start()
    try:
        for _ in range(3):
            measure_shift(a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25e6  # one 256² float32 input alone is 0.26 MB


def test_empty_and_flat_images_do_not_crash():
    for a in (np.zeros((64, 64)), np.full((64, 64), 3.0)):
        r = measure_shift(a, a)
        assert np.isfinite([r.dy, r.dx]).all() and abs(r.dy) < 3 and abs(r.dx) < 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(search_radius=-1.0), "search_radius"),
    (dict(lowpass_sigma_px=0.0), "lowpass_sigma_px"),
    (dict(window_alpha=1.5), "window_alpha"),
])
def test_bad_arguments_raise(kwargs, match):
    a = np.zeros((64, 64))
    with pytest.raises(ValueError, match=match):
        measure_shift(a, a, **kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(64, 64\).*\(64, 32\)"):
        measure_shift(np.zeros((64, 64)), np.zeros((64, 32)))
    with pytest.raises(ValueError, match="too small"):
        ShiftMeasurer((8, 64))
    with pytest.raises(ValueError, match="complex"):
        measure_shift(np.zeros((64, 64), complex), np.zeros((64, 64), complex))


# --------------------------------------------------------------------------- kernels vs numpy
@pytest.mark.parametrize("b, shape, dtype", [(1, (40, 36), np.uint16), (2, (64, 48), np.float32),
                                             (2, (65, 47), np.float64), (3, (31, 22), np.int32)])
def test_prepare_kernel_matches_numpy(b, shape, dtype):
    img = np.random.default_rng(0).poisson(3, shape).astype(dtype)
    ny, nx = shape[0] // b, shape[1] // b
    wy, wx = kern.tukey_window(ny, 0.3), kern.tukey_window(nx, 0.3)
    out = np.empty((ny, nx), np.float32)
    kern._prepare_kernel(img, b, wy, wx, np.empty((shape[0], nx), np.float32), out)
    np.testing.assert_allclose(out, kern._prepare_reference(img, b, wy, wx), atol=1e-4)


@pytest.fixture(scope="module")
def spectra():
    rng = np.random.default_rng(3)
    spec = specimen(rng, (300, 300))
    m = ShiftMeasurer((128, 96), bin_factor=1)
    m._prepare(rng.poisson(5 * spec[:128, :96]), 0)
    m._prepare(rng.poisson(5 * np.clip(shift_image(spec, 2.3, -1.7), 0, None)[:128, :96]), 1)
    F = np.fft.rfft2(m._buf)
    return m, F[0].astype(np.complex64), F[1].astype(np.complex64)


def band_rows(n, k):
    return np.r_[0:k + 1, n - k:n]


def test_coarse_kernel_matches_numpy(spectra):
    m, R, I = spectra
    band = m._fast
    small = np.zeros_like(band.small)
    xs = np.empty_like(band.X)
    kern._coarse_kernel(R, I, band.ky, band.kx, band.weight, small, xs)
    rows = band_rows(R.shape[0], band.ky)
    X = (np.conj(R[rows, :band.kx + 1]) * I[rows, :band.kx + 1]).astype(complex) * band.weight
    ref_small = np.zeros_like(small)
    ref_small[band_rows(small.shape[0], band.ky), :band.kx + 1] = X
    np.testing.assert_allclose(small, ref_small, rtol=1e-4, atol=1e-3 * abs(X).max())
    h = np.where(np.arange(band.kx + 1) > 0, 2.0, 1.0)
    np.testing.assert_allclose(xs[0] + 1j * xs[1], X * h, rtol=1e-5, atol=1e-6 * abs(X).max())


def test_cross_and_ml_kernels_match_numpy(spectra):
    m, R, I = spectra
    kern._cross_kernel(R, I, m._ky, m._kx, m._ridx, m._C, m._P)
    rows = band_rows(R.shape[0], m._ky)
    Rb = R[rows, :m._kx + 1].astype(complex)
    Ib = I[rows, :m._kx + 1].astype(complex)
    C = np.conj(Rb) * Ib
    np.testing.assert_allclose(m._C[0] + 1j * m._C[1], C, rtol=1e-9, atol=1e-9 * abs(C).max())
    P = np.bincount(m._ridx.ravel(), (0.5 * (abs(Rb) ** 2 + abs(Ib) ** 2)).ravel(),
                    minlength=len(m._P))
    np.testing.assert_allclose(m._P, P, rtol=1e-9)
    ry, rx = 2.2, -1.6
    X = np.empty_like(m._X)
    kern._ml_kernel(m._C, m._P, m._uy, m._ux, ry, rx, m._ridx, m._rcount, m._hp, X)
    ph = np.exp(1j * (m._uy[:, None] * ry + m._ux[None, :] * rx))
    S = np.clip(np.bincount(m._ridx.ravel(), (C * ph).real.ravel(), minlength=len(P))
                / m._rcount, 0, None)
    Pm = P / m._rcount
    N = np.maximum(Pm - S, 1e-12 * Pm.max())
    W = S / (N * (N + 2 * S))
    ref = C * W[m._ridx] * m._hp
    np.testing.assert_allclose(X[0] + 1j * X[1], ref, rtol=1e-7, atol=1e-9 * abs(ref).max())


def test_newton_kernel_matches_direct_maximisation(spectra):
    m, R, I = spectra
    kern._cross_kernel(R, I, m._ky, m._kx, m._ridx, m._C, m._P)
    X = np.empty_like(m._X)
    kern._ml_kernel(m._C, m._P, m._uy, m._ux, 2.3, -1.7, m._ridx, m._rcount, m._hp, X)
    ry, rx, c = kern._newton_kernel(X, m._uy, m._ux, m._lnEy, m._lnEx, 2.0, -1.5, 0.5, 20)
    Xc = X[0] + 1j * X[1]
    lags_y = np.arange(len(m._lnEy)) - (len(m._lnEy) - 1) // 2
    lags_x = np.arange(len(m._lnEx)) - (len(m._lnEx) - 1) // 2

    def neg_objective(r):
        c = (Xc * np.exp(1j * (m._uy[:, None] * r[0] + m._ux[None, :] * r[1]))).real.sum()
        return -(np.log(c) - np.interp(r[0], lags_y, m._lnEy) - np.interp(r[1], lags_x, m._lnEx))

    opt = scipy.optimize.minimize(neg_objective, [2.0, -1.5], method="Nelder-Mead",
                                  options=dict(xatol=1e-6, fatol=1e-12))
    assert abs(ry - opt.x[0]) < 2e-3 and abs(rx - opt.x[1]) < 2e-3
    assert np.isclose(c, (Xc * np.exp(1j * (m._uy[:, None] * ry + m._ux[None, :] * rx))).real.sum(),
                      rtol=1e-3)


def test_periodic_kernel_matches_numpy():
    rng = np.random.default_rng(5)
    nb = 40
    rcount = rng.integers(1, 200, nb).astype(float)
    G = rng.uniform(0.5, 1.0, nb)
    P = rcount * G * 3.0 * (1 + rng.uniform(0, 0.5, nb))
    for spike in (None, 30):
        if spike is not None:
            P[spike] *= 20
        q = P / (rcount * G)
        outer = np.arange(nb) >= nb // 2
        n0 = q[outer & (rcount >= 8)].min()
        s = q / n0 - 1
        want = s[21:].max() > 4.0 * s[3:21].max()
        assert kern._periodic_kernel(P, rcount, G, 3, 20, 4.0) == want
    assert want  # the spike beyond ring 20 is detected


def test_peak_kernel_matches_numpy():
    rng = np.random.default_rng(4)
    cmap = rng.random((20, 24))
    gy = np.fft.fftfreq(20) * 40
    gx = np.fft.fftfreq(24) * 48
    j, i, q, oy, ox = kern._peak_kernel(cmap, False, gy, gx, 0.0, 0.0, 0.0, 40.0, 48.0)
    jj, ii = np.unravel_index(np.argmax(cmap), cmap.shape)
    assert (j, i) == (jj, ii)
    assert np.isclose(q, (cmap.max() - cmap.mean()) / cmap.std())
    a, b, c = cmap[(j - 1) % 20, i], cmap[j, i], cmap[(j + 1) % 20, i]
    assert np.isclose(oy, np.clip(0.5 * (a - c) / (a - 2 * b + c), -0.5, 0.5))
    # masked: maximum among cells within 6 px of (10, -10), distances wrapped
    j, i, *_ = kern._peak_kernel(cmap, True, gy, gx, 10.0, -10.0, 36.0, 40.0, 48.0)
    dy = (gy[:, None] - 10 + 20) % 40 - 20
    dx = (gx[None, :] + 10 + 24) % 48 - 24
    masked = np.where(dy ** 2 + dx ** 2 <= 36, cmap, -np.inf)
    assert (j, i) == np.unravel_index(np.argmax(masked), cmap.shape)


@pytest.mark.parametrize("module", ['analysis.registration'])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
