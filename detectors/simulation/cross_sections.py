"""Where the simulator's core-loss cross sections come from, so a quantification can be checked.

The simulated edges (:data:`detectors.simulation.spectra.EDGES`) are heuristic shapes (a step
decaying as a power law, optional delayed rise, white lines), not angle-resolved. For the O K and
Sc L2,3 edges their *values* are set so that the simulator agrees with the model the analysis
quantifies with — exspy's hydrogenic GOS (Egerton's SIGMAK/SIGMAL, K and L shells) — at the
default instrument: beam energy :data:`DEFAULT_BEAM_ENERGY_kV`, convergence semi-angle
:data:`DEFAULT_CONVERGENCE_mrad`, collection semi-angle :data:`DEFAULT_COLLECTION_mrad`.

How the values were set (``exspy.components.EELSCLEdge(..., GOS="hydrogenic")`` after
``set_microscope_parameters(E0=100, alpha=10, beta=25, ...)``, exspy 0.3.2):

* ``O K``: no white line (the hydrogenic K edge has none); exponent 3.87 = the log-log slope of
  the hydrogenic dσ/dE over 540–700 eV; continuum amplitude chosen so that the integral over the
  window [532, 582] eV equals the hydrogenic σ(β, Δ = 50 eV) = 1.419e-7 nm². The simulated
  dσ/dE is then within 0.5 % of the hydrogenic one from 540 to 700 eV (5 % at 900 eV).
* ``Sc L2,3``: delayed rise (6 eV) and power-law continuum (exponent 2.87, amplitude) fitted to the
  hydrogenic dσ/dE over 432–495 eV (within 1 %; beyond ≈ 500 eV the hydrogenic model adds the
  L1 edge, which the simulator has not); the L3/L2 white lines are scaled so that the integral over
  [402, 452] eV equals the hydrogenic σ(β, Δ = 50 eV) = 7.273e-7 nm². A model fit with a
  30 eV fine-structure region (exspy ``fine_structure_active``) therefore reads the same
  intensity as the ratio method.
* ``Dy M4,5`` (and ``Dy N4,5``, ``C K``): hydrogenic GOS do not cover M/N shells; the values are
  the earlier heuristic ones. The analysis measures Dy's effective σ(β, Δ) as a k-factor on a
  region of known composition (Dy2O3, O/Dy = 3/2) against O K: see
  :func:`analysis.eels.quant.k_factor_cross_section`.

At other beam energies or angles the simulator's edges do not change (they are not
angle-resolved) while σ(β, Δ) does: there the quantification of the simulator carries a
systematic error of the size of σ's change. :data:`HYDROGENIC_SIGMA_nm2` is checked against exspy
at test time (``tests/analysis/test_quant.py``).
"""
from __future__ import annotations

import numpy as np

from detectors.simulation import spectra

#: the instrument the O K / Sc L2,3 values are matched at (``detectors/config.py`` defaults)
DEFAULT_BEAM_ENERGY_kV = 100.0
DEFAULT_CONVERGENCE_mrad = 10.0
DEFAULT_COLLECTION_mrad = 25.0
#: integration window width Δ used for the match, eV (the same Δ for every edge)
MATCH_WINDOW_eV = 50.0

#: exspy hydrogenic σ(β, Δ = 50 eV) per atom, nm², at the defaults above, window [onset, onset + Δ]
HYDROGENIC_SIGMA_nm2: dict[str, float] = {
    "O K": 1.4191e-7,
    "Sc L2,3": 7.2727e-7,
}


def simulated_window_sigma_nm2(label: str, window_eV: tuple[float, float], broadening_eV: float = 0.35,
                               step_eV: float = 0.005) -> float:
    """∫ dσ/dE over ``window_eV`` of the simulator's edge ``label`` (e.g. ``"Sc L2,3"``), nm² per atom.

    Integrated on a fine grid with the simulator's own shape function, for the ZLP width
    ``broadening_eV`` (which sets the onset and white-line broadening).

    Examples
    --------
    >>> round(simulated_window_sigma_nm2("O K", (532.0, 582.0)) / HYDROGENIC_SIGMA_nm2["O K"], 3)
    1.0
    """
    lo, hi = float(window_eV[0]), float(window_eV[1])
    if not 0 < lo < hi:
        raise ValueError(f"window {window_eV} eV must satisfy 0 < lo < hi")
    edges = np.arange(lo, hi + step_eV / 2, step_eV)
    return float(spectra.edge_shape(edges, spectra.edge_by_label(label), broadening_eV).sum())


def ratio_method_plural_factor(label: str, t_over_lambda: float, window_eV: float = MATCH_WINDOW_eV) -> float:
    """What Egerton's ratio method reads on the simulator, relative to the truth, because of plural
    scattering alone: I_k(Δ) / (σ(Δ) · I_low(Δ)) for edge ``label`` with window [onset, onset + Δ],
    noise-free, for a specimen of ``t_over_lambda`` (Poisson valence orders, as
    ``SimulatedWorld._weights``). Below 1: the edge electrons that also lost a plasmon (22 eV) are
    partly pushed out of the window, while the low-loss's plasmons below Δ are all in I_low(Δ).

    Examples
    --------
    >>> round(ratio_method_plural_factor("Sc L2,3", 0.0), 4), round(ratio_method_plural_factor("Sc L2,3", 0.5), 3)
    (1.0, 0.847)
    """
    if not 0 <= t_over_lambda < 10 or not window_eV > 0:
        raise ValueError(f"t/λ = {t_over_lambda} must be in [0, 10) and Δ = {window_eV} eV > 0")
    edge = spectra.edge_by_label(label)
    step = 0.05
    core = np.arange(edge.onset_eV, edge.onset_eV + window_eV + step / 2, step)
    low = np.arange(-20.0, window_eV + step / 2, step)
    orders = np.arange(spectra.MAX_PLASMON_ORDER + 1)
    poisson = np.exp(-t_over_lambda) * t_over_lambda ** orders / np.cumprod(np.maximum(orders, 1))
    poisson[-1] += max(1.0 - poisson.sum(), 0.0)  # orders above the last, as the simulator
    single = spectra.edge_shape(core, edge, 0.35).sum()
    edge_in = poisson[0] * single + poisson[1:] @ spectra.edge_plural_orders(core, edge, 0.35).sum(axis=1)
    low_in = poisson[0] * spectra.zlp(low, 0.35).sum() + sum(
        poisson[n] * spectra.valence_order(low, n).sum() for n in orders[1:])
    return float(edge_in / (single * low_in))
