"""Czerny–Turner geometry: grating equation, dispersion, per-pixel wavelengths, linear calibration."""
from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.cl.geometry import (DEFAULT_GRATINGS, CzernyTurner, Grating, LinearCalibration,
                                   resample_to_uniform,
                                   wavelength_at_pixel)

CT = CzernyTurner()


@pytest.mark.parametrize("grating", DEFAULT_GRATINGS, ids=lambda g: f"{g.lines_per_mm:g}")
@pytest.mark.parametrize("center", [350.0, 483.0, 575.0, 800.0])
def test_grating_equation_and_deviation(grating, center):
    alpha, beta = CT.angles_rad(grating, center)
    g = grating.lines_per_mm * 1e-6
    assert math.sin(alpha) + math.sin(beta) == pytest.approx(center * g, rel=1e-12)
    assert beta - alpha == pytest.approx(CT.deviation_rad)
    wl = CT.pixel_wavelengths_nm(grating, center)
    assert wl.shape == (1024,)
    assert np.all(np.diff(wl) > 0)
    # the centre wavelength sits between the two middle pixels
    assert 0.5 * (wl[511] + wl[512]) == pytest.approx(center, abs=1e-3 * CT.nm_per_pixel(grating, center))


@pytest.mark.parametrize("grating", DEFAULT_GRATINGS, ids=lambda g: f"{g.lines_per_mm:g}")
def test_dispersion_formula_of_physics_notes(grating):
    center = 550.0
    _, beta = CT.angles_rad(grating, center)
    expected = math.cos(beta) / (grating.lines_per_mm * 1e-6 * 300.0)  # nm/mm, cos β / (G f)
    assert CT.dispersion_nm_per_mm(grating, center) == pytest.approx(expected)
    assert CT.nm_per_pixel(grating, center) == pytest.approx(expected * 25.6 / 1024)
    edges = CT.pixel_edges_nm(grating, center)
    assert edges[513] - edges[511] == pytest.approx(2 * CT.nm_per_pixel(grating, center), rel=1e-4)
    # order of magnitude: 150 l/mm ≈ 0.53 nm/px, 300 ≈ 0.26, 600 ≈ 0.13 at 300 mm
    assert CT.nm_per_pixel(grating, center) == pytest.approx(79.0 / grating.lines_per_mm, rel=0.05)


def test_nonlinearity_and_linear_calibration():
    grating = Grating(600, 300)
    wl = CT.pixel_wavelengths_nm(grating, 575.0)
    step = np.diff(wl)
    assert step[0] != pytest.approx(step[-1], rel=1e-3)  # not linear
    cal = CT.linear_calibration(grating, 575.0)
    i = np.arange(1024)
    assert np.polyfit(i, wl, 1) == pytest.approx([cal.scale_nm, cal.offset_nm])
    err = np.abs(cal.wavelength_nm(i) - wl) / np.gradient(wl)
    assert cal.max_error_px == pytest.approx(err.max())
    assert 0.5 < cal.max_error_px < 10  # several pixels at the edges: use the per-pixel array
    assert isinstance(LinearCalibration.fit(wl), LinearCalibration)


@pytest.mark.parametrize("grating", DEFAULT_GRATINGS, ids=lambda g: f"{g.lines_per_mm:g}")
def test_resampling_to_a_uniform_axis_conserves_counts_and_places_lines(grating):
    center = 575.0
    edges = CT.pixel_edges_nm(grating, center)
    wl = CT.pixel_wavelengths_nm(grating, center)
    step = CT.nm_per_pixel(grating, center)
    rng = np.random.default_rng(0)
    for line_nm in (wl[40], center + 7.3 * step, wl[990]):
        sigma = 1.5 * step
        counts = np.exp(-0.5 * ((wl - line_nm) / sigma) ** 2) * np.diff(edges) + 1e-3
        counts = np.stack([counts, rng.random(1024)])
        uniform, cal = resample_to_uniform(counts, edges)
        assert uniform.shape == counts.shape
        np.testing.assert_allclose(uniform.sum(axis=-1), counts.sum(axis=-1), rtol=1e-9)
        assert cal.max_error_px == 0.0
        peak = np.argmax(uniform[0])
        win = slice(peak - 6, peak + 7)
        centroid = np.sum(np.arange(1024)[win] * uniform[0, win]) / np.sum(uniform[0, win])
        assert abs(cal.wavelength_nm(centroid) - line_nm) < cal.scale_nm


def test_wavelength_at_fractional_pixel():
    wl = CT.pixel_wavelengths_nm(Grating(300, 500), 500.0)
    assert wavelength_at_pixel(wl, 511.5) == pytest.approx(500.0, abs=1e-3)
    assert wavelength_at_pixel(wl, 3.0) == pytest.approx(wl[3])


def test_unreachable_wavelength_refused():
    g = Grating(600, 300)
    with pytest.raises(ValueError, match="out of reach"):
        CT.angles_rad(g, CT.max_wavelength_nm(g) + 1)
    with pytest.raises(ValueError):
        CzernyTurner(focal_length_mm=0)


@pytest.mark.parametrize("module", ["detectors.cl.geometry", "detectors.cl.simulated"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
