"""Data-channel client (TCP 6342): HDR, then MQ1 frames decoded into preallocated buffers.

The receiver learns the message size from the first frame and then reads batches of frames into one
reusable ``(batch, row_bytes)`` buffer with ``recv_into`` (no per-frame allocation). Each message is
placed so that its pixels start on a 64-byte boundary: fused kernels then read 16-bit pixels as
aligned words straight from the socket buffer. Every message is checked (same MPX prefix, ``MQ1`` magic,
numeric sequence number) and its frame is stored at index ``sequence - 1``, so a dropped frame leaves
a hole that ``received`` shows. Errors carry everything received so far in ``error.partial``.
"""
from __future__ import annotations

import dataclasses
import socket
import time
from typing import Callable

import numpy as np

from .encodings import FrameFormat, decode_pixels_into
from .errors import MERLIN_WIRE_ERRORS, MerlinConnectionLost, MerlinError, MerlinFrameTooLarge, MerlinHeaderError, MerlinProtocolError
from .framing import DEFAULT_MAX_BODY_BYTES, PREFIX_BYTES, parse_prefix
from .headers import AcquisitionHeader, FrameHeader, parse_acquisition_header, parse_frame_header
from detectors.common.transport import Deadline, peer_closed, recv_exact, recv_exact_into

DEFAULT_DATA_PORT = 6342
_SEQ = slice(PREFIX_BYTES + 4, PREFIX_BYTES + 10)   # "MQ1," then 6 digits


@dataclasses.dataclass
class FrameBatch:
    """Consecutive frame messages as received, for fused decode-and-reduce kernels.

    Attributes
    ----------
    messages : numpy.ndarray
        (k, row_bytes) uint8, each row ``padding | MPX prefix | MQ1 header | pixels | padding``; valid only
        during the callback (the buffer is reused).
    pixel_offset : int
        Byte offset of the pixels in each row; a multiple of 64, and rows are 64-byte aligned, so kernels
        may view the pixels as native words.
    message_offset : int
        Byte offset of the MPX prefix in each row.
    sequence_numbers : numpy.ndarray
        (k,) int64 MQ1 sequence numbers (1 = first frame of the acquisition).
    frame_format : FrameFormat
    """

    messages: np.ndarray
    pixel_offset: int
    sequence_numbers: np.ndarray
    frame_format: FrameFormat
    message_offset: int = 0


@dataclasses.dataclass
class AcquisitionResult:
    """What an acquisition delivered, complete or not.

    Attributes
    ----------
    n_frames : int
        Frames the acquisition should contain.
    frames : numpy.ndarray or None
        (n_frames, rows, cols) counts, frame ``i`` = sequence number ``i + 1`` (None if not stored).
    received : numpy.ndarray
        (n_frames,) bool, which frames arrived.
    out_of_order : int
        Frames that arrived after a higher sequence number.
    duplicates : int
        Frames whose sequence number had already arrived (the later copy wins).
    """

    n_frames: int
    frames: np.ndarray | None = None
    received: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))
    acquisition_header: AcquisitionHeader | None = None
    first_frame_header: FrameHeader | None = None
    frame_format: FrameFormat | None = None
    n_received: int = 0
    highest_sequence: int = 0
    out_of_order: int = 0
    duplicates: int = 0

    @property
    def dropped(self) -> int:
        """Sequence numbers below the highest one seen that never arrived."""
        return int(self.highest_sequence - np.count_nonzero(self.received[:self.highest_sequence]))

    @property
    def complete(self) -> bool:
        return self.n_frames > 0 and bool(self.received.all())

    def received_frames(self) -> np.ndarray:
        """The frames that arrived, in sequence order (a copy)."""
        if self.frames is None:
            raise ValueError("frames were not stored (store_frames=False)")
        return self.frames[self.received]


