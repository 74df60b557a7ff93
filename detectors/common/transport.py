"""Byte transports for every serial/TCP instrument (laser bench, VG column, CL spectrometer), and
servers for their simulators.

A :class:`Transport` moves bytes: ``write``, ``read_exact(n)``, ``read_until(terminator)``, each
read with a timeout that raises :class:`~detectors.common.errors.DeviceTimeout`. Two
implementations: :class:`SocketTransport` (TCP) and :class:`SerialTransport` (pyserial; a serial
port, or the slave side of a pseudo-terminal for tests).

A simulated instrument is a :class:`ByteHandler` (bytes in -> bytes out). :class:`PtyServer` and
:class:`TcpServer` serve a handler on a pty pair or on a 127.0.0.1 socket from a thread, so the
real driver talks to the simulator through exactly the same transport code as to the hardware.
:func:`serial_server` picks one of the two by name and :func:`serial_address` gives the port a
client opens (a pty path, or a ``socket://127.0.0.1:PORT`` pyserial URL).

Portability: this module imports on Windows. Pseudo-terminals (``os.openpty``, ``tty``, ``select``
on file descriptors) exist only on POSIX, so :class:`PtyServer` imports ``tty`` when it is built
and refuses clearly elsewhere; :data:`DEFAULT_SERIAL_SERVER` is ``"tcp"`` there. Real serial
ports are opened by name (``COM3``, ``/dev/ttyUSB0``) through pyserial on every platform.

Notes
-----
Timeouts here are wall-clock seconds (real I/O), unlike the simulated instruments' own time,
which is :class:`~detectors.simulation.clock.SimClock` time.
"""
from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Protocol, runtime_checkable

from .errors import ConnectionLost, DeviceTimeout, names_its_device


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte stream with timed reads."""

    timeout_s: float

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
# Serving a simulated instrument
# ------------------------------------------------------------------------------------------------
#: pseudo-terminal pairs can be made here (POSIX); on Windows simulated serial instruments use sockets
PTY_AVAILABLE = os.name == "posix" and hasattr(os, "openpty")
#: how simulated serial instruments are served by default: ``"pty"`` where ptys exist, else ``"tcp"``
DEFAULT_SERIAL_SERVER = "pty" if PTY_AVAILABLE else "tcp"
SERIAL_SERVERS = ("pty", "tcp")


class DisconnectRequested(Exception):
    """Raised by a handler to make its server drop the connection (fault injection)."""


class ByteHandler(Protocol):
    """A simulated instrument seen at the byte level."""

    def greeting(self) -> bytes:
        """Bytes sent when a client connects (e.g. ``b"Ready\\n"``), usually empty."""
        ...

    def receive(self, data: bytes) -> bytes:
        """Consume received bytes, return the bytes to send back (possibly empty)."""
        ...


class _Server:
    def __init__(self, handler: ByteHandler) -> None:
        self.handler = handler
        self.bytes_received = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _feed(self, data: bytes) -> bytes:
        self.bytes_received += len(data)
        return self.handler.receive(data)

    def start(self):
        self._thread = threading.Thread(target=self._run, name=f"{type(self).__name__}",
                                        daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class PtyServer(_Server):
    """Serve a handler on the master side of a pseudo-terminal pair.

    Connect with ``SerialTransport(server.port)`` (or :meth:`connect`). A
    :class:`DisconnectRequested` from the handler closes the master: the client then sees
    :class:`~detectors.common.errors.ConnectionLost` or a timeout, as with an unplugged cable.
    """

    def __init__(self, handler: ByteHandler) -> None:
        if not PTY_AVAILABLE:
            raise OSError(f"pseudo-terminals do not exist on this platform ({os.name!r}); serve the "
                          "simulated serial instrument on a socket instead (serial='tcp', a "
                          "socket://127.0.0.1:PORT port)")
        import tty  # POSIX-only: imported here so that this module imports on Windows

        super().__init__(handler)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)

    def connect(self, baudrate: int = 9600, timeout_s: float = 1.0) -> SerialTransport:
        return SerialTransport(self.port, baudrate=baudrate, timeout_s=timeout_s)

    def _run(self) -> None:
        master = self._master
        greeting = self.handler.greeting()
        if greeting:
            os.write(master, greeting)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    continue
                try:
                    data = os.read(master, 4096)
                except OSError:
                    time.sleep(0.01)  # EIO while no client has the slave open
                    continue
                if not data:
                    continue
                try:
                    reply = self._feed(data)
                except DisconnectRequested:
                    break
                if reply:
                    os.write(master, reply)
        finally:
            self._close_fds()

    def _close_fds(self) -> None:
        for name in ("_master", "_slave"):
            fd = getattr(self, name)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def stop(self) -> None:
        super().stop()
        self._close_fds()


class TcpServer(_Server):
    """Serve a handler on ``127.0.0.1`` (port chosen by the OS unless given); one thread per client."""

    def __init__(self, handler: ByteHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(handler)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(4)
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: list[socket.socket] = []
        self._client_threads: list[threading.Thread] = []

    def connect(self, timeout_s: float = 1.0) -> SocketTransport:
        return SocketTransport(self.host, self.port, timeout_s=timeout_s)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._listener], [], [], 0.02)
                if not ready:
                    continue
                conn, _ = self._listener.accept()
                self._clients.append(conn)
                t = threading.Thread(target=self._serve_client, args=(conn,), daemon=True)
                self._client_threads.append(t)
                t.start()
        finally:
            self._listener.close()

    def _serve_client(self, conn: socket.socket) -> None:
        try:
            greeting = self.handler.greeting()
            if greeting:
                conn.sendall(greeting)
            while not self._stop.is_set():
                ready, _, _ = select.select([conn], [], [], 0.02)
                if not ready:
                    continue
                data = conn.recv(4096)
                if not data:
                    break
                try:
                    reply = self._feed(data)
                except DisconnectRequested:
                    break
                if reply:
                    conn.sendall(reply)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def stop(self) -> None:
        started = self._thread is not None
        super().stop()
        if not started:
            self._listener.close()
        for conn in self._clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._client_threads:
            t.join(timeout=2.0)


def serial_server(handler: ByteHandler, kind: str = DEFAULT_SERIAL_SERVER) -> PtyServer | TcpServer:
    """A (not yet started) server for a simulated *serial* instrument: on a pty pair
    (``kind="pty"``, POSIX only) or on a 127.0.0.1 socket (``kind="tcp"``), which pyserial opens
    as ``socket://127.0.0.1:PORT`` (see :func:`serial_address`)."""
    if kind not in SERIAL_SERVERS:
        raise ValueError(f"serial server kind {kind!r} is not one of {SERIAL_SERVERS}")
    return PtyServer(handler) if kind == "pty" else TcpServer(handler)


def serial_address(server: PtyServer | TcpServer) -> str:
    """The port a :class:`SerialTransport` (or a site file's ``port`` key) opens to reach
    ``server``: the pty slave's path, or a pyserial ``socket://host:port`` URL."""
    if isinstance(server, PtyServer):
        return server.port
    return f"socket://{server.host}:{server.port}"


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
        from .errors import BadReply

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
