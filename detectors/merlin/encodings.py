"""Pixel encodings of Merlin frames: binary U08/U16/U32 (big-endian) and raw R64.

Conventions
-----------
* An *image* is the assembled frame, shape ``(rows, cols)``: 256 x 256 (``1x1``), 512 x 512 (``2x2``),
  514 x 514 (``2x2G``, 2 zero gap pixels between the quadrants) and 256 x (256 N) (``Nx1``; the EELS
  camera is ``Nx1`` with N = 4, i.e. 256 rows x 1024 columns).
* Binary (FILEFORMAT 0): the image row-major, big-endian. ``U08`` serves depths 1 and 6, ``U16`` 12,
  ``U32`` 24. The detector has already assembled the layout.
* Raw (FILEFORMAT 2, ``R64``): big-endian 64-bit words, pixels LSB first: 64 pixels of 1 bit,
  8 pixels of 6 bit (one byte each) or 4 pixels of 12 bit per word. 24-bit raw is two 12-bit raw blocks
  in one message, the first with the high 12 bits (as LiberTEM's ``decode_r24_swap`` documents); its MQ1
  header announces twice the raw width. The 6-, 12- and 24-bit raw quad (``2x2``) encodings written
  here are cross-checked against LiberTEM's MIB reader in the tests.
  Raw pixels come in *raw order*: 256 rows of ``256 x chips`` pixels (the MQ1 header says so:
  ``1024,0256,R64,   2x2``).

  - ``2x2``/``2x2G``: each raw row is ``[Q4|Q3|Q2|Q1]`` chip rows; Q1 (top left) and Q2 (top right)
    are copied in row order, Q3 (bottom left) and Q4 (bottom right) are rotated by 180 degrees.
  - ``Nx1`` **assumption (unverified, no real raw Nx1 data exists to check)**: each raw row is the
    chip rows in chip order ``[C1|C2|...|CN]`` without flips, i.e. raw order equals the image.
    :data:`RAW_NX1_CHIP_ORDER` is the single place to change when real data shows otherwise.
  - ``1x1``: raw order equals the image.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from analysis.kernels import ENCODING_R1, ENCODING_R6, ENCODING_R12, ENCODING_R24, decode_encoded

from .errors import MerlinUnsupportedFormat
from .headers import COUNTER_DEPTHS, FrameHeader

CHIP_PIXELS = 256
#: gap pixels between chips in ``G`` layouts (real 2x2G data is 514 x 514)
GAP_PIXELS = 2
#: raw Nx1 chip order (index into the raw row's 256-pixel segments for image chip 0, 1, ...); see module notes
RAW_NX1_CHIP_ORDER: tuple[int, ...] | None = None  # None = identity for any N
_BINARY_TYPE_FOR_DEPTH = {1: "U08", 6: "U08", 12: "U16", 24: "U32"}
_BINARY_DTYPES = {"U08": np.dtype(">u1"), "U16": np.dtype(">u2"), "U32": np.dtype(">u4")}
_RAW_KERNEL_ENCODING = {1: ENCODING_R1, 6: ENCODING_R6, 12: ENCODING_R12, 24: ENCODING_R24}


@dataclasses.dataclass(frozen=True)
class FrameFormat:
    """How one frame is encoded: counter depth, raw or binary, chip layout.

    Parameters
    ----------
    counter_depth : int
        1, 6, 12 or 24 bit.
    raw : bool
        ``True`` for FILEFORMAT 2 (``R64``), ``False`` for binary ``U08/U16/U32``.
    layout : str
        ``"1x1"``, ``"2x2"``, ``"2x2G"`` or ``"Nx1"``.
    n_chips : int
        Chips in the assembly (1 for ``1x1``, 4 for ``2x2`` and the EELS ``Nx1``).
    """

    counter_depth: int = 12
    raw: bool = False
    layout: str = "Nx1"
    n_chips: int = 4

    def __post_init__(self) -> None:
        if self.counter_depth not in COUNTER_DEPTHS:
            raise MerlinUnsupportedFormat(f"counter depth {self.counter_depth} not one of {COUNTER_DEPTHS}")
        expected = {"1x1": (1,), "2x2": (4,), "2x2G": (4,)}.get(self.layout)
        if self.layout not in ("1x1", "2x2", "2x2G", "Nx1"):
            raise MerlinUnsupportedFormat(f"chip layout {self.layout!r} not supported (1x1, 2x2, 2x2G, Nx1)")
        if (expected and self.n_chips not in expected) or not 1 <= self.n_chips <= 16:
            raise MerlinUnsupportedFormat(f"{self.n_chips} chips do not fit layout {self.layout!r}")

    @property
    def pixel_type(self) -> str:
        return "R64" if self.raw else _BINARY_TYPE_FOR_DEPTH[self.counter_depth]

    @property
    def image_shape(self) -> tuple[int, int]:
        """Assembled (rows, cols)."""
        if self.layout == "1x1":
            return (CHIP_PIXELS, CHIP_PIXELS)
        if self.layout == "2x2":
            return (2 * CHIP_PIXELS, 2 * CHIP_PIXELS)
        if self.layout == "2x2G":
            return (2 * CHIP_PIXELS + GAP_PIXELS, 2 * CHIP_PIXELS + GAP_PIXELS)
        return (CHIP_PIXELS, CHIP_PIXELS * self.n_chips)

    @property
    def header_shape(self) -> tuple[int, int]:
        """(height, width) written in the MQ1 header: raw order for R64, the image otherwise.

        24-bit raw frames carry two 12-bit blocks and announce twice the width (as LiberTEM reads them).
        """
        if self.raw:
            return (CHIP_PIXELS, CHIP_PIXELS * self.n_chips * (2 if self.counter_depth == 24 else 1))
        return self.image_shape

    @property
    def max_count(self) -> int:
        return (1 << self.counter_depth) - 1

    @property
    def pixel_bytes(self) -> int:
        """Bytes of pixel data in one frame message."""
        rows, cols = self.image_shape if not self.raw else (CHIP_PIXELS, CHIP_PIXELS * self.n_chips)
        n = rows * cols
        if not self.raw:
            return n * _BINARY_DTYPES[self.pixel_type].itemsize
        return {1: n // 8, 6: n, 12: 2 * n, 24: 4 * n}[self.counter_depth]

    @property
    def count_dtype(self) -> np.dtype:
        """Smallest native dtype holding decoded counts."""
        return np.dtype({1: np.uint8, 6: np.uint8, 12: np.uint16, 24: np.uint32}[self.counter_depth])

    @classmethod
    def from_header(cls, header: FrameHeader, counter_depth: int | None = None) -> "FrameFormat":
        """Derive the format from an MQ1 header (depth from MQ1A, else ``counter_depth``, else the type)."""
        depth = header.counter_depth or counter_depth
        raw = header.pixel_type == "R64"
        if depth is None:
            if raw:
                raise MerlinUnsupportedFormat("raw R64 frame without MQ1A counter depth cannot be decoded")
            depth = {"U08": 6, "U16": 12, "U32": 24}.get(header.pixel_type)
            if depth is None:
                raise MerlinUnsupportedFormat(f"pixel type {header.pixel_type!r} not supported")
        fmt = cls(counter_depth=depth, raw=raw, layout=header.layout, n_chips=header.n_chips)
        if not raw and fmt.pixel_type != header.pixel_type:
            raise MerlinUnsupportedFormat(
                f"pixel type {header.pixel_type!r} does not match counter depth {depth} (expected {fmt.pixel_type})")
        if (header.height, header.width) != fmt.header_shape:
            raise MerlinUnsupportedFormat(
                f"MQ1 size {header.width} x {header.height} does not match layout {header.layout!r} "
                f"with {header.n_chips} chips (expected {fmt.header_shape[1]} x {fmt.header_shape[0]})")
        return fmt


def _raw_segments(fmt: FrameFormat) -> list[tuple[slice, slice, int, slice]]:
    """(image rows, image cols, flip, raw cols) for each chip of a raw frame."""
    c = CHIP_PIXELS
    if fmt.layout == "1x1":
        return [(slice(0, c), slice(0, c), 0, slice(0, c))]
    if fmt.layout == "Nx1":
        order = RAW_NX1_CHIP_ORDER or tuple(range(fmt.n_chips))
        return [(slice(0, c), slice(i * c, (i + 1) * c), 0, slice(order[i] * c, (order[i] + 1) * c))
                for i in range(fmt.n_chips)]
    g = GAP_PIXELS if fmt.layout == "2x2G" else 0
    lo, hi = slice(0, c), slice(c + g, 2 * c + g)
    return [(lo, lo, 0, slice(3 * c, 4 * c)), (lo, hi, 0, slice(2 * c, 3 * c)),
            (hi, lo, 1, slice(c, 2 * c)), (hi, hi, 1, slice(0, c))]


def raw_order_to_image(raw_pixels: np.ndarray, fmt: FrameFormat, out: np.ndarray) -> None:
    """Scatter raw-order pixels ``(256, 256 N)`` into the assembled image ``out`` (gaps set to 0)."""
    if fmt.layout == "2x2G":
        out[...] = 0
    for rows, cols, flip, raw_cols in _raw_segments(fmt):
        block = raw_pixels[:, raw_cols]
        out[rows, cols] = block[::-1, ::-1] if flip else block


def image_to_raw_order(image: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    """Inverse of :func:`raw_order_to_image` (gap pixels are dropped)."""
    raw = np.empty((CHIP_PIXELS, CHIP_PIXELS * fmt.n_chips), dtype=image.dtype)
    for rows, cols, flip, raw_cols in _raw_segments(fmt):
        block = image[rows, cols]
        raw[:, raw_cols] = block[::-1, ::-1] if flip else block
    return raw


def _pack_r12(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values.astype(">u2").reshape(-1, 4)[:, ::-1]).tobytes()


def encode_pixels(image: np.ndarray, fmt: FrameFormat) -> bytes:
    """Encode one assembled image of counts as the pixel bytes of an MQ1 message.

    Parameters
    ----------
    image : numpy.ndarray
        ``fmt.image_shape`` counts (any integer dtype); values must fit ``fmt.counter_depth``.
    fmt : FrameFormat

    Returns
    -------
    bytes
        ``fmt.pixel_bytes`` bytes.
    """
    if image.shape != fmt.image_shape:
        raise MerlinUnsupportedFormat(f"image shape {image.shape} does not match {fmt.image_shape} for {fmt}")
    if not fmt.raw:
        return np.ascontiguousarray(image, dtype=_BINARY_DTYPES[fmt.pixel_type]).tobytes()
    raw = image_to_raw_order(image, fmt).reshape(-1).astype(np.uint32)
    if fmt.counter_depth == 1:
        bits = (raw & 1).astype(np.uint8).reshape(-1, 64)
        return np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little")[:, ::-1]).tobytes()
    if fmt.counter_depth == 6:
        return np.ascontiguousarray(raw.astype(np.uint8).reshape(-1, 8)[:, ::-1]).tobytes()
    if fmt.counter_depth == 12:
        return _pack_r12(raw)
    return _pack_r12(raw >> 12) + _pack_r12(raw & 0xFFF)


def _unpack_r12(data: np.ndarray) -> np.ndarray:
    return data.view(">u2").reshape(-1, 4)[:, ::-1].reshape(-1)


def decode_pixels_into(data: bytes | bytearray | memoryview | np.ndarray, fmt: FrameFormat, out: np.ndarray) -> None:
    """Decode one message's pixel bytes into the preallocated image ``out``.

    Parameters
    ----------
    data : bytes-like
        Exactly ``fmt.pixel_bytes`` bytes.
    fmt : FrameFormat
    out : numpy.ndarray
        ``fmt.image_shape`` array of an unsigned dtype wide enough for ``fmt.counter_depth``.
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    if buf.size != fmt.pixel_bytes:
        raise MerlinUnsupportedFormat(f"frame has {buf.size} pixel bytes, {fmt} needs {fmt.pixel_bytes}")
    if out.shape != fmt.image_shape:
        raise MerlinUnsupportedFormat(f"output shape {out.shape} does not match {fmt.image_shape}")
    if not fmt.raw:
        out[...] = buf.view(_BINARY_DTYPES[fmt.pixel_type]).reshape(fmt.image_shape)
        return
    direct = fmt.layout in ("1x1", "Nx1") and RAW_NX1_CHIP_ORDER is None
    if direct and out.dtype.kind == "u" and out.flags.c_contiguous:
        # raw order is the image: decode word by word straight into ``out`` (numba, no temporaries)
        decode_encoded(buf.reshape(1, -1), 0, _RAW_KERNEL_ENCODING[fmt.counter_depth], out.reshape(1, *out.shape))
        return
    shape = (CHIP_PIXELS, CHIP_PIXELS * fmt.n_chips)
    if fmt.counter_depth == 1:
        words = buf.reshape(-1, 8)[:, ::-1]
        raw = np.unpackbits(words, axis=1, bitorder="little").reshape(shape)
    elif fmt.counter_depth == 6:
        raw = buf.reshape(-1, 8)[:, ::-1].reshape(shape)
    elif fmt.counter_depth == 12:
        raw = _unpack_r12(buf).reshape(shape)
    else:
        half = buf.size // 2
        raw = ((_unpack_r12(buf[:half]).astype(np.uint32) << 12) | _unpack_r12(buf[half:])).reshape(shape)
    raw_order_to_image(raw, fmt, out)
