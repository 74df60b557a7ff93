"""Analysis of an EEGS scan: ZLP alignment, gain orders, power normalisation, resonance, |β|.

Built on :mod:`analysis.sidebands`. Conventions: energy-loss axis in eV (gain order ℓ at −ℓ·ħω),
ħω = 1239.84 / λ[nm], powers in µW; the gain of order 1 is normalised by
``power_uW − laser_off_power_uW`` (unit µW⁻¹), so a weakly coupled resonance (gain ∝ |β|² ∝
P·L(ħω)) gives its Lorentzian line shape whatever the laser's power curve.
"""
from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np
from scipy import interpolate

from analysis import sidebands as model
from lumiere.sinks import Axis, Sink

#: columns of the ``<name>_analysis`` table written to the sink
ANALYSIS_COLUMNS = ("photon_energy_eV", "gain_per_uW", "gain_err_per_uW", "beta_abs", "beta_err",
                    "zlp_position_eV", "gain_order_1", "gain_order_2", "loss_order_1")
#: relative error added in quadrature to every point's gain in the resonance fit: what Poisson
#: statistics leave out — the tracked probe's distance jitter (±0.1 nm from the drift's random
#: walk during a 10 s point: ±1 % in |β|²) and the power meter's calibration between wavelengths
RESONANCE_MODEL_ERROR_REL = 0.01


@dataclasses.dataclass
class EEGSAnalysis:
    """Result of :func:`analyse_scan`. Arrays have one value per scan point (NaN if not
    acquired). ``resonance`` is None when not fitted (power scan, too few points, fit failure;
    ``resonance_error`` says why)."""

    axis_values: np.ndarray
    wavelength_nm: np.ndarray
    photon_energy_eV: np.ndarray
    power_uW: np.ndarray
    zlp_fwhm_eV: float
    zlp_positions_eV: np.ndarray
    orders: np.ndarray
    gain_counts: np.ndarray
    loss_counts: np.ndarray
    zlp_counts: np.ndarray
    gain_per_uW: np.ndarray
    gain_err_per_uW: np.ndarray
    beta_abs: np.ndarray
    beta_err: np.ndarray
    resonance: model.LorentzianFit | None
    resonance_error: str = ""
    #: with ``drift_monitor``: the particle's loss per ZLP count at each point relative to its
    #: mean (smoothed in time), by which the EEGS spectrum was divided before the resonance fit
    loss_monitor: np.ndarray | None = None

    @property
    def resonance_centre_nm(self) -> float:
        return model.HC_EV_NM / self.resonance.centre_eV if self.resonance else math.nan

    def summary(self) -> dict:
        """Plain numbers for metadata and printing."""
        out: dict = {"zlp_fwhm_eV": self.zlp_fwhm_eV}
        r = self.resonance
        if r is not None:
            out.update(resonance_centre_eV=r.centre_eV, resonance_centre_err_eV=r.centre_err_eV,
                       resonance_centre_nm=self.resonance_centre_nm, resonance_fwhm_eV=r.fwhm_eV,
                       resonance_fwhm_err_eV=r.fwhm_err_eV, resonance_q=r.q_factor,
                       resonance_q_err=r.q_factor_err)
        elif self.resonance_error:
            out["resonance_error"] = self.resonance_error
        finite = np.isfinite(self.beta_abs)
        if finite.any():
            out["beta_abs_max"] = float(np.nanmax(self.beta_abs))
        return out


def zlp_fwhm_eV(energy_eV: np.ndarray, spectrum: np.ndarray) -> float:
    """FWHM (eV) of the largest peak of ``spectrum`` (linear interpolation of the half-maximum
    crossings)."""
    e = np.asarray(energy_eV, float)
    y = np.asarray(spectrum, float)
    i = int(np.nanargmax(y))
    half = y[i] / 2
    lo = i
    while lo > 0 and y[lo] > half:
        lo -= 1
    hi = i
    while hi < y.size - 1 and y[hi] > half:
        hi += 1
    left = e[lo] + (half - y[lo]) * (e[lo + 1] - e[lo]) / (y[lo + 1] - y[lo])
    right = e[hi - 1] + (y[hi - 1] - half) * (e[hi] - e[hi - 1]) / (y[hi - 1] - y[hi])
    return float(right - left)


