"""EELS and CL spectral shapes of the simulated specimen.

A spectrum at N probe positions is ``W @ B``: per-position weights W (N, K) times K basis spectra
B (K, channels) evaluated on the camera's energy axis. Every basis spectrum is the *fraction of the
beam's electrons* landing in each channel, integrated over the channel's width (so a 0.35 eV ZLP on
a 1 eV/channel axis keeps its area). The energy axis is energy **loss** in eV (positive = loss).

Model (order-of-magnitude physics, documented so a referee can check it)
-----------------------------------------------------------------------
Normalisation: every shape below has unit area over all energies (edges: area = cross-section per
atom/nm²) and the weights of one electron's outcomes sum to 1 (``SimulatedWorld._weights``), so a
spectrum's counts over all energies equal the dose and ln(I_total / I_ZLP) is t/λ.

* ZLP: Gaussian of FWHM ``zlp_fwhm_eV`` with a 3 % Lorentzian tail of 3× the width (FEG tails),
  cut off by a Gaussian of σ = 8 eV; unit area.
* Valence (plural) scattering, t/λ events per electron on average (Poisson): a single event is a
  bulk plasmon (Drude loss function, Ep = 22 eV, Γp = 9 eV: zero at zero loss, E^-3 tail) with
  probability 1 − ``VALENCE_TAIL_FRACTION``, else a valence/ionisation tail ∝ E^-3.5 above ~60 eV.
  Order n: the Drude function of n·Ep, n·Γp (≈ the n-fold convolution) mixed in the same
  proportion with the tail moved up by (n − 1)·Ep. Orders above ``MAX_PLASMON_ORDER`` are lumped
  into the last.
* Core-loss edges (area = cross-section per atom/nm²): a smoothed step at the onset decaying as
  (E/E_onset)^-r, plus white lines (Lorentzians) at the L3/L2 or M5/M4 energies. Onsets are the
  tabulated values of the physics notes.
* Localised surface plasmon of each particle: a Lorentzian at its resonance (only at positive
  loss: no gain without a laser) with probability 2e-3·exp(-2b/L) at impact parameter b.
* Plural scattering of edges and particle plasmons: the electron that lost energy to an edge (or
  particle) also suffers Poisson(t/λ) valence events, independently: order m (weight P_m(t/λ), the
  same as the low-loss's) is the edge convolved with the valence order m above
  (:func:`edge_plural_orders`, :func:`lsp_plural_orders`; numerically, on a 0.05 eV grid from zero
  loss, cached). So every order's edge / low-loss ratio is n·σ — the premise of both Egerton's
  ratio method (I_k(Δ)/I_low(Δ)) and a model fit convolved with the measured low-loss (exspy's
  ``low_loss=``). The ratio method still reads low on thick specimens because the plasmon-shifted
  edge partly leaves the window Δ while I_low(Δ) keeps the plasmons
  (:func:`detectors.simulation.cross_sections.ratio_method_plural_factor`: 0.85 at t/λ 0.5, Δ 50 eV).
  One rare event (an edge or a particle plasmon) per electron at most, with odds n·σ (p) against 1
  for none (``SimulatedWorld._weights``).
"""
from __future__ import annotations

import dataclasses

import typing

import numpy as np
from scipy import signal, special


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
#: highest valence order computed; the Poisson tail above it is lumped into it
MAX_PLASMON_ORDER = 6
LSP_PROBABILITY = 2e-3
#: E^-3.5 tail density of the former model, per eV per unit t/λ: 1e-3·(E/100 eV)^-3.5 (turning on
#: near 60 eV); its integral (0.219) is now the share of single valence events in the tail
_TAIL_DENSITY_AT_100_EV = 1e-3


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


#: σ of the Gaussian that cuts the ZLP's Lorentzian tail, eV
_ZLP_TAIL_CUTOFF_EV = 8.0


def zlp(edges_eV: np.ndarray, fwhm_eV: float) -> np.ndarray:
    """Unit-area zero-loss peak integrated over each channel."""
    g = np.diff(_gauss_cdf(edges_eV, 0.0, fwhm_eV))
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    # a Lorentzian tail, cut off beyond ~10 eV: real ZLP tails do not reach the core-loss range.
    # ∫ Lorentzian(HWHM γ) · exp(-E²/2s²) dE = erfcx(γ / (s√2)): divide by it for unit area
    half = 1.5 * fwhm_eV
    tail = np.diff(_lorentz_cdf(edges_eV, 0.0, 3 * fwhm_eV)) * np.exp(-0.5 * (centre / _ZLP_TAIL_CUTOFF_EV) ** 2)
    tail /= special.erfcx(half / (_ZLP_TAIL_CUTOFF_EV * np.sqrt(2)))
    return 0.97 * g + 0.03 * tail


