"""Byte transports for every serial/TCP instrument (laser bench, VG column, CL spectrometer, Merlin).

A :class:`Transport` moves bytes: ``write``, ``read_exact(n)``, ``read_until(terminator)``, each
read with a timeout that raises :class:`~detectors.common.errors.DeviceTimeout`. Two
implementations: :class:`SocketTransport` (TCP) and :class:`SerialTransport` (pyserial; a serial
port, or the slave side of a pseudo-terminal for tests).

Binary protocols that read large messages straight into preallocated buffers (Merlin) use the raw
socket reads at the end: :class:`Deadline` (an idle and an overall timeout), :func:`recv_exact_into`,
:func:`recv_exact` and :func:`peer_closed`; a driver passes its own error subclasses to the deadline.

The servers the simulators answer on are in :mod:`detectors.common.guarded_server`. Real serial
ports are opened by name (``COM3``, ``/dev/ttyUSB0``) through pyserial on every platform.

Notes
-----
Timeouts here are wall-clock seconds (real I/O), unlike the simulated instruments' own time,
which is :class:`~detectors.simulation.clock.SimClock` time.
"""
from __future__ import annotations

import selectors
import socket
import time
from typing import Protocol, runtime_checkable

from .errors import BadReply, ConnectionLost, DeviceError, DeviceTimeout, names_its_device


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte stream with timed reads."""

    timeout_s: float
    #: where the bytes go, for error messages ("serial port COM3", "127.0.0.1:4001"); settable
    name: str

    def write(self, data: bytes) -> None: ...

    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes: ...

    def read_until(self, terminator: bytes = b"\n", timeout_s: float | None = None,
                   max_bytes: int = 4096) -> bytes: ...

    def reset_input(self) -> None: ...

    def close(self) -> None: ...


@names_its_device
class _BufferedTransport:
    """Common read logic on top of a ``_recv_some(timeout_s) -> bytes`` primitive."""

    #: where the bytes go, for error messages ("serial port /dev/ttyUSB0", "127.0.0.1:4001"); a
    #: driver may prefix its instrument ("CL spectrometer on serial port COM3")
    name = ""


    def __init__(self, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout {timeout_s!r} s must be > 0")
        self.timeout_s = float(timeout_s)
        self._buffer = bytearray()
        self._closed = False

    # -- to implement -------------------------------------------------------------------------
    def _recv_some(self, timeout_s: float) -> bytes:  # pragma: no cover - abstract
        """Return at least one byte, or ``b""`` if none arrived within ``timeout_s``."""
        raise NotImplementedError

    def _send(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public ---------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionLost("write on a closed transport")
        self._send(bytes(data))

    def _fill(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            source = f" from {self.name}" if self.name else ""
            raise DeviceTimeout(f"timed out waiting for {what}{source}; received {bytes(self._buffer)!r}")
        chunk = self._recv_some(remaining)
        self._buffer.extend(chunk)

    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        """Read exactly ``n`` bytes or raise :class:`DeviceTimeout` (partial data is discarded)."""
        if self._closed:
            raise ConnectionLost("read on a closed transport")
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        try:
            while len(self._buffer) < n:
                self._fill(deadline, f"{n} bytes")
        except DeviceTimeout:
            self._buffer.clear()
            raise
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def read_until(self, terminator: bytes = b"\n", timeout_s: float | None = None,
                   max_bytes: int = 4096) -> bytes:
        """Read up to and including ``terminator``; :class:`DeviceTimeout` if it does not come."""
        if self._closed:
            raise ConnectionLost("read on a closed transport")
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        try:
            while True:
                idx = self._buffer.find(terminator)
                if idx >= 0:
                    end = idx + len(terminator)
                    out = bytes(self._buffer[:end])
                    del self._buffer[:end]
                    return out
                if len(self._buffer) > max_bytes:
                    raise DeviceTimeout(f"no {terminator!r} within {max_bytes} bytes")
                self._fill(deadline, f"a line ending in {terminator!r}")
        except DeviceTimeout:
            self._buffer.clear()
            raise

    def reset_input(self) -> None:
        """Discard buffered and pending input (non-blocking)."""
        self._buffer.clear()
        while True:
            chunk = self._recv_some(0.0) if not self._closed else b""
            if not chunk:
                return

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SocketTransport(_BufferedTransport):
    """TCP client transport.

    Parameters
    ----------
    host, port : str, int
        Instrument address.
    timeout_s : float
        Default read timeout, s.
    connect_timeout_s : float
        Timeout of the TCP connection, s.
    """

    def __init__(self, host: str, port: int, timeout_s: float = 1.0,
                 connect_timeout_s: float = 3.0) -> None:
        super().__init__(timeout_s)
        self.name = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, int(port)), timeout=connect_timeout_s)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {host}:{port}: {exc}", device=self.name) from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _recv_some(self, timeout_s: float) -> bytes:
        try:
            if timeout_s <= 0:
                self._sock.setblocking(False)
            else:
                self._sock.settimeout(timeout_s)
            data = self._sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return b""
        except OSError as exc:
            raise ConnectionLost(f"socket error: {exc}") from exc
        if not data:
            raise ConnectionLost("connection closed by the instrument")
        return data

    def _send(self, data: bytes) -> None:
        try:
            self._sock.settimeout(self.timeout_s)
            self._sock.sendall(data)
        except OSError as exc:
            raise ConnectionLost(f"socket error on write: {exc}") from exc

    def _close(self) -> None:
        self._sock.close()


class SerialTransport(_BufferedTransport):
    """Serial-line transport through pyserial (also works on a pty slave path).

    Parameters
    ----------
    port : str
        Device path or pyserial URL (``"COM12"``, ``"/dev/ttyUSB0"``, ``os.ttyname(slave_fd)``).
    baudrate : int
        Line speed; framing is 8N1.
    timeout_s : float
        Default read timeout, s.
    """

    def __init__(self, port: str, baudrate: int = 9600, timeout_s: float = 1.0) -> None:
        super().__init__(timeout_s)
        self.name = f"serial port {port}"
        import serial  # pyserial; imported here so TCP-only users do not need it

        errors: tuple[type[BaseException], ...] = (serial.SerialException, OSError)
        try:
            import termios

            errors += (termios.error,)
        except ImportError:  # pragma: no cover - Windows
            pass
        self._serial_exception = errors
        try:
            self._ser = serial.serial_for_url(port, baudrate=baudrate, bytesize=8, parity="N",
                                              stopbits=1, timeout=timeout_s,
                                              write_timeout=timeout_s)
        except errors as exc:
            raise ConnectionLost(f"cannot open serial port {port}: {exc}", device=self.name) from exc

    def _recv_some(self, timeout_s: float) -> bytes:
        try:
            self._ser.timeout = max(timeout_s, 0.0)
            data = self._ser.read(1)
            if data:
                waiting = self._ser.in_waiting
                if waiting:
                    data += self._ser.read(waiting)
            return data
        except self._serial_exception as exc:
            raise ConnectionLost(f"serial port error: {exc}") from exc

    def _send(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._ser.flush()
        except self._serial_exception as exc:
            raise ConnectionLost(f"serial port error on write: {exc}") from exc

    def _close(self) -> None:
        self._ser.close()


class RecordingTransport:
    """Wrap a transport and keep a copy of every byte string written (for tests and logs)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.written: list[bytes] = []

    @property
    def name(self) -> str:
        """The wrapped transport's name (errors name the instrument by it)."""
        return getattr(self.inner, "name", "")

    @name.setter
    def name(self, value: str) -> None:
        self.inner.name = value  # type: ignore[attr-defined]

    @property
    def timeout_s(self) -> float:
        return self.inner.timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        self.inner.timeout_s = value

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self.inner.write(data)

    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        return self.inner.read_exact(n, timeout_s)

    def read_until(self, terminator: bytes = b"\n", timeout_s: float | None = None,
                   max_bytes: int = 4096) -> bytes:
        return self.inner.read_until(terminator, timeout_s, max_bytes)

    def reset_input(self) -> None:
        self.inner.reset_input()

    def close(self) -> None:
        self.inner.close()


