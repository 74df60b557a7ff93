"""Tests of analysis.sidebands: sideband model, alignment, order integration, Lorentzian and |β| fits."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from analysis import sidebands

FWHM_EV = 0.35
WAVELENGTH_NM = 590.0                      # ħω = 2.1014 eV
HW_EV = 1239.84 / WAVELENGTH_NM


def zlp_shape(e):
    """A realistic cold-FEG ZLP: FWHM ≈ 0.35 eV, slightly asymmetric (slower decay on the loss
    side) with a weak Lorentzian tail; peak 1 at 0 eV."""
    e = np.asarray(e, float)
    sigma = np.where(e < 0, 0.140, 0.157)
    core = np.exp(-0.5 * (e / sigma) ** 2)
    tail = 1.0 / (1.0 + (e / 0.175) ** 2)
    return 0.97 * core + 0.03 * tail


def axis(dispersion_eV=0.015, e_min=-8.0, e_max=8.0):
    n = int(round((e_max - e_min) / dispersion_eV)) + 1
    return e_min + dispersion_eV * np.arange(n)


def true_spectrum(e, beta, counts, hw=HW_EV, duty=1.0, shift=0.0):
    """Exact expected counts: Σ P_ℓ ZLP(E − shift + ℓħω), normalised to ``counts`` for P=1."""
    norm = counts / zlp_shape(e).sum()
    return norm * sidebands.sideband_model(e, zlp_shape, beta, hw, shift_eV=shift, duty_cycle=duty)


# -- model ----------------------------------------------------------------------------------------
def test_photon_energy():
    assert sidebands.photon_energy_eV(532.0) == pytest.approx(2.3305, abs=1e-4)
    assert sidebands.photon_energy_eV(800.0) == pytest.approx(1.5498, abs=1e-4)
    with pytest.raises(ValueError):
        sidebands.photon_energy_eV(0.0)


@pytest.mark.parametrize("beta, p0, p1, p2", [(0.1, 0.980, 0.0099, None), (0.5, 0.586, 0.194, 0.013),
                                              (1.0, 0.050, 0.333, 0.124)])
def test_sideband_probabilities_table(beta, p0, p1, p2):
    orders, p = sidebands.sideband_probabilities(beta)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(p, p[::-1])                                      # J_-l^2 = J_l^2
    assert p[orders == 0][0] == pytest.approx(p0, abs=1.5e-3)
    assert p[orders == 1][0] == pytest.approx(p1, abs=1.5e-3)
    if p2 is not None:
        assert p[orders == 2][0] == pytest.approx(p2, abs=1.5e-3)


def test_duty_cycle_and_incoherent_average():
    orders, p = sidebands.sideband_probabilities(0.5, duty_cycle=0.25)
    _, full = sidebands.sideband_probabilities(0.5, max_order=orders.max())
    expected = 0.25 * full
    expected[orders == 0] += 0.75
    assert np.allclose(p, expected)
    factors, weights = [0.5, 1.0], [1.0, 3.0]
    _, avg = sidebands.sideband_probabilities(0.8, max_order=8, beta_factors=factors, beta_weights=weights)
    o = np.arange(-8, 9)
    manual = 0.25 * special.jv(o, 0.8) ** 2 + 0.75 * special.jv(o, 1.6) ** 2
    assert np.allclose(avg, manual)
    with pytest.raises(ValueError):
        sidebands.sideband_probabilities(0.5, duty_cycle=1.5)


@pytest.mark.parametrize("wavelength_nm", [532.0, 581.6, 700.0])
def test_sideband_positions_on_loss_axis(wavelength_nm):
    e = axis(0.01)
    hw = 1239.84 / wavelength_nm
    spec = sidebands.sideband_model(e, zlp_shape, 1.0, hw)
    for order in (1, 2, 3):
        for sign in (-1, +1):                     # gain at −ℓħω, loss at +ℓħω
            centre = sign * order * hw
            near = np.abs(e - centre) < 0.4
            peak = e[near][np.argmax(spec[near])]
            assert peak == pytest.approx(centre, abs=0.011)
    oi = sidebands.order_intensities(e, spec, hw, FWHM_EV, orders=(1, 2))
    # symmetric comb: gain = loss for each order, ratio to ZLP = P_l / P_0 (same window shape)
    assert np.allclose(oi.gain, oi.loss, rtol=0.02)
    _, p = sidebands.sideband_probabilities(1.0, max_order=10)
    assert oi.gain[1] / oi.gain[0] == pytest.approx(p[12] / p[11], rel=0.03)


def test_integrate_window_fractional_channels():
    e = np.arange(-5, 6, dtype=float)             # 1 eV channels
    y = np.ones_like(e)
    assert sidebands.integrate_window(e, y, 0.25, 1.0) == pytest.approx(2.0)
    assert sidebands.integrate_window(e, y, 0.0, 0.25) == pytest.approx(0.5)


# -- alignment -------------------------------------------------------------------------------------
def test_alignment_subchannel_and_not_locking_on_sidebands():
    e = axis(0.015)
    true_shift = 0.1234
    # |β| = 1: the first gain peak (P1 = 0.33) is much higher than the ZLP (P0 = 0.05)
    spec = true_spectrum(e, 1.0, 1e7, shift=true_shift)
    pos = sidebands.zlp_position_eV(e, spec, window_eV=0.8, photon_energy=HW_EV)
    # the asymmetric top biases the "maximum" by < 0.5 channel; what matters for alignment is
    # that the same shape gives the same position with and without laser
    assert pos == pytest.approx(true_shift, abs=0.5 * 0.015)
    # same peak shape without laser: the same position to 0.1 channel
    off = true_spectrum(e, 0.0, 1e7, shift=true_shift)
    assert sidebands.zlp_position_eV(e, off, 0.8, HW_EV) == pytest.approx(pos, abs=0.1 * 0.015)
    aligned, positions = sidebands.align_spectra(e, spec[None], 0.8, HW_EV)
    assert positions[0] == pytest.approx(pos)
    near = np.abs(e) < 0.4
    assert e[near][np.argmax(aligned[0][near])] == pytest.approx(0.0, abs=0.016)
    with pytest.raises(ValueError, match="narrower than"):
        sidebands.zlp_position_eV(e, spec, window_eV=3.0, photon_energy=HW_EV)


def test_alignment_symmetric_peak_exact():
    e = axis(0.02)
    for shift in (-0.2171, 0.0, 0.0333, 0.31):
        spec = 1e6 * np.exp(-0.5 * ((e - shift) / 0.1486) ** 2)
        assert sidebands.zlp_position_eV(e, spec, 0.9, HW_EV) == pytest.approx(shift, abs=0.02 * 0.02)


def test_normalise_by_power():
    out = sidebands.normalise_by_power([2.0, 2.0, 2.0], [11.0, 1.0, 0.5], 1.0)
    assert out[0] == pytest.approx(0.2)
    assert np.isnan(out[1]) and np.isnan(out[2])


# -- |β| fit -----------------------------------------------------------------------------------------
BETAS = [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("dispersion", [0.01, 0.02])
@pytest.mark.parametrize("beta", BETAS)
def test_fit_beta_noise_free(beta, dispersion):
    e = axis(dispersion)
    reference = zlp_shape(e) * 1e7 / zlp_shape(e).sum()
    spec = true_spectrum(e, beta, 2e7)
    fit = sidebands.fit_beta(e, spec, reference, HW_EV)
    assert fit.success
    assert fit.beta_abs == pytest.approx(beta, rel=0.05)
    assert fit.scale == pytest.approx(2.0, rel=0.02)


@pytest.mark.parametrize("dispersion", [0.01, 0.02])
@pytest.mark.parametrize("beta", BETAS)
def test_fit_beta_poisson(beta, dispersion):
    rng = np.random.default_rng(int(beta * 1000) + int(dispersion * 1000))
    e = axis(dispersion)
    counts = 1e7
    reference = rng.poisson(zlp_shape(e) * counts / zlp_shape(e).sum()).astype(float)
    spec = rng.poisson(true_spectrum(e, beta, counts, shift=0.004)).astype(float)
    fit = sidebands.fit_beta(e, spec, reference, HW_EV, fit_shift=True)
    assert fit.beta_abs == pytest.approx(beta, rel=0.05)
    assert fit.beta_err < 0.05 * beta
    assert abs(fit.beta_abs - beta) < 5 * fit.beta_err + 0.01 * beta
    assert fit.shift_eV == pytest.approx(0.004, abs=0.005)


def test_fit_beta_with_duty_cycle():
    e = axis(0.015)
    reference = zlp_shape(e)
    spec = sidebands.sideband_model(e, reference, 0.6, HW_EV, scale=3.0, duty_cycle=0.4)
    fit = sidebands.fit_beta(e, spec, reference, HW_EV, duty_cycle=0.4, weights="uniform")
    assert fit.beta_abs == pytest.approx(0.6, rel=0.02)


# -- EEGS spectrum and Lorentzian ----------------------------------------------------------------------
def test_eegs_spectrum_and_lorentzian_fit():
    rng = np.random.default_rng(7)
    e = axis(0.015, -6.0, 6.0)
    centre_eV, q = 2.13, 300.0                    # FWHM = 7.1 meV
    fwhm_res = centre_eV / q
    wavelengths = np.linspace(575.0, 589.0, 141)  # 0.1 nm steps
    hw = 1239.84 / wavelengths
    power = 200.0 + 40.0 * np.sin(np.linspace(0, 3, wavelengths.size))        # µW, varies
    beta2_per_uW = 2e-5
    beta2 = beta2_per_uW * power * sidebands.lorentzian(hw, centre_eV, fwhm_res, 1.0, 0.02)
    counts = 2e7
    spectra = np.array([rng.poisson(true_spectrum(e, np.sqrt(b2), counts, h, shift=s))
                        for b2, h, s in zip(beta2, hw, rng.normal(0, 0.05, hw.size))], float)
    off = rng.poisson(true_spectrum(e, 0.0, counts)).astype(float)
    spectrum = sidebands.eegs_spectrum(e, spectra, wavelengths, FWHM_EV, power_uW=power,
                                  laser_off_power_uW=0.0, laser_off_spectrum=off)
    # weak coupling: gain / ZLP ≈ |β|², per µW
    fit = sidebands.fit_lorentzian(spectrum.photon_energy_eV, spectrum.gain, spectrum.gain_err)
    assert fit.centre_eV == pytest.approx(centre_eV, abs=0.1 * fwhm_res)
    assert fit.fwhm_eV == pytest.approx(fwhm_res, rel=0.15)
    assert fit.q_factor == pytest.approx(q, rel=0.15)
    assert fit.amplitude == pytest.approx(beta2_per_uW, rel=0.15)
    assert 0 < fit.centre_err_eV < 0.1 * fwhm_res and 0 < fit.q_factor_err < 0.2 * q


def test_lorentzian_fit_recovers_exact_parameters():
    x = np.linspace(2.0, 2.3, 301)
    y = sidebands.lorentzian(x, 2.132, 0.0021, 5.0, 0.3)
    fit = sidebands.fit_lorentzian(x, y)
    assert fit.centre_eV == pytest.approx(2.132, abs=1e-5)
    assert fit.fwhm_eV == pytest.approx(0.0021, rel=1e-3)
    assert fit.q_factor == pytest.approx(2.132 / 0.0021, rel=1e-3)


def test_eegs_spectrum_weak_coupling_ratio_is_beta_squared():
    e = axis(0.015, -6.0, 6.0)
    wavelengths = np.array([570.0, 590.0, 610.0])
    betas = np.array([0.05, 0.1, 0.15])
    spectra = np.array([true_spectrum(e, b, 1e7, 1239.84 / wl) for b, wl in zip(betas, wavelengths)])
    off = true_spectrum(e, 0.0, 1e7)
    out = sidebands.eegs_spectrum(e, spectra, wavelengths, FWHM_EV, laser_off_spectrum=off)
    assert out.photon_energy_eV == pytest.approx(1239.84 / wavelengths)
    # gain window / ZLP window = P_1 / P_0 = J_1²/J_0² ≈ |β|²
    exact = special.jv(1, 2 * betas) ** 2 / special.jv(0, 2 * betas) ** 2
    assert out.gain == pytest.approx(exact, rel=0.02)
    assert np.allclose(out.zlp_positions_eV, 0.0, atol=0.01)


def test_fit_beta_with_incoherent_beta_distribution():
    e = axis(0.015)
    reference = zlp_shape(e)
    factors = np.linspace(0.2, 1.0, 9)
    weights = np.exp(-0.5 * ((factors - 1.0) / 0.3) ** 2)
    spec = sidebands.sideband_model(e, reference, 0.8, HW_EV, scale=1e6, beta_factors=factors,
                               beta_weights=weights)
    fit = sidebands.fit_beta(e, spec, reference, HW_EV, beta_factors=factors, beta_weights=weights)
    assert fit.beta_abs == pytest.approx(0.8, rel=0.01)
    # ignoring the distribution gives a biased (smaller) |β|
    naive = sidebands.fit_beta(e, spec, reference, HW_EV)
    assert naive.beta_abs < 0.75


def test_zlp_position_edge_cases():
    e = axis(0.02)
    spec = np.exp(-0.5 * ((e - 0.5) / 0.15) ** 2)      # peak outside a ±0.3 eV window
    assert sidebands.zlp_position_eV(e, spec, 0.3) == pytest.approx(0.3, abs=0.021)
    with pytest.raises(ValueError, match="< 3 channels"):
        sidebands.zlp_position_eV(e, spec, 0.01)


def test_gain_side_fit_ignores_a_changed_loss_peak():
    """A particle plasmon at +ħω (under the loss sideband) 30 % stronger in the reference than in
    the laser-on spectrum (drift brought the probe closer): the symmetric fit takes the excess
    for missing loss sideband and reads |β| low; the gain-side window does not see it."""
    e = axis()
    beta, counts = 0.01, 1e12
    zlp_counts = counts / zlp_shape(e).sum()
    loss = 2e-4 * zlp_counts                                  # peak loss ≈ 2 × the sideband peak

    def plasmon(x, amp):
        return amp / (1.0 + ((np.asarray(x) - HW_EV - 0.02) / 0.08) ** 2) * (np.asarray(x) > 0)

    def reference(x):
        return zlp_counts * zlp_shape(x) + plasmon(x, 1.3 * loss)

    on = true_spectrum(e, beta, counts) + (1 - 2 * beta ** 2) * plasmon(e, loss)
    gain = sidebands.fit_window(e, HW_EV, FWHM_EV, side="gain")
    both = sidebands.fit_window(e, HW_EV, FWHM_EV, side="both")
    assert e[gain].max() <= HW_EV / 2 and e[both].max() > HW_EV + 3 * FWHM_EV - 0.02
    fit_gain = sidebands.fit_beta(e[gain], on[gain], reference, HW_EV)
    fit_both = sidebands.fit_beta(e[both], on[both], reference, HW_EV)
    assert fit_gain.beta_abs == pytest.approx(beta, rel=0.01)
    assert fit_both.beta_abs < 0.95 * beta                     # 7.7 % low
    with pytest.raises(ValueError, match="side must be"):
        sidebands.fit_window(e, HW_EV, FWHM_EV, side="loss")