def reference_function(energy_eV: np.ndarray, spectrum: np.ndarray) -> typing.Callable:
    """The laser-off spectrum as a function of energy loss (cubic spline, 0 outside the axis)."""
    spline = interpolate.CubicSpline(np.asarray(energy_eV, float), np.asarray(spectrum, float),
                                     extrapolate=False)
    return lambda e: np.nan_to_num(spline(e), nan=0.0)


def fit_beta_spectra(energy_eV: np.ndarray, spectra: np.ndarray, laser_off_spectrum: np.ndarray,
                     photon_energy_eV, *, duty_cycle: float = 1.0, fwhm_eV: float | None = None,
                     max_order: int = 6, aligned: bool = False, side: str = "gain") -> tuple[np.ndarray, np.ndarray]:
    """|β| of every spectrum, fitted with the J_ℓ² comb of the laser-off spectrum.

    Parameters
    ----------
    energy_eV : ndarray (n,)
        Energy-loss axis, eV.
    spectra : ndarray (m, n)
        Spectra with laser (counts).
    laser_off_spectrum : ndarray (n,) or (m, n)
        Laser-off reference (same axis, any number of counts: the scale is fitted), one for all
        spectra or one per spectrum (e.g. the nearest in time of an interleaved series).
    photon_energy_eV : float or ndarray (m,)
        ħω of each spectrum, eV.
    duty_cycle : float
        Fraction of the electrons that see the light (blanker gating).
    fwhm_eV : float, optional
        ZLP FWHM (eV), for the ZLP alignment window; measured on the reference if omitted.
    max_order : int
        The fit uses channels within ``max_order·ħω + 3·FWHM`` of the ZLP, so that every
        sideband copy it models stays on the axis.
    aligned : bool
        Spectra and reference already have their ZLP at 0 eV.
    side : "gain" or "both"
        Fit the gain side and the ZLP only (default: unbiased when the loss side of the
        reference differs, e.g. a particle plasmon after drift) or both sides
        (:func:`analysis.sidebands.fit_window`).

    Returns
    -------
    beta_abs, beta_err : ndarray (m,)
        NaN for rows that are all NaN (not acquired).
    """
    e = np.asarray(energy_eV, float)
    spectra = np.atleast_2d(np.asarray(spectra, float))
    hw = np.broadcast_to(np.asarray(photon_energy_eV, float), spectra.shape[:1])
    off = np.asarray(laser_off_spectrum, float)
    if off.shape != e.shape and off.shape != spectra.shape:
        raise ValueError(f"laser-off reference of shape {off.shape}: expected {e.shape} or {spectra.shape}")
    refs = np.broadcast_to(off, spectra.shape)
    fwhm = fwhm_eV or zlp_fwhm_eV(e, refs[0])
    window = min(0.45 * float(np.nanmin(hw)), 3 * fwhm)
    if not aligned:
        unique = off.reshape(-1, e.size)
        refs = np.broadcast_to(model.align_spectra(e, unique, window)[0], spectra.shape)
    beta = np.full(spectra.shape[0], np.nan)
    err = np.full(spectra.shape[0], np.nan)
    ref_fn = None
    for k, (s, w) in enumerate(zip(spectra, hw)):
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(refs[k]))):
            continue
        if not aligned:
            s = model.align_spectra(e, s[None], window, w)[0][0]
        if ref_fn is None or off.ndim == 2:
            ref_fn = reference_function(e, refs[k])
        sel = model.fit_window(e, w, fwhm, side=side, max_order=max_order)
        fit = model.fit_beta(e[sel], s[sel], ref_fn, w, duty_cycle=duty_cycle)
        beta[k], err[k] = fit.beta_abs, fit.beta_err
    return beta, err


