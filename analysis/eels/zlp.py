"""Zero-loss peak: per-pixel position, sub-channel alignment to 0 eV, relative thickness t/λ."""
from __future__ import annotations

import math

import numba
import numpy as np

from .axis import check_energy_axis, window_weights

__all__ = ["zlp_positions", "align_zlp", "shift_spectra", "shift_spectra_reference",
           "thickness_map"]


def zlp_positions(si: np.ndarray, energy_axis_eV: np.ndarray, *,
                  window_eV: tuple[float, float] = (-2.0, 2.0), method: str = "parabola",
                  half_width_eV: float | None = None) -> np.ndarray:
    """Energy (eV) of the ZLP maximum in every spectrum of ``si`` (energy = last axis).

    Parameters
    ----------
    si : ndarray (..., n_E)
    energy_axis_eV : (n_E,) array, channel centres
    window_eV : (lo, hi)
        Only channels in this window are searched. Keep it narrower than half the distance to
        any other strong peak (in EEGS: narrower than ħω/2, or the first gain peak wins).
    method : {"parabola", "centroid"}
        ``"parabola"``: vertex of the parabola through the maximum channel and its two
        neighbours (sub-channel). ``"centroid"``: centre of mass of the intensity above half
        maximum (optionally only within ``half_width_eV`` of the maximum channel); uses more
        channels, so more robust to noise; follows the mean, not the mode, of an asymmetric
        peak.

    Returns
    -------
    ndarray (...): ZLP position in eV, on the given (uncalibrated) axis.

    Examples
    --------
    >>> e = np.arange(-3.0, 10.0, 0.1)
    >>> round(float(zlp_positions(np.exp(-(e - 0.37) ** 2 / 0.02), e)), 2)
    0.37
    """
    si = np.asarray(si)
    e, d = check_energy_axis(energy_axis_eV, si.shape[-1])
    k = np.flatnonzero((e >= window_eV[0]) & (e <= window_eV[1]))
    if len(k) < 3:
        raise ValueError(f"ZLP window {window_eV} eV holds {len(k)} channels of the axis "
                         f"[{e[0]:g}, {e[-1]:g}] eV; need ≥ 3")
    sub = si[..., k[0]:k[-1] + 1].astype(np.float64)
    m = np.argmax(sub, axis=-1)
    if method == "parabola":
        mm = np.clip(m, 1, sub.shape[-1] - 2)
        a = np.take_along_axis(sub, (mm - 1)[..., None], -1)[..., 0]
        b = np.take_along_axis(sub, mm[..., None], -1)[..., 0]
        c = np.take_along_axis(sub, (mm + 1)[..., None], -1)[..., 0]
        den = a - 2 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
        pos = mm + np.clip(off, -1.0, 1.0)
    elif method == "centroid":
        # centre of mass of the part above half maximum: channels near the threshold weigh
        # ~0, so where the cut falls between channels hardly biases the result
        idx = np.arange(sub.shape[-1])
        peak = np.take_along_axis(sub, m[..., None], -1)
        wts = np.clip(sub - 0.5 * peak, 0.0, None)
        if half_width_eV is not None:
            wts = np.where(np.abs(idx - m[..., None]) <= half_width_eV / d, wts, 0.0)
        tot = wts.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = np.where(tot > 0, (wts * idx).sum(-1) / tot, m)
    else:
        raise ValueError(f"method must be 'parabola' or 'centroid', got {method!r}")
    return e[k[0]] + d * pos


@numba.njit(cache=True, nogil=True)
def _shift_kernel(spectra, shifts_ch, out):  # pragma: no cover - compiled
    """out[p, k] = spectra[p, k + s_p] by linear interpolation; 0 outside the measured range."""
    n_pix, n = spectra.shape
    for p in range(n_pix):
        s = shifts_ch[p]
        i0 = math.floor(s)
        f = s - i0
        i0 = int(i0)
        for k in range(n):
            j = k + i0
            v = 0.0
            if 0 <= j < n:
                v += (1.0 - f) * spectra[p, j]
            if 0 <= j + 1 < n and f > 0.0:
                v += f * spectra[p, j + 1]
            out[p, k] = v


def shift_spectra_reference(spectra: np.ndarray, shifts_ch: np.ndarray) -> np.ndarray:
    """Plain numpy reference of the shift kernel (2-D spectra, one shift per row)."""
    n = spectra.shape[-1]
    out = np.zeros(spectra.shape, np.float64)
    for p, s in enumerate(shifts_ch):
        src = np.arange(n) + s
        i0 = np.floor(src).astype(int)
        f = src - i0
        for j, wt in ((i0, 1 - f), (i0 + 1, f)):
            ok = (j >= 0) & (j < n) & (wt > 0)
            out[p, ok] += wt[ok] * spectra[p, j[ok]]
    return out