# ------------------------------------------------------------------------------------------------
# Exact reads on a raw socket (binary protocols that read into preallocated buffers: Merlin)
# ------------------------------------------------------------------------------------------------
class Deadline:
    """Timeouts for one operation: ``idle_s`` without any byte, ``total_s`` for the whole operation.

    Parameters
    ----------
    idle_s : float
        Longest wait for the next byte, seconds.
    total_s : float or None
        Longest time for the whole operation, seconds; ``None`` = no overall limit.
    errors : (timeout class, connection-lost class)
        What :func:`recv_exact_into` raises for silence and for a closed peer: the common
        :class:`~detectors.common.errors.DeviceTimeout` / :class:`~detectors.common.errors.ConnectionLost`,
        or a driver's subclasses of them (Merlin's ``MERLIN_WIRE_ERRORS``).
    """

    def __init__(self, idle_s: float, total_s: float | None = None, label: str = "overall deadline", *,
                 errors: tuple[type[DeviceTimeout], type[ConnectionLost]] = (DeviceTimeout, ConnectionLost)) -> None:
        if not idle_s > 0:
            raise ValueError(f"idle timeout must be > 0 s, got {idle_s!r}")
        self.idle_s = float(idle_s)
        self.total_s = total_s
        self.label = label
        self.timeout_error, self.lost_error = errors
        self._end = None if total_s is None else time.monotonic() + float(total_s)

    def within(self, total_s: float | None) -> "Deadline":
        """A deadline for one part of this operation: same idle timeout and errors, at most
        ``total_s`` from now and never past this deadline's end."""
        part = Deadline(self.idle_s, total_s, "deadline per message", errors=(self.timeout_error, self.lost_error))
        if self._end is not None and (part._end is None or part._end > self._end):
            part._end, part.total_s, part.label = self._end, self.total_s, self.label
        return part

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def next_timeout_s(self, what: str) -> float:
        """Seconds the next socket call may block; raises the timeout error if none are left."""
        if self._end is None:
            return self.idle_s
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise self.timeout_error(f"{what}: {self.label} of {self.total_s} s exceeded")
        return min(self.idle_s, remaining)


