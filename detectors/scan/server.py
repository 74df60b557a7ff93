"""A simulated scan unit speaking the Lumière scan protocol on 127.0.0.1, over
:class:`~detectors.scan.simulated.SimulatedScanGenerator` (the real driver is what tests use).

This is the design a real bridge copies (``README.md``, "Limits and refusals"): every connection
has its own receive buffer and protocol state (:class:`_ScanSession`); one connection owns the
unit at a time (the first to send anything but ``*IDN?``; the others get ``ERR 4 busy: owned by
<host>:<port>``) and the unit's settings go back to their start values when the owner leaves;
lines, payloads, frames and probe positions are bounded by :class:`ScanUnitLimits`; every reply
is ASCII (an error text never fails to encode); connections are limited in number and closed
when idle (:class:`~detectors.common.guarded_server.GuardedTcpServer`).
"""
from __future__ import annotations

import collections
import dataclasses
import math
import threading
import zlib

import numpy as np

from detectors.common.guarded_server import GuardedTcpServer, ServerLimits
from detectors.common.simbase import Fault
from detectors.common.guarded_server import DisconnectRequested
from detectors.interfaces import ScanFrame
from detectors.scan.base import frame_fields, frame_from_fields
from detectors.scan.generator import ScanGeneratorError
from detectors.scan.outputs import OutputLine
from detectors.scan.simulated import SimulatedScanGenerator
from detectors.scan.tcp import PROTOCOL_VERSION, TcpScanGenerator, format_number

#: error codes of ``ERR <code> <text>`` replies (README "Limits and refusals")
ERR_SYNTAX, ERR_VALUE, ERR_CHECKSUM, ERR_BUSY = 1, 2, 3, 4

_ASCII = str.maketrans({"–": "..", "—": "-", "≠": "!=", "≤": "<=", "≥": ">=", "×": "x", "µ": "u",
                        "±": "+/-", "…": "...", "·": "*", "²": "^2", "°": "deg"})


def ascii_text(text: str) -> str:
    """``text`` with the typographic symbols of our messages spelled in ASCII, anything else
    non-ASCII or unprintable replaced by ``?``: a reply line always encodes and stays one line."""
    out = text.translate(_ASCII).encode("ascii", "replace").decode("ascii")
    return "".join(c if c.isprintable() else "?" for c in out)


def err(code: int, text: str) -> bytes:
    """One ``ERR <code> <text>`` reply line."""
    return f"ERR {code} {ascii_text(text)}\n".encode("ascii")


@dataclasses.dataclass(frozen=True)
class ScanUnitLimits:
    """What the unit accepts; a command outside these limits is refused with ``ERR 2`` naming
    the value and the allowed range (see ``README.md``).

    Attributes
    ----------
    max_size_px : int
        Largest frame height and width, pixels (an ``ORDER`` has at most ``h·w`` visits).
    field_nm : float
        Full width of the square field the beam can reach, nm, centred on 0: a frame's corners
        (after rotation) and a probe position must lie within ``±field_nm/2``.
    dwell_s : (float, float)
        Allowed dwell time per pixel, s.
    max_flyback_px : int
        Longest flyback per line, pixels.
    max_frame_time_s : float
        Longest free-running frame, s.
    max_line_bytes : int
        Longest command line (without its ``\\n``); a longer one is answered ``ERR 1`` and dropped.
    """

    max_size_px: int = 4096
    field_nm: float = 20_000.0
    dwell_s: tuple[float, float] = (1e-8, 10.0)
    max_flyback_px: int = 4096
    max_frame_time_s: float = 3600.0
    max_line_bytes: int = 1024

    def check_frame(self, frame: ScanFrame) -> None:
        """Raise ``ValueError`` naming the first field of ``frame`` outside these limits."""
        h, w = frame.size_px
        if not (1 <= h <= self.max_size_px and 1 <= w <= self.max_size_px):
            raise ValueError(f"frame size {h}x{w} px outside 1..{self.max_size_px} px per side")
        low, high = self.dwell_s
        if not low <= frame.dwell_s <= high:
            raise ValueError(f"dwell {frame.dwell_s!r} s outside {low!r}..{high!r} s")
        if not 0 <= frame.flyback_px <= self.max_flyback_px:
            raise ValueError(f"flyback {frame.flyback_px} px outside 0..{self.max_flyback_px} px")
        if not math.isfinite(frame.rotation_rad):
            raise ValueError(f"rotation {frame.rotation_rad!r} rad is not finite")
        if not frame.frame_time_s <= self.max_frame_time_s:
            raise ValueError(f"frame time {frame.frame_time_s:g} s outside 0..{self.max_frame_time_s:g} s "
                             f"(h*(w+flyback)*dwell)")
        half = self.field_nm / 2
        p = frame.pixel_size_nm
        corners_v = np.array([-h, -h, h, h]) * p / 2
        corners_u = np.array([-w, w, -w, w]) * p / 2
        y, x = frame.to_microscope_nm(corners_v, corners_u)
        if not (np.all(np.abs(y) <= half) and np.all(np.abs(x) <= half)):
            raise ValueError(f"frame of fov {frame.fov_nm!r} nm centred at {frame.center_nm} nm reaches outside "
                             f"the field -{half:g}..{half:g} nm")

    def check_probe(self, y_nm: float, x_nm: float) -> None:
        half = self.field_nm / 2
        if not (abs(y_nm) <= half and abs(x_nm) <= half):  # also refuses NaN
            raise ValueError(f"probe position ({y_nm!r}, {x_nm!r}) nm outside the field "
                             f"-{half:g}..{half:g} nm")


