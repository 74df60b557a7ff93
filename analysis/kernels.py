"""Fused per-frame kernels for counting detectors: decode -> correct -> bin.

Conventions (kept by every function here)
-----------------------------------------
* Frames are ``(n, rows, cols)`` counts; binning sums over **rows** and keeps the column (energy)
  axis, giving float32 spectra ``(n, cols)``.
* Correction is ``corrected = (counts - dark) * gain`` (dark in counts, gain dimensionless), as in
  LiberTEM's detector correction.
* A bad pixel is replaced by the mean of the *corrected* values of its valid 4-neighbours (inside the
  frame and not bad themselves); a bad pixel with no valid neighbour becomes 0.
* Output buffers are float32 and may be passed in preallocated as ``out``; nothing else is allocated
  per frame. Kernels run numba ``parallel=True`` over frames.

The binning kernels fold the dark into a per-column constant (``sum_r dark * gain``), so the inner loop
reads only the counts and the gain map: one pass over the frame, memory-bound.
"""
from __future__ import annotations

import dataclasses

import numba
import numpy as np

#: encodings understood by :func:`correct_and_bin_encoded` (big-endian binary or raw R64 words)
ENCODING_U08, ENCODING_U16, ENCODING_U32, ENCODING_R1, ENCODING_R6, ENCODING_R12, ENCODING_R24 = range(7)
_BYTES_PER_PIXEL_X8 = {ENCODING_U08: 8, ENCODING_U16: 16, ENCODING_U32: 32, ENCODING_R1: 1, ENCODING_R6: 8,
                       ENCODING_R12: 16, ENCODING_R24: 32}


@dataclasses.dataclass(frozen=True)
class CorrectionMaps:
    """Correction maps prepared once for many calls (see :meth:`build`).

    Attributes
    ----------
    dark, gain : numpy.ndarray
        (rows, cols) float32; zeros / ones when not given.
    gain_good : numpy.ndarray
        ``gain`` with bad pixels set to 0 (their counts are then added back by the repair step).
    column_offset : numpy.ndarray
        (cols,) float32, ``sum over rows of dark * gain_good``.
    bad_flat : numpy.ndarray
        (m,) int64 flat indices of bad pixels.
    neighbours : numpy.ndarray
        (m, 4) int64 flat indices of each bad pixel's valid 4-neighbours, padded with -1.
    """

    dark: np.ndarray
    gain: np.ndarray
    gain_good: np.ndarray
    column_offset: np.ndarray
    bad_flat: np.ndarray
    neighbours: np.ndarray

    @classmethod
    def build(cls, shape: tuple[int, int], dark: np.ndarray | None = None, gain: np.ndarray | None = None,
              bad_pixels: np.ndarray | None = None) -> "CorrectionMaps":
        """Validate and prepare maps for frames of ``shape`` = (rows, cols)."""
        rows, cols = shape
        for name, arr in (("dark", dark), ("gain", gain), ("bad_pixels", bad_pixels)):
            if arr is not None and arr.shape != (rows, cols):
                raise ValueError(f"{name} has shape {arr.shape}, frames are {(rows, cols)}")
        dark32 = np.zeros(shape, np.float32) if dark is None else np.ascontiguousarray(dark, np.float32)
        gain32 = np.ones(shape, np.float32) if gain is None else np.ascontiguousarray(gain, np.float32)
        bad = np.zeros(shape, bool) if bad_pixels is None else np.asarray(bad_pixels, bool)
        gain_good = np.where(bad, np.float32(0), gain32).astype(np.float32)
        column_offset = (dark32.astype(np.float64) * gain_good).sum(axis=0).astype(np.float32)
        bad_rc = np.argwhere(bad)
        neighbours = np.full((len(bad_rc), 4), -1, np.int64)
        for k, (r, c) in enumerate(bad_rc):
            valid = [(rr, cc) for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                     if 0 <= rr < rows and 0 <= cc < cols and not bad[rr, cc]]
            for j, (rr, cc) in enumerate(valid):
                neighbours[k, j] = rr * cols + cc
        bad_flat = (bad_rc[:, 0] * cols + bad_rc[:, 1]).astype(np.int64)
        return cls(dark32, gain32, gain_good, column_offset, bad_flat, neighbours)