def recv_exact_into(sock: socket.socket, view: memoryview, deadline: Deadline, what: str) -> None:
    """Fill ``view`` completely from ``sock``.

    Raises
    ------
    deadline.timeout_error
        No byte arrived within the idle timeout, or the overall deadline passed.
    deadline.lost_error
        The peer closed the connection.

    Both carry ``bytes_received``: how much of ``view`` was filled before the failure.
    """
    total = len(view)
    got = 0
    while got < total:
        error: DeviceError
        try:
            sock.settimeout(deadline.next_timeout_s(what))
            n = sock.recv_into(view[got:], total - got)
        except deadline.timeout_error as exc:
            exc.bytes_received = got  # type: ignore[attr-defined]
            raise
        except socket.timeout as exc:
            error = deadline.timeout_error(
                f"{what}: {deadline.label} of {deadline.total_s} s exceeded after {got} of {total} bytes"
                if deadline.expired() else f"{what}: no data for {deadline.idle_s} s after {got} of {total} bytes")
            error.bytes_received = got  # type: ignore[attr-defined]
            raise error from exc
        except OSError as exc:
            error = deadline.lost_error(f"{what}: socket error after {got} of {total} bytes: {exc}")
            error.bytes_received = got  # type: ignore[attr-defined]
            raise error from exc
        if n == 0:
            error = deadline.lost_error(f"{what}: connection closed after {got} of {total} bytes")
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

class LineChannel:
    """ASCII command/response helper over a :class:`Transport`.

    Parameters
    ----------
    transport : Transport
        Byte transport.
    terminator : bytes
        Line terminator of requests and replies.
    skip : tuple of str
        Unsolicited lines to ignore when waiting for a reply (e.g. ``("Ready",)``).
    """

    def __init__(self, transport: Transport, terminator: bytes = b"\n",
                 skip: tuple[str, ...] = ()) -> None:
        self.transport = transport
        self.terminator = terminator
        self.skip = skip

    def send(self, command: str) -> None:
        """Send one command line (no reply read)."""
        self.transport.write(command.encode("ascii") + self.terminator)

    def read_line(self, timeout_s: float | None = None) -> str:
        """Read one reply line, stripped; unsolicited ``skip`` lines are dropped.

        Raises :class:`~detectors.common.errors.BadReply` if the line is not printable ASCII.
        """
        while True:
            raw = self.transport.read_until(self.terminator, timeout_s)
            try:
                text = raw.decode("ascii").strip()
            except UnicodeDecodeError as exc:
                raise BadReply(f"non-ASCII reply {raw!r}", device=getattr(self.transport, "name", None)) from exc
            if not text.isprintable():
                raise BadReply(f"unprintable reply {raw!r}", device=getattr(self.transport, "name", None))
            if text in self.skip:
                continue
            return text

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send ``command`` and return its one-line reply (stale input is discarded first)."""
        self.transport.reset_input()
        self.send(command)
        return self.read_line(timeout_s)