class ScanUnitSimulator:
    """The simulated unit: executes requests of :class:`_ScanSession` s on one generator.

    Attributes
    ----------
    fault : Fault
        Fault injected into replies (:class:`~detectors.common.simbase.Fault`), for tests.
    requests : deque of bytes
        The latest complete requests (line + payload), for tests.
    owner : str or None
        ``host:port`` of the connection owning the unit.
    """

    def __init__(self, generator: SimulatedScanGenerator, limits: ScanUnitLimits = ScanUnitLimits()) -> None:
        self.generator = generator
        self.limits = limits
        self.fault = Fault.NONE
        self.requests: collections.deque[bytes] = collections.deque(maxlen=10_000)
        self._owner: _ScanSession | None = None
        self._lock = threading.RLock()
        # start values, restored when the owner disconnects
        self._initial = (generator.frame, generator.channels(), generator.output_lines())

    @property
    def owner(self) -> str | None:
        with self._lock:
            return None if self._owner is None else self._owner.peer

    def session(self, peer: str) -> "_ScanSession":
        return _ScanSession(self, peer)

    def refusal(self, reason: str, received: bytes) -> bytes | None:
        """Reply to a connection over the server's limit, once it has sent a whole line."""
        return err(ERR_BUSY, f"busy: {reason}") if b"\n" in received else None

    # -- ownership ----------------------------------------------------------------------------------
    def _claim(self, session: "_ScanSession") -> bytes | None:
        """``None`` if ``session`` owns the unit (claiming it when free), else the refusal."""
        if self._owner is None:
            self._owner = session
        if self._owner is session:
            return None
        return err(ERR_BUSY, f"busy: owned by {self._owner.peer}")

    def release(self, session: "_ScanSession") -> None:
        """``session`` has disconnected: if it owned the unit, reset the unit and free it."""
        with self._lock:
            if self._owner is not session:
                return
            self._owner = None
            frame, channels, lines = self._initial
            g = self.generator
            g._store(frame=frame, channels=channels, order=None)
            for line in lines:
                g._store(line=line)
            g.park()

    # -- requests -------------------------------------------------------------------------------------
    def execute(self, session: "_ScanSession", line: bytes, payload: bytes = b"") -> bytes | None:
        """Answer one complete request (faults applied); ``None`` = no reply."""
        with self._lock:
            self.requests.append(line + b"\n" + payload)
            if self.fault is Fault.DISCONNECT:
                raise DisconnectRequested()
            reply = self._answer(session, line, payload)
            if reply is None or self.fault is Fault.NO_REPLY:
                return None
            if self.fault is Fault.GARBLED:
                return b"#\x15garbage\x7f\n"
            if self.fault is Fault.BAD_CHECKSUM and reply.startswith(b"DATA "):
                out = bytearray(reply)
                out[-1] ^= 0xFF
                return bytes(out)
            return reply

    def _answer(self, session: "_ScanSession", line: bytes, payload: bytes) -> bytes | None:
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return err(ERR_SYNTAX, f"non-ASCII command {line[:40]!r}")
        if not text:
            return None
        if text.split()[0] != "*IDN?" and (refusal := self._claim(session)) is not None:
            return refusal
        try:
            reply = self._dispatch(text, payload)
        except (ValueError, TypeError, ScanGeneratorError) as exc:
            return err(ERR_VALUE, str(exc))
        except _Syntax as exc:
            return err(ERR_SYNTAX, str(exc))
        return reply if isinstance(reply, bytes) else reply.encode("ascii") + b"\n"

    def order_refusal(self, session: "_ScanSession", n: int) -> bytes | None:
        """Refusal of an ``ORDER <n> …`` header before its payload is read, ``None`` to read it."""
        with self._lock:
            if (refusal := self._claim(session)) is not None:
                return refusal
            h, w = self.generator.frame.size_px
            if not 1 <= n <= h * w:
                return err(ERR_VALUE, f"ORDER of {n} visits outside 1..{h * w} (the pixels of the {h}x{w} frame)")
            return None

    def _dispatch(self, text: str, payload: bytes) -> str | bytes:
        g = self.generator
        keyword, *args = text.split()
        if keyword == "*IDN?":
            return f"LUMIERE,SCANGEN,{PROTOCOL_VERSION},{g.n_outputs},{':'.join(g.channel_names)}"
        if keyword == "FRAME?":
            return "FRAME " + " ".join(format_number(v) for v in frame_fields(g.frame))
        if keyword == "FRAME":
            frame = frame_from_fields(args)
            self.limits.check_frame(frame)
            g.configure(frame)
            return "OK"
        if keyword == "CHAN?":
            return "CHAN " + ",".join(g.channels())
        if keyword == "CHAN":
            _nargs(keyword, args, 1)
            g.set_channels(args[0].split(","))
            return "OK"
        if keyword == "ORDER":
            if args == ["NONE"]:
                g.set_pixel_order(None)
                return "OK"
            _nargs(keyword, args, 2)
            if zlib.crc32(payload) != int(args[1], 16):
                return err(ERR_CHECKSUM, f"ORDER payload CRC32 {zlib.crc32(payload):08x} != {args[1]}")
            g.set_pixel_order(np.frombuffer(payload, "<u4").astype(np.int64))
            return "OK"
        if keyword == "OUT?":
            _nargs(keyword, args, 1)
            lines = {line.index: line for line in g.output_lines()}
            if not args[0].isdigit() or int(args[0]) not in lines:
                raise ValueError(f"output index {args[0]!r} outside 1..{g.n_outputs}")
            line = lines[int(args[0])]
            return (f"OUT {line.index} {line.source} {line.polarity} {format_number(line.delay_us)} "
                    f"{format_number(line.width_us)}")
        if keyword == "OUT":
            _nargs(keyword, args, 5)
            g.set_output_line(OutputLine(int(args[0]), args[1], args[2], float(args[3]), float(args[4])))
            return "OK"
        if keyword == "PROBE?":
            return "PROBE " + " ".join(format_number(v) for v in g.probe_position_nm())
        if keyword == "PROBE":
            _nargs(keyword, args, 2)
            y, x = float(args[0]), float(args[1])
            self.limits.check_probe(y, x)
            g.set_probe_position_nm(y, x)
            return "OK"
        if keyword == "PARK":
            g.park()
            return "OK"
        if keyword == "SCAN":
            data = g.acquire_frame()
            return _data_reply(data.t0_s, [data.images[n].ravel()[data.visits.order] for n in g.channels()])
        if keyword == "BLOCK":
            _nargs(keyword, args, 2)
            start, count, n = int(args[0]), int(args[1]), g.n_visits()
            if not (0 <= start and 1 <= count and start + count <= n):
                raise ValueError(f"BLOCK {start} {count}: visits {start}..{start + count - 1} outside 0..{n - 1}")
            block = g.acquire_block(start, count)
            return _data_reply(block.t0_s, [block.values[n] for n in g.channels()])
        raise _Syntax(f"unknown command {keyword!r}")