def loss_lorentzian(edges_eV: np.ndarray, centre_eV: float, fwhm_eV: float) -> np.ndarray:
    """Unit-area Lorentzian at ``centre_eV`` restricted to positive loss (a loss cannot be a gain
    without a laser), integrated over channels."""
    e = np.clip(edges_eV, 0.0, None)
    return np.diff(_lorentz_cdf(e, centre_eV, fwhm_eV)) / (1 - _lorentz_cdf(np.array(0.0), centre_eV, fwhm_eV))


def _drude_density(energy_eV: np.ndarray, n: int) -> np.ndarray:
    """Drude loss function Im(-1/ε) of plasmon energy n·Ep and damping n·Γp (not normalised):
    E·Γ·Ep² / ((E² − Ep²)² + (E·Γ)²), 0 at E ≤ 0. It rises ∝ E from zero loss and falls ∝ E^-3."""
    e = np.clip(energy_eV, 0.0, None)
    ep, gamma = n * PLASMON_ENERGY_EV, n * PLASMON_FWHM_EV
    return e * gamma * ep ** 2 / ((e * e - ep * ep) ** 2 + (e * gamma) ** 2)


_DRUDE_AREAS: dict[int, float] = {}


def _drude_area(n: int) -> float:
    """∫ _drude_density(E, n) dE over E > 0, closed form (u = E²: ∫ du / (u² + b·u + c)/2)."""
    area = _DRUDE_AREAS.get(n)
    if area is None:
        ep, gamma = n * PLASMON_ENERGY_EV, n * PLASMON_FWHM_EV
        b, c = gamma ** 2 - 2 * ep ** 2, ep ** 4
        root = np.sqrt(4 * c - b * b)
        area = float(0.5 * gamma * ep ** 2 * 2 / root * (np.pi / 2 - np.arctan(b / root)))
        _DRUDE_AREAS[n] = area
    return area


def plasmon_order(edges_eV: np.ndarray, n: int) -> np.ndarray:
    """Unit-area n-th order bulk plasmon (n ≥ 1), positive losses only: the Drude loss function
    of n·Ep and n·Γp (peak at ≈ n·Ep, FWHM ≈ n·Γp), an approximation of the n-fold convolution
    with the same zero onset and E^-3 tail (channel centre × width)."""
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    return _drude_density(centre, n) * np.diff(edges_eV) / _drude_area(n)


def _tail_density(energy_eV: np.ndarray) -> np.ndarray:
    """Valence tail per eV per unit t/λ (not normalised), ∝ E^-3.5 above ~60 eV, 0 at E ≤ 0."""
    e = np.clip(energy_eV, 1.0, None)
    turn_on = 1 - np.exp(-((e / 60.0) ** 6))
    return np.where(energy_eV > 0, _TAIL_DENSITY_AT_100_EV * (e / 100.0) ** -3.5 * turn_on, 0.0)


def _tail_fraction() -> float:
    """∫ _tail_density over all energies (the E^-3.5 part beyond 4000 eV analytically)."""
    e = np.linspace(0.0, 4000.0, 400_001)
    d = _tail_density(e)
    inside = float(np.sum(0.5 * (d[1:] + d[:-1])) * (e[1] - e[0]))
    return inside + _TAIL_DENSITY_AT_100_EV * 100.0 / 2.5 * (4000.0 / 100.0) ** -2.5


#: share of single valence events in the tail instead of the plasmon peak (0.219)
VALENCE_TAIL_FRACTION = _tail_fraction()


def valence_tail(edges_eV: np.ndarray) -> np.ndarray:
    """Unit-area valence/ionisation tail (fraction per channel), ∝ E^-3.5 above ~60 eV."""
    centre = 0.5 * (edges_eV[1:] + edges_eV[:-1])
    return _tail_density(centre) * np.diff(edges_eV) / VALENCE_TAIL_FRACTION


def valence_order(edges_eV: np.ndarray, n: int) -> np.ndarray:
    """Unit-area spectrum of the electrons that lost energy in exactly ``n`` ≥ 1 valence events:
    the n-th plasmon and the tail moved up by (n − 1)·Ep, in the single event's proportions."""
    f = VALENCE_TAIL_FRACTION
    return (1 - f) * plasmon_order(edges_eV, n) + f * valence_tail(edges_eV - (n - 1) * PLASMON_ENERGY_EV)


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
        out = out + area * loss_lorentzian(edges_eV, energy, np.hypot(fwhm, broadening_eV))
    return out


#: finest step (eV) of the grid on which edges and particle plasmons are convolved with the valence
#: orders; the grid has at most 2^16 cells, so it coarsens only for axes beyond ~3.3 keV
_CONV_STEP_EV = 0.05
_CONV_MAX_CELLS = 1 << 16
#: cumulative convolved shapes, (boundaries (C+1,), cumulative (MAX_PLASMON_ORDER, C+1)), by shape and grid
_PLURAL_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_VALENCE_GRID_CACHE: dict[tuple, np.ndarray] = {}


