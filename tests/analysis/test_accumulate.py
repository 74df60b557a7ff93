"""Tests of analysis.accumulate: splat kernel vs numpy, normalisation, merge, drift recovery."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from analysis import accumulate as acc_mod
from analysis.accumulate import AlignedAccumulator
from analysis.registration import shift_image


@pytest.mark.parametrize("seed", range(4))
def test_splat_kernel_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    h, w, n = rng.integers(3, 12, 3)
    H, W = h + rng.integers(-2, 4), w + rng.integers(-2, 4)
    data = rng.poisson(4, (h, w, n)).astype(np.uint16)
    ty = rng.uniform(-3, 3, h)
    tx = rng.uniform(-3, 3, h)
    ty[0], tx[0] = 1.0, -2.0  # exact integers: zero-weight neighbours are skipped
    s1, c1 = np.zeros((H, W, n)), np.zeros((H, W))
    s2, c2 = np.zeros((H, W, n)), np.zeros((H, W))
    acc_mod._splat_kernel(data, ty, tx, s1, c1)
    acc_mod.splat_reference(data, ty, tx, s2, c2)
    np.testing.assert_allclose(s1, s2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c1, c2, rtol=1e-12, atol=1e-12)


def test_integer_shift_places_exactly_and_marks_uncovered_nan():
    rng = np.random.default_rng(1)
    si = rng.poisson(5, (6, 7, 4)).astype(float)
    a = AlignedAccumulator((6, 7), (4,))
    a.add(si, dy=2, dx=-1)  # sequence = reference translated by (2, −1)
    m = a.mean()
    # source (y, x) lands at (y − 2, x + 1)
    np.testing.assert_array_equal(m[0:4, 1:7], si[2:6, 0:6])
    assert np.isnan(m[4:, :]).all() and np.isnan(m[:, 0]).all()
    assert np.array_equal(a.count, np.where(np.isnan(m[..., 0]), 0.0, 1.0))
    assert np.all(a.mean(fill=0.0)[4:] == 0)


def test_subpixel_normalisation_is_honest():
    a = AlignedAccumulator((10, 10), ())
    for dy, dx in [(0.3, -0.6), (-1.2, 0.45), (0.0, 0.0), (2.7, 1.1)]:
        a.add(np.full((10, 10), 7.0), dy, dx)
    m = a.mean()
    covered = a.count > 0
    np.testing.assert_allclose(m[covered], 7.0, rtol=1e-12)
    assert np.isnan(m[~covered]).all()
    # only partly covered edge pixels can be excluded with min_count
    assert np.isnan(a.mean(min_count=1.0)[a.count <= 1.0]).all()


def test_weights_are_conserved_inside_the_grid():
    a = AlignedAccumulator((20, 20), (3,))
    data = np.ones((8, 8, 3))
    a.add(data, 0.37, -0.81, origin_px=(5, 6))
    assert np.isclose(a.count.sum(), 64.0)
    assert np.isclose(a.sum.sum(), 64.0 * 3)


def test_per_row_drift():
    a = AlignedAccumulator((8, 8), ())
    img = np.arange(64, dtype=float).reshape(8, 8)
    a.add(img, np.zeros(8), np.ones(8))  # every row shifted by dx = 1
    b = AlignedAccumulator((8, 8), ())
    b.add(img, 0.0, 1.0)
    np.testing.assert_array_equal(a.sum, b.sum)
    c = AlignedAccumulator((8, 16), ())
    c.add(img, 0.0, -np.arange(8.0))  # row y lands y columns further right
    for y in range(8):
        np.testing.assert_array_equal(c.sum[y, y:y + 8], img[y])


def test_merge_equals_single_accumulator():
    rng = np.random.default_rng(2)
    seqs = [(rng.poisson(3, (5, 6, 4)), *rng.uniform(-2, 2, 2)) for _ in range(6)]
    whole = AlignedAccumulator((7, 8), (4,), dtype=np.float32)
    parts = [AlignedAccumulator((7, 8), (4,), dtype=np.float32) for _ in range(2)]
    for k, (si, dy, dx) in enumerate(seqs):
        whole.add(si, dy, dx, origin_px=(1, 1))
        parts[k % 2].add(si, dy, dx, origin_px=(1, 1))
    parts[0].merge(parts[1])
    np.testing.assert_allclose(parts[0].sum, whole.sum, rtol=1e-6)
    np.testing.assert_allclose(parts[0].count, whole.count)
    assert parts[0].n_added == 6
    assert parts[0].get_result_buffers()["sum"] == ((7, 8, 4), np.dtype(np.float32))


def test_drift_corrected_accumulation_recovers_specimen():
    """SI sequences of a drifting specimen, accumulated with the known shifts, give back the
    specimen; accumulating without correction smears it."""
    rng = np.random.default_rng(3)
    big = ndi.gaussian_filter(rng.standard_normal((96, 96)), 2.0)
    big = 10 + 5 * big / big.std()
    spectrum = np.array([1.0, 0.5, 0.25])
    truth = big[16:80, 16:80]
    aligned = AlignedAccumulator((64, 64), (3,))
    naive = AlignedAccumulator((64, 64), (3,))
    for k in range(8):
        dy, dx = 0.7 * k - 2.1, -0.45 * k + 1.3
        frame = shift_image(big, dy, dx)[16:80, 16:80]
        si = frame[..., None] * spectrum
        aligned.add(si, dy, dx)
        naive.add(si, 0.0, 0.0)
    m = aligned.mean()[8:56, 8:56, 0]  # interior, covered by all sequences
    t = truth[8:56, 8:56]
    err_aligned = np.sqrt(np.mean((m - t) ** 2))
    err_naive = np.sqrt(np.mean((naive.mean()[8:56, 8:56, 0] - t) ** 2))
    # bilinear splatting blurs a little (≤ half a pixel); drift blurs by up to 5 px
    assert err_aligned < 0.35 * err_naive
    assert np.corrcoef(m.ravel(), t.ravel())[0, 1] > 0.97


def test_measured_drift_pipeline_conventions_agree():
    """Registration → nm (rotated scan) → prediction → pixels → accumulation: the sign and
    frame conventions of the three modules fit together."""
    from analysis.drift import DriftPredictor, nm_to_pixels, pixels_to_nm
    from analysis.registration import measure_shift

    rng = np.random.default_rng(5)
    big = ndi.gaussian_filter(rng.standard_normal((192, 192)), 1.5)
    big = np.clip(3 + 2 * big / big.std(), 0.1, None)
    pixel_nm, rot = 0.4, 0.35
    vel_nm_s = np.array([0.004, -0.006])  # specimen drift in the microscope frame
    predictor = DriftPredictor(history=4)
    acc = AlignedAccumulator((128, 128))
    ref = None
    for k in range(6):
        t = 60.0 * k
        true_px = nm_to_pixels(*(vel_nm_s * t), pixel_nm, rot)
        frame = shift_image(big, *true_px)[32:160, 32:160]
        counts = rng.poisson(20 * np.clip(frame, 0, None))
        if ref is None:
            ref = counts
        r = measure_shift(ref, counts)
        assert abs(r.dy - true_px[0]) < 0.1 and abs(r.dx - true_px[1]) < 0.1
        predictor.add(t, *pixels_to_nm(r.dy, r.dx, pixel_nm, rot))
        acc.add(counts, r.dy, r.dx)
    assert np.allclose(predictor.velocity_nm_per_s(), vel_nm_s, atol=3e-4)
    assert np.allclose(predictor.predict_pixels(420.0, pixel_nm, rot),
                       nm_to_pixels(*(vel_nm_s * 420.0), pixel_nm, rot), atol=0.15)
    m = acc.mean()[16:112, 16:112]
    truth = 20 * big[48:144, 48:144]
    assert np.corrcoef(m.ravel(), truth.ravel())[0, 1] > 0.95


def test_haadf_image_alongside_si():
    rng = np.random.default_rng(4)
    si = rng.poisson(2, (4, 5, 6))
    haadf = si.sum(-1)
    a_si = AlignedAccumulator((4, 5), (6,))
    a_im = AlignedAccumulator((4, 5))
    a_si.add(si, 0.4, 0.2)
    a_im.add(haadf, 0.4, 0.2)
    np.testing.assert_allclose(a_si.sum.sum(-1), a_im.sum)
    np.testing.assert_array_equal(a_si.count, a_im.count)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"shape must be \(ny, nx\)"):
        AlignedAccumulator((0, 5))
    with pytest.raises(ValueError, match="floating"):
        AlignedAccumulator((4, 4), dtype=np.int32)
    a = AlignedAccumulator((4, 4), (3,))
    with pytest.raises(ValueError, match=r"\(4, 4, 2\)"):
        a.add(np.zeros((4, 4, 2)), 0, 0)
    with pytest.raises(ValueError, match="dy.*one value per row"):
        a.add(np.zeros((4, 4, 3)), np.zeros(3), 0)
    with pytest.raises(ValueError, match="dx must be finite"):
        a.add(np.zeros((4, 4, 3)), 0.0, float("nan"))
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(AlignedAccumulator((4, 4), (2,)))


@pytest.mark.parametrize("module", ['analysis.accumulate'])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