def shift_spectra(si: np.ndarray, shifts_ch: np.ndarray) -> np.ndarray:
    """Shift each spectrum of ``si`` by ``shifts_ch`` channels: ``out[..., k] = si[..., k + s]``
    (linear interpolation, sub-channel; channels shifted in from outside are 0).

    A positive shift moves the features to *lower* channel indices (a peak at channel c + s
    ends up at c). Linear interpolation conserves the counts away from the ends of the axis.

    Examples
    --------
    >>> shift_spectra(np.array([0.0, 0.0, 4.0, 0.0]), 1.5).tolist()
    [2.0, 2.0, 0.0, 0.0]
    """
    si = np.asarray(si)
    shifts = np.broadcast_to(np.asarray(shifts_ch, np.float64), si.shape[:-1])
    if not np.all(np.isfinite(shifts)):
        raise ValueError("shifts must be finite")
    flat = np.ascontiguousarray(si.reshape(-1, si.shape[-1]))
    out = np.empty(flat.shape, np.float64)
    _shift_kernel(flat, np.ascontiguousarray(shifts.reshape(-1)), out)
    return out.reshape(si.shape)


def align_zlp(si: np.ndarray, energy_axis_eV: np.ndarray, *,
              window_eV: tuple[float, float] = (-2.0, 2.0),
              method: str = "parabola") -> tuple[np.ndarray, np.ndarray]:
    """Shift every spectrum so that its ZLP sits at 0 eV on ``energy_axis_eV``.

    Parameters
    ----------
    si : ndarray (..., n_E)
    energy_axis_eV : (n_E,) channel-centre energies (must include 0 eV within the window)
    window_eV, method
        See :func:`zlp_positions`.

    Returns
    -------
    aligned : ndarray (..., n_E), float64
        Spectra on the same axis with the ZLP at 0 eV (sub-channel linear interpolation).
    zlp_eV : ndarray (...)
        The measured ZLP positions before alignment (e.g. a map of energy drift / HT ripple).

    Examples
    --------
    >>> e = np.arange(-5.0, 15.0, 0.1)
    >>> si = np.exp(-(e - np.array([[0.23], [-0.41]])) ** 2 / 0.05)
    >>> aligned, z = align_zlp(si, e)
    >>> np.round(z, 2).tolist(), np.abs(np.round(zlp_positions(aligned, e), 2)).tolist()
    ([0.23, -0.41], [0.0, 0.0])
    """
    si = np.asarray(si)
    e, d = check_energy_axis(energy_axis_eV, si.shape[-1])
    pos = zlp_positions(si, e, window_eV=window_eV, method=method)
    return shift_spectra(si, pos / d), pos


def thickness_map(si: np.ndarray, energy_axis_eV: np.ndarray, *,
                  zlp_window_eV: tuple[float, float] | None = None,
                  search_max_eV: float = 10.0) -> np.ndarray:
    """Relative thickness t/λ = ln(I_total / I_ZLP) for every spectrum (log-ratio method).

    Parameters
    ----------
    si : ndarray (..., n_E), low-loss spectra including the whole ZLP (ZLP-aligned or not)
    zlp_window_eV : (lo, hi), optional
        Fixed ZLP integration window. Default: per spectrum, from the start of the axis to the
        intensity minimum between the ZLP and ``search_max_eV`` past its maximum (the usual
        split between the ZLP tail and the plasmon; 3-channel smoothing against noise).

    Returns
    -------
    ndarray (...): t/λ; NaN where I_ZLP ≤ 0.

    Notes
    -----
    I_total is the sum over the whole axis, so the axis should reach far enough for the
    plural-scattering tail to be small (several plasmon energies).

    Examples
    --------
    >>> e = np.arange(-5.0, 100.0, 0.1)
    >>> s = np.exp(-e ** 2 / 0.1) + 0.5 * np.exp(-(e - 20) ** 2 / 20)   # ZLP + one plasmon
    >>> round(float(thickness_map(s, e)), 3) == round(float(np.log(s.sum() / s[e < 6].sum())), 3)
    True
    """
    si = np.asarray(si, dtype=np.float64)
    e, d = check_energy_axis(energy_axis_eV, si.shape[-1])
    total = si.sum(-1)
    if zlp_window_eV is not None:
        w = window_weights(e, *zlp_window_eV)
        izlp = si @ w
    else:
        flat = si.reshape(-1, si.shape[-1])
        peak = np.argmax(flat, axis=-1)
        sm = flat.copy()
        sm[:, 1:-1] = (flat[:, :-2] + flat[:, 1:-1] + flat[:, 2:]) / 3
        n_search = max(2, int(round(search_max_eV / d)))
        idx = np.arange(flat.shape[-1])
        after = (idx[None, :] > peak[:, None]) & (idx[None, :] <= peak[:, None] + n_search)
        cut = np.argmin(np.where(after, sm, np.inf), axis=-1)
        izlp = np.where(idx[None, :] <= cut[:, None], flat, 0.0).sum(-1).reshape(si.shape[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(izlp > 0, np.log(total / izlp), np.nan)
