"""Blocking socket reads with an idle timeout and an optional overall deadline.

Both Merlin clients and the simulator read exact byte counts; a short read means the peer closed
the connection and is reported as :class:`MerlinConnectionLost`, silence as :class:`MerlinTimeout`.
"""
from __future__ import annotations

import selectors
import socket
import time

from .errors import MerlinConnectionLost, MerlinTimeout


class Deadline:
    """Timeouts for one operation: ``idle_s`` without any byte, ``total_s`` for the whole operation.

    Parameters
    ----------
    idle_s : float
        Longest wait for the next byte, seconds.
    total_s : float or None
        Longest time for the whole operation, seconds; ``None`` = no overall limit.
    """

    def __init__(self, idle_s: float, total_s: float | None = None, label: str = "overall deadline") -> None:
        if not idle_s > 0:
            raise ValueError(f"idle timeout must be > 0 s, got {idle_s!r}")
        self.idle_s = float(idle_s)
        self.total_s = total_s
        self.label = label
        self._end = None if total_s is None else time.monotonic() + float(total_s)

    def within(self, total_s: float | None) -> "Deadline":
        """A deadline for one part of this operation: same idle timeout, at most ``total_s`` from now
        and never past this deadline's end."""
        part = Deadline(self.idle_s, total_s, "deadline per message")
        if self._end is not None and (part._end is None or part._end > self._end):
            part._end, part.total_s, part.label = self._end, self.total_s, self.label
        return part

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def next_timeout_s(self, what: str) -> float:
        """Seconds the next socket call may block; raises :class:`MerlinTimeout` if none are left."""
        if self._end is None:
            return self.idle_s
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise MerlinTimeout(f"{what}: {self.label} of {self.total_s} s exceeded")
        return min(self.idle_s, remaining)


def recv_exact_into(sock: socket.socket, view: memoryview, deadline: Deadline, what: str) -> None:
    """Fill ``view`` completely from ``sock``.

    Raises
    ------
    MerlinTimeout
        No byte arrived within the idle timeout, or the overall deadline passed.
    MerlinConnectionLost
        The peer closed the connection.

    Both carry ``bytes_received``: how much of ``view`` was filled before the failure.
    """
    total = len(view)
    got = 0
    while got < total:
        try:
            sock.settimeout(deadline.next_timeout_s(what))
            n = sock.recv_into(view[got:], total - got)
        except MerlinTimeout as error:
            error.bytes_received = got  # type: ignore[attr-defined]
            raise
        except socket.timeout as exc:
            error = MerlinTimeout(f"{what}: {deadline.label} of {deadline.total_s} s exceeded after {got} of {total} "
                                  "bytes" if deadline.expired() else
                                  f"{what}: no data for {deadline.idle_s} s after {got} of {total} bytes")
            error.bytes_received = got  # type: ignore[attr-defined]
            raise error from exc
        except OSError as exc:
            error = MerlinConnectionLost(f"{what}: socket error after {got} of {total} bytes: {exc}")
            error.bytes_received = got  # type: ignore[attr-defined]
            raise error from exc
        if n == 0:
            error = MerlinConnectionLost(f"{what}: connection closed after {got} of {total} bytes")
            error.bytes_received = got  # type: ignore[attr-defined]
            raise error
        got += n


def recv_exact(sock: socket.socket, n_bytes: int, deadline: Deadline, what: str) -> bytearray:
    """Read exactly ``n_bytes`` bytes into a new buffer (see :func:`recv_exact_into`)."""
    buffer = bytearray(n_bytes)
    recv_exact_into(sock, memoryview(buffer), deadline, what)
    return buffer


def peer_closed(sock: socket.socket) -> bool:
    """True when the peer has closed the connection (readable with nothing to read); never blocks
    and leaves the socket's mode alone (another thread may be sending on it)."""
    try:
        # a selector, not select.select: that fails for descriptors >= 1024
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            if not selector.select(0):
                return False
        # readable, so the peek returns at once (MSG_DONTWAIT does not exist on Windows)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True