def _maps_for(shape: tuple[int, int], dark, gain, bad_pixels, maps: CorrectionMaps | None) -> CorrectionMaps:
    if maps is not None:
        if maps.dark.shape != tuple(shape):
            raise ValueError(f"correction maps are for {maps.dark.shape}, frames are {tuple(shape)}")
        return maps
    return CorrectionMaps.build(tuple(shape), dark, gain, bad_pixels)


def _check_out(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous float32 of shape {shape}, got {out.dtype} {out.shape}")
    return out


@numba.njit(inline="always")
def _repair_value(flat_frame, neighbour_row, dark_flat, gain_flat):
    total = np.float32(0)
    count = 0
    for j in range(4):
        q = neighbour_row[j]
        if q >= 0:
            total += (np.float32(flat_frame[q]) - dark_flat[q]) * gain_flat[q]
            count += 1
    return total / np.float32(count) if count > 0 else np.float32(0)


@numba.njit(parallel=True, nogil=True, cache=True)
def _correct_and_bin_kernel(frames, gain_good, column_offset, dark, gain, bad_flat, neighbours, out):
    n, rows, cols = frames.shape
    dark_flat, gain_flat = dark.reshape(-1), gain.reshape(-1)
    for i in numba.prange(n):
        acc = out[i]
        for c in range(cols):
            acc[c] = -column_offset[c]
        for r in range(rows):
            for c in range(cols):
                acc[c] += np.float32(frames[i, r, c]) * gain_good[r, c]
        flat = frames[i].reshape(-1)
        for k in range(bad_flat.shape[0]):
            acc[bad_flat[k] % cols] += _repair_value(flat, neighbours[k], dark_flat, gain_flat)


def correct_and_bin(frames: np.ndarray, dark: np.ndarray | None = None, gain: np.ndarray | None = None,
                    bad_pixels: np.ndarray | None = None, out: np.ndarray | None = None, *,
                    maps: CorrectionMaps | None = None) -> np.ndarray:
    """Dark-subtract, gain-correct, repair bad pixels and sum over rows, in one pass.

    Parameters
    ----------
    frames : numpy.ndarray
        (n, rows, cols) uint8, uint16 or uint32 counts, C-contiguous.
    dark : numpy.ndarray, optional
        (rows, cols) float32 dark counts per pixel (default 0).
    gain : numpy.ndarray, optional
        (rows, cols) float32 gain per pixel (default 1).
    bad_pixels : numpy.ndarray, optional
        (rows, cols) bool, True where a pixel is bad.
    out : numpy.ndarray, optional
        Preallocated (n, cols) float32 result, filled in place.
    maps : CorrectionMaps, optional
        Prepared maps (from :meth:`CorrectionMaps.build`); overrides dark/gain/bad_pixels and saves
        their preparation on every call of a stream.

    Returns
    -------
    numpy.ndarray
        (n, cols) float32 spectra (``out`` if given).

    Notes
    -----
    Numba-parallel over frames, no temporaries per frame; see the module conventions for the repair rule.

    Examples
    --------
    >>> frames = np.ones((2, 4, 3), np.uint16)
    >>> correct_and_bin(frames).tolist()
    [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
    """
    frames = np.ascontiguousarray(frames)
    n, rows, cols = frames.shape
    m = _maps_for((rows, cols), dark, gain, bad_pixels, maps)
    out = _check_out(out, (n, cols))
    _correct_and_bin_kernel(frames, m.gain_good, m.column_offset, m.dark, m.gain, m.bad_flat, m.neighbours, out)
    return out


@numba.njit(parallel=True, nogil=True, cache=True)
def _correct_frames_kernel(frames, dark, gain, bad_flat, neighbours, out):
    n, rows, cols = frames.shape
    dark_flat, gain_flat = dark.reshape(-1), gain.reshape(-1)
    for i in numba.prange(n):
        for r in range(rows):
            for c in range(cols):
                out[i, r, c] = (np.float32(frames[i, r, c]) - dark[r, c]) * gain[r, c]
        flat, dest = frames[i].reshape(-1), out[i].reshape(-1)
        for k in range(bad_flat.shape[0]):
            dest[bad_flat[k]] = _repair_value(flat, neighbours[k], dark_flat, gain_flat)


def correct_frames(frames: np.ndarray, dark: np.ndarray | None = None, gain: np.ndarray | None = None,
                   bad_pixels: np.ndarray | None = None, out: np.ndarray | None = None, *,
                   maps: CorrectionMaps | None = None) -> np.ndarray:
    """Dark-subtract, gain-correct and repair bad pixels without binning.

    Parameters
    ----------
    frames, dark, gain, bad_pixels, maps
        As in :func:`correct_and_bin`.
    out : numpy.ndarray, optional
        Preallocated (n, rows, cols) float32 result.

    Returns
    -------
    numpy.ndarray
        (n, rows, cols) float32 corrected frames.
    """
    frames = np.ascontiguousarray(frames)
    n, rows, cols = frames.shape
    m = _maps_for((rows, cols), dark, gain, bad_pixels, maps)
    out = _check_out(out, (n, rows, cols))
    _correct_frames_kernel(frames, m.dark, m.gain, m.bad_flat, m.neighbours, out)
    return out


@numba.njit(parallel=True, nogil=True, cache=True)
def _bin_kernel(frames, out):
    n, rows, cols = frames.shape
    for i in numba.prange(n):
        acc = out[i]
        for c in range(cols):
            acc[c] = 0
        for r in range(rows):
            for c in range(cols):
                acc[c] += np.float32(frames[i, r, c])


def bin_frames(frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum (n, rows, cols) counts over rows into float32 (n, cols) with no correction.

    This is the read limit of the fused kernels: it touches each count once and does nothing else.
    """
    frames = np.ascontiguousarray(frames)
    out = _check_out(out, (frames.shape[0], frames.shape[2]))
    _bin_kernel(frames, out)
    return out


@numba.njit(inline="always")
def _decode_pixel(buf, base, p, encoding, half):
    if encoding == 0:  # U08
        return np.uint32(buf[base + p])
    if encoding == 1:  # U16 big-endian
        q = base + 2 * p
        return (np.uint32(buf[q]) << 8) | np.uint32(buf[q + 1])
    if encoding == 2:  # U32 big-endian
        q = base + 4 * p
        return ((np.uint32(buf[q]) << 24) | (np.uint32(buf[q + 1]) << 16)
                | (np.uint32(buf[q + 2]) << 8) | np.uint32(buf[q + 3]))
    if encoding == 3:  # R1: bit k of a big-endian u64 word
        word, k = p // 64, p % 64
        return (np.uint32(buf[base + 8 * word + 7 - k // 8]) >> np.uint32(k % 8)) & np.uint32(1)
    if encoding == 4:  # R6: one byte per pixel, 8 per word, reversed
        return np.uint32(buf[base + 8 * (p // 8) + 7 - p % 8])
    q = base + 8 * (p // 4) + 2 * (3 - p % 4)  # R12 (and both halves of R24): 4 reversed >u2 per word
    value = (np.uint32(buf[q]) << 8) | np.uint32(buf[q + 1])
    if encoding == 6:
        value = (value << 12) | (np.uint32(buf[q + half]) << 8) | np.uint32(buf[q + half + 1])
    return value


@numba.njit(inline="always")
def _repair_encoded_frame(buf, base, encoding, half, dark, gain, bad_flat, neighbours, acc):
    # Adds each bad pixel's replacement (mean of corrected valid 4-neighbours) to its column. Runs right
    # after the frame's bulk pass, while the frame is still in cache; flat indices avoid divisions.
    cols = acc.shape[0]
    dark, gain = dark.reshape(-1), gain.reshape(-1)
    for k in range(bad_flat.shape[0]):
        total = np.float32(0)
        count = 0
        for j in range(4):
            q = neighbours[k, j]
            if q >= 0:
                value = np.float32(_decode_pixel(buf, base, q, encoding, half))
                total += (value - dark[q]) * gain[q]
                count += 1
        if count > 0:
            acc[bad_flat[k] % cols] += total / np.float32(count)


@numba.njit(parallel=True, nogil=True, cache=True)
def _bin_bytes_kernel(messages, base, encoding, gain_good, column_offset, dark, gain, bad_flat, neighbours, out):
    # U08 / R6 / R1 read straight from the message bytes; each row is sliced so the inner loop is contiguous.
    rows, cols = gain_good.shape
    row_bytes = cols if encoding != 3 else cols // 8
    for i in numba.prange(messages.shape[0]):
        acc = out[i]
        for c in range(cols):
            acc[c] = -column_offset[c]
        for r in range(rows):
            src = messages[i, base + r * row_bytes: base + (r + 1) * row_bytes]
            g = gain_good[r]
            if encoding == 0:
                for c in range(cols):
                    acc[c] += np.float32(src[c]) * g[c]
            elif encoding == 4:
                for w in range(cols // 8):
                    for j in range(8):
                        acc[8 * w + j] += np.float32(src[8 * w + 7 - j]) * g[8 * w + j]
            else:
                for w in range(cols // 64):
                    for k in range(64):
                        bit = (src[8 * w + 7 - k // 8] >> (k % 8)) & 1
                        acc[64 * w + k] += np.float32(bit) * g[64 * w + k]
        _repair_encoded_frame(messages[i], base, encoding, 0, dark, gain, bad_flat, neighbours, acc)


@numba.njit(inline="always")
def _swap16(word):
    w = np.uint32(word)
    return ((w & np.uint32(0xFF)) << np.uint32(8)) | (w >> np.uint32(8))


@numba.njit(parallel=True, nogil=True, cache=True)
def _bin_words16_kernel(words, messages, base, encoding, half, gain_good, column_offset, dark, gain, bad_flat,
                        neighbours, out):
    # U16 / R12 / R24 through an aligned native uint16 view of the bytes: byte swap in registers.
    rows, cols = gain_good.shape
    for i in numba.prange(words.shape[0]):
        acc = out[i]
        for c in range(cols):
            acc[c] = -column_offset[c]
        for r in range(rows):
            src = words[i, base + r * cols: base + (r + 1) * cols]
            g = gain_good[r]
            if encoding == 1:
                for c in range(cols):
                    acc[c] += np.float32(_swap16(src[c])) * g[c]
            elif encoding == 5:
                for w in range(cols // 4):
                    for j in range(4):
                        acc[4 * w + j] += np.float32(_swap16(src[4 * w + 3 - j])) * g[4 * w + j]
            else:
                low = words[i, base + half + r * cols: base + half + (r + 1) * cols]
                for w in range(cols // 4):
                    for j in range(4):
                        value = (_swap16(src[4 * w + 3 - j]) << np.uint32(12)) | _swap16(low[4 * w + 3 - j])
                        acc[4 * w + j] += np.float32(value) * g[4 * w + j]
        _repair_encoded_frame(messages[i], 2 * base, encoding, 2 * half, dark, gain, bad_flat, neighbours, acc)


@numba.njit(parallel=True, nogil=True, cache=True)
def _bin_any_kernel(messages, base, encoding, half, gain_good, column_offset, dark, gain, bad_flat, neighbours, out):
    # Fallback for multi-byte pixels that are not aligned in memory: assemble each pixel from bytes.
    rows, cols = gain_good.shape
    for i in numba.prange(messages.shape[0]):
        buf, acc = messages[i], out[i]
        for c in range(cols):
            acc[c] = -column_offset[c]
        for r in range(rows):
            for c in range(cols):
                acc[c] += np.float32(_decode_pixel(buf, base, r * cols + c, encoding, half)) * gain_good[r, c]
        _repair_encoded_frame(buf, base, encoding, half, dark, gain, bad_flat, neighbours, acc)


def correct_and_bin_encoded(messages: np.ndarray, pixel_offset: int, encoding: int, shape: tuple[int, int],
                            dark: np.ndarray | None = None, gain: np.ndarray | None = None,
                            bad_pixels: np.ndarray | None = None, out: np.ndarray | None = None, *,
                            maps: CorrectionMaps | None = None) -> np.ndarray:
    """Decode big-endian or raw-word pixels straight from message bytes, correct and bin: one pass.

    Parameters
    ----------
    messages : numpy.ndarray
        (n, message_bytes) uint8: one row per frame message (e.g. MPX prefix + MQ1 header + pixels).
    pixel_offset : int
        Byte offset of the first pixel inside each row.
    encoding : int
        ``ENCODING_U08/U16/U32`` (big-endian binary) or ``ENCODING_R1/R6/R12/R24`` (raw 64-bit words,
        pixels LSB first; R24 = an R12 block of high bits followed by one of low bits).
    shape : tuple of int
        (rows, cols) of the frame; pixels are in row-major order (raw data only when raw order equals the
        image, i.e. single-chip or Nx1 with chips in order).
    dark, gain, bad_pixels, out, maps
        As in :func:`correct_and_bin`.

    Returns
    -------
    numpy.ndarray
        (n, cols) float32 spectra.

    Notes
    -----
    The bulk pass is one read of the pixel bytes. 16-bit words (U16, R12, R24) are read through a
    native ``uint16`` view and byte-swapped in registers when the pixels are 2-byte aligned (the Merlin
    receiver lays out its batch buffer so they are); otherwise a slower byte-assembling loop is used.
    Bad pixels are repaired right after each frame's bulk pass, reading only their neighbours while the
    frame is still in cache.
    """
    rows, cols = shape
    if encoding not in _BYTES_PER_PIXEL_X8:
        raise ValueError(f"unknown encoding {encoding!r}")
    pixel_bytes = rows * cols * _BYTES_PER_PIXEL_X8[encoding] // 8
    if messages.ndim != 2 or messages.dtype != np.uint8 or pixel_offset < 0 \
            or pixel_offset + pixel_bytes > messages.shape[1]:
        raise ValueError(f"messages {messages.dtype} {messages.shape} cannot hold {pixel_bytes} pixel bytes "
                         f"at offset {pixel_offset}")
    m = _maps_for((rows, cols), dark, gain, bad_pixels, maps)
    out = _check_out(out, (messages.shape[0], cols))
    half = pixel_bytes // 2
    if messages.shape[0] == 0:
        return out
    # raw words must not straddle rows for the row-sliced kernels (true for 256-pixel chips)
    whole_words = cols % {ENCODING_R1: 64, ENCODING_R6: 8, ENCODING_R12: 4, ENCODING_R24: 4}.get(encoding, 1) == 0
    repair = (m.dark, m.gain, m.bad_flat, m.neighbours, out)
    if not whole_words:
        _bin_any_kernel(messages, pixel_offset, encoding, half, m.gain_good, m.column_offset, *repair)
    elif encoding in (ENCODING_U08, ENCODING_R6, ENCODING_R1):
        _bin_bytes_kernel(messages, pixel_offset, encoding, m.gain_good, m.column_offset, *repair)
    elif encoding in (ENCODING_U16, ENCODING_R12, ENCODING_R24) and _aligned(messages, pixel_offset, 2):
        _bin_words16_kernel(messages.view(np.uint16), messages, pixel_offset // 2, encoding, half // 2, m.gain_good,
                            m.column_offset, *repair)
    else:
        _bin_any_kernel(messages, pixel_offset, encoding, half, m.gain_good, m.column_offset, *repair)
    return out


def compile_encoded_kernels() -> None:
    """Compile (or load from numba's cache) every kernel :func:`correct_and_bin_encoded` can use.

    Their machine code depends on the argument types only, not on the encoding or the frame
    size, so three tiny calls cover all encodings. A receiver calls this before it starts an
    acquisition: on a fresh machine the first compilation takes seconds, which must not count
    against a frame deadline.
    """
    for encoding in (ENCODING_U08, ENCODING_U16, ENCODING_U32):  # bytes, 16-bit words, any
        pixel_bytes = 8 * _BYTES_PER_PIXEL_X8[encoding] // 8
        correct_and_bin_encoded(np.zeros((1, pixel_bytes), np.uint8), 0, encoding, (1, 8))


def _aligned(messages: np.ndarray, pixel_offset: int, itemsize: int) -> bool:
    """True when every row's pixels start on an ``itemsize`` boundary and the rows can be viewed as words."""
    return (messages.flags.c_contiguous and messages.shape[1] % itemsize == 0 and pixel_offset % itemsize == 0
            and messages.ctypes.data % itemsize == 0)


def chip_gap_columns(n_chips: int = 4, chip_width: int = 256, gap_pixels: int = 2) -> np.ndarray:
    """Column indices, in the gap-corrected axis, of the pixels inserted by :func:`insert_chip_gaps`."""
    return np.array([(k + 1) * chip_width + k * gap_pixels + j
                     for k in range(n_chips - 1) for j in range(gap_pixels)], dtype=np.int64)


def insert_chip_gaps(data: np.ndarray, n_chips: int = 4, chip_width: int = 256, gap_pixels: int = 2,
                     mode: str = "interpolate", out: np.ndarray | None = None) -> np.ndarray:
    """Re-insert the physical gaps between chips along the last (energy) axis so it becomes linear.

    Parameters
    ----------
    data : numpy.ndarray
        (..., n_chips * chip_width) spectra or frames; the last axis runs across the chips.
    n_chips, chip_width : int
        Chip count and width in pixels (4 x 256 for the Merlin EELS ``Nx1`` assembly).
    gap_pixels : int
        Pixels inserted per junction. Default 2, the width the Merlin software itself uses for ``G``
        layouts (real ``2x2G`` frames are 514 x 514); the physical gap is close to 3 pixels minus the
        edge pixels' overhang. Output width is ``n_chips * chip_width + (n_chips - 1) * gap_pixels``
        (1030 for the EELS camera).
    mode : str
        ``"interpolate"``: gap pixels are linear interpolations between the two edge pixels; edge pixels
        are kept as measured. ``"distribute"``: the edge pixels collected the counts of their own width
        plus half the gap (Merlin manual §8.15), so each edge pixel's counts are shared equally between
        it and the ``gap_pixels / 2`` gap pixels next to it; counts are conserved (``gap_pixels`` even).
    out : numpy.ndarray, optional
        Preallocated float32 output of the widened shape.

    Returns
    -------
    numpy.ndarray
        float32 array with the widened last axis.
    """
    width = n_chips * chip_width
    if data.shape[-1] != width:
        raise ValueError(f"last axis has {data.shape[-1]} pixels, expected {n_chips} x {chip_width} = {width}")
    if mode not in ("interpolate", "distribute") or (mode == "distribute" and gap_pixels % 2):
        raise ValueError(f"mode must be 'interpolate' or 'distribute' (even gap), got {mode!r} with gap {gap_pixels}")
    out = _check_out(out, data.shape[:-1] + (width + (n_chips - 1) * gap_pixels,))
    for k in range(n_chips):
        start = k * (chip_width + gap_pixels)
        out[..., start:start + chip_width] = data[..., k * chip_width:(k + 1) * chip_width]
    for k in range(n_chips - 1):
        left = (k + 1) * chip_width + k * gap_pixels - 1   # last pixel of chip k in the output
        right = left + gap_pixels + 1                      # first pixel of chip k + 1
        if mode == "interpolate":
            for j in range(1, gap_pixels + 1):
                t = j / (gap_pixels + 1)
                out[..., left + j] = (1 - t) * out[..., left] + t * out[..., right]
        else:
            share = gap_pixels // 2 + 1
            left_part, right_part = out[..., left] / share, out[..., right] / share
            out[..., left], out[..., right] = left_part, right_part
            for j in range(1, gap_pixels // 2 + 1):
                out[..., left + j] = left_part
                out[..., right - j] = right_part
    return out


@numba.njit(parallel=True, nogil=True, cache=True)
def _decode_kernel(messages, base, encoding, half, out):
    n, rows, cols = out.shape
    for i in numba.prange(n):
        buf = messages[i]
        for r in range(rows):
            dest = out[i, r]
            for c in range(cols):
                dest[c] = _decode_pixel(buf, base, r * cols + c, encoding, half)


def decode_encoded(messages: np.ndarray, pixel_offset: int, encoding: int, out: np.ndarray) -> np.ndarray:
    """Decode big-endian or raw-word pixels from message bytes into preallocated counts, no temporaries.

    Parameters
    ----------
    messages : numpy.ndarray
        (n, message_bytes) uint8, one frame per row.
    pixel_offset : int
        Byte offset of the first pixel inside each row.
    encoding : int
        One of the ``ENCODING_*`` codes (see :func:`correct_and_bin_encoded`); pixels in row-major order.
    out : numpy.ndarray
        (n, rows, cols) unsigned integer array wide enough for the counts, filled in place.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    n, rows, cols = out.shape
    if encoding not in _BYTES_PER_PIXEL_X8:
        raise ValueError(f"unknown encoding {encoding!r}")
    pixel_bytes = rows * cols * _BYTES_PER_PIXEL_X8[encoding] // 8
    if messages.ndim != 2 or messages.dtype != np.uint8 or messages.shape[0] != n or pixel_offset < 0 \
            or pixel_offset + pixel_bytes > messages.shape[1] or out.dtype.kind != "u":
        raise ValueError(f"cannot decode {pixel_bytes} pixel bytes at offset {pixel_offset} of messages "
                         f"{messages.dtype} {messages.shape} into {out.dtype} {out.shape}")
    _decode_kernel(messages, pixel_offset, encoding, pixel_bytes // 2, out)
    return out
