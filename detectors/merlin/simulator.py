"""A simulated Merlin: TCP servers speaking the real control (6341) and data (6342) protocols.

The client code under test is the real client; only the far end is simulated. Frames come from an
injected ``frame_source(n_frames, exposure_s) -> (n, rows, cols)`` (default: :class:`SyntheticEelsSource`),
are clipped to the counter depth and encoded exactly as a Merlin sends them (binary or raw). Faults can
be injected for tests (:class:`SimulatorFaults`).

Behaviour modelled (merlin.md §1, §6): response codes 0/1/2/3, busy while acquiring, HDR right after
STARTACQUISITION, TRIGGERSTART 0 streams at once while any other start trigger waits for SOFTTRIGGER
(each releases NUMFRAMESPERTRIGGER frames; the simulator has no hardware trigger inputs),
NUMFRAMESTOACQUIRE 0 runs until STOPACQUISITION, STOPACQUISITION finishes the frame in flight,
frames paced at the frame time, FILEENABLE writes ``.mib``/``.hdr`` files. GET/CMD with an extra dummy
field (LiberTEM-live's ``GET,<NAME>,0``) are accepted.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .encodings import FrameFormat, encode_pixels
from .framing import encode_message, format_prefix
from .frame_sources import FrameSource, SyntheticEelsSource
from .headers import format_acquisition_header, format_frame_header, make_acquisition_header
from .mibfile import MibWriter, frame_header_for
from detectors.common.guarded_server import GuardedTcpServer, ServerLimits

from .settings import COMMANDS, PARAMETERS, DetectorStatus, format_value, parse_value
from .sim_control import (ControlSession, check_file_name, confined_directory, refuse_control,
                          refuse_data_connection, safe_file_path)
from .sim_faults import SimulatorFaults
from detectors.common.transport import peer_closed

_ACCEPT_POLL_S = 0.05
#: listen backlog of both ports: a burst of connections queues instead of waiting for SYN retries
LISTEN_BACKLOG = 128


def _clip_counts(frames: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    if frames.dtype.kind == "f":
        frames = np.rint(frames)
    return np.clip(frames, 0, fmt.max_count).astype(fmt.count_dtype)


class MerlinSimulator:
    """Threaded simulated Merlin on 127.0.0.1; usable as a context manager.

    Parameters
    ----------
    host : str
        Address to bind (loopback by default; the CLI refuses others without ``--allow-remote``).
    control_port, data_port : int
        Ports to bind; 0 picks free ones (read :attr:`control_port` / :attr:`data_port` after start).
    frame_source : callable, optional
        ``frame_source(n_frames, exposure_s) -> (n, rows, cols)`` counts; default ``SyntheticEelsSource(seed)``.
    seed : int
        Seed of the default frame source.
    layout, n_chips : str, int
        Chip assembly (``Nx1`` with 4 chips = 256 x 1024 EELS camera).
    faults : SimulatorFaults, optional
    realtime : bool
        Pace frames at the frame time (False: send as fast as the link allows).
    cache_frames : int
        If > 0, generate and encode only this many distinct frames per acquisition and cycle them
        (sequence numbers keep counting), like LiberTEM-live's cached simulator: for throughput tests.
    record_frames : bool
        Keep the clipped counts of every frame sent in :attr:`recorded_frames` (for exact tests).
    chunk_frames : int
        Frames requested from ``frame_source`` per call.
    file_root : path, optional
        Directory FILEDIRECTORY must lie in (relative values are taken from it); ``None`` allows any
        directory. FILENAME is always a plain name inside FILEDIRECTORY (``../x`` is refused, code 3).
    control_limits : ServerLimits
        Control connections at a time (2, as the manual's Merlin), idle timeout (600 s without a
        request closes a connection; our client reconnects by itself), listen backlog.
    data_idle_timeout_s : float or None
        The data client is disconnected after this long without an acquisition (600 s; ``None`` =
        never), so an idle squatter cannot keep the data port; our client reconnects by itself.
    on_refusal : callable, optional
        Called with the text of every refusal (the CLI prints them); they are also kept in
        :attr:`refusals`.

    Notes
    -----
    The data port serves one client: while it is connected, a second connection is refused with an
    ``ERR,busy: data channel owned by <host>:<port>`` message and closed (it no longer takes the
    stream from the first).
    """

    def __init__(self, host: str = "127.0.0.1", control_port: int = 0, data_port: int = 0,
                 frame_source: FrameSource | None = None, seed: int = 0, layout: str = "Nx1", n_chips: int = 4,
                 faults: SimulatorFaults | None = None, realtime: bool = True, cache_frames: int = 0,
                 record_frames: bool = False, chunk_frames: int = 16, file_root: str | Path | None = None,
                 control_limits: ServerLimits = ServerLimits(max_connections=2), data_idle_timeout_s: float | None = 600.0,
                 on_refusal: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.file_root = None if file_root is None else Path(file_root)
        self.refusals: list[str] = []
        self._on_refusal = on_refusal
        self.frame_source = frame_source or SyntheticEelsSource(seed)
        self.layout, self.n_chips = layout, n_chips
        self.faults = faults or SimulatorFaults()
        self.realtime, self.cache_frames, self.record_frames = realtime, cache_frames, record_frames
        self.chunk_frames = max(1, chunk_frames)
        self.recorded_frames: list[np.ndarray] = []
        self.frames_sent = 0
        self.acquisitions_started = 0
        self.errors: list[BaseException] = []
        self._params = {name: spec.default for name, spec in PARAMETERS.items()}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._stop_acquisition = threading.Event()
        self._trigger = threading.Semaphore(0)
        self._data_conn: socket.socket | None = None
        self._data_peer = ""
        self.data_idle_timeout_s = data_idle_timeout_s
        self._data_since = time.monotonic()   # the data client's latest connection or acquisition
        self._data_ready = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._acquisition: threading.Thread | None = None
        self._control = GuardedTcpServer(lambda peer: ControlSession(self, peer), self._refuse_control, host,
                                         control_port, control_limits, name="merlin-sim-control")
        self._data_sock = self._listen(data_port)
        self._update_image_size()

    # ---- life cycle -------------------------------------------------------------------------------
    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.settimeout(_ACCEPT_POLL_S)
        return sock

    @property
    def control_port(self) -> int:
        return self._control.port

    @property
    def data_port(self) -> int:
        return self._data_sock.getsockname()[1]

    def start(self) -> "MerlinSimulator":
        """Start the accept threads (idempotent)."""
        if not self._threads:
            self._control.start()
            thread = threading.Thread(target=self._serve_data, name="merlin-sim-data", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop acquisitions and servers, close every socket and join the threads."""
        self._stop.set()
        self._stop_acquisition.set()
        self._trigger.release()
        with self._lock:
            if self._data_conn is not None:
                self._close_quietly(self._data_conn)
                self._data_conn = None
        self._control.stop(timeout_s)
        for thread in self._threads + ([self._acquisition] if self._acquisition else []):
            thread.join(timeout_s)
        self._data_sock.close()

    def __enter__(self) -> "MerlinSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _close_quietly(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def get_parameter(self, name: str) -> object:
        with self._lock:
            return self._params[name.upper()]

    def set_parameter(self, name: str, value: object) -> None:
        """Set a variable directly (tests and the CLI); no range check."""
        with self._lock:
            self._params[name.upper()] = value
            self._update_image_size()

    def frame_format(self) -> FrameFormat:
        with self._lock:
            return FrameFormat(int(self._params["COUNTERDEPTH"]), self._params["FILEFORMAT"] == 2,  # type: ignore
                               self.layout, self.n_chips)

    def _update_image_size(self) -> None:
        rows, cols = FrameFormat(12, False, self.layout, self.n_chips).image_shape
        self._params["IMAGEX"], self._params["IMAGEY"] = cols, rows

    # ---- control channel --------------------------------------------------------------------------
    def refuse(self, text: str) -> None:
        """Record a refusal (and tell :attr:`on_refusal`)."""
        self.refusals.append(text)
        if self._on_refusal is not None:
            self._on_refusal(text)

    def _refuse_control(self, reason: str, received: bytes) -> bytes | None:
        reply = refuse_control(reason, received)
        if reply:
            self.refuse(f"control connection: busy: {reason}")
        return reply

    def handle_command(self, body: str) -> str:
        """Execute one control body (``SET,NAME,value`` / ``GET,NAME`` / ``CMD,NAME``); returns the reply body."""
        fields = body.split(",")
        kind = fields[0].strip().upper()
        name = fields[1].strip().upper() if len(fields) > 1 else ""
        echo = f"{fields[0]},{fields[1] if len(fields) > 1 else ''}"
        if kind == "GET" and name in PARAMETERS:
            with self._lock:
                return f"{echo},{format_value(self._params[name])},0"
        if kind == "SET" and name in PARAMETERS and len(fields) >= 3:
            return f"{echo},{self._set(name, ','.join(fields[2:]))}"
        if kind == "CMD" and name in COMMANDS:
            return f"{echo},{self._command(name)}"
        if kind == "GET":
            return f"{echo},,2"
        return f"{echo},2"

    def _set(self, name: str, text: str) -> int:
        spec = PARAMETERS[name]
        if spec.read_only:
            return 2
        try:
            value = parse_value(name, text)
        except ValueError:
            return 3
        if not spec.valid(value):
            return 3
        why = None
        if name == "FILENAME":
            why = check_file_name(str(value))
        elif name == "FILEDIRECTORY":
            why = confined_directory(self.file_root, str(value))[1]
        if why is not None:
            self.refuse(why)
            return 3
        with self._lock:
            if self._params["DETECTORSTATUS"] == DetectorStatus.BUSY:
                return 1
            self._params[name] = value
        return 0

    def _command(self, name: str) -> int:
        with self._lock:
            busy = self._params["DETECTORSTATUS"] == DetectorStatus.BUSY
            if name == "STARTACQUISITION":
                if busy:
                    return 1
                self._params["DETECTORSTATUS"] = DetectorStatus.BUSY
                self._data_since = time.monotonic()
                self._stop_acquisition.clear()
                self._trigger = threading.Semaphore(0)
                params = dict(self._params)
                self.acquisitions_started += 1
                self._acquisition = threading.Thread(target=self._run_acquisition, args=(params,), daemon=True,
                                                     name="merlin-sim-acquisition")
                self._acquisition.start()
            elif name == "SOFTTRIGGER":
                if not busy:
                    return 3
                self._trigger.release()
            elif name in ("STOPACQUISITION", "ABORT"):
                self._stop_acquisition.set()
                self._trigger.release()
            elif name == "RESET":
                if busy:
                    return 1
                self._params.update({n: spec.default for n, spec in PARAMETERS.items()})
                self._update_image_size()
        return 0

    # ---- data channel -----------------------------------------------------------------------------
    def _serve_data(self) -> None:
        while not self._stop.is_set():
            try:
                conn, address = self._data_sock.accept()
            except (socket.timeout, OSError):
                self._close_idle_data_connection()
                continue
            peer = f"{address[0]}:{address[1]}"
            with self._data_ready:
                owner = self._data_conn
                if owner is not None and not peer_closed(owner):
                    text = f"busy: data channel owned by {self._data_peer}"
                    self.refuse(f"{peer}: {text}")
                    refuse_data_connection(conn, text)
                    continue
                if owner is not None:
                    self._close_quietly(owner)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
                # The small MQ1 header and the pixel block go out as two writes: no Nagle delay between them.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._data_conn, self._data_peer, self._data_since = conn, peer, time.monotonic()
                self._data_ready.notify_all()

    def _close_idle_data_connection(self) -> None:
        idle = self.data_idle_timeout_s
        with self._lock:
            conn = self._data_conn
            if (conn is None or idle is None or self._params["DETECTORSTATUS"] == DetectorStatus.BUSY
                    or time.monotonic() - self._data_since < idle):
                return
            self._data_conn = None
        self.refuse(f"{self._data_peer}: data connection idle for {idle} s without an acquisition: closed")
        self._close_quietly(conn)

    def _wait_data_connection(self, timeout_s: float) -> socket.socket | None:
        end = time.monotonic() + timeout_s
        with self._data_ready:
            while not self._stop_acquisition.is_set():
                if self._data_conn is not None and peer_closed(self._data_conn):
                    self._close_quietly(self._data_conn)
                    self._data_conn = None
                if self._data_conn is not None:
                    break
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return None
                self._data_ready.wait(min(remaining, _ACCEPT_POLL_S))
            return self._data_conn

    def _drop_data_connection(self, conn: socket.socket) -> None:
        with self._lock:
            if self._data_conn is conn:
                self._data_conn = None
        self._close_quietly(conn)

    def _send(self, conn: socket.socket, parts: list[bytes | memoryview]) -> None:
        rate = self.faults.link_bytes_per_s
        if rate is None:
            for part in parts:
                conn.sendall(part)
            return
        for part in parts:
            view = memoryview(part).cast("B")
            for start in range(0, len(view), 4096):
                if self._stop_acquisition.is_set():
                    raise ConnectionAbortedError("acquisition stopped while throttled")
                piece = view[start:start + 4096]
                conn.sendall(piece)
                time.sleep(len(piece) / rate)

    def _run_acquisition(self, params: dict[str, object]) -> None:
        try:
            self._acquire(params)
        except OSError:
            pass   # the client went away: a real Merlin carries on, data are lost
        except BaseException as exc:  # noqa: BLE001 - kept for tests, never silently lost
            self.errors.append(exc)
        finally:
            with self._lock:
                self._params["DETECTORSTATUS"] = DetectorStatus.IDLE
                self._data_since = time.monotonic()

    def _acquire(self, params: dict[str, object]) -> None:
        fmt = FrameFormat(int(params["COUNTERDEPTH"]), params["FILEFORMAT"] == 2, self.layout, self.n_chips)
        n_total = int(params["NUMFRAMESTOACQUIRE"])  # type: ignore[arg-type]
        per_trigger = int(params["NUMFRAMESPERTRIGGER"])  # type: ignore[arg-type]
        exposure_s = float(params["ACQUISITIONTIME"]) * 1e-3  # type: ignore[arg-type]
        period_s = exposure_s if params["CONTINUOUSRW"] else max(exposure_s, float(params["ACQUISITIONPERIOD"]) * 1e-3)
        conn = self._wait_data_connection(5.0)
        if conn is None:
            return
        hdr = format_acquisition_header(make_acquisition_header(
            counter_depth=fmt.counter_depth, layout=fmt.layout, n_chips=fmt.n_chips, frames_in_acquisition=n_total,
            frames_per_trigger=per_trigger, trigger_start=int(params["TRIGGERSTART"]),  # type: ignore[arg-type]
            trigger_stop=int(params["TRIGGERSTOP"]), continuous_rw=bool(params["CONTINUOUSRW"]),  # type: ignore
            thresholds_keV=tuple(float(params[f"THRESHOLD{i}"]) for i in range(8))))  # type: ignore[arg-type]
        if self.faults.corrupt_acquisition_header:
            hdr = b"XYZ" + hdr[3:]
        self._send(conn, [encode_message(hdr)])
        writer = self._open_file_writer(params, fmt, exposure_s)
        if self.record_frames:
            self.recorded_frames = []
        try:
            self._stream_frames(conn, fmt, n_total, per_trigger, exposure_s, period_s,
                                wait_trigger=int(params["TRIGGERSTART"]) != 0, writer=writer)  # type: ignore
        finally:
            if writer is not None:
                writer.close()

    def _open_file_writer(self, params: dict[str, object], fmt: FrameFormat, exposure_s: float) -> MibWriter | None:
        if not params["FILEENABLE"]:
            return None
        directory, why = confined_directory(self.file_root, str(params["FILEDIRECTORY"]))
        if directory is None:   # set directly, bypassing SET: still never written outside the root
            raise ValueError(why)
        directory.mkdir(parents=True, exist_ok=True)
        return MibWriter(safe_file_path(directory, str(params["FILENAME"])), fmt, exposure_s)

    def _frame_blocks(self, fmt: FrameFormat, n_total: int, exposure_s: float, released: list[int],
                      cache: list[tuple[np.ndarray, bytes]]):
        """Yield (counts, encoded pixel bytes) per frame, from the source in chunks or from the cache.

        A chunk never reaches past ``released[0]`` (frames triggered so far), so a triggered acquisition
        asks the frame source for a frame only after its trigger: the simulated world is sampled then.
        """
        produced = 0
        while n_total == 0 or produced < n_total:
            if self.cache_frames and len(cache) >= min(self.cache_frames, n_total or self.cache_frames):
                yield cache[produced % len(cache)]
                produced += 1
                continue
            count = min(self.chunk_frames, released[0] - produced)
            if n_total:
                count = min(count, n_total - produced)
            if self.cache_frames:
                count = min(count, self.cache_frames - len(cache))
            for item in self._generate(fmt, count, exposure_s):
                if self.cache_frames:
                    cache.append(item)
                yield item
                produced += 1

    def _generate(self, fmt: FrameFormat, count: int, exposure_s: float) -> list[tuple[np.ndarray, bytes]]:
        frames = np.asarray(self.frame_source(count, exposure_s))
        if frames.shape != (count, *fmt.image_shape):
            raise ValueError(f"frame_source returned {frames.shape}, expected {(count, *fmt.image_shape)}")
        return [(image, encode_pixels(image, fmt)) for image in _clip_counts(frames, fmt)]

    def _stream_frames(self, conn: socket.socket, fmt: FrameFormat, n_total: int, per_trigger: int, exposure_s: float,
                       period_s: float, wait_trigger: bool, writer: MibWriter | None) -> None:
        faults = self.faults
        held: bytes | None = None
        cache: list[tuple[np.ndarray, bytes]] = []
        if self.cache_frames and not wait_trigger:
            # Throughput mode: build the cycled frames before the clock starts, so pacing starts clean.
            cache.extend(self._generate(fmt, min(self.cache_frames, n_total or self.cache_frames), exposure_s))
        start = time.monotonic()
        released = [0 if wait_trigger else 1 << 62]
        blocks = self._frame_blocks(fmt, n_total, exposure_s, released, cache)
        index = 0
        while n_total == 0 or index < n_total:
            sequence = index + 1
            if self._stop_acquisition.is_set() or self._stop.is_set():
                return
            if released[0] < sequence:
                while not self._trigger.acquire(timeout=_ACCEPT_POLL_S):
                    if self._stop_acquisition.is_set() or self._stop.is_set():
                        return
                if self._stop_acquisition.is_set():
                    return
                released[0] += per_trigger
                start = time.monotonic() - index * period_s
            image, pixels = next(blocks)
            index += 1
            if self.realtime:
                delay = start + sequence * period_s - time.monotonic()
                if delay > 0.001:
                    time.sleep(delay)
            header = format_frame_header(frame_header_for(fmt, sequence, exposure_s))
            if self.record_frames:
                self.recorded_frames.append(image)
            if writer is not None:
                writer.append_encoded(header + pixels)
            if faults.stall_after_frames is not None and sequence > faults.stall_after_frames:
                self._stop_acquisition.wait()
                return
            if sequence in faults.drop_frames:
                continue
            if sequence == faults.corrupt_header_frame:
                header = b"MQ1,#@!?%&" + header[10:]
            prefix = format_prefix(len(header) + len(pixels))
            if sequence == faults.huge_length_frame:
                prefix = b"MPX,9999999999,"
            if sequence == faults.truncate_frame:
                message = prefix + header + pixels
                self._send(conn, [message[:len(message) // 2]])
                self._drop_data_connection(conn)
                return
            if sequence in faults.swap_frames:
                held = prefix + header + pixels
                continue
            self._send(conn, [prefix + header, pixels])
            self.frames_sent += 1
            if held is not None:
                self._send(conn, [held])
                self.frames_sent += 1
                held = None
            if faults.disconnect_after_frames is not None and self.frames_sent >= faults.disconnect_after_frames:
                self._drop_data_connection(conn)
                return
        if held is not None:
            self._send(conn, [held])
            self.frames_sent += 1
