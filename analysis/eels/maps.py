"""Elemental maps: background-subtracted edge signal per pixel with its Poisson uncertainty."""
from __future__ import annotations

import typing

import numpy as np

from .axis import check_energy_axis, window_weights
from .background import (PowerLaw, background_variance, fit_powerlaw_lsq,
                         fit_powerlaw_two_area, powerlaw_integral)
from .edges import Edge, lookup_edge

__all__ = ["ElementalMap", "elemental_map", "default_windows"]

#: default windows as fractions of the edge onset (physics.md, "Core-loss EELS")
FIT_FRACTIONS = (0.93, 0.98)
SIGNAL_FRACTIONS = (1.00, 1.10)


class ElementalMap(typing.NamedTuple):
    """Result of :func:`elemental_map` (arrays have the SI's navigation shape)."""

    signal: np.ndarray          #: edge counts in the signal window (background subtracted)
    uncertainty: np.ndarray     #: 1-σ of ``signal``: √(Var I_window + Var B_extrapolated)
    snr: np.ndarray             #: signal / uncertainty
    background: np.ndarray      #: extrapolated background counts in the signal window
    powerlaw: PowerLaw          #: the fitted A, r per pixel
    edge: Edge
    fit_window_eV: tuple[float, float]
    signal_window_eV: tuple[float, float]


