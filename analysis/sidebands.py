"""Electron energy gain spectroscopy (EEGS) sidebands: the sideband model, order extraction, fits.

Conventions (kept throughout)
-----------------------------
* Energy axis: energy **loss** in eV, positive = loss. Sideband order ℓ > 0 is *gain*: its peak
  sits at ``E = -ℓ·ħω``; the loss orders (ℓ < 0) at ``E = +|ℓ|·ħω``.
* Photon energy ``ħω [eV] = 1239.84 / λ [nm]``.
* A sideband of order ℓ is a copy of the laser-off spectrum (ZLP) translated by ``-ℓ·ħω``:
  ``model(E) = scale · Σ_ℓ P_ℓ · ZLP(E + ℓ·ħω)``.
* Sideband populations ``P_ℓ = J_ℓ²(2|β|)`` (Park, Lin & Zewail, New J. Phys. 12, 123028 (2010);
  García de Abajo, Asenjo-Garcia & Kociak, Nano Lett. 10, 1859 (2010)); ``Σ_ℓ P_ℓ = 1``. With a
  gating duty cycle ``d``: ``P_ℓ = d·⟨J_ℓ²(2|β|)⟩ + (1 - d)·δ_ℓ0``.
* Spectra are arrays ``(..., n_channels)`` of counts on a uniform energy axis ``energy_eV``.

Example
-------
>>> e = np.linspace(-6, 6, 801)
>>> zlp = np.exp(-0.5 * (e / 0.15) ** 2)
>>> spectrum = sideband_model(e, zlp, 0.3, photon_energy_eV(590.0), scale=1e6)
>>> round(fit_beta(e, spectrum, zlp, photon_energy_eV(590.0)).beta_abs, 3)
0.3
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
from scipy import interpolate, optimize, special

HC_EV_NM = 1239.84

Reference = np.ndarray | Callable[[np.ndarray], np.ndarray]


def photon_energy_eV(wavelength_nm):
    """Photon energy ħω in eV of light of wavelength ``wavelength_nm`` (nm): 1239.84 / λ."""
    wl = np.asarray(wavelength_nm, dtype=float)
    if np.any(wl <= 0):
        raise ValueError(f"wavelength must be > 0 nm, got {wavelength_nm!r}")
    out = HC_EV_NM / wl
    return float(out) if out.ndim == 0 else out


def default_max_order(beta_abs: float) -> int:
    """Highest order with a non-negligible population (< 1e-9) for coupling ``|β|``."""
    x = 2.0 * abs(float(beta_abs))
    return int(np.ceil(x + 4.0 * x ** (1.0 / 3.0) + 4.0))


def sideband_probabilities(beta_abs: float, max_order: int | None = None, *,
                           duty_cycle: float = 1.0,
                           beta_factors: Sequence[float] | None = None,
                           beta_weights: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sideband populations ``P_ℓ`` for ``ℓ = -L … L``.

    Parameters
    ----------
    beta_abs : float
        Coupling |β| (dimensionless); with ``beta_factors`` the peak value.
    max_order : int, optional
        L; default :func:`default_max_order` of the largest |β|.
    duty_cycle : float
        Fraction ``d`` of electrons that see the light (0–1); the rest stay in ℓ = 0.
    beta_factors, beta_weights : sequences, optional
        Incoherent average: the electrons see ``|β|·beta_factors[k]`` with probabilities
        ``beta_weights[k]`` (normalised here), e.g. a Gaussian beam or pulse profile.

    Returns
    -------
    orders : ndarray of int, shape (2L+1,)
        ℓ from -L to L; ℓ > 0 = gain.
    probabilities : ndarray, shape (2L+1,)
        ``P_ℓ``, summing to 1 (up to the truncation at L).
    """
    if not 0.0 <= duty_cycle <= 1.0:
        raise ValueError(f"duty cycle {duty_cycle} outside 0–1")
    beta_abs = abs(float(beta_abs))
    factors = np.ones(1) if beta_factors is None else np.abs(np.asarray(beta_factors, float))
    weights = (np.ones_like(factors) if beta_weights is None
               else np.asarray(beta_weights, dtype=float))
    if weights.shape != factors.shape or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("beta_weights must be non-negative, not all zero, one per beta factor")
    weights = weights / weights.sum()
    if max_order is None:
        max_order = default_max_order(beta_abs * factors.max())
    orders = np.arange(-max_order, max_order + 1)
    jl2 = special.jv(orders[:, None], 2.0 * beta_abs * factors[None, :]) ** 2
    p = duty_cycle * (jl2 @ weights)
    p[max_order] += 1.0 - duty_cycle
    return orders, p


