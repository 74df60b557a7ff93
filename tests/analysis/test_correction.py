"""analysis.correction (per-channel spectrum correction) against its plain numpy reference."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.correction import correct_spectra, correct_spectra_reference


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_correct_spectra_matches_numpy(dtype):
    rng = np.random.default_rng(3)
    spectra = rng.poisson(20.0, (4, 5, 64)).astype(dtype)
    dark = (rng.random(64) * 3).astype(np.float32)
    gain = (1 + 0.2 * rng.standard_normal(64)).astype(np.float32)
    dead = rng.random(64) < 0.1
    dead[[0, 20, 21, 63]] = True          # both ends, and a pair (each has one valid neighbour)
    dead[40:43] = True                    # a run: the middle one has no valid neighbour -> 0
    got = correct_spectra(spectra, dark, gain, dead)
    assert got.dtype == np.float32 and got.shape == spectra.shape
    np.testing.assert_allclose(got, correct_spectra_reference(spectra, dark, gain, dead), rtol=1e-5, atol=1e-4)
    assert np.all(got[..., 41] == 0)


def test_correct_spectra_defaults_and_out_buffer():
    spectra = np.arange(12.0).reshape(3, 4)
    out = np.empty((3, 4), np.float32)
    assert correct_spectra(spectra, out=out) is out
    np.testing.assert_array_equal(out, spectra)


@pytest.mark.parametrize("kwargs, message", [
    ({"gain": np.ones(5)}, r"gain has 5 values, the spectra have 4 channels"),
    ({"dead": np.zeros(3, bool)}, r"dead has 3 values"),
    ({"out": np.empty((2, 4), np.float32)}, r"out must be C-contiguous float32 of shape \(3, 4\)"),
])
def test_correct_spectra_rejects_bad_maps(kwargs, message):
    with pytest.raises(ValueError, match=message):
        correct_spectra(np.ones((3, 4)), **kwargs)