def default_windows(onset_eV: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(fit, signal) windows: [0.93, 0.98]·E_edge and [E_edge, 1.10·E_edge].

    Examples
    --------
    >>> [tuple(round(v, 2) for v in w) for w in default_windows(532.0)]
    [(494.76, 521.36), (532.0, 585.2)]
    """
    return ((FIT_FRACTIONS[0] * onset_eV, FIT_FRACTIONS[1] * onset_eV),
            (SIGNAL_FRACTIONS[0] * onset_eV, SIGNAL_FRACTIONS[1] * onset_eV))


def elemental_map(si: np.ndarray, energy_axis_eV: np.ndarray, edge: str = "Dy M4,5",
                  pre_edge: tuple[float, float] | None = None,
                  signal_width_eV: float | None = None, *,
                  method: str = "two-area",
                  signal_window_eV: tuple[float, float] | None = None) -> ElementalMap:
    """Background-subtracted edge intensity and its uncertainty for every pixel of an SI.

    Parameters
    ----------
    si : ndarray (ny, nx, n_E) (any leading shape), counts, ZLP-aligned / calibrated axis
    energy_axis_eV : (n_E,) channel-centre energy loss, eV
    edge : str
        Edge name, e.g. ``"Dy M4,5"``, ``"Sc L2,3"``, ``"O K"`` (see
        :func:`~analysis.eels.edges.known_edges`). Its lowest onset E_edge sets the windows.
    pre_edge : (lo_eV, hi_eV), optional
        Background fit window; default [0.93, 0.98]·E_edge.
    signal_width_eV : float, optional
        Signal window [E_edge, E_edge + width]; default width 0.10·E_edge.
    signal_window_eV : (lo_eV, hi_eV), optional
        Explicit signal window (e.g. dragged by the user in Swift); overrides
        ``signal_width_eV``. Must start at or above the end of the background fit window.
    method : {"two-area", "lsq"}
        Background fit: exact two-area closed form (geometric midpoint, see
        :func:`~analysis.eels.background.fit_powerlaw_two_area`) or weighted log-log least
        squares.

    Returns
    -------
    ElementalMap
        ``signal`` (counts), ``uncertainty``, ``snr``, the background and the fit.

    Raises
    ------
    ValueError
        Unknown edge; edge onset or a window outside the energy range (the message names the
        edge, its onset and the range); malformed windows or shapes.

    Notes
    -----
    Var(signal) = Var(I_window) + Var(B): the window counts are Poisson (variance = counts,
    background included) and the extrapolated background carries the Poisson errors of the
    fit window through the power law (:func:`~analysis.eels.background.background_variance`).
    The signal is not corrected for the cross-section; divide by σ(β, Δ) for quantification.

    Examples
    --------
    >>> e = np.arange(1100.0, 1500.0, 1.0)
    >>> amp = np.array([[0.0, 50.0]])
    >>> spec = 1e12 * e ** -3.0 + amp[..., None] * (e >= 1295)
    >>> m = elemental_map(spec, e, "Dy M4,5")
    >>> np.round(m.signal / 129.5, 1).tolist()
    [[0.0, 50.0]]
    """
    si = np.asarray(si)
    if si.ndim < 1:
        raise ValueError("si must have an energy axis (last axis)")
    e, d = check_energy_axis(energy_axis_eV, si.shape[-1])
    info = lookup_edge(edge)
    lo_ax, hi_ax = e[0] - d / 2, e[-1] + d / 2
    if not lo_ax <= info.onset_eV <= hi_ax:
        raise ValueError(f"edge {info.name} (onset {info.onset_eV:g} eV) is outside the energy "
                         f"range [{lo_ax:g}, {hi_ax:g}] eV of the spectra")
    fit_w, sig_w = default_windows(info.onset_eV)
    if pre_edge is not None:
        if len(pre_edge) != 2 or not 0 < pre_edge[0] < pre_edge[1]:
            raise ValueError(f"pre_edge must be (lo_eV, hi_eV) with 0 < lo < hi, got {pre_edge}")
        fit_w = (float(pre_edge[0]), float(pre_edge[1]))
        if fit_w[1] > info.onset_eV:
            raise ValueError(f"pre_edge window {fit_w} eV reaches past the onset of "
                             f"{info.name} at {info.onset_eV:g} eV")
    if signal_width_eV is not None:
        if not signal_width_eV > 0:
            raise ValueError(f"signal_width_eV must be > 0, got {signal_width_eV}")
        sig_w = (info.onset_eV, info.onset_eV + float(signal_width_eV))
    if signal_window_eV is not None:
        if len(signal_window_eV) != 2 or not 0 < signal_window_eV[0] < signal_window_eV[1]:
            raise ValueError(f"signal_window_eV must be (lo_eV, hi_eV) with 0 < lo < hi, "
                             f"got {signal_window_eV}")
        sig_w = (float(signal_window_eV[0]), float(signal_window_eV[1]))
        if sig_w[0] < fit_w[1]:
            raise ValueError(f"signal window {sig_w} eV starts inside the background fit "
                             f"window {fit_w} eV")
    for name, (a, b) in (("background fit", fit_w), ("signal", sig_w)):
        if a < lo_ax - 1e-9 or b > hi_ax + 1e-9:
            raise ValueError(f"{name} window [{a:g}, {b:g}] eV for edge {info.name} (onset "
                             f"{info.onset_eV:g} eV) is outside the energy range "
                             f"[{lo_ax:g}, {hi_ax:g}] eV")
    if method == "two-area":
        p = fit_powerlaw_two_area(si, e, fit_w)
    elif method == "lsq":
        p = fit_powerlaw_lsq(si, e, fit_w)
    else:
        raise ValueError(f"method must be 'two-area' or 'lsq', got {method!r}")
    w = window_weights(e, *sig_w)
    k = np.flatnonzero(w)
    total = si[..., k[0]:k[-1] + 1].astype(np.float64) @ w[k[0]:k[-1] + 1]
    var_total = np.clip(si[..., k[0]:k[-1] + 1], 0, None).astype(np.float64) @ (w[k[0]:k[-1] + 1] ** 2)
    bg = powerlaw_integral(p.A, p.r, *sig_w)
    signal = total - bg
    var = var_total + background_variance(p, sig_w)
    unc = np.sqrt(np.clip(var, 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(unc > 0, signal / unc, np.nan)
    return ElementalMap(signal, unc, snr, bg, p, info, fit_w, sig_w)