class _ScanSession:
    """One connection's framing state: its own receive buffer, a pending ``ORDER`` payload, or
    bytes being skipped (the rest of an over-long line, the payload of a refused ``ORDER``)."""

    def __init__(self, unit: ScanUnitSimulator, peer: str) -> None:
        self.unit, self.peer = unit, peer
        self.requests_done = 0
        self.wants_close = False
        self._rx = bytearray()
        self._skip_bytes = 0          # payload of a refused ORDER still to drop
        self._skip_line = False       # dropping the rest of an over-long line
        self._order: tuple[bytes, int] | None = None   # ORDER header and payload size awaited

    def close(self) -> None:
        self.unit.release(self)

    def feed(self, data: bytes) -> bytes:
        self._rx.extend(data)
        out = bytearray()
        max_line = self.unit.limits.max_line_bytes
        while self._rx and not self.wants_close:
            if self._skip_bytes:
                n = min(self._skip_bytes, len(self._rx))
                del self._rx[:n]
                self._skip_bytes -= n
                self.requests_done += self._skip_bytes == 0
                continue
            if self._skip_line:
                idx = self._rx.find(b"\n")
                if idx < 0:
                    self._rx.clear()
                    break
                del self._rx[:idx + 1]
                self._skip_line = False
                self.requests_done += 1
                continue
            if self._order is not None:
                header, size = self._order
                if len(self._rx) < size:
                    break
                payload = bytes(self._rx[:size])
                del self._rx[:size]
                self._order = None
                out += self._execute(header, payload)
                continue
            idx = self._rx.find(b"\n", 0, max_line + 1)
            if idx < 0:
                if len(self._rx) <= max_line:
                    break  # wait for the rest of the line
                out += err(ERR_SYNTAX, f"line longer than {max_line} bytes (limit {max_line})")
                self._skip_line = True
                continue
            line = bytes(self._rx[:idx])
            del self._rx[:idx + 1]
            fields = line.split()
            if len(fields) == 3 and fields[0] == b"ORDER" and fields[1].isdigit():
                out += self._order_header(line, int(fields[1]))
                continue
            out += self._execute(line)
        return bytes(out)

    def _order_header(self, line: bytes, n: int) -> bytes:
        refusal = self.unit.order_refusal(self, n)
        if refusal is None:
            self._order = (line, 4 * n)
            return b""
        if n <= self.unit.limits.max_size_px ** 2:
            self._skip_bytes = 4 * n   # bounded: skip the payload (counted done then), the stream stays in step
            self.requests_done += n == 0
        else:
            self.wants_close = True    # a payload this large cannot be skipped: drop the connection
            self.requests_done += 1
        return refusal

    def _execute(self, line: bytes, payload: bytes = b"") -> bytes:
        self.requests_done += 1
        return self.unit.execute(self, line, payload) or b""


