"""Tests of analysis.drift: frame conversions and the linear drift predictor."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.drift import DriftPredictor, nm_to_pixels, pixels_to_nm

finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.floats(1e-3, 1e2), st.floats(-10, 10))
def test_pixel_nm_round_trip(dy, dx, p, theta):
    ny, nx = pixels_to_nm(dy, dx, p, theta)
    back = nm_to_pixels(ny, nx, p, theta)
    assert np.allclose(back, (dy, dx), atol=1e-9 * (1 + abs(dy) + abs(dx)))
    # a rotation keeps lengths; the pixel size scales them
    assert math.isclose(math.hypot(ny, nx), p * math.hypot(dy, dx), rel_tol=1e-9, abs_tol=1e-9)


def test_rotation_sign_convention():
    # no rotation: axes coincide, pixel size scales
    assert pixels_to_nm(1.0, 2.0, 0.5, 0.0) == (0.5, 1.0)
    # +90° (counter-clockwise: +x turns towards +y): scan +x is microscope +y
    dy, dx = pixels_to_nm(0.0, 1.0, 1.0, math.pi / 2)
    assert math.isclose(dy, 1.0) and abs(dx) < 1e-12
    # ... and scan +y is microscope −x
    dy, dx = pixels_to_nm(1.0, 0.0, 1.0, math.pi / 2)
    assert abs(dy) < 1e-12 and math.isclose(dx, -1.0)
    # small positive angle: a pure scan-x shift gets a positive microscope-y component
    assert pixels_to_nm(0.0, 1.0, 1.0, 0.1)[0] > 0


@pytest.mark.parametrize("p, theta", [(0.0, 0.0), (-1.0, 0.0), (float("nan"), 0.0),
                                      (1.0, float("inf"))])
def test_bad_scan_parameters_raise(p, theta):
    with pytest.raises(ValueError, match="pixel_size_nm|rotation_rad"):
        pixels_to_nm(1.0, 1.0, p, theta)
    with pytest.raises(ValueError, match="pixel_size_nm|rotation_rad"):
        nm_to_pixels(1.0, 1.0, p, theta)


def test_predictor_exact_line():
    p = DriftPredictor(history=5)
    for t in np.arange(0.0, 300.0, 30.0):
        p.add(t, 0.01 * t + 1.0, -0.02 * t)
    assert np.allclose(p.predict(600.0), (7.0, -12.0))
    assert np.allclose(p.velocity_nm_per_s(), (0.01, -0.02))


def test_predictor_matches_polyfit_on_noisy_data():
    rng = np.random.default_rng(0)
    t = np.arange(12) * 20.0 + rng.uniform(0, 5, 12)
    y = 0.005 * t + rng.normal(0, 0.1, 12)
    x = -0.003 * t + rng.normal(0, 0.1, 12)
    p = DriftPredictor(history=8)
    for ti, yi, xi in zip(t, y, x):
        p.add(ti, yi, xi)
    # only the last 8 measurements count
    py = np.polyval(np.polyfit(t[-8:], y[-8:], 1), 400.0)
    px = np.polyval(np.polyfit(t[-8:], x[-8:], 1), 400.0)
    assert np.allclose(p.predict(400.0), (py, px), rtol=1e-9, atol=1e-9)


def test_history_follows_a_change_of_drift_rate():
    p = DriftPredictor(history=3)
    for t in range(6):  # 1 nm/s for 6 s, then stopped
        p.add(float(t), float(t), 0.0)
    for t in range(6, 9):
        p.add(float(t), 5.0, 0.0)
    assert np.allclose(p.predict(20.0), (5.0, 0.0))


def test_predictor_with_few_points_and_reset():
    p = DriftPredictor()
    assert p.predict(10.0) == (0.0, 0.0)
    p.add(1.0, 0.3, -0.2)
    assert p.predict(100.0) == (0.3, -0.2)
    assert p.velocity_nm_per_s() == (0.0, 0.0)
    p.reset()
    assert len(p) == 0 and p.predict(5.0) == (0.0, 0.0)


def test_predict_pixels_is_predict_converted():
    p = DriftPredictor()
    p.add(0.0, 0.0, 0.0)
    p.add(60.0, 1.0, 0.5)
    assert np.allclose(p.predict_pixels(120.0, 0.25, 0.3), nm_to_pixels(2.0, 1.0, 0.25, 0.3))


def test_predictor_bad_inputs_raise():
    with pytest.raises(ValueError, match="history.*1"):
        DriftPredictor(history=1)
    p = DriftPredictor()
    p.add(5.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="time_s=5.0"):
        p.add(5.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="dy_nm=nan"):
        p.add(6.0, float("nan"), 0.0)
    with pytest.raises(ValueError, match="time_s"):
        p.predict(float("inf"))


@pytest.mark.parametrize("module", ['analysis.drift'])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
