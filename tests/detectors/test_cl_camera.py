"""Simulated CL camera: emission lines land on their wavelength through the driver's calibration."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from detectors.cl import SimulatedCLSpectrometer, resample_to_uniform
from detectors.interfaces import ScanFrame
from detectors.simulation.drift import DriftSettings
from detectors.simulation.specimen import LocalComposition
from detectors.simulation.world import HC_EV_NM, SimulatedWorld


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(3, drift=DriftSettings((0.0, 0.0), 0.0))


def _centroid_pixel(spectrum: np.ndarray, half_width: int = 8) -> float:
    peak = int(np.argmax(spectrum))
    lo, hi = max(0, peak - half_width), min(spectrum.size, peak + half_width + 1)
    w = spectrum[lo:hi]
    return float(np.sum(np.arange(lo, hi) * w) / np.sum(w))


def _synthetic_line(line_nm: float, sigma_nm: float = 0.4, strength: float = 1e-4):
    def emission(comp: LocalComposition, wavelength_nm: np.ndarray) -> np.ndarray:
        shape = np.exp(-0.5 * ((wavelength_nm - line_nm) / sigma_nm) ** 2) / (sigma_nm * np.sqrt(2 * np.pi))
        return strength * np.ones((comp.impact_nm.shape[0], 1)) * shape[None, :]
    return emission


@pytest.mark.parametrize("grating", [1, 2, 3])
@pytest.mark.parametrize("center_nm", [420.0, 530.0, 650.0])
def test_synthetic_line_within_one_pixel(world, grating, center_nm):
    # lines near the centre and near both edges of the camera
    with SimulatedCLSpectrometer(world, timeout_s=0.5) as cl:
        s = cl.spectrometer
        s.set_grating(grating)
        s.goto_nm(center_nm)
        wl = s.pixel_wavelengths_nm()          # the driver's calibration, from ?NM / ?GRATING
        step = np.gradient(wl)
        for line_nm in (wl[60] + 0.37 * step[60], center_nm + 3.3 * step[512], wl[950] - 0.21 * step[950]):
            cl.camera.emission = _synthetic_line(line_nm)
            counts = cl.camera.acquire_spectrum(2.0)  # Poisson counts
            assert counts.shape == (1024,)
            pix = _centroid_pixel(counts)
            measured = np.interp(pix, np.arange(1024), wl)
            i = int(round(pix))
            assert abs(measured - line_nm) < step[i], (grating, center_nm, line_nm, measured)
            # the same through the uniform (Swift-ready) axis
            uniform, cal = resample_to_uniform(counts, cl.config.geometry.pixel_edges_nm(
                cl.config.grating(grating), center_nm))
            assert abs(cal.wavelength_nm(_centroid_pixel(uniform)) - line_nm) < cal.scale_nm


def _dy_position(world) -> tuple[float, float]:
    grain = max((g for g in world.specimen.grains if g.material == "Dy2O3"), key=lambda g: g.thickness_nm)
    return grain.y_nm, grain.x_nm


def _gauss_fit_nm(wl, counts, guess_nm, window_nm=12.0):
    sel = np.abs(wl - guess_nm) < window_nm
    x, y = wl[sel], counts[sel]
    model = lambda x, a, mu, sig, b0, b1: a * np.exp(-0.5 * ((x - mu) / sig) ** 2) + b0 + b1 * (x - guess_nm)
    p, _ = optimize.curve_fit(model, x, y, p0=[y.max() - y.min(), guess_nm, 2.0, y.min(), 0.0])
    return p[1]


@pytest.mark.parametrize("grating,center_nm", [(1, 483.0), (1, 575.0), (2, 530.0), (3, 530.0)])
def test_dysprosium_lines_of_the_specimen(world, grating, center_nm):
    world.beam.probe_y_nm, world.beam.probe_x_nm = _dy_position(world)
    with SimulatedCLSpectrometer(world, timeout_s=0.5) as cl:
        s = cl.spectrometer
        s.set_grating(grating)
        s.goto_nm(center_nm)
        s.set_slit_um(50)
        wl = s.pixel_wavelengths_nm()
        # flat field with the instrument response, as one would with a calibration lamp
        _, gain, _ = cl.camera.response()
        counts = cl.camera.acquire_spectrum(60.0)
        for line in (483.0, 575.0):
            if not wl[20] < line < wl[-20]:
                continue
            measured = _gauss_fit_nm(wl, counts / gain, line)
            step = np.interp(measured, wl, np.gradient(wl))
            assert abs(measured - line) < step, (grating, center_nm, line, measured)


def test_plasmon_peak_of_a_particle(world):
    p = world.specimen.particles[0]
    world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm + p.radius_nm + 5.0
    comp = world.composition(np.array([world.beam.probe_y_nm]), np.array([world.beam.probe_x_nm]), 0.0)
    fine = np.linspace(450.0, 800.0, 35001)
    true_peak = fine[np.argmax(world.cl_emission(comp, fine)[0])]
    assert abs(true_peak - HC_EV_NM / p.resonance_eV) < 15  # Lorentzian in energy, nearly at hc/E
    with SimulatedCLSpectrometer(world, timeout_s=0.5) as cl:
        cl.spectrometer.set_grating(3)
        cl.spectrometer.goto_nm(round(true_peak))
        wl = cl.spectrometer.pixel_wavelengths_nm()
        _, gain, _ = cl.camera.response()
        flat = cl.camera.acquire_spectrum(1.0, noise=False) / gain
        k = int(np.argmax(flat))
        y0, y1, y2 = flat[k - 1:k + 2]
        frac = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)   # parabolic peak
        measured = np.interp(k + frac, np.arange(1024), wl)
        assert abs(measured - true_peak) < np.gradient(wl)[k]


def test_slit_mirror_and_blanking(world):
    world.beam.probe_y_nm, world.beam.probe_x_nm = _dy_position(world)
    with SimulatedCLSpectrometer(world, timeout_s=0.5) as cl:
        s, cam = cl.spectrometer, cl.camera
        s.set_slit_um(50)
        narrow = cam.acquire_spectrum(1.0, noise=False).sum()
        s.set_slit_um(100)
        wide = cam.acquire_spectrum(1.0, noise=False).sum()
        assert wide == pytest.approx(2 * narrow, rel=0.02)
        s.set_exit_mirror("SIDE")  # light to the other port
        assert cam.acquire_spectrum(1.0, noise=False).sum() == 0
        s.set_exit_mirror("FRONT")
        world.beam.blanked = True
        try:
            assert cam.acquire_spectrum(1.0).sum() == 0
        finally:
            world.beam.blanked = False
        t0 = world.clock.now_s()
        cam.acquire_spectrum(2.5)
        assert world.clock.now_s() - t0 == pytest.approx(2.5)


def test_spectrum_image_synchronised_with_scan(world):
    y, x = _dy_position(world)
    frame = ScanFrame(size_px=(12, 16), fov_nm=160.0, center_nm=(y, x), dwell_s=0.05)
    with SimulatedCLSpectrometer(world, timeout_s=0.5) as cl:
        cl.spectrometer.goto_nm(530.0)
        t0 = world.clock.now_s()
        si = cl.camera.acquire_spectrum_image(frame)
        assert si.shape == (12, 16, 1024)
        assert world.clock.now_s() - t0 == pytest.approx(frame.frame_time_s)
        expected = cl.camera.acquire_spectrum_image(frame, noise=False)
        # one pixel computed alone agrees with the vectorised image
        py, px = frame.positions_nm()
        times = frame.pixel_times_s(t0 + frame.frame_time_s)
        single = cl.camera.expected_counts(py[5:6, 7], px[5:6, 7], times[5:6, 7], frame.dwell_s)[0]
        np.testing.assert_allclose(expected[5, 7], single, rtol=1e-5)
        # the Dy map is bright on the grain, dark away from it
        wl = cl.spectrometer.pixel_wavelengths_nm()
        band = np.abs(wl - 575.0) < 4.0
        dy_map = expected[..., band].sum(axis=-1)
        truth = world.composition(py.ravel(), px.ravel(), t0).areal_density_per_nm2("Dy").reshape(12, 16)
        assert np.corrcoef(dy_map.ravel(), truth.ravel())[0, 1] > 0.9
        assert abs(si.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())  # Poisson