def _reference_function(energy_eV: np.ndarray, reference: Reference) -> Callable:
    if callable(reference):
        return reference
    ref = np.asarray(reference, dtype=float)
    if ref.shape != energy_eV.shape:
        raise ValueError(f"reference shape {ref.shape} != energy axis shape {energy_eV.shape}")
    spline = interpolate.CubicSpline(energy_eV, ref, extrapolate=False)

    def f(e: np.ndarray) -> np.ndarray:
        return np.nan_to_num(spline(e), nan=0.0)

    return f


def sideband_model(energy_eV: np.ndarray, reference: Reference, beta_abs: float,
                   photon_energy: float, *, scale: float = 1.0, shift_eV: float = 0.0,
                   max_order: int | None = None, duty_cycle: float = 1.0,
                   beta_factors: Sequence[float] | None = None,
                   beta_weights: Sequence[float] | None = None) -> np.ndarray:
    """Spectrum with laser: ``scale · Σ_ℓ P_ℓ · ZLP(E - shift + ℓ·ħω)``.

    Parameters
    ----------
    energy_eV : ndarray, shape (n,)
        Energy-loss axis, eV.
    reference : ndarray (n,) or callable
        Laser-off spectrum on ``energy_eV`` (interpolated by a cubic spline, zero outside the
        axis) or a function of energy loss in eV.
    beta_abs : float
        Coupling |β|.
    photon_energy : float
        ħω in eV; gain order ℓ appears at ``-ℓ·ħω``.
    scale : float
        Multiplies the whole model (counts of the spectrum / counts of the reference).
    shift_eV : float
        Translates the model along the axis (positive = towards larger loss).
    max_order, duty_cycle, beta_factors, beta_weights
        See :func:`sideband_probabilities`.

    Returns
    -------
    ndarray, shape (n,)
    """
    energy_eV = np.asarray(energy_eV, dtype=float)
    f = _reference_function(energy_eV, reference)
    orders, p = sideband_probabilities(beta_abs, max_order, duty_cycle=duty_cycle,
                                       beta_factors=beta_factors, beta_weights=beta_weights)
    keep = p > 1e-12
    e = energy_eV[None, :] - shift_eV + orders[keep, None] * photon_energy
    return scale * (p[keep] @ f(e.ravel()).reshape(e.shape))