def nearest_references(result: typing.Any) -> np.ndarray:
    """Laser-off reference of every scan point (points, channels): the one of the result's
    interleaved series nearest in time (``reference_spectra``, ``reference_time_s``,
    ``point_time_s``), else the single ``laser_off_spectrum`` for all."""
    n = np.shape(result.spectra)[0]
    series = getattr(result, "reference_spectra", None)
    t_ref = np.asarray(getattr(result, "reference_time_s", ()), float)
    t_pt = np.asarray(getattr(result, "point_time_s", ()), float)
    if series is None or len(series) == 0 or t_pt.shape != (n,):
        return np.broadcast_to(np.asarray(result.laser_off_spectrum, float), np.shape(result.spectra))
    series = np.asarray(series, float)
    ok = np.all(np.isfinite(series), axis=1) & np.isfinite(t_ref)
    series, t_ref = series[ok], t_ref[ok]
    nearest = np.argmin(np.abs(np.nan_to_num(t_pt, nan=np.inf)[:, None] - t_ref[None, :]), axis=1)
    return series[nearest]


def pooled_reference(result: typing.Any, fwhm_eV: float) -> np.ndarray:
    """All laser-off references of a scan, ZLP-aligned and summed, for every point (points,
    channels): without a laser nothing is gained, so the gain side of a laser-off spectrum (the
    ZLP's tail) is the same wherever the probe drifted, and the sum has the least noise. The
    one ``laser_off_spectrum`` if the scan has no series."""
    series = getattr(result, "reference_spectra", None)
    shape = np.shape(result.spectra)
    if series is None or len(series) == 0:
        return np.broadcast_to(np.asarray(result.laser_off_spectrum, float), shape)
    series = np.asarray(series, float)
    series = series[np.all(np.isfinite(series), axis=1)]
    e = np.asarray(result.energy_eV, float)
    wl = np.asarray(result.wavelength_nm, float)
    hw_min = float(np.nanmin(model.photon_energy_eV(wl[np.isfinite(wl)]))) if np.isfinite(wl).any() else 1.0
    aligned = model.align_spectra(e, series, min(0.45 * hw_min, 3 * fwhm_eV))[0]
    return np.broadcast_to(aligned.sum(axis=0), shape)


def particle_loss_monitor(energy_eV: np.ndarray, aligned: np.ndarray, references: np.ndarray,
                          time_s: np.ndarray, fwhm_eV: float, band_eV: tuple[float, float] = (1.0, 3.2),
                          degree: int = 2) -> np.ndarray:
    """The particle's own loss in every (ZLP-aligned) spectrum, relative to its mean over the
    scan, smoothed by a polynomial in time: a monitor of the impact parameter during the scan.

    The loss excess ``S(E) − S(−E)`` removes the (symmetric) ZLP and, with a laser, the pair of
    ±1 sidebands (equal populations at ±ħω); it is summed within ±FWHM of the particle's loss
    peak, found in ``band_eV`` on the sum of the (aligned) laser-off ``references``, per ZLP
    count. Parameters: ``aligned`` (points, channels) and ``time_s`` (points,) of the spectra.

    Notes
    -----
    For one dipolar mode the EELS probability and the EEGS coupling |β|² vary with the impact
    parameter through the same field of the dipole along the trajectory, so their ratio does not
    depend on where the probe drifted (on the simulator both go as exp(−2b/L)). Not valid for
    several particles or modes in reach, nor when the mode's loss is too weak to see.
    """
    e = np.asarray(energy_eV, float)
    ref = np.nansum(np.asarray(references, float).reshape(-1, e.size), axis=0)
    mirror = lambda y: np.interp(-e, e, y, left=np.nan, right=np.nan)  # noqa: E731
    excess_ref = ref - mirror(ref)
    band = (e >= band_eV[0]) & (e <= band_eV[1])
    if not band.any():
        raise ValueError(f"the energy axis ({e[0]:.2f}…{e[-1]:.2f} eV) misses the band {band_eV} eV")
    peak = e[band][np.nanargmax(excess_ref[band])]
    window = np.abs(e - peak) <= fwhm_eV
    zlp = aligned[:, np.abs(e) <= fwhm_eV / 2].sum(axis=1)
    loss = np.array([np.nansum((y - mirror(y))[window]) for y in aligned]) / zlp
    if not np.all(loss > 0):
        raise ValueError(f"no particle loss near {peak:.3f} eV in some spectra: the monitor needs one")
    t = np.asarray(time_s, float)
    fit = np.polyval(np.polyfit(t - t.mean(), loss, min(degree, t.size - 1)), t - t.mean())
    return fit / fit.mean()


