"""Physics of the simulated world: edge onsets, EEGS sidebands, drift, determinism."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from analysis.registration import measure_shift
from detectors.interfaces import ScanFrame
from detectors.simulation import spectra
from detectors.scan import SimulatedScanGenerator
from detectors.scan.adapters import GeneratorScan
from detectors.simulation.drift import DriftSettings
from detectors.simulation.specimen import LocalComposition, MATERIALS
from detectors.simulation.world import SimulatedWorld

pytestmark = pytest.mark.slow

#: the physics notes' table (EELS convention, eV)
TABULATED_ONSETS_EV = {"C K": 284.0, "O K": 532.0, "Sc L2,3": 402.0, "Dy M4,5": 1295.0, "Dy N4,5": 154.0}


def _composition(n: int = 1, **thickness_nm: float) -> LocalComposition:
    t = {m: np.full(n, thickness_nm.get(m, 0.0)) for m in MATERIALS}
    return LocalComposition(t, np.full((n, 5), 1e6))


@pytest.mark.parametrize("label", ["C K", "O K", "Sc L2,3", "Dy M4,5", "Dy N4,5"])
def test_edge_onset_within_one_channel_of_tabulated(label):
    world = SimulatedWorld(0)
    onset = TABULATED_ONSETS_EV[label]
    world.spectrometer.dispersion_eV_per_channel = 1.0
    world.spectrometer.energy_offset_eV = onset - 100.0
    material = {"C K": "carbon", "O K": "Sc2O3", "Sc L2,3": "Sc2O3", "Dy M4,5": "Dy2O3", "Dy N4,5": "Dy2O3"}[label]
    spectrum = world.eels_fraction(_composition(**{material: 40.0}))[0]
    energy = world.energy_axis_eV()
    near = (energy > onset - 12) & (energy < onset + 8)
    slope = np.gradient(spectrum)
    steepest = energy[near][np.argmax(slope[near])]
    assert abs(steepest - onset) <= 1.0, f"{label}: steepest rise at {steepest} eV, tabulated {onset} eV"


def test_simulator_edges_match_the_tabulated_onsets():
    for edge in spectra.EDGES:
        assert edge.onset_eV == TABULATED_ONSETS_EV[edge.label]


def test_edges_appear_only_where_the_element_is():
    world = SimulatedWorld(0)
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    e = world.energy_axis_eV()
    on_sc = world.eels_fraction(_composition(carbon=15, Sc2O3=40))[0]
    on_film = world.eels_fraction(_composition(carbon=15))[0]
    jump = lambda s, e0: s[(e > e0 + 1) & (e < e0 + 10)].mean() / s[(e > e0 - 15) & (e < e0 - 5)].mean()
    # Sc L2,3 σ matched to the hydrogenic σ (cross_sections.py), single scattering × exp(-t/λ) (t/λ 0.46
    # here): measured jump 1.60 on 40 nm
    assert jump(on_sc, 402) > 1.4
    assert jump(on_film, 402) < 1.05


def _eegs_world(beta_target: float) -> tuple[SimulatedWorld, np.ndarray, float]:
    """A world with the probe 5 nm outside particle 0 and laser power chosen for |β| ≈ target."""
    world = SimulatedWorld(1, drift=DriftSettings((0.0, 0.0), 0.0))
    p = world.specimen.particles[0]
    world.laser.wavelength_nm = p.resonance_nm
    world.laser.shutter_open = world.laser.diode_on = True
    world.laser.power_uW = 1000.0
    world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm + p.radius_nm + 5.0
    comp = world.composition(np.array([world.beam.probe_y_nm]), np.array([world.beam.probe_x_nm]), np.array([0.0]))
    beta_1mW = world.beta(comp)[0]
    world.laser.power_uW = 1000.0 * (beta_target / beta_1mW) ** 2
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -8.0, 0.02
    return world, comp, world.beta(comp)[0]


@pytest.mark.parametrize("beta_target", [0.3, 1.0])
def test_eegs_sidebands_at_photon_energy_with_bessel_populations(beta_target):
    world, comp, beta = _eegs_world(beta_target)
    assert beta == pytest.approx(beta_target, rel=1e-6)
    hw = 1239.84 / world.laser.wavelength_nm
    e = world.energy_axis_eV()
    laser_on = world.eels_fraction(comp)[0]
    world.laser.shutter_open = False
    laser_off = world.eels_fraction(comp)[0]
    for ell in (1, 2, 3):
        if special.jv(ell, 2 * beta) ** 2 < 1e-3:
            continue
        centre = -ell * hw
        window = np.abs(e - centre) < 0.5
        peak_at = e[window][np.argmax(laser_on[window])]
        assert abs(peak_at - centre) <= 0.02 + 1e-9, f"gain peak ℓ={ell} at {peak_at} eV, expected {centre:.4f}"
    # populations: least-squares weights of laser-off copies shifted by ℓħω (gain ℓ > 0 to −ℓħω)
    orders = np.arange(-2, 5)  # loss copies ℓ ≤ −3 land beyond the fitted rows
    copies = np.stack([np.interp(e + ell * hw, e, laser_off, left=0.0, right=0.0) for ell in orders], axis=1)
    inside = e < e[-1] - 4 * hw  # rows where every gain copy is on the axis (loss copies fall off it as 0)
    weights, *_ = np.linalg.lstsq(copies[inside], laser_on[inside], rcond=None)
    for ell, w in zip(orders[1:], weights[1:]):
        expected = special.jv(ell, 2 * beta) ** 2
        assert w == pytest.approx(expected, rel=0.02, abs=2e-4), f"P_{ell}: {w:.5f} vs J² = {expected:.5f}"


def test_no_sidebands_when_shutter_closed_or_far_from_particles():
    world, comp, _ = _eegs_world(0.5)
    world.laser.shutter_open = False
    assert world.beta(comp)[0] == 0.0
    world.laser.shutter_open = True
    far = world.composition(np.array([world.specimen.particles[0].y_nm + 400.0]),
                            np.array([world.specimen.particles[0].x_nm]), np.array([0.0]))
    assert world.beta(far)[0] < 1e-3 * world.beta(comp)[0]


def test_drift_is_deterministic_under_a_seed():
    a = SimulatedWorld(7).drift.offset_nm(np.array([0.0, 60.0, 600.0, 3600.0]))
    b = SimulatedWorld(7).drift.offset_nm(np.array([3600.0, 600.0, 60.0, 0.0]))[::-1]
    c = SimulatedWorld(8).drift.offset_nm(np.array([0.0, 60.0, 600.0, 3600.0]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[1:], c[1:])


def test_drift_visible_between_haadf_frames_minutes_apart():
    world = SimulatedWorld(3, drift=DriftSettings((2.0, -1.5), 0.3))
    world.beam.current_pA = 50.0
    scan = GeneratorScan(SimulatedScanGenerator(world))
    frame = ScanFrame(size_px=(256, 256), fov_nm=256.0, center_nm=(40.0, -30.0), dwell_s=2e-5)
    t1 = world.clock.now_s()
    first = scan.acquire_frame(frame)
    world.clock.advance(300.0)  # five minutes of simulated time, no sleeping
    t2 = world.clock.now_s()
    second = scan.acquire_frame(frame)
    mid = frame.frame_time_s / 2
    expected = (world.drift.offset_nm(t2 + mid) - world.drift.offset_nm(t1 + mid)) / frame.pixel_size_nm
    result = measure_shift(first, second)
    measured = np.array([result.dy, result.dx])
    assert np.hypot(*expected) > 5, "the test needs a visible drift"
    np.testing.assert_allclose(measured, expected, atol=0.2)


def test_noise_is_poisson_and_reproducible():
    w1, w2 = SimulatedWorld(5), SimulatedWorld(5)
    y = np.zeros((64, 64)); x = np.zeros((64, 64))
    a = w1.haadf_counts(y, x, 0.0, 1e-4)
    b = w2.haadf_counts(y, x, 0.0, 1e-4)
    np.testing.assert_array_equal(a, b)
    expected = w1.haadf_counts(y, x, 0.0, 1e-4, noise=False)
    assert a.mean() == pytest.approx(expected.mean(), rel=0.05)
    assert a.var() == pytest.approx(expected.mean(), rel=0.1)