# ------------------------------------------------------------------------------------------------
# ZLP alignment
# ------------------------------------------------------------------------------------------------
def zlp_position_eV(energy_eV: np.ndarray, spectrum: np.ndarray, window_eV: float = 0.5,
                    photon_energy: float | None = None, expected_eV: float = 0.0) -> float:
    """Sub-channel position (eV) of the zero-loss peak maximum.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV (uniform, increasing).
    spectrum : ndarray (n,)
        Counts.
    window_eV : float
        Half-width of the search window around ``expected_eV``, eV. Must be **narrower than
        ħω/2** when ``photon_energy`` is given, otherwise a strong gain or loss sideband (at ±ħω)
        could be taken for the ZLP.
    photon_energy : float, optional
        ħω in eV, to check the window.
    expected_eV : float
        Centre of the search window, eV.

    Returns
    -------
    float
        Energy of the ZLP maximum on the input axis, eV.

    Notes
    -----
    The maximum channel in the window is refined by a least-squares parabola through
    ``log(counts)`` of the contiguous channels above 3/4 of the maximum (exact for a Gaussian
    top; the high threshold keeps an asymmetric ZLP and sideband tails from biasing it).
    """
    if photon_energy is not None and not window_eV < photon_energy / 2:
        raise ValueError(f"ZLP search window ±{window_eV} eV is not narrower than ħω/2 = "
                         f"{photon_energy / 2:.4f} eV: it would reach the first sideband")
    energy_eV = np.asarray(energy_eV, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    inside = np.flatnonzero(np.abs(energy_eV - expected_eV) <= window_eV)
    if inside.size < 3:
        raise ValueError(f"ZLP window ±{window_eV} eV around {expected_eV} eV holds < 3 channels")
    i = inside[np.argmax(y[inside])]
    half = 0.75 * y[i]
    lo, hi = i, i
    while lo - 1 >= inside[0] and y[lo - 1] > half:
        lo -= 1
    while hi + 1 <= inside[-1] and y[hi + 1] > half:
        hi += 1
    if hi - lo < 2:
        lo, hi = max(i - 1, inside[0]), min(i + 1, inside[-1])
    if hi - lo < 2:  # the maximum sits on the window edge
        return float(energy_eV[i])
    sel = slice(lo, hi + 1)
    x = energy_eV[sel] - energy_eV[i]
    with np.errstate(divide="ignore"):
        ly = np.log(np.maximum(y[sel], 1e-12))
    a, b, _ = np.polyfit(x, ly, 2, w=np.sqrt(np.maximum(y[sel], 1e-12)))
    if a >= 0:
        return float(energy_eV[i])
    dx = -b / (2 * a)
    step = energy_eV[1] - energy_eV[0]
    return float(energy_eV[i] + np.clip(dx, -step, step))


def shift_spectrum(energy_eV: np.ndarray, spectrum: np.ndarray, shift_eV: float) -> np.ndarray:
    """Translate a spectrum along the axis: ``out(E) = spectrum(E + shift_eV)`` (cubic spline,
    zero outside). A peak at ``E0`` moves to ``E0 - shift_eV``."""
    f = _reference_function(np.asarray(energy_eV, float), np.asarray(spectrum, float))
    return f(np.asarray(energy_eV, float) + shift_eV)


def align_spectra(energy_eV: np.ndarray, spectra: np.ndarray, window_eV: float = 0.5,
                  photon_energy=None) -> tuple[np.ndarray, np.ndarray]:
    """Align the ZLP of every spectrum to 0 eV (sub-channel).

    Parameters
    ----------
    energy_eV : ndarray (n,)
    spectra : ndarray (..., n)
    window_eV : float
        Half-width of the ZLP search window (must be < ħω/2, see :func:`zlp_position_eV`).
    photon_energy : float or ndarray (...), optional
        ħω per spectrum (eV) for the window check.

    Returns
    -------
    aligned : ndarray (..., n)
        ``aligned[k](E) = spectra[k](E + positions[k])``.
    positions_eV : ndarray (...)
        ZLP position of each input spectrum, eV.
    """
    spectra = np.asarray(spectra, dtype=float)
    flat = spectra.reshape(-1, spectra.shape[-1])
    hw = (np.broadcast_to(np.asarray(photon_energy, float), spectra.shape[:-1]).ravel()
          if photon_energy is not None else [None] * flat.shape[0])
    positions = np.array([zlp_position_eV(energy_eV, s, window_eV, w) for s, w in zip(flat, hw)])
    aligned = np.array([shift_spectrum(energy_eV, s, p) for s, p in zip(flat, positions)])
    return aligned.reshape(spectra.shape), positions.reshape(spectra.shape[:-1])


# ------------------------------------------------------------------------------------------------
# Order integration and normalisation
# ------------------------------------------------------------------------------------------------
def integrate_window(energy_eV: np.ndarray, spectra: np.ndarray, centre_eV, half_width_eV: float):
    """Counts in ``[centre - half_width, centre + half_width]`` (eV), fractional edge channels.

    Channel k covers ``energy_eV[k] ± step/2``. ``centre_eV`` broadcasts against
    ``spectra.shape[:-1]``. Returns an array of shape ``spectra.shape[:-1]`` (counts).
    """
    e = np.asarray(energy_eV, dtype=float)
    step = e[1] - e[0]
    c = np.asarray(centre_eV, dtype=float)[..., None]
    lo = np.maximum(e - step / 2, c - half_width_eV)
    hi = np.minimum(e + step / 2, c + half_width_eV)
    frac = np.clip((hi - lo) / step, 0.0, 1.0)
    return np.sum(np.asarray(spectra, dtype=float) * frac, axis=-1)


@dataclasses.dataclass
class OrderIntensities:
    """Integrated counts: ``gain[..., k]`` at ``-orders[k]·ħω``, ``loss[..., k]`` at
    ``+orders[k]·ħω``, ``zlp`` at 0, each in a window of ±FWHM/2."""

    orders: np.ndarray
    gain: np.ndarray
    loss: np.ndarray
    zlp: np.ndarray


def order_intensities(energy_eV: np.ndarray, spectra: np.ndarray, photon_energy, fwhm_eV: float,
                      orders: Sequence[int] = (1,)) -> OrderIntensities:
    """Integrate gain and loss orders of (aligned) spectra.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV, ZLP at 0.
    spectra : ndarray (..., n)
    photon_energy : float or ndarray (...)
        ħω in eV (one per spectrum in a wavelength scan).
    fwhm_eV : float
        ZLP FWHM, eV; windows are ±FWHM/2.
    orders : sequence of positive int
        ℓ values to integrate.
    """
    orders = np.asarray(orders, dtype=int)
    if np.any(orders < 1):
        raise ValueError(f"orders must be positive integers, got {orders}")
    hw = np.asarray(photon_energy, dtype=float)[..., None] * orders
    spectra = np.asarray(spectra, dtype=float)[..., None, :]
    gain = integrate_window(energy_eV, spectra, -hw, fwhm_eV / 2)
    loss = integrate_window(energy_eV, spectra, hw, fwhm_eV / 2)
    zlp = integrate_window(energy_eV, spectra[..., 0, :], 0.0, fwhm_eV / 2)
    return OrderIntensities(orders, gain, loss, zlp)


def normalise_by_power(signal, power_uW, laser_off_power_uW=0.0):
    """``signal / (power_uW - laser_off_power_uW)``; NaN where the power difference is <= 0.

    Powers in µW (the laser-off reading is the meter's dark/background level)."""
    dp = np.asarray(power_uW, dtype=float) - np.asarray(laser_off_power_uW, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dp > 0, np.asarray(signal, dtype=float) / np.where(dp > 0, dp, 1.0), np.nan)


# ------------------------------------------------------------------------------------------------
# EEGS spectrum (gain vs photon energy) and its resonance
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class EEGSSpectrum:
    """Gain of order ``order`` versus photon energy.

    ``gain`` = (counts in the gain window − laser-off background) / counts in the ZLP window
    (≈ P_ℓ/P_0 ≈ |β|^(2ℓ) at weak coupling), divided by ``power − laser-off power`` (µW⁻¹) when
    powers were given; ``gain_err`` is its Poisson standard error.
    """

    wavelength_nm: np.ndarray
    photon_energy_eV: np.ndarray
    gain: np.ndarray
    gain_err: np.ndarray
    zlp_positions_eV: np.ndarray
    order: int


def eegs_spectrum(energy_eV: np.ndarray, spectra: np.ndarray, wavelength_nm, zlp_fwhm_eV: float,
                  *, power_uW=None, laser_off_power_uW=0.0,
                  laser_off_spectrum: np.ndarray | None = None, order: int = 1,
                  window_eV: float | None = None) -> EEGSSpectrum:
    """EEGS spectrum from a wavelength scan.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV.
    spectra : ndarray (m, n)
        One spectrum per wavelength (counts).
    wavelength_nm : ndarray (m,)
        Laser wavelength of each spectrum, nm.
    zlp_fwhm_eV : float
        ZLP FWHM, eV (integration windows ±FWHM/2).
    power_uW, laser_off_power_uW : array-like, optional
        Laser power per spectrum and the laser-off reading, µW; if given the gain is divided by
        their difference.
    laser_off_spectrum : ndarray (n,) or (m, n), optional
        Laser-off reference (one, or one per spectrum); its counts in the gain window relative
        to its ZLP window are subtracted (ZLP tail under the gain peak).
    order : int
        Gain order ℓ (window at -ℓ·ħω).
    window_eV : float, optional
        ZLP alignment half-window, eV; default ``min(0.45·ħω_min, 3·FWHM)``.
    """
    hw = np.atleast_1d(photon_energy_eV(wavelength_nm))
    spectra = np.atleast_2d(np.asarray(spectra, dtype=float))
    if window_eV is None:
        window_eV = min(0.45 * hw.min(), 3.0 * zlp_fwhm_eV)
    aligned, positions = align_spectra(energy_eV, spectra, window_eV, hw)
    oi = order_intensities(energy_eV, aligned, hw, zlp_fwhm_eV, (order,))
    g, z = oi.gain[:, 0], oi.zlp
    background_ratio = np.zeros_like(hw)
    if laser_off_spectrum is not None:
        ref = np.asarray(laser_off_spectrum, float)
        off, _ = align_spectra(energy_eV, ref.reshape(-1, ref.shape[-1]), window_eV, hw.min())
        off_oi = order_intensities(energy_eV, np.broadcast_to(off, spectra.shape), hw,
                                   zlp_fwhm_eV, (order,))
        background_ratio = off_oi.gain[:, 0] / off_oi.zlp
    excess = g - background_ratio * z
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = excess / z
        err = np.sqrt(np.maximum(g, 1.0) + background_ratio ** 2 * z) / z
    if power_uW is not None:
        gain = normalise_by_power(gain, power_uW, laser_off_power_uW)
        err = normalise_by_power(err, power_uW, laser_off_power_uW)
    return EEGSSpectrum(np.atleast_1d(np.asarray(wavelength_nm, float)), hw, gain, err,
                        positions, order)


def lorentzian(x, centre: float, fwhm: float, amplitude: float, offset: float = 0.0):
    """``amplitude · (Γ/2)² / ((x - centre)² + (Γ/2)²) + offset``, Γ = ``fwhm`` (peak height =
    ``amplitude``, same unit as ``x`` for centre and width)."""
    half = 0.5 * fwhm
    return amplitude * half ** 2 / ((np.asarray(x, float) - centre) ** 2 + half ** 2) + offset


@dataclasses.dataclass
class LorentzianFit:
    """Resonance fit: centre and FWHM in eV, quality factor Q = centre / FWHM, 1σ errors."""

    centre_eV: float
    fwhm_eV: float
    amplitude: float
    offset: float
    centre_err_eV: float
    fwhm_err_eV: float
    amplitude_err: float
    offset_err: float
    q_factor: float
    q_factor_err: float
    covariance: np.ndarray


def fit_lorentzian(photon_energy: np.ndarray, signal: np.ndarray, sigma: np.ndarray | None = None,
                   p0: Sequence[float] | None = None) -> LorentzianFit:
    """Fit :func:`lorentzian` to an EEGS spectrum (signal vs photon energy in eV).

    Parameters
    ----------
    photon_energy : ndarray (m,)
        ħω, eV.
    signal : ndarray (m,)
        Gain (any unit); NaN points are ignored.
    sigma : ndarray (m,), optional
        1σ errors of ``signal`` (absolute); without them the errors are scaled by the residuals.
    p0 : (centre, fwhm, amplitude, offset), optional
        Initial guess; by default from the maximum and the half-maximum width.

    Returns
    -------
    LorentzianFit
        Q error from the covariance: ``σ_Q = Q·sqrt((σ_c/c)² + (σ_Γ/Γ)² - 2 cov(c,Γ)/(cΓ))``.
    """
    x = np.asarray(photon_energy, dtype=float)
    y = np.asarray(signal, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    s = None
    if sigma is not None:
        s = np.asarray(sigma, dtype=float)
        ok &= np.isfinite(s) & (s > 0)
        s = s[ok]
    x, y = x[ok], y[ok]
    if x.size < 5:
        raise ValueError(f"need at least 5 finite points for a Lorentzian fit, got {x.size}")
    if p0 is None:
        offset = np.percentile(y, 10)
        i = int(np.argmax(y))
        amp = y[i] - offset
        above = np.sort(x[y > offset + amp / 2])
        span = np.ptp(x)
        width = max(above[-1] - above[0] if above.size > 1 else 0.0, 2 * span / x.size)
        p0 = (x[i], width, amp, offset)
    span = np.ptp(x)
    bounds = ([x.min() - span, 1e-9 * span, -np.inf, -np.inf], [x.max() + span, 10 * span, np.inf, np.inf])
    popt, pcov = optimize.curve_fit(lorentzian, x, y, p0=p0, sigma=s, absolute_sigma=s is not None,
                                    bounds=bounds, maxfev=20000)
    err = np.sqrt(np.diag(pcov))
    c, w = popt[0], popt[1]
    q = c / w
    q_err = q * np.sqrt(max((err[0] / c) ** 2 + (err[1] / w) ** 2 - 2 * pcov[0, 1] / (c * w), 0.0))
    return LorentzianFit(float(c), float(w), float(popt[2]), float(popt[3]), float(err[0]),
                         float(err[1]), float(err[2]), float(err[3]), float(q), float(q_err), pcov)


def fit_window(energy_eV: np.ndarray, photon_energy: float, fwhm_eV: float, *, side: str = "gain",
               max_order: int = 6) -> np.ndarray:
    """Channels (boolean mask) used to fit |β| of one ZLP-aligned spectrum.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV, ZLP at 0.
    photon_energy : float
        ħω, eV.
    fwhm_eV : float
        ZLP FWHM, eV.
    side : "gain" or "both"
        ``"gain"``: from the ``max_order``-th gain sideband (−max_order·ħω − 3·FWHM) up to
        +ħω/2, i.e. the gain orders and the ZLP (which sets the scale). ``"both"``: symmetric,
        up to +max_order·ħω + 3·FWHM.
    max_order : int
        Highest order whose copy the window holds.

    Notes
    -----
    The gain side is what to fit when the laser-off reference was not taken at the very same
    place and time: a particle plasmon (or any loss) sits at +ħω near resonance, exactly under
    the loss sideband, and the reference carries it with the strength of *its* impact
    parameter. With drift, a stale reference's plasmon loss is taken for missing loss
    sideband: |β| came out 11-27 % low near resonance. Without a laser nothing is gained, so
    the gain side of the reference is the ZLP's tail alone, the same at every probe position.
    """
    if side not in ("gain", "both"):
        raise ValueError(f"side must be 'gain' or 'both', got {side!r}")
    e = np.asarray(energy_eV, dtype=float)
    reach = max_order * photon_energy + 3 * fwhm_eV
    upper = photon_energy / 2 if side == "gain" else reach
    return (e >= max(e[0], -reach)) & (e <= min(e[-1], upper))


# ------------------------------------------------------------------------------------------------
# Per-spectrum |β| fit
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class BetaFit:
    """|β| fit of one spectrum: ``beta_abs`` ± ``beta_err``, ``scale`` (spectrum / reference
    counts), ``shift_eV`` (model translation), reduced χ²."""

    beta_abs: float
    beta_err: float
    scale: float
    shift_eV: float
    reduced_chi2: float
    success: bool


def fit_beta(energy_eV: np.ndarray, spectrum: np.ndarray, reference: Reference,
             photon_energy: float, *, fit_shift: bool = False, max_shift_eV: float = 0.1,
             duty_cycle: float = 1.0, beta_factors: Sequence[float] | None = None,
             beta_weights: Sequence[float] | None = None, weights: str | np.ndarray = "poisson",
             beta_max: float = 5.0) -> BetaFit:
    """Fit |β| of one spectrum with the J_ℓ² comb of the measured laser-off ZLP.

    The model is :func:`sideband_model` ``scale · Σ_ℓ P_ℓ(|β|) · ZLP(E - shift + ℓħω)``, fitted by
    least squares in |β|, ``scale`` and optionally a small ``shift_eV`` (|shift| <=
    ``max_shift_eV``). A coarse grid over |β| (with the optimal linear scale at each point)
    gives the start, so the fit does not need a guess.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV.
    spectrum : ndarray (n,)
        Counts with laser.
    reference : ndarray (n,) or callable
        Laser-off spectrum on the same axis (or a function of energy loss, eV).
    photon_energy : float
        ħω, eV.
    duty_cycle, beta_factors, beta_weights
        Fixed parts of the population model (:func:`sideband_probabilities`); |β| and the duty
        cycle are degenerate at weak coupling, so the duty cycle is not fitted.
    weights : "poisson", "uniform" or ndarray (n,)
        Residual weights: Poisson (σ² = model of the previous pass, two passes), none, or 1/σ.

    Returns
    -------
    BetaFit
    """
    e = np.asarray(energy_eV, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    f = _reference_function(e, reference)
    kw = dict(duty_cycle=duty_cycle, beta_factors=beta_factors, beta_weights=beta_weights)

    def model(beta, scale, shift):
        return sideband_model(e, f, beta, photon_energy, scale=scale, shift_eV=shift, **kw)

    if isinstance(weights, str):
        if weights not in ("poisson", "uniform"):
            raise ValueError(f"weights must be 'poisson', 'uniform' or an array, got {weights!r}")
        w = 1.0 / np.sqrt(np.maximum(y, 1.0)) if weights == "poisson" else np.ones_like(y)
    else:
        w = np.asarray(weights, dtype=float)

    # coarse grid with the best linear scale at each |β|
    grid = np.concatenate([[0.0], np.geomspace(0.005, 0.3, 20), np.linspace(0.32, beta_max, 60)])
    best = (np.inf, 0.0, 1.0)
    for b in grid:
        m = model(b, 1.0, 0.0) * w
        denom = m @ m
        if denom <= 0:
            continue
        sc = (m @ (y * w)) / denom
        chi2 = np.sum((sc * m - y * w) ** 2)
        if chi2 < best[0]:
            best = (chi2, b, sc)
    x0 = [max(best[1], 1e-3), best[2]] + ([0.0] if fit_shift else [])
    lower = [0.0, 0.0] + ([-max_shift_eV] if fit_shift else [])
    upper = [beta_max * 1.5, np.inf] + ([max_shift_eV] if fit_shift else [])

    def residuals(p, wt):
        return (model(p[0], p[1], p[2] if fit_shift else 0.0) - y) * wt

    passes = 2 if isinstance(weights, str) and weights == "poisson" else 1
    for k in range(passes):
        res = optimize.least_squares(residuals, x0, bounds=(lower, upper), args=(w,),
                                     x_scale="jac", method="trf")
        x0 = res.x
        if k + 1 < passes:  # Pearson weights from the model; add the reference's own Poisson
            shift = res.x[2] if fit_shift else 0.0  # noise if it is a measured spectrum
            var = model(res.x[0], res.x[1], shift)
            if not callable(reference):
                orders, p = sideband_probabilities(res.x[0], **kw)
                ee = e[None, :] - shift + orders[:, None] * photon_energy
                var = var + res.x[1] ** 2 * (p ** 2 @ np.maximum(f(ee.ravel()), 0).reshape(ee.shape))
            w = 1.0 / np.sqrt(np.maximum(var, 1.0))
    dof = max(y.size - res.x.size, 1)
    red = float(2 * res.cost / dof)
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac)
        if isinstance(weights, str) and weights == "uniform":
            cov *= red
        beta_err = float(np.sqrt(cov[0, 0]))
    except np.linalg.LinAlgError:
        beta_err = float("nan")
    return BetaFit(float(res.x[0]), beta_err, float(res.x[1]),
                   float(res.x[2]) if fit_shift else 0.0, red, bool(res.success))
