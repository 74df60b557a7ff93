"""Tests of analysis.eels: edges, windows, calibration, ZLP, t/λ, power laws, elemental maps."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import eels
from analysis.eels import zlp as zlp_mod


# --------------------------------------------------------------------------- edges
@pytest.mark.parametrize("name, onset, n", [
    ("O K", 532.0, 1), ("C K", 284.0, 1), ("Sc L2,3", 402.0, 2), ("sc l23", 402.0, 2),
    ("Sc L3,2", 402.0, 2), ("Dy M4,5", 1295.0, 2), ("Dy M45", 1295.0, 2), ("Dy M4", 1332.0, 1),
    ("Dy N4,5", 154.0, 1), ("Gd M4,5", 1185.0, 2), ("La M5", 832.0, 1), ("Fe L2", 721.0, 1),
    ("Ca L2,3", 346.0, 2), ("Ti L2,3", 456.0, 2), ("N K", 401.0, 1),
])
def test_edge_lookup(name, onset, n):
    e = eels.lookup_edge(name)
    assert e.onset_eV == onset and len(e.components) == n
    assert [c[1] for c in e.components] == sorted(c[1] for c in e.components)


def test_unknown_edge_lists_known_edges():
    with pytest.raises(ValueError, match=r"unknown edge 'Xx K'.*known edges: .*Dy M4,5.*O K"):
        eels.lookup_edge("Xx K")
    with pytest.raises(ValueError, match="unknown edge 'Sc'"):
        eels.lookup_edge("Sc")


# --------------------------------------------------------------------------- axis
def test_window_weights_fractional_channels():
    e = np.arange(10.0)  # channel k covers [k − 0.5, k + 0.5]
    w = eels.window_weights(e, 1.25, 3.5)
    np.testing.assert_allclose(w, [0, 0.25, 1, 1, 0, 0, 0, 0, 0, 0])
    assert np.isclose(eels.integrate(np.full((3, 10), 2.0), e, (1.25, 3.5))[0], 4.5)


@pytest.mark.parametrize("window, match", [((3.0, 2.0), "empty"), ((-2.0, 3.0), "outside")])
def test_window_errors_name_window(window, match):
    with pytest.raises(ValueError, match=match):
        eels.window_weights(np.arange(10.0), *window)


def test_energy_axis_checks():
    with pytest.raises(ValueError, match="uniformly spaced"):
        eels.check_energy_axis(np.array([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="5 channels but the spectra have 4"):
        eels.check_energy_axis(np.arange(5.0), 4)


def test_two_peak_calibration():
    off, disp = eels.calibrate_two_peaks(52.3, 0.0, 1052.3, 532.0)
    assert np.isclose(disp, 0.532) and np.isclose(off + disp * 52.3, 0.0)
    e = eels.energy_axis(2048, off, disp)
    assert np.isclose(np.interp(1052.3, np.arange(2048), e), 532.0)
    with pytest.raises(ValueError, match="non-positive dispersion"):
        eels.calibrate_two_peaks(10.0, 0.0, 5.0, 100.0)
    with pytest.raises(ValueError, match="same channel 3"):
        eels.calibrate_two_peaks(3, 0.0, 3, 10.0)


# --------------------------------------------------------------------------- ZLP
def gaussian_spectra(centres_eV, e, fwhm=0.5, area=1e4):
    s = fwhm / 2.3548
    c = np.asarray(centres_eV)[..., None]
    return area * 0.05 / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((e - c) / s) ** 2)


@pytest.mark.parametrize("method, tol", [("parabola", 0.01), ("centroid", 0.01)])
def test_zlp_positions_subchannel(method, tol):
    e = np.arange(-5.0, 20.0, 0.05)
    centres = np.random.default_rng(0).uniform(-0.8, 0.8, (4, 5))
    pos = eels.zlp_positions(gaussian_spectra(centres, e), e, method=method)
    assert np.abs(pos - centres).max() < tol


def test_align_zlp_puts_peak_at_zero_and_conserves_counts():
    e = np.arange(-5.0, 20.0, 0.05)
    rng = np.random.default_rng(1)
    centres = rng.uniform(-1.0, 1.0, (3, 4))
    si = rng.poisson(gaussian_spectra(centres, e, area=1e5)).astype(float)
    aligned, z = eels.align_zlp(si, e)
    assert np.abs(z - centres).max() < 0.02
    assert np.abs(eels.zlp_positions(aligned, e)).max() < 0.02
    np.testing.assert_allclose(aligned.sum(-1), si.sum(-1), rtol=1e-9)


def test_zlp_window_too_narrow_raises():
    with pytest.raises(ValueError, match="ZLP window .* holds 1 channels"):
        eels.zlp_positions(np.ones((2, 10)), np.arange(10.0), window_eV=(2.9, 3.1))


@pytest.mark.parametrize("seed", range(3))
def test_shift_kernel_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    spectra = rng.random((7, 40))
    shifts = rng.uniform(-6, 6, 7)
    shifts[0] = 2.0
    out = np.empty_like(spectra)
    zlp_mod._shift_kernel(spectra, shifts, out)
    np.testing.assert_allclose(out, zlp_mod.shift_spectra_reference(spectra, shifts), atol=1e-12)


def test_thickness_log_ratio():
    e = np.arange(-5.0, 200.0, 0.1)
    t_over_l = np.array([[0.2, 0.5], [1.0, 1.5]])
    zlp = gaussian_spectra(np.zeros((2, 2)), e, fwhm=0.7, area=1.0)
    si = np.zeros((2, 2, len(e)))
    for n in range(0, 12):  # Poisson plural scattering: order n has area (t/λ)^n / n!
        peak = gaussian_spectra(np.full((2, 2), 15.0 * n), e, fwhm=0.7 if n == 0 else 6.0,
                                area=1.0) if n else zlp
        si += peak * (t_over_l ** n / math.factorial(n))[..., None]
    np.testing.assert_allclose(eels.thickness_map(si, e), t_over_l, atol=0.01)
    np.testing.assert_allclose(eels.thickness_map(si, e, zlp_window_eV=(-5.0, 3.0)), t_over_l,
                               atol=0.01)


# --------------------------------------------------------------------------- power law
def powerlaw_counts(A, r, e):
    """Counts per channel of the density A·E^−r (exact channel integrals, r ≠ 1)."""
    d = e[1] - e[0]
    A = np.asarray(A, float)[..., None]
    u = 1 - np.asarray(r, float)[..., None]
    return A * ((e + d / 2) ** u - (e - d / 2) ** u) / u


@pytest.mark.parametrize("fit", [eels.fit_powerlaw_two_area, eels.fit_powerlaw_lsq])
@pytest.mark.parametrize("r", [2.0, 3.0, 4.5])
def test_powerlaw_recovers_A_r_noise_free(fit, r):
    e = np.arange(250.0, 700.0, 0.25)
    A = 10.0 ** (3 * r + 2)
    p = fit(powerlaw_counts(A, r, e), e, (300.0, 500.0))
    assert abs(float(p.r) - r) < 2e-3
    assert abs(float(p.A) / A - 1) < 0.02


def test_two_area_exact_where_arithmetic_midpoint_is_biased():
    """physics.md: for x2/x1 = 4 and r = 3 the arithmetic-midpoint formula gives 3.11."""
    e = np.arange(99.0, 420.0, 0.05)
    s = powerlaw_counts(1e8, 3.0, e)
    p = eels.fit_powerlaw_two_area(s, e, (100.0, 400.0))
    assert abs(float(p.r) - 3.0) < 1e-3
    I1 = eels.integrate(s, e, (100.0, 250.0))
    I2 = eels.integrate(s, e, (250.0, 400.0))
    assert abs(2 * math.log(I1 / I2) / math.log(4.0) - 3.11) < 0.01


@pytest.mark.parametrize("method", ["two-area", "lsq"])
def test_powerlaw_noisy_fits_and_uncertainty(method):
    rng = np.random.default_rng(2)
    e = np.arange(300.0, 500.0, 0.5)
    A, r = 1e13, 3.0
    clean = powerlaw_counts(np.full(2000, A), np.full(2000, r), e)
    noisy = rng.poisson(clean).astype(float)
    fit = eels.fit_powerlaw_two_area if method == "two-area" else eels.fit_powerlaw_lsq
    p = fit(noisy, e, (372.0, 392.0))
    assert abs(np.median(p.r) - r) < 0.05
    # extrapolated background in [400, 440]: scatter matches the propagated variance
    B = eels.powerlaw_integral(p.A, p.r, 400.0, 440.0)
    predicted = np.sqrt(np.median(eels.background_variance(p, (400.0, 440.0))))
    assert abs(B.std() / predicted - 1) < 0.15
    true_B = eels.powerlaw_integral(A, r, 400.0, 440.0)
    assert abs(B.mean() / true_B - 1) < 3 * B.std() / true_B / np.sqrt(len(B)) + 0.01


def test_powerlaw_integral_at_r_equal_one():
    assert np.isclose(eels.powerlaw_integral(2.0, 1.0, 10.0, 20.0), 2 * math.log(2.0))
    assert np.isclose(eels.powerlaw_integral(2.0, 1.0 + 1e-7, 10.0, 20.0), 2 * math.log(2.0),
                      rtol=1e-5)
    with pytest.raises(ValueError, match=r"\[20.0, 10.0\]"):
        eels.powerlaw_integral(1.0, 2.0, 20.0, 10.0)


# --------------------------------------------------------------------------- elemental maps
def synthetic_si(edge="Dy M4,5", shape=(24, 24), seed=0, e=None, amp_max=80.0):
    """Poisson SI: power-law background of 50 counts/channel at the onset (varying ±15 %), an
    edge with a delayed maximum and a known amplitude map (counts/channel, up to amp_max)."""
    rng = np.random.default_rng(seed)
    onset = eels.lookup_edge(edge).onset_eV
    e = np.arange(0.85 * onset, 1.3 * onset, 1.0) if e is None else e
    yy, xx = np.indices(shape)
    amp = amp_max * np.exp(-((yy - 10) ** 2 + (xx - 14) ** 2) / 30.0)
    amp += 0.5 * amp_max * ((yy > 16) & (xx < 8))
    r = 3.0 + 0.2 * rng.random(shape)
    A = 50.0 * onset ** r * (1 + 0.3 * rng.random(shape))
    bg = powerlaw_counts(A, r, e)
    # delayed-maximum edge shape: rises over 10 eV, decays slowly
    x = np.clip(e - onset, 0, None)
    shape_e = (1 - np.exp(-x / 5.0)) * np.exp(-x / (0.5 * onset)) * (e >= onset)
    clean = bg + amp[..., None] * shape_e
    return rng.poisson(clean).astype(np.float64), e, amp, clean, bg


@pytest.mark.parametrize("method", ["two-area", "lsq"])
def test_elemental_map_correlates_with_truth(method):
    si, e, amp, clean, bg = synthetic_si()
    m = eels.elemental_map(si, e, "Dy M4,5", method=method)
    assert m.signal.shape == amp.shape
    assert np.corrcoef(m.signal.ravel(), amp.ravel())[0, 1] > 0.9
    assert m.fit_window_eV == pytest.approx((0.93 * 1295, 0.98 * 1295))
    assert m.signal_window_eV == pytest.approx((1295, 1.10 * 1295))
    # the reported uncertainty matches the actual scatter of (map − truth)
    w = eels.window_weights(e, *m.signal_window_eV)
    true_signal = (clean - bg) @ w
    z = (m.signal - true_signal) / m.uncertainty
    assert 0.75 < z.std() < 1.3 and abs(z.mean()) < 0.3
    assert (m.snr[amp > 60] > 3).all()


def test_elemental_map_custom_windows_and_other_edges():
    si, e, amp, *_ = synthetic_si("Sc L2,3", shape=(12, 12), seed=3, amp_max=200.0)
    m = eels.elemental_map(si, e, "Sc L2,3", pre_edge=(360.0, 395.0), signal_width_eV=30.0)
    assert m.signal_window_eV == (402.0, 432.0) and m.fit_window_eV == (360.0, 395.0)
    assert np.corrcoef(m.signal.ravel(), amp.ravel())[0, 1] > 0.8
    # raw detector counts (uint16) give the same map
    m16 = eels.elemental_map(si.astype(np.uint16), e, "Sc L2,3", pre_edge=(360.0, 395.0),
                             signal_width_eV=30.0)
    np.testing.assert_allclose(m16.signal, m.signal, rtol=1e-9, atol=1e-6)


def test_elemental_map_validation_messages():
    e = np.arange(300.0, 600.0, 1.0)
    si = np.ones((2, 2, len(e)))
    with pytest.raises(ValueError, match=r"edge Dy M4,5 \(onset 1295 eV\) is outside the energy "
                                         r"range \[299.5, 599.5\] eV"):
        eels.elemental_map(si, e, "Dy M4,5")
    with pytest.raises(ValueError, match=r"signal window \[532, 585.2\] eV for edge O K"):
        eels.elemental_map(si[..., :260], e[:260], "O K")  # axis ends at 559.5 eV
    with pytest.raises(ValueError, match="unknown edge 'Q K'"):
        eels.elemental_map(si, e, "Q K")
    with pytest.raises(ValueError, match=r"pre_edge window \(500.0, 540.0\) eV reaches past"):
        eels.elemental_map(si, e, "O K", pre_edge=(500.0, 540.0))
    with pytest.raises(ValueError, match="signal_width_eV must be > 0, got -3"):
        eels.elemental_map(si, e, "O K", signal_width_eV=-3)
    with pytest.raises(ValueError, match="method must be"):
        eels.elemental_map(si, e, "O K", method="spline")
    with pytest.raises(ValueError, match="300 channels but the spectra have 10"):
        eels.elemental_map(np.ones((2, 10)), e, "O K")


@pytest.mark.parametrize("module", ['analysis.eels.edges', 'analysis.eels.axis', 'analysis.eels.zlp', 'analysis.eels.background', 'analysis.eels.maps'])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_elemental_map_explicit_signal_window():
    """An explicit signal window (a Swift interval the user dragged) replaces onset + width."""
    si, e, amp, *_ = synthetic_si("Sc L2,3", shape=(6, 6), seed=4, amp_max=200.0)
    m = eels.elemental_map(si, e, "Sc L2,3", pre_edge=(360.0, 395.0), signal_window_eV=(404.0, 430.0))
    assert m.signal_window_eV == (404.0, 430.0)
    ref = eels.elemental_map(si, e, "Sc L2,3", pre_edge=(360.0, 395.0), signal_width_eV=28.0)
    w = eels.window_weights(e, 404.0, 430.0)
    np.testing.assert_allclose(m.signal, si @ w - eels.powerlaw_integral(ref.powerlaw.A, ref.powerlaw.r, 404.0, 430.0))
    with pytest.raises(ValueError, match="starts inside the background fit window"):
        eels.elemental_map(si, e, "Sc L2,3", pre_edge=(360.0, 395.0), signal_window_eV=(390.0, 430.0))
