"""analysis.kernels against plain numpy references."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.kernels import (ENCODING_R1, ENCODING_R6, ENCODING_R12, ENCODING_R24, ENCODING_U08, ENCODING_U16,
                              ENCODING_U32, CorrectionMaps, bin_frames, chip_gap_columns, correct_and_bin,
                              correct_and_bin_encoded, correct_frames, decode_encoded, insert_chip_gaps)

pytestmark = pytest.mark.slow

ROWS, COLS = 32, 48       # 48 columns: raw 1-bit words straddle rows (generic path)


def reference_correct(frames, dark, gain, bad):
    """Plain numpy: (x - dark) * gain, bad pixels = mean of valid corrected 4-neighbours (0 if none)."""
    dark = np.zeros(frames.shape[1:]) if dark is None else dark
    gain = np.ones(frames.shape[1:]) if gain is None else gain
    bad = np.zeros(frames.shape[1:], bool) if bad is None else bad
    corrected = (frames.astype(np.float64) - dark) * gain
    rows, cols = bad.shape
    for r, c in np.argwhere(bad):
        neighbours = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                      if 0 <= r + dr < rows and 0 <= c + dc < cols and not bad[r + dr, c + dc]]
        corrected[:, r, c] = np.mean([corrected[:, rr, cc] for rr, cc in neighbours], axis=0) if neighbours else 0
    return corrected


@pytest.fixture
def maps_inputs():
    rng = np.random.default_rng(5)
    dark = (rng.random((ROWS, COLS)) * 4).astype(np.float32)
    gain = (1 + 0.2 * rng.standard_normal((ROWS, COLS))).astype(np.float32)
    bad = rng.random((ROWS, COLS)) < 0.03
    bad[0, 0] = bad[0, 1] = bad[1, 0] = True          # a corner pixel with no valid neighbour
    bad[ROWS - 1, COLS - 1] = True                    # edge pixel
    return dark, gain, bad


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_correct_and_bin_matches_numpy(dtype, maps_inputs):
    dark, gain, bad = maps_inputs
    frames = np.random.default_rng(1).integers(0, np.iinfo(dtype).max if dtype != np.uint32 else 1 << 24,
                                               (7, ROWS, COLS)).astype(dtype)
    expected = reference_correct(frames, dark, gain, bad).sum(axis=1)
    result = correct_and_bin(frames, dark, gain, bad)
    assert result.dtype == np.float32 and result.shape == (7, COLS)
    np.testing.assert_allclose(result, expected, rtol=2e-5, atol=1e-2 * np.abs(expected).max() * 1e-3)


def test_correct_and_bin_without_corrections_is_a_plain_row_sum():
    frames = np.random.default_rng(2).integers(0, 4096, (3, ROWS, COLS)).astype(np.uint16)
    np.testing.assert_array_equal(correct_and_bin(frames), frames.sum(axis=1).astype(np.float32))
    np.testing.assert_array_equal(bin_frames(frames), frames.sum(axis=1).astype(np.float32))


def test_out_buffer_is_filled_in_place_and_maps_can_be_reused(maps_inputs):
    dark, gain, bad = maps_inputs
    frames = np.random.default_rng(3).integers(0, 64, (4, ROWS, COLS)).astype(np.uint8)
    out = np.full((4, COLS), np.nan, np.float32)
    maps = CorrectionMaps.build((ROWS, COLS), dark, gain, bad)
    assert correct_and_bin(frames, out=out, maps=maps) is out
    np.testing.assert_allclose(out, reference_correct(frames, dark, gain, bad).sum(axis=1), rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="out must be"):
        correct_and_bin(frames, out=np.empty((4, COLS), np.float64))
    with pytest.raises(ValueError, match="dark has shape"):
        correct_and_bin(frames, dark=np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_correct_frames_matches_numpy(dtype, maps_inputs):
    dark, gain, bad = maps_inputs
    frames = np.random.default_rng(4).integers(0, 255, (5, ROWS, COLS)).astype(dtype)
    out = np.empty((5, ROWS, COLS), np.float32)
    assert correct_frames(frames, dark, gain, bad, out=out) is out
    np.testing.assert_allclose(out, reference_correct(frames, dark, gain, bad), rtol=1e-5, atol=1e-4)


def _encode(frames, encoding):
    """Independent numpy encoder for the message layout the encoded kernel reads."""
    flat = frames.reshape(len(frames), -1).astype(np.uint32)
    if encoding in (ENCODING_U08, ENCODING_U16, ENCODING_U32):
        dtype = {ENCODING_U08: ">u1", ENCODING_U16: ">u2", ENCODING_U32: ">u4"}[encoding]
        return flat.astype(dtype).view(np.uint8).reshape(len(frames), -1)
    if encoding == ENCODING_R1:
        words = np.zeros((len(frames), flat.shape[1] // 64), np.uint64)
        for k in range(64):
            words |= (flat[:, k::64].astype(np.uint64) & 1) << np.uint64(k)
        return words.astype(">u8").view(np.uint8).reshape(len(frames), -1)
    if encoding == ENCODING_R6:
        return flat.astype(np.uint8).reshape(len(frames), -1, 8)[:, :, ::-1].reshape(len(frames), -1).copy()
    r12 = lambda v: v.astype(">u2").reshape(len(frames), -1, 4)[:, :, ::-1].reshape(len(frames), -1).view(np.uint8)
    if encoding == ENCODING_R12:
        return r12(flat)
    return np.concatenate([r12(flat >> 12), r12(flat & 0xFFF)], axis=1)


@pytest.mark.parametrize("encoding, max_count", [(ENCODING_U08, 63), (ENCODING_U16, 4095),
                                                 (ENCODING_U32, (1 << 24) - 1), (ENCODING_R1, 1), (ENCODING_R6, 63),
                                                 (ENCODING_R12, 4095), (ENCODING_R24, (1 << 24) - 1)])
def test_encoded_kernel_decodes_and_bins_like_the_numpy_path(encoding, max_count, maps_inputs):
    dark, gain, bad = maps_inputs
    frames = np.random.default_rng(6).integers(0, max_count + 1, (6, ROWS, COLS)).astype(np.uint32)
    payload = _encode(frames, encoding)
    messages = np.zeros((6, 23 + payload.shape[1] + 5), np.uint8)   # header bytes before, padding after
    messages[:, 23:23 + payload.shape[1]] = payload
    result = correct_and_bin_encoded(messages, 23, encoding, (ROWS, COLS), dark, gain, bad)
    expected = reference_correct(frames, dark, gain, bad).sum(axis=1)
    np.testing.assert_allclose(result, expected, rtol=2e-5, atol=1e-3 * max(1.0, np.abs(expected).max() * 1e-4))


def test_encoded_kernel_rejects_short_messages():
    with pytest.raises(ValueError, match="cannot hold"):
        correct_and_bin_encoded(np.zeros((2, 100), np.uint8), 10, ENCODING_U16, (ROWS, COLS))


def test_chip_gaps_interpolate_linearly_and_distribute_conserves_counts():
    spectra = np.tile(np.arange(1024, dtype=np.float32), (3, 1))
    widened = insert_chip_gaps(spectra)
    assert widened.shape == (3, 1030)
    gaps = chip_gap_columns()
    np.testing.assert_array_equal(gaps, [256, 257, 514, 515, 772, 773])
    keep = np.setdiff1d(np.arange(1030), gaps)
    np.testing.assert_array_equal(widened[:, keep], spectra)
    np.testing.assert_allclose(widened[0, 255:259], [255, 255 + 1 / 3, 255 + 2 / 3, 256], rtol=1e-6)
    distributed = insert_chip_gaps(spectra, mode="distribute")
    np.testing.assert_allclose(distributed.sum(axis=-1), spectra.sum(axis=-1), rtol=1e-6)
    np.testing.assert_allclose(distributed[0, 255:259], [127.5, 127.5, 128, 128])
    frames = np.ones((2, 4, 1024), np.float32)
    assert insert_chip_gaps(frames).shape == (2, 4, 1030)
    with pytest.raises(ValueError, match="1024"):
        insert_chip_gaps(np.ones((2, 1000), np.float32))


@pytest.mark.parametrize("encoding, max_count", [(ENCODING_U08, 63), (ENCODING_U16, 4095), (ENCODING_R1, 1),
                                                 (ENCODING_R6, 63), (ENCODING_R12, 4095),
                                                 (ENCODING_R24, (1 << 24) - 1)])
@pytest.mark.parametrize("aligned", [True, False])
def test_encoded_kernel_fast_paths_on_chip_wide_rows(encoding, max_count, aligned):
    rows, cols = 4, 256
    rng = np.random.default_rng(7)
    frames = rng.integers(0, max_count + 1, (5, rows, cols)).astype(np.uint32)
    dark = (rng.random((rows, cols)) * 2).astype(np.float32)
    gain = (1 + 0.1 * rng.standard_normal((rows, cols))).astype(np.float32)
    bad = rng.random((rows, cols)) < 0.02
    payload = _encode(frames, encoding)
    offset = 64 if aligned else 63
    messages = np.zeros((5, 64 * ((offset + payload.shape[1]) // 64 + 1)), np.uint8)
    messages[:, offset:offset + payload.shape[1]] = payload
    result = correct_and_bin_encoded(messages, offset, encoding, (rows, cols), dark, gain, bad)
    expected = reference_correct(frames, dark, gain, bad).sum(axis=1)
    np.testing.assert_allclose(result, expected, rtol=2e-5, atol=1e-3 * max(1.0, np.abs(expected).max() * 1e-4))


@pytest.mark.parametrize("encoding, max_count, dtype", [(ENCODING_U08, 255, np.uint8), (ENCODING_U16, 65535, np.uint16),
                                                        (ENCODING_U32, (1 << 32) - 1, np.uint32),
                                                        (ENCODING_R1, 1, np.uint8), (ENCODING_R6, 63, np.uint8),
                                                        (ENCODING_R12, 4095, np.uint16),
                                                        (ENCODING_R24, (1 << 24) - 1, np.uint32)])
def test_decode_encoded_is_exact(encoding, max_count, dtype):
    frames = np.random.default_rng(8).integers(0, max_count, (3, 4, 256), endpoint=True).astype(np.uint64)
    payload = _encode(frames.astype(np.uint32) if encoding != ENCODING_U32 else frames, encoding)
    messages = np.zeros((3, 7 + payload.shape[1]), np.uint8)
    messages[:, 7:] = payload
    out = np.zeros((3, 4, 256), dtype)
    assert decode_encoded(messages, 7, encoding, out) is out
    np.testing.assert_array_equal(out, frames)


def test_compile_encoded_kernels_compiles_every_kernel_the_encodings_use():
    """The Merlin camera calls it before its first acquisition, so no frame deadline pays for numba."""
    from analysis import kernels

    kernels.compile_encoded_kernels()
    for name in ("_bin_bytes_kernel", "_bin_words16_kernel", "_bin_any_kernel"):
        assert getattr(kernels, name).signatures, f"{name} not compiled"