def _conv_grid(top_eV: float) -> tuple[float, int]:
    """(step, cells) of a grid from 0 to a power of two ≥ ``top_eV`` (≥ 1024 eV): few distinct
    grids, so the cache serves every axis and sideband shift below the same top."""
    top = float(2 ** max(10, int(np.ceil(np.log2(max(top_eV, 1.0))))))
    cells = min(_CONV_MAX_CELLS, int(round(top / _CONV_STEP_EV)))
    return top / cells, cells


def _plural_orders(edges_eV: np.ndarray, key: tuple, single: typing.Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(MAX_PLASMON_ORDER, channels): ``single`` (area per cell of a grid's boundaries, zero at
    negative loss) convolved with :func:`valence_order` n = 1 … MAX_PLASMON_ORDER, integrated over
    the channels ``edges_eV``. The convolution is numerical on a fine grid from zero loss (the
    shapes vanish below it, so the grid holds every electron that lands below its top), cached."""
    step, cells = _conv_grid(float(np.max(edges_eV)))
    full_key = key + (step, cells)
    cached = _PLURAL_CACHE.get(full_key)
    if cached is None:
        grid = np.arange(cells + 1) * step
        s = single(grid)
        cumulative = np.zeros((MAX_PLASMON_ORDER, cells + 1))
        for n in range(1, MAX_PLASMON_ORDER + 1):
            v = _VALENCE_GRID_CACHE.get((step, cells, n))
            if v is None:
                v = _VALENCE_GRID_CACHE.setdefault((step, cells, n), valence_order(grid, n))
            # cells i and j (centres (i + ½)·step, (j + ½)·step) add up to a centre at (i + j + 1)·step
            conv = np.clip(signal.fftconvolve(s, v)[:cells], 0.0, None)  # FFT round-off: ~1e-20 below 0
            cumulative[n - 1, 1:] = np.cumsum(conv)
        boundaries = (np.arange(cells + 1) + 0.5) * step
        if len(_PLURAL_CACHE) > 32:  # ≤ 3 MB each: 10 shapes of the default specimen per grid
            _PLURAL_CACHE.clear()
            _VALENCE_GRID_CACHE.clear()
        cached = _PLURAL_CACHE[full_key] = (boundaries, cumulative)
    boundaries, cumulative = cached
    at_edges = np.stack([np.interp(edges_eV, boundaries, c, left=0.0) for c in cumulative])
    return np.clip(np.diff(at_edges, axis=1), 0.0, None)


def edge_plural_orders(edges_eV: np.ndarray, edge: EdgeModel, broadening_eV: float) -> np.ndarray:
    """(MAX_PLASMON_ORDER, channels) cross-section per channel (nm²) of the edge of the electrons
    that also lost n = 1 … MAX_PLASMON_ORDER valence events: :func:`edge_shape` convolved with
    :func:`valence_order` n (the low-loss's own shapes); each row has the edge's area."""
    return _plural_orders(edges_eV, ("edge", edge.label, round(broadening_eV, 9)),
                          lambda grid: edge_shape(grid, edge, broadening_eV))


def lsp_plural_orders(edges_eV: np.ndarray, centre_eV: float, fwhm_eV: float) -> np.ndarray:
    """(MAX_PLASMON_ORDER, channels) unit-area particle plasmon (:func:`loss_lorentzian`) of the
    electrons that also lost n = 1 … MAX_PLASMON_ORDER valence events (convolved as the edges)."""
    return _plural_orders(edges_eV, ("lsp", round(centre_eV, 9), round(fwhm_eV, 9)),
                          lambda grid: loss_lorentzian(grid, centre_eV, fwhm_eV))


_EDGE_AREAS: dict[str, float] = {}


def edge_area_nm2(edge: EdgeModel) -> float:
    """Total cross-section (nm²) of ``edge`` over all energies for one atom/nm²: the probability
    per atom/nm² that an electron loses energy to it (power-law tail beyond 50 keV analytic)."""
    area = _EDGE_AREAS.get(edge.label)
    if area is None:
        grid = np.concatenate([np.arange(0.0, 5000.0, 0.05), np.geomspace(5000.0, 50_000.0, 20_001)])
        area = float(edge_shape(grid, edge, 0.3).sum())
        factor = 2.0 if edge.delayed_max_eV > 0 else 1.0
        r = edge.exponent
        area += factor * edge.sigma_nm2_per_eV * edge.onset_eV * (50_000.0 / edge.onset_eV) ** (1 - r) / (r - 1)
        _EDGE_AREAS[edge.label] = area
    return area


def edge_by_label(label: str) -> EdgeModel:
    for edge in EDGES:
        if edge.label == label:
            return edge
    raise KeyError(f"unknown edge {label!r}; the simulator has {[e.label for e in EDGES]}")