class MerlinDataClient:
    """Client of the Merlin data port.

    Parameters
    ----------
    host, port : str, int
        Data server (6342 on a real Merlin).
    idle_timeout_s : float
        Longest silence tolerated in the middle of an acquisition, seconds.
    max_body_bytes : int
        Largest MPX message accepted; larger length fields are rejected before allocating.
    max_store_bytes : int
        Largest frame store :meth:`receive` allocates (guards against absurd frame counts).
    batch_frames : int
        Frames read per ``recv_into`` batch.
    message_timeout_s : float, optional
        Longest time for one whole message (HDR or frame), counted from the end of the previous one,
        seconds; default ``idle_timeout_s``. This is the default overall deadline of :meth:`receive`:
        a server trickling one byte per idle period is cut off after one message time, and ``n`` frames
        take at most ``(n + 1) * message_timeout_s`` whatever ``total_timeout_s`` says.

    Notes
    -----
    Keep one client connected across acquisitions: Merlin sends the HDR right after STARTACQUISITION.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_DATA_PORT, idle_timeout_s: float = 5.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_store_bytes: int = 8 << 30,
                 batch_frames: int = 32, message_timeout_s: float | None = None) -> None:
        self.host, self.port = host, port
        self.message_timeout_s = idle_timeout_s if message_timeout_s is None else message_timeout_s
        if not self.message_timeout_s > 0:
            raise ValueError(f"message_timeout_s must be > 0 s, got {message_timeout_s!r}")
        self.idle_timeout_s, self.max_body_bytes, self.max_store_bytes = idle_timeout_s, max_body_bytes, max_store_bytes
        self.batch_frames = max(1, int(batch_frames))
        self._sock: socket.socket | None = None
        self._batch: np.ndarray | None = None

    @property
    def device(self) -> str:
        """``"Merlin at host:port"`` (the data port): names the detector in this client's errors."""
        return f"Merlin at {self.host}:{self.port}"

    def connect(self) -> "MerlinDataClient":
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=self.idle_timeout_s)
            except OSError as exc:
                raise MerlinConnectionLost(f"cannot connect to Merlin data {self.host}:{self.port}: {exc}",
                                           device=self.device) from exc
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "MerlinDataClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drain(self, quiet_s: float = 0.2, max_bytes: int = 1 << 32, max_s: float | None = None) -> int:
        """Discard whatever the detector still sends (e.g. after STOPACQUISITION) until ``quiet_s`` of silence.

        Returns
        -------
        int
            Bytes discarded. Reading stops early after ``max_bytes`` or ``max_s`` seconds (default
            ``idle_timeout_s``); the stream is then still running, so the connection is closed (the
            next :meth:`receive` reconnects and starts in step).
        """
        if self._sock is None:
            return 0
        scratch = bytearray(1 << 20)
        discarded = 0
        end = time.monotonic() + (self.idle_timeout_s if max_s is None else max_s)
        self._sock.settimeout(quiet_s)
        while True:
            if discarded >= max_bytes or time.monotonic() >= end:
                self.close()
                break
            try:
                n = self._sock.recv_into(scratch)
            except (socket.timeout, BlockingIOError):
                break
            except OSError:
                self.close()
                break
            if n == 0:
                self.close()
                break
            discarded += n
        return discarded

    def _read_message(self, deadline: Deadline, what: str) -> tuple[bytes, bytearray]:
        assert self._sock is not None
        part = deadline.within(self.message_timeout_s)
        prefix = bytes(recv_exact(self._sock, PREFIX_BYTES, part, what))
        length = parse_prefix(prefix, self.max_body_bytes)
        return prefix, recv_exact(self._sock, length, part, what)

    def receive(self, n_frames: int | None = None, *, store_frames: bool = True, out: np.ndarray | None = None,
                on_batch: Callable[[FrameBatch], None] | None = None,
                total_timeout_s: float | None = None) -> AcquisitionResult:
        """Receive one acquisition: an optional HDR, then MQ1 frames up to ``n_frames``.

        Parameters
        ----------
        n_frames : int, optional
            Frames to expect; default ``Frames in Acquisition`` from the HDR (required when the HDR says 0).
        store_frames : bool
            Decode every frame into ``out`` (or a new array). False with ``on_batch`` for pure streaming.
        out : numpy.ndarray, optional
            Preallocated (n_frames, rows, cols) unsigned array for the decoded counts.
        on_batch : callable, optional
            Called with each validated :class:`FrameBatch` (e.g. to run a fused correct-and-bin kernel).
        total_timeout_s : float, optional
            Overall limit for the whole acquisition, seconds, on top of the idle timeout.

        Returns
        -------
        AcquisitionResult

        Raises
        ------
        MerlinTimeout, MerlinConnectionLost, MerlinProtocolError (and subclasses)
            With ``error.partial`` = the :class:`AcquisitionResult` so far.
        """
        if self._sock is not None and peer_closed(self._sock):
            self.close()   # e.g. closed by the server's idle timeout between acquisitions: take a fresh one
        self.connect()
        deadline = Deadline(self.idle_timeout_s, total_timeout_s, errors=MERLIN_WIRE_ERRORS)
        result = AcquisitionResult(n_frames=n_frames or 0)
        try:
            self._receive(result, n_frames, store_frames, out, on_batch, deadline)
        except MerlinError as error:
            error.partial = result
            if not error.device_named:
                error.device = self.device
            if isinstance(error, (MerlinProtocolError, MerlinConnectionLost)) or getattr(error, "bytes_received", 0):
                self.close()   # the stream is out of step; a fresh connection resynchronises
            raise
        return result

    def _receive(self, result: AcquisitionResult, n_frames: int | None, store_frames: bool, out: np.ndarray | None,
                 on_batch: Callable[[FrameBatch], None] | None, deadline: Deadline) -> None:
        try:
            prefix, body = self._read_message(deadline, "waiting for the acquisition header or first frame")
        except MerlinConnectionLost as exc:
            if getattr(exc, "bytes_received", 1) == 0:
                exc.args = (f"{exc} (a Merlin data port serves one client: is another one connected?)",)
            raise
        if body[:4] == b"ERR,":   # our simulator's refusal (e.g. the data channel is already taken)
            raise MerlinConnectionLost(f"Merlin data port {self.host}:{self.port} refused the connection: "
                                       f"{bytes(body[4:200]).decode('ascii', 'replace')}")
        if body[:3] == b"HDR":
            result.acquisition_header = parse_acquisition_header(body)
            if n_frames is None:
                n_frames = result.acquisition_header.frames_in_acquisition
            prefix, body = self._read_message(deadline, "waiting for the first frame")
        if body[:4] != b"MQ1,":
            raise MerlinHeaderError(f"expected an HDR or MQ1 message, got one starting {bytes(body[:24])!r}")
        if not n_frames:
            raise MerlinProtocolError(f"number of frames unknown or 0 ({n_frames!r}): pass n_frames for "
                                      "continuous acquisitions or streams without HDR")
        if n_frames > self.max_store_bytes:
            raise MerlinFrameTooLarge(f"{n_frames} frames exceed the bookkeeping limit max_store_bytes="
                                      f"{self.max_store_bytes}")
        header = parse_frame_header(body)
        depth = result.acquisition_header.counter_depth if result.acquisition_header else None
        fmt = FrameFormat.from_header(header, depth)
        if len(body) != header.data_offset + fmt.pixel_bytes:
            raise MerlinProtocolError(f"first frame has {len(body)} body bytes, expected header {header.data_offset} "
                                      f"+ {fmt.pixel_bytes} pixel bytes for {fmt}")
        result.first_frame_header, result.frame_format = header, fmt
        result.n_frames = n_frames
        if store_frames:
            shape = (n_frames, *fmt.image_shape)
            if out is None:
                store_bytes = int(np.prod(shape, dtype=np.int64)) * fmt.count_dtype.itemsize
                if store_bytes > self.max_store_bytes:
                    raise MerlinFrameTooLarge(f"storing {n_frames} frames of {fmt.image_shape} needs {store_bytes} "
                                              f"bytes, more than max_store_bytes={self.max_store_bytes}")
                out = np.zeros(shape, fmt.count_dtype)
            elif out.shape != shape or out.dtype.kind != "u" or out.dtype.itemsize < fmt.count_dtype.itemsize:
                raise ValueError(f"out must be unsigned {shape} holding {fmt.count_dtype}, got {out.dtype} {out.shape}")
            result.frames = out
        result.received = np.zeros(n_frames, bool)
        message_bytes = PREFIX_BYTES + len(body)
        pad = -(PREFIX_BYTES + header.data_offset) % 64
        row_bytes = -(-(pad + message_bytes) // 64) * 64
        batch_rows = min(self.batch_frames, n_frames)
        batch = self._batch_buffer(batch_rows, row_bytes)
        batch[0, pad:pad + PREFIX_BYTES] = np.frombuffer(prefix, np.uint8)
        batch[0, pad + PREFIX_BYTES:pad + message_bytes] = np.frombuffer(body, np.uint8)
        self._process(batch[:1], pad, prefix, header.data_offset, result, on_batch)
        assert self._sock is not None
        while result.highest_sequence < n_frames:
            k = min(batch_rows, n_frames - result.highest_sequence)
            for j in range(k):
                try:
                    recv_exact_into(self._sock, memoryview(batch[j, pad:pad + message_bytes]),
                                    deadline.within(self.message_timeout_s),
                                    f"receiving frame {result.highest_sequence + j + 1}")
                except MerlinError:
                    self._process(batch[:j], pad, prefix, header.data_offset, result, on_batch)
                    raise
            self._process(batch[:k], pad, prefix, header.data_offset, result, on_batch)

    def _batch_buffer(self, rows: int, row_bytes: int) -> np.ndarray:
        """Reusable (rows, row_bytes) buffer whose first byte is 64-byte aligned."""
        if self._batch is None or self._batch.shape != (rows, row_bytes):
            storage = np.empty(rows * row_bytes + 64, np.uint8)
            start = -storage.ctypes.data % 64
            self._batch = storage[start:start + rows * row_bytes].reshape(rows, row_bytes)
        return self._batch

    def _process(self, messages: np.ndarray, pad: int, prefix: bytes, data_offset: int, result: AcquisitionResult,
                 on_batch: Callable[[FrameBatch], None] | None) -> None:
        fmt = result.frame_format
        assert fmt is not None
        sequences = np.zeros(len(messages), np.int64)
        pixel_offset = pad + PREFIX_BYTES + data_offset
        error: MerlinError | None = None
        valid = 0
        for j in range(len(messages)):
            row = messages[j, pad:]
            try:
                sequence = self._check_message(row, prefix, result)
            except MerlinError as exc:
                error = exc
                break
            if result.received[sequence - 1]:
                result.duplicates += 1
            if sequence < result.highest_sequence:
                result.out_of_order += 1
            result.highest_sequence = max(result.highest_sequence, sequence)
            result.received[sequence - 1] = True
            result.n_received += 1
            if result.frames is not None:
                pixels = messages[j, pixel_offset:pixel_offset + fmt.pixel_bytes]
                decode_pixels_into(pixels, fmt, result.frames[sequence - 1])
            sequences[j] = sequence
            valid = j + 1
        if on_batch is not None and valid:
            on_batch(FrameBatch(messages[:valid], pixel_offset, sequences[:valid], fmt, pad))
        if error is not None:
            raise error

    def _check_message(self, row: np.ndarray, prefix: bytes, result: AcquisitionResult) -> int:
        head = row[:PREFIX_BYTES + 10].tobytes()
        where = f"frame message {result.n_received + 1}"
        if head[:PREFIX_BYTES] != prefix:
            if head[PREFIX_BYTES:PREFIX_BYTES + 3] == b"HDR":
                raise MerlinProtocolError(f"{where}: a new acquisition header arrived after {result.n_received} "
                                          "frames (acquisition restarted or aborted)")
            length = parse_prefix(head[:PREFIX_BYTES], self.max_body_bytes)
            raise MerlinProtocolError(f"{where}: MPX length {length + 1} differs from the first frame's "
                                      f"{int(prefix[4:14])} (prefix {head[:PREFIX_BYTES]!r})")
        if head[PREFIX_BYTES:PREFIX_BYTES + 4] != b"MQ1,":
            raise MerlinHeaderError(f"{where}: expected 'MQ1,' header, got {head[PREFIX_BYTES:PREFIX_BYTES + 4]!r}")
        digits = head[_SEQ]
        if not digits.isdigit():
            raise MerlinHeaderError(f"{where}: MQ1 sequence number is not numeric: {digits!r}")
        sequence = int(digits)
        if not 1 <= sequence <= result.n_frames:
            raise MerlinProtocolError(f"{where}: MQ1 sequence number {sequence} outside 1..{result.n_frames}")
        return sequence
