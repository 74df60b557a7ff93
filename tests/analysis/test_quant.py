"""Quantified maps (analysis/eels/quant.py) against the simulator's hidden truth and exspy.

Specimen seed 0, no drift: grain 1 is pure Dy2O3 (the k-factor standard), grain 5 pure DyScO3,
grain 0 pure Sc2O3 (tests/analysis/test_quant.py picks the pure pixels from the truth maps).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.eels import quant as q
from analysis.eels.maps import elemental_map
from detectors.simulation.cross_sections import (DEFAULT_BEAM_ENERGY_kV, DEFAULT_COLLECTION_mrad,
                                                 DEFAULT_CONVERGENCE_mrad, HYDROGENIC_SIGMA_nm2,
                                                 MATCH_WINDOW_eV, ratio_method_plural_factor,
                                                 simulated_window_sigma_nm2)
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld

INSTRUMENT = dict(beam_energy_kV=DEFAULT_BEAM_ENERGY_kV, convergence_mrad=DEFAULT_CONVERGENCE_mrad,
                  collection_mrad=DEFAULT_COLLECTION_mrad)
#: Sc areal densities by the ratio method (Δ = 50 eV) on the simulator, whose plural scattering is
#: the Poisson convolution with the low-loss: they read ratio_method_plural_factor(t/λ) × the truth
#: (0.86 on the Sc2O3 and DyScO3 grains' pixels, t/λ ≈ 0.5: the plasmon-shifted edge partly leaves
#: Δ while I_low(Δ) holds the plasmons), measured within this of that prediction: the rest of the
#: systematic (background extrapolation under the white-line tails), docs/user_guide.md
#: "What the numbers mean". Measured (seed 0): −2.7 % / −3.2 % (grains 0 / 5) off the prediction,
#: −17 % / −18 % off the truth.
SC_SYSTEMATIC_REL = 0.05


def _si(world: SimulatedWorld, grain_index: int, n: int = 16, exposure_s: float = 0.01):
    """Core-loss (350–1373 eV, 1 eV) and low-loss (−20–82 eV, 0.1 eV) SIs over a grain, with truth."""
    g = world.specimen.grains[grain_index]
    fov = 2.2 * g.semi_axis_a_nm
    off = (np.arange(n) - (n - 1) / 2) * fov / n
    y, x = np.meshgrid(g.y_nm + off, g.x_nm + off, indexing="ij")
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    core, e = world.eels_counts(y, x, 0.0, exposure_s), world.energy_axis_eV()
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
    low, el = world.eels_counts(y, x, 0.0, exposure_s), world.energy_axis_eV()
    return core, e, low, el, world.specimen.truth_maps(y, x)


def _map(core, e, edge):
    fit, sig = q.quant_windows(edge, MATCH_WINDOW_eV)
    return elemental_map(core, e, edge, pre_edge=fit, signal_window_eV=sig)


@pytest.fixture(scope="module")
def sim():
    world = SimulatedWorld(0, drift=DriftSettings((0.0, 0.0), 0.0))
    world.beam.current_pA = 200.0
    cs = {edge: q.hydrogenic_cross_section(edge, **INSTRUMENT) for edge in ("O K", "Sc L2,3")}
    core, e, _, _, truth = _si(world, 1)
    standard = (truth["Dy"] > 0.3 * truth["Dy"].max()) & np.isclose(truth["O"], 1.5 * truth["Dy"]) & (truth["Sc"] == 0)
    cs["Dy M4,5"] = q.k_factor_cross_section(_map(core, e, "Dy M4,5"), _map(core, e, "O K"), cs["O K"], 2 / 3,
                                             standard, standard="Dy2O3")
    return world, cs


def test_exspy_hydrogenic_sigma_matches_the_simulator_table():
    for edge, sigma in HYDROGENIC_SIGMA_nm2.items():
        cs = q.hydrogenic_cross_section(edge, **INSTRUMENT)
        assert cs.sigma_nm2 == pytest.approx(sigma, rel=2e-4), edge
        onset = cs.window_eV[0]
        assert simulated_window_sigma_nm2(edge, (onset, onset + MATCH_WINDOW_eV)) == pytest.approx(sigma, rel=1e-3)
    # σ grows with the collection angle, and an M edge is refused with a pointer to the k-factor
    assert q.hydrogenic_cross_section("O K", 100, 10, 50).sigma_nm2 > HYDROGENIC_SIGMA_nm2["O K"] * 1.2
    with pytest.raises(ValueError, match="k_factor"):
        q.hydrogenic_cross_section("Dy M4,5", **INSTRUMENT)


def test_dy_over_sc_is_one_on_the_dysco3_grain(sim):
    world, cs = sim
    core, e, _, _, truth = _si(world, 5)
    region = (truth["Sc"] > 0.3 * truth["Sc"].max()) & np.isclose(truth["Dy"], truth["Sc"])
    assert region.sum() > 50
    m_dy, m_sc = _map(core, e, "Dy M4,5"), _map(core, e, "Sc L2,3")
    ratio = q.atomic_ratio(m_dy, cs["Dy M4,5"], m_sc, cs["Sc L2,3"])
    # grain value: summed signals; its uncertainty: statistics + the k-factor's (systematic)
    sa, sb = m_dy.signal[region].sum(), m_sc.signal[region].sum()
    r = sa / sb * cs["Sc L2,3"].sigma_nm2 / cs["Dy M4,5"].sigma_nm2
    rel = np.sqrt((m_dy.uncertainty[region] ** 2).sum() / sa ** 2 + (m_sc.uncertainty[region] ** 2).sum() / sb ** 2
                  + ratio.systematic_rel ** 2)
    assert abs(r - 1.0) < 2 * rel * r, (r, rel)
    assert rel < 0.06
    # per-pixel map: its spread matches its stated uncertainty (pulls of unit width)
    pulls = (ratio.value[region] - 1.0) / ratio.uncertainty[region]
    # per-pixel median vs the grain's summed value (measured 0.879 vs 0.944 ± 0.044 at 10 ms per
    # pixel: the power-law fits of noisy pre-edges; the grain value is the test against the truth)
    assert 0.7 < np.nanstd(pulls) < 1.4 and abs(np.nanmedian(ratio.value[region]) - r) < 0.1


@pytest.mark.parametrize("grain", [0, 5])
def test_sc_areal_density_on_grains_within_uncertainty_and_systematic(sim, grain):
    world, cs = sim
    core, e, low, el, truth = _si(world, grain)
    region = (truth["Sc"] > 0.3 * truth["Sc"].max()) & ((truth["Dy"] == 0) | np.isclose(truth["Dy"], truth["Sc"]))
    n = q.areal_density(_map(core, e, "Sc L2,3"), cs["Sc L2,3"], q.lowloss_intensity(low, el, MATCH_WINDOW_eV))
    assert n.units == "atoms/nm^2"
    # what the ratio method reads on each pixel: the truth × its plural-scattering factor at t/λ
    tl = np.linspace(0.0, 1.0, 21)
    factor = np.interp(truth["t_over_lambda"][region], tl, [ratio_method_plural_factor("Sc L2,3", t) for t in tl])
    expected = truth["Sc"][region] * factor
    est, true = n.value[region].mean(), expected.mean()
    stat = np.sqrt((n.uncertainty[region] ** 2).sum()) / region.sum()
    assert abs(est - true) < 2 * stat + SC_SYSTEMATIC_REL * true, (est, true, stat)
    assert factor.mean() < 0.9  # thick grains: the ratio method's plural bias is there to see
    pulls = (n.value[region] - expected) / n.uncertainty[region]
    assert 0.7 < pulls.std() < 1.4


def test_errors_name_the_bad_value():
    e = np.arange(350.0, 700.0, 1.0)
    m = elemental_map(np.ones((2, e.size)), e, "O K", signal_window_eV=(532.0, 582.0))
    with pytest.raises(ValueError, match="window"):
        q.areal_density(m, q.CrossSection("O K", (532.0, 572.0), 1e-7, "t"), 1e6)
    with pytest.raises(ValueError, match="cross section is for Sc"):
        q.areal_density(m, q.CrossSection("Sc L2,3", (532.0, 582.0), 1e-7, "t"), 1e6)
    with pytest.raises(ValueError, match="> 0"):
        q.areal_density(m, q.CrossSection("O K", (532.0, 582.0), 1e-7, "t"), 0.0)
    with pytest.raises(ValueError, match="zero-loss"):
        q.lowloss_intensity(np.ones((1, 10)), np.arange(10.0), 5.0)
    with pytest.raises(ValueError, match="convergence_mrad"):
        q.hydrogenic_cross_section("O K", 100, -1, 25)
