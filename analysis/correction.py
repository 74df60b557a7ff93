"""Per-channel correction of spectra (already binned): dark offset, gain, dead channels.

The spectrum-level counterpart of :func:`analysis.kernels.correct_and_bin` (which corrects raw
detector frames pixel by pixel), for data stored as spectra, e.g. the ``si_sequences`` of a
drift-corrected SI reprocessed offline with a newer gain reference.

Conventions (the same as :mod:`analysis.kernels`, one dimension less)
--------------------------------------------------------------------
* ``corrected = (counts - dark) * gain`` per energy channel (dark in counts, gain dimensionless).
* A dead channel is replaced by the mean of the *corrected* values of its valid neighbours
  ``c - 1`` and ``c + 1`` (inside the spectrum and not dead themselves); a dead channel with no
  valid neighbour becomes 0. Only the immediate neighbours are read, so a block of channels can
  be corrected on its own given one channel of overlap on each side (Dask ``map_overlap`` with
  depth 1 along the energy axis).
* Output is float32.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["correct_spectra", "correct_spectra_reference"]


@numba.njit(nogil=True, cache=True)
def _correct_spectra_kernel(spectra, dark, gain, dead, out):  # pragma: no cover - compiled
    n, e = spectra.shape
    for i in range(n):
        src = spectra[i]
        dst = out[i]
        for c in range(e):
            dst[c] = (np.float32(src[c]) - dark[c]) * gain[c]
        for c in range(e):
            if dead[c]:
                total = np.float32(0)
                count = 0
                if c > 0 and not dead[c - 1]:
                    total += dst[c - 1]
                    count += 1
                if c + 1 < e and not dead[c + 1]:
                    total += dst[c + 1]
                    count += 1
                dst[c] = total / np.float32(count) if count > 0 else np.float32(0)


def _channel_maps(n_channels: int, dark, gain, dead) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for name, arr, default, dtype in (("dark", dark, 0.0, np.float32), ("gain", gain, 1.0, np.float32),
                                      ("dead", dead, False, np.bool_)):
        if arr is None:
            out.append(np.full(n_channels, default, dtype))
            continue
        a = np.ascontiguousarray(np.asarray(arr).reshape(-1), dtype)
        if a.shape != (n_channels,):
            raise ValueError(f"{name} has {np.asarray(arr).size} values, the spectra have {n_channels} channels")
        out.append(a)
    return out[0], out[1], out[2]


def correct_spectra(spectra: np.ndarray, dark: np.ndarray | None = None, gain: np.ndarray | None = None,
                    dead: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Dark-subtract, gain-correct and repair dead channels of spectra, one pass.

    Parameters
    ----------
    spectra : numpy.ndarray
        (..., n_E) counts, any real dtype (any leading shape: a Dask block of a sequence stack).
    dark : numpy.ndarray, optional
        (n_E,) dark counts per channel (default 0).
    gain : numpy.ndarray, optional
        (n_E,) gain per channel (default 1).
    dead : numpy.ndarray, optional
        (n_E,) bool, True where a channel is dead.
    out : numpy.ndarray, optional
        Preallocated float32 result of the shape of ``spectra``, C-contiguous, filled in place.

    Returns
    -------
    numpy.ndarray
        float32 corrected spectra (``out`` if given). See the module conventions.

    Examples
    --------
    >>> s = np.array([[1.0, 99.0, 3.0]])
    >>> correct_spectra(s, gain=np.array([2.0, 1.0, 1.0]), dead=np.array([False, True, False])).tolist()
    [[2.0, 2.5, 3.0]]
    """
    spectra = np.asarray(spectra)
    if spectra.ndim < 1:
        raise ValueError("spectra must have an energy axis (last axis)")
    if spectra.dtype.kind not in "uif":
        raise ValueError(f"spectra dtype {spectra.dtype} is not a real number type")
    e = spectra.shape[-1]
    d, g, dd = _channel_maps(e, dark, gain, dead)
    if out is None:
        out = np.empty(spectra.shape, np.float32)
    elif out.shape != spectra.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous float32 of shape {spectra.shape}, got {out.dtype} {out.shape}")
    flat = np.ascontiguousarray(spectra).reshape(-1, e)
    _correct_spectra_kernel(flat, d, g, dd, out.reshape(-1, e))
    return out


def correct_spectra_reference(spectra: np.ndarray, dark: np.ndarray | None = None,
                              gain: np.ndarray | None = None, dead: np.ndarray | None = None) -> np.ndarray:
    """Plain numpy reference of :func:`correct_spectra` (float64; used by the tests)."""
    spectra = np.asarray(spectra, np.float64)
    e = spectra.shape[-1]
    d, g, dd = _channel_maps(e, dark, gain, dead)
    corrected = (spectra - d.astype(np.float64)) * g.astype(np.float64)
    for c in np.flatnonzero(dd):
        valid = [k for k in (c - 1, c + 1) if 0 <= k < e and not dd[k]]
        corrected[..., c] = np.mean([corrected[..., k] for k in valid], axis=0) if valid else 0.0
    return corrected