def analyse_scan(result: typing.Any, *, orders: typing.Sequence[int] = (1, 2),
                 fit_resonance: bool | None = None, fit_betas: bool = True,
                 side: str = "gain", drift_monitor: bool = False) -> EEGSAnalysis:
    """Analyse an :class:`~eegs.scans.EEGSScanResult` (wavelength or power scan).

    Steps: ZLP alignment of every spectrum within ±min(0.45·ħω, 3·FWHM); order intensities
    (gain and loss, ±FWHM/2 windows at ∓ℓħω); gain of order 1 per ZLP count, minus the
    laser-off background, divided by ``power − laser-off power`` (µW⁻¹); a Lorentzian fit of that
    EEGS spectrum versus photon energy (wavelength scans: centre, FWHM, Q); the |β| of every
    spectrum (:func:`fit_beta_spectra`).

    Parameters
    ----------
    result : EEGSScanResult
        Needs the laser-off reference.
    orders : sequence of int
        Gain/loss orders integrated.
    fit_resonance : bool, optional
        Default: True for a wavelength scan.
    fit_betas : bool
        Fit |β| per spectrum (the slowest step).
    side : "gain" or "both"
        Channels of the |β| fit (:func:`fit_beta_spectra`).
    drift_monitor : bool
        Divide the EEGS spectrum by the particle's own loss (:func:`particle_loss_monitor`)
        before the resonance fit, so that drift of the probe towards or away from the particle
        during the scan does not skew the line (|β| stays as measured, at each point's time).

    References: with ``side="gain"`` the sum of all the scan's laser-off references
    (:func:`pooled_reference`), with ``"both"`` the one nearest in time to each spectrum
    (:func:`nearest_references`, the loss side changes as the probe drifts).
    """
    if result.laser_off_spectrum is None:
        raise ValueError("the scan has no laser-off reference; it is needed for the analysis")
    e = np.asarray(result.energy_eV, float)
    off = np.asarray(result.laser_off_spectrum, float)
    done = np.all(np.isfinite(result.spectra), axis=1) & np.isfinite(result.wavelength_nm)
    n = result.spectra.shape[0]
    wl = np.asarray(result.wavelength_nm, float)
    hw = np.full(n, np.nan)
    hw[done] = model.photon_energy_eV(wl[done])
    fwhm = zlp_fwhm_eV(e, off)
    orders = np.asarray(orders, int)
    nan = lambda *shape: np.full(shape, np.nan)  # noqa: E731
    out = EEGSAnalysis(np.asarray(result.axis_values, float), wl, hw, np.asarray(result.power_uW, float),
                       fwhm, nan(n), orders, nan(n, orders.size), nan(n, orders.size), nan(n),
                       nan(n), nan(n), nan(n), nan(n), None)
    if not done.any():
        out.resonance_error = "no spectrum was acquired"
        return out
    refs = (nearest_references(result) if side == "both" else pooled_reference(result, fwhm))[done]
    spec = model.eegs_spectrum(e, result.spectra[done], wl[done], fwhm, power_uW=result.power_uW[done],
                               laser_off_power_uW=result.laser_off_power_uW, laser_off_spectrum=refs)
    out.gain_per_uW[done] = spec.gain
    out.gain_err_per_uW[done] = spec.gain_err
    out.zlp_positions_eV[done] = spec.zlp_positions_eV
    window = min(0.45 * float(hw[done].min()), 3 * fwhm)
    aligned, _ = model.align_spectra(e, result.spectra[done], window, hw[done])
    oi = model.order_intensities(e, aligned, hw[done], fwhm, orders)
    out.gain_counts[done], out.loss_counts[done], out.zlp_counts[done] = oi.gain, oi.loss, oi.zlp
    if fit_betas:
        refs_aligned = model.align_spectra(e, refs, window)[0]
        out.beta_abs[done], out.beta_err[done] = fit_beta_spectra(
            e, aligned, refs_aligned, hw[done], duty_cycle=result.duty_cycle, fwhm_eV=fwhm,
            aligned=True, side=side)
    if fit_resonance is None:
        fit_resonance = result.axis.units == "nm"
    if fit_resonance:
        try:
            gain, gain_err = spec.gain, spec.gain_err
            if drift_monitor:
                t = getattr(result, "point_time_s", None)
                t = np.arange(n, dtype=float) if t is None else np.asarray(t, float)
                out.loss_monitor = np.full(n, np.nan)
                off_sum = model.align_spectra(e, pooled_reference(result, fwhm)[:1], window)[0]
                out.loss_monitor[done] = particle_loss_monitor(e, aligned, off_sum, t[done], fwhm)
                gain, gain_err = gain / out.loss_monitor[done], gain_err / out.loss_monitor[done]
            # Poisson errors alone weight the strongest points 100× more than the resonance's; a
            # 1 % systematic there (distance jitter, meter calibration) then skews the FWHM ~5 %
            sigma = np.hypot(gain_err, RESONANCE_MODEL_ERROR_REL * np.abs(gain))
            out.resonance = model.fit_lorentzian(hw[done], gain, sigma=sigma)
        except (ValueError, RuntimeError) as exc:
            out.resonance_error = str(exc)
    return out