class _Syntax(Exception):
    pass


def _nargs(keyword: str, args: list[str], n: int) -> None:
    if len(args) != n:
        raise _Syntax(f"{keyword} takes {n} arguments, got {len(args)}")


def _data_reply(t0_s: float, blocks: list[np.ndarray]) -> bytes:
    payload = np.concatenate([np.asarray(b, "<f4") for b in blocks]).tobytes()
    n = blocks[0].size if blocks else 0
    header = f"DATA {format_number(t0_s)} {n} {len(payload)} {zlib.crc32(payload):08x}\n"
    return header.encode("ascii") + payload


class SimulatedScanUnit:
    """The simulator served on ``127.0.0.1`` (OS-chosen port unless given) with a connected driver.

    ``with SimulatedScanUnit(generator) as unit: unit.driver.acquire_frame()``; ``unit.simulator.fault``
    injects faults; :meth:`connect` opens further drivers (refused while another one owns the unit).

    Parameters
    ----------
    generator : SimulatedScanGenerator
    port : int
        Port to bind, 0 = a free one.
    timeout_s : float
        Reply timeout of the drivers, s.
    limits : ScanUnitLimits
        What the unit accepts (frame size, field, dwell, line length).
    server_limits : ServerLimits
        Connections at a time, idle timeout, backlog. The default idle timeout is ``None`` here:
        the in-process unit of the ``tcp-simulated`` backend serves our own driver, which may sit
        idle for hours in a Swift session; a bridge on the network sets one.
    """

    def __init__(self, generator: SimulatedScanGenerator, port: int = 0, timeout_s: float = 2.0,
                 limits: ScanUnitLimits = ScanUnitLimits(),
                 server_limits: ServerLimits = ServerLimits(idle_timeout_s=None)) -> None:
        self.simulator = ScanUnitSimulator(generator, limits)
        self.server = GuardedTcpServer(self.simulator.session, self.simulator.refusal, "127.0.0.1", port,
                                       server_limits, name="scan-unit")
        self.timeout_s = timeout_s
        self.driver: TcpScanGenerator | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> TcpScanGenerator:
        self.server.start()
        self.driver = self.connect()
        return self.driver

    def connect(self) -> TcpScanGenerator:
        return TcpScanGenerator.connect("127.0.0.1", self.server.port, self.timeout_s)

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None
        self.server.stop()

    def __enter__(self) -> "SimulatedScanUnit":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ScanUnitLimits", "ScanUnitSimulator", "SimulatedScanUnit", "Fault", "ascii_text",
           "ERR_SYNTAX", "ERR_VALUE", "ERR_CHECKSUM", "ERR_BUSY"]
