"""``.mib`` frame files and their ``.hdr`` acquisition headers, as the Merlin software writes them.

A ``.mib`` file is ``[MQ1 header | pixels]`` repeated, with no MPX prefix (manual §11.1), so its size
is ``n_frames x (data_offset + pixel_bytes)``. The ``.hdr`` file next to it (same stem) holds the
2048-byte HDR block. Frames are stored in the detector's row order (no y flip).
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

import numpy as np

from .encodings import FrameFormat, decode_pixels_into, encode_pixels
from .errors import MerlinProtocolError
from .headers import (AcquisitionHeader, FrameHeader, format_acquisition_header, format_frame_header,
                      make_acquisition_header, parse_acquisition_header, parse_frame_header)


def frame_header_for(fmt: FrameFormat, sequence: int, exposure_s: float,
                     when: datetime.datetime | None = None, thresholds_keV: tuple[float, ...] = ()) -> FrameHeader:
    """The MQ1 header a Merlin writes for frame ``sequence`` (1-based) in format ``fmt``."""
    when = when or datetime.datetime.now()
    height, width = fmt.header_shape
    return FrameHeader(sequence=sequence, n_chips=fmt.n_chips, width=width, height=height,
                       pixel_type=fmt.pixel_type, layout=fmt.layout, counter_depth=fmt.counter_depth,
                       shutter_s=exposure_s, chip_select=(1 << fmt.n_chips) - 1,
                       timestamp=when.strftime("%Y-%m-%d %H:%M:%S.%f"), thresholds_keV=thresholds_keV)


class MibWriter:
    """Append frames to a ``.mib`` file (and write its ``.hdr``).

    Parameters
    ----------
    path : str or Path
        ``.mib`` file to create; the ``.hdr`` goes next to it with the same stem.
    fmt : FrameFormat
    exposure_s : float
        Shutter time written into every MQ1 header, seconds.
    acquisition_header : AcquisitionHeader, optional
        HDR to write; ``None`` writes a default one when the writer closes (with the final frame count).
    """

    def __init__(self, path: str | os.PathLike, fmt: FrameFormat, exposure_s: float = 0.001,
                 acquisition_header: AcquisitionHeader | None = None) -> None:
        self.path = Path(path)
        self.fmt, self.exposure_s = fmt, exposure_s
        self.acquisition_header = acquisition_header
        self.n_frames = 0
        self._file = open(self.path, "wb")

    def append(self, image: np.ndarray, sequence: int | None = None) -> None:
        """Write one assembled image of counts (``fmt.image_shape``)."""
        self.n_frames += 1
        header = frame_header_for(self.fmt, sequence or self.n_frames, self.exposure_s)
        self._file.write(format_frame_header(header))
        self._file.write(encode_pixels(image, self.fmt))

    def append_encoded(self, header_and_pixels: bytes | memoryview) -> None:
        """Write one frame already encoded as MQ1 header + pixels (what the data channel carries)."""
        self.n_frames += 1
        self._file.write(header_and_pixels)

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        header = self.acquisition_header or make_acquisition_header(
            counter_depth=self.fmt.counter_depth, layout=self.fmt.layout, n_chips=self.fmt.n_chips,
            frames_in_acquisition=self.n_frames, frames_per_trigger=self.n_frames)
        self.path.with_suffix(".hdr").write_bytes(format_acquisition_header(header))

    def __enter__(self) -> "MibWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_mib(path: str | os.PathLike, frames: np.ndarray, fmt: FrameFormat, exposure_s: float = 0.001,
              acquisition_header: AcquisitionHeader | None = None) -> Path:
    """Write (n, rows, cols) counts as ``path`` (.mib) plus its ``.hdr``; returns the .mib path.

    Examples
    --------
    >>> import tempfile
    >>> path = write_mib(Path(tempfile.mkdtemp()) / "a.mib", np.zeros((3, 256, 1024), np.uint16), FrameFormat(12))
    >>> open_mib(path).n_frames, path.with_suffix(".hdr").stat().st_size
    (3, 2048)
    """
    with MibWriter(path, fmt, exposure_s, acquisition_header) as writer:
        for image in frames:
            writer.append(image)
    return writer.path


@dataclasses.dataclass
class MibFile:
    """A ``.mib`` file opened for reading (memory-mapped; frames decoded on request).

    Attributes
    ----------
    path : Path
    first_header : FrameHeader
    frame_format : FrameFormat
    n_frames : int
    acquisition_header : AcquisitionHeader or None
        From the ``.hdr`` next to the file, when present.
    """

    path: Path
    first_header: FrameHeader
    frame_format: FrameFormat
    n_frames: int
    acquisition_header: AcquisitionHeader | None
    _records: np.ndarray

    @property
    def frame_bytes(self) -> int:
        return self._records.shape[1]

    def frame_header(self, index: int) -> FrameHeader:
        return parse_frame_header(self._records[index, :self.first_header.data_offset].tobytes())

    def read(self, start: int = 0, stop: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Decode frames ``start:stop`` into ``out`` (preallocated (k, rows, cols)) or a new array."""
        stop = self.n_frames if stop is None else stop
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"frames {start}:{stop} outside 0:{self.n_frames}")
        fmt = self.frame_format
        if out is None:
            out = np.empty((stop - start, *fmt.image_shape), fmt.count_dtype)
        offset = self.first_header.data_offset
        for k, index in enumerate(range(start, stop)):
            record = self._records[index]
            if record[:4].tobytes() != b"MQ1,":
                raise MerlinProtocolError(f"{self.path}: frame {index} does not start with 'MQ1,'")
            decode_pixels_into(record[offset:], fmt, out[k])
        return out


def open_mib(path: str | os.PathLike) -> MibFile:
    """Open a ``.mib`` file: parse the first MQ1 header, check the size, memory-map the frames.

    Raises
    ------
    MerlinProtocolError
        The file is empty, its first header is invalid, or its size is not a whole number of frames.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4096)
    if len(head) < 16:
        raise MerlinProtocolError(f"{path}: {size} bytes is too short for an MQ1 header")
    header = parse_frame_header(head)
    hdr_path = path.with_suffix(".hdr")
    acquisition_header = parse_acquisition_header(hdr_path.read_bytes()) if hdr_path.exists() else None
    depth = acquisition_header.counter_depth if acquisition_header else None
    fmt = FrameFormat.from_header(header, depth)
    frame_bytes = header.data_offset + fmt.pixel_bytes
    if size % frame_bytes:
        raise MerlinProtocolError(f"{path}: size {size} is not a multiple of the frame size {frame_bytes}")
    records = np.memmap(path, dtype=np.uint8, mode="r", shape=(size // frame_bytes, frame_bytes))
    return MibFile(path, header, fmt, size // frame_bytes, acquisition_header, records)


def read_mib(path: str | os.PathLike) -> tuple[np.ndarray, MibFile]:
    """Read every frame of a ``.mib`` file; returns (frames, the opened :class:`MibFile`)."""
    mib = open_mib(path)
    return mib.read(), mib