def write_analysis(sink: Sink, analysis: EEGSAnalysis, name: str = "eegs") -> None:
    """Write ``name + "_analysis"``: (points, :data:`ANALYSIS_COLUMNS`) on the scan's first axis
    (as an index axis), with the resonance fit and ZLP FWHM in its metadata."""
    n = analysis.axis_values.size
    table = np.full((n, len(ANALYSIS_COLUMNS)), np.nan)
    cols = [analysis.photon_energy_eV, analysis.gain_per_uW, analysis.gain_err_per_uW,
            analysis.beta_abs, analysis.beta_err, analysis.zlp_positions_eV]
    for k, c in enumerate(cols):
        table[:, k] = c
    for k, (kind, order) in enumerate((("gain", 1), ("gain", 2), ("loss", 1))):
        idx = np.flatnonzero(analysis.orders == order)
        if idx.size:
            counts = analysis.gain_counts if kind == "gain" else analysis.loss_counts
            with np.errstate(invalid="ignore", divide="ignore"):
                table[:, 6 + k] = counts[:, idx[0]] / analysis.zlp_counts
    key = name + "_analysis"
    # the scan's first axis, for a plot of the ratios against it (display hint, lumiere.sinks)
    x_name, x_units = "Scan value", ""
    if np.allclose(analysis.axis_values, analysis.wavelength_nm, equal_nan=True):
        x_name, x_units = "Wavelength", "nm"
    elif np.allclose(analysis.axis_values, analysis.power_uW, equal_nan=True):
        x_name, x_units = "Laser power", "µW"
    display = {"plot": ["gain_order_1", "gain_order_2", "loss_order_1"],
               "labels": {"gain_order_1": "gain ℓ=1 / ZLP", "gain_order_2": "gain ℓ=2 / ZLP",
                          "loss_order_1": "loss ℓ=1 / ZLP"},
               "x_values": [float(v) for v in analysis.axis_values], "x_name": x_name, "x_units": x_units,
               "intensity": "ratio to ZLP"}
    sink.create(key, table.shape, [Axis("point", "", navigate=True), Axis("column", "")],
                dtype="float64", metadata={"columns": list(ANALYSIS_COLUMNS),
                                           "axis_values": [float(v) for v in analysis.axis_values],
                                           "display": display, **analysis.summary()},
                title="EEGS analysis: sidebands / ZLP")
    sink.write(key, slice(None), table)
    sink.finish(key)
