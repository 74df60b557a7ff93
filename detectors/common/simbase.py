"""Common machinery of the simulated instruments: fault switch, line framing, thread safety.

A simulated instrument is a :class:`~detectors.common.transport.ByteHandler`: the server thread
feeds it received bytes and sends back what it returns. Each one has a ``fault`` switch so tests
can exercise the drivers' error paths through the real transport code.
"""
from __future__ import annotations

import enum
import threading

from .guarded_server import DisconnectRequested


class Fault(enum.Enum):
    """Fault injected into a simulated instrument's replies."""

    NONE = "none"
    #: swallow the request, send nothing (the driver times out)
    NO_REPLY = "no_reply"
    #: answer with bytes that do not parse as the expected reply
    GARBLED = "garbled"
    #: binary frames only: answer with a wrong checksum
    BAD_CHECKSUM = "bad_checksum"
    #: drop the connection (close the socket / pty master)
    DISCONNECT = "disconnect"


class SimulatedInstrument:
    """Base of the simulated instruments.

    Attributes
    ----------
    fault : Fault
        Current fault; set it from a test (``sim.fault = Fault.NO_REPLY``).
    requests : list of bytes
        Every complete request received, in order (for tests).
    """

    greeting_bytes: bytes = b""

    def __init__(self) -> None:
        self.fault = Fault.NONE
        self.requests: list[bytes] = []
        self._rx = bytearray()
        self._lock = threading.RLock()

    def greeting(self) -> bytes:
        return self.greeting_bytes

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        with self._lock:
            self._rx.extend(data)
            for request in self._split_requests():
                self.requests.append(request)
                if self.fault is Fault.DISCONNECT:
                    raise DisconnectRequested()
                reply = self.handle(request)
                if reply is None or self.fault is Fault.NO_REPLY:
                    continue
                if self.fault is Fault.GARBLED:
                    reply = self.garble(reply)
                elif self.fault is Fault.BAD_CHECKSUM:
                    reply = self.corrupt_checksum(reply)
                out.extend(reply)
        return bytes(out)

    # -- to specialise --------------------------------------------------------------------------
    def _split_requests(self) -> list[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def handle(self, request: bytes) -> bytes | None:  # pragma: no cover - abstract
        """Answer one complete request; ``None`` = no reply."""
        raise NotImplementedError

    def garble(self, reply: bytes) -> bytes:
        return b"\x15?#" * max(1, len(reply) // 3) + reply[len(reply) // 3 * 3:]

    def corrupt_checksum(self, reply: bytes) -> bytes:
        return reply


class LineInstrument(SimulatedInstrument):
    """A simulated ASCII instrument: requests and replies are lines ended by ``terminator``."""

    terminator: bytes = b"\n"

    def _split_requests(self) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            idx = self._rx.find(self.terminator)
            if idx < 0:
                return lines
            lines.append(bytes(self._rx[:idx]))
            del self._rx[: idx + len(self.terminator)]

    def handle(self, request: bytes) -> bytes | None:
        text = request.decode("ascii", errors="replace").strip()
        if not text:
            return None
        reply = self.handle_line(text)
        if reply is None:
            return None
        return reply.encode("ascii") + self.terminator

    def handle_line(self, line: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def garble(self, reply: bytes) -> bytes:
        return b"#\x15garbage\x7f" + self.terminator
