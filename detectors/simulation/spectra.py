"""EELS and CL spectral shapes of the simulated specimen.

A spectrum at N probe positions is ``W @ B``: per-position weights W (N, K) times K basis spectra
B (K, channels) evaluated on the camera's energy axis. Every basis spectrum is the *fraction of the
beam's electrons* landing in each channel, integrated over the channel's width (so a 0.35 eV ZLP on
a 1 eV/channel axis keeps its area). The energy axis is energy **loss** in eV (positive = loss).

Model (order-of-magnitude physics, documented so a referee can check it)
-----------------------------------------------------------------------
* ZLP: Gaussian of FWHM ``zlp_fwhm_eV`` with a 3 % Lorentzian tail of 3× the width (FEG tails),
  cut off by a Gaussian of σ = 8 eV.
* Plural plasmon scattering: order n has probability Poisson(n; t/λ) and a Lorentzian of FWHM
  n·Γp at n·Ep (Ep = 22 eV, Γp = 9 eV), only at positive loss.
* Valence/multiple-scattering background: (t/λ)·1e-3·(E/100 eV)^-3.5 per eV above ~60 eV.
* Core-loss edges (per atom/nm² along the beam): a smoothed step at the onset decaying as
  (E/E_onset)^-r, plus white lines (Lorentzians) at the L3/L2 or M5/M4 energies; all scaled by
  exp(-t/λ) (single scattering). Onsets are the tabulated values of the physics notes.
* Localised surface plasmon of each particle: a Lorentzian at its resonance with probability
  2e-3·exp(-2b/L) at impact parameter b.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special


@dataclasses.dataclass(frozen=True)
class EdgeModel:
    """One core-loss edge of the simulator. ``sigma_nm2_per_eV`` is the continuum cross-section
    per eV just above the onset; white lines are (energy_eV, fwhm_eV, peak/continuum ratio)."""

    element: str
    name: str
    onset_eV: float
    sigma_nm2_per_eV: float
    exponent: float
    white_lines: tuple[tuple[float, float, float], ...] = ()
    delayed_max_eV: float = 0.0  # > 0: a delayed (rounded) edge such as Dy N4,5

    @property
    def label(self) -> str:
        return f"{self.element} {self.name}"


EDGES: tuple[EdgeModel, ...] = (
    EdgeModel("Dy", "N4,5", 154.0, 2.0e-8, 2.5, delayed_max_eV=18.0),
    EdgeModel("C", "K", 284.0, 2.0e-8, 3.0, white_lines=((285.5, 1.2, 1.2),)),
    # O K and Sc L2,3 values: matched to exspy's hydrogenic σ(β, Δ = 50 eV) at 100 kV, α = 10 mrad,
    # β = 25 mrad (see detectors/simulation/cross_sections.py for how)
    EdgeModel("Sc", "L2,3", 402.0, 9.215e-9, 2.87, white_lines=((402.0, 1.4, 1.945), (407.0, 1.6, 1.556)),
              delayed_max_eV=6.0),
    EdgeModel("O", "K", 532.0, 3.374e-9, 3.87),
    EdgeModel("Dy", "M4,5", 1295.0, 3.0e-9, 3.0, white_lines=((1295.0, 3.0, 5.0), (1332.0, 3.5, 3.5))),
)

PLASMON_ENERGY_EV = 22.0
PLASMON_FWHM_EV = 9.0
MAX_PLASMON_ORDER = 4
LSP_PROBABILITY = 2e-3


def channel_edges(energy_eV: np.ndarray) -> np.ndarray:
    """Channel boundaries (M+1,) of a linear axis of channel centres (M,)."""
    e = np.asarray(energy_eV, dtype=np.float64)
    d = e[1] - e[0] if e.size > 1 else 1.0
    return np.concatenate([e - d / 2, e[-1:] + d / 2])


def _gauss_cdf(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    sigma = fwhm / 2.3548200450309493
    return 0.5 * (1 + special.erf((x - centre) / (sigma * np.sqrt(2))))


def _lorentz_cdf(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    return 0.5 + np.arctan((x - centre) / (fwhm / 2)) / np.pi


def zlp(edges_eV: np.ndarray, fwhm_eV: float) -> np.ndarray:
    """Unit-area zero-loss peak integrated over each channel."""
    g = np.diff(_gauss_cdf(edges_eV, 0.0, fwhm_eV))
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    # a Lorentzian tail, cut off beyond ~10 eV: real ZLP tails do not reach the core-loss range
    tail = np.diff(_lorentz_cdf(edges_eV, 0.0, 3 * fwhm_eV)) * np.exp(-0.5 * (centre / 8.0) ** 2)
    return 0.97 * g + 0.03 * tail


def plasmon_order(edges_eV: np.ndarray, n: int) -> np.ndarray:
    """Unit-area n-th order plasmon (n ≥ 1), positive losses only."""
    e = np.clip(edges_eV, 0.0, None)
    centre, width = n * PLASMON_ENERGY_EV, n * PLASMON_FWHM_EV
    shape = np.diff(_lorentz_cdf(e, centre, width))
    return shape / (1 - _lorentz_cdf(np.array(0.0), centre, width))


def valence_background(edges_eV: np.ndarray) -> np.ndarray:
    """Background per unit t/λ (fraction per channel), ∝ E^-3.5 above ~60 eV."""
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    width = np.diff(edges_eV)
    e = np.clip(centre, 1.0, None)
    turn_on = 1 - np.exp(-((e / 60.0) ** 6))
    return np.where(centre > 0, 1e-3 * (e / 100.0) ** -3.5 * turn_on * width, 0.0)


def edge_shape(edges_eV: np.ndarray, edge: EdgeModel, broadening_eV: float) -> np.ndarray:
    """Cross-section per channel (nm²) of one edge for one atom/nm²."""
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    width = np.diff(edges_eV)
    e = np.clip(centre, 1.0, None)
    w = max(broadening_eV, 0.3)
    step = 0.5 * (1 + special.erf((centre - edge.onset_eV) / (w / 1.4142)))
    continuum = edge.sigma_nm2_per_eV * (e / edge.onset_eV) ** -edge.exponent * step
    if edge.delayed_max_eV > 0:
        rise = 1 - np.exp(-np.clip(centre - edge.onset_eV, 0.0, None) / edge.delayed_max_eV)
        continuum = continuum * rise * 2.0
    out = continuum * width
    for energy, fwhm, ratio in edge.white_lines:
        area = ratio * edge.sigma_nm2_per_eV * np.pi * fwhm / 2  # peak height = ratio × continuum
        out = out + area * np.diff(_lorentz_cdf(edges_eV, energy, np.hypot(fwhm, broadening_eV)))
    return out


def lorentzian_per_channel(edges_eV: np.ndarray, centre_eV: float, fwhm_eV: float) -> np.ndarray:
    """Unit-area Lorentzian integrated over channels (used for particle plasmons)."""
    return np.diff(_lorentz_cdf(edges_eV, centre_eV, fwhm_eV))


def edge_by_label(label: str) -> EdgeModel:
    for edge in EDGES:
        if edge.label == label:
            return edge
    raise KeyError(f"unknown edge {label!r}; the simulator has {[e.label for e in EDGES]}")
