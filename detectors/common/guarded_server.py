"""The servers simulated instruments answer on: a TCP server a hostile client cannot jam
(:class:`GuardedTcpServer`), the same serving one byte-level instrument (:class:`TcpServer`), and a
pseudo-terminal pair for serial instruments (:class:`PtyServer`).

:class:`GuardedTcpServer` (for the simulators and the bridges that copy them) has per-connection
sessions, a connection limit, an idle timeout and a listen backlog.

Each accepted connection gets its own :class:`Session` (its own receive buffer and protocol
state) served by its own thread; at most ``max_connections`` sessions exist at a time. A
connection over the limit never gets a thread: the accept thread holds it for at most
``refusal_linger_s``, answers its first request with the protocol's refusal (``refuse(reason,
received)``), half-closes and drains it (so the refusal is not lost to a TCP reset) and closes
it; at most ``max_refusing`` such connections are held, any further ones are closed at once.

A session that completes no request for ``idle_timeout_s`` (silent, or trickling bytes that never
make a request) is closed, which frees its slot; :meth:`Session.close` is called whenever a
connection ends, so a device owned by that connection can be released and reset.

A simulated serial or line instrument is a :class:`ByteHandler` (bytes in -> bytes out), shared by
all its connections. :class:`TcpServer` serves it on 127.0.0.1 and :class:`PtyServer` on a pty
pair from a thread, so the real driver talks to the simulator through exactly the same transport
code as to the hardware. :func:`serial_server` picks one of the two by name and
:func:`serial_address` gives the port a client opens (a pty path, or a ``socket://127.0.0.1:PORT``
pyserial URL).

Portability: this module imports on Windows. Pseudo-terminals (``os.openpty``, ``tty``, ``select``
on file descriptors) exist only on POSIX, so :class:`PtyServer` imports ``tty`` when it is built
and refuses clearly elsewhere; :data:`DEFAULT_SERIAL_SERVER` is ``"tcp"`` there.

Timeouts are wall-clock seconds.
"""
from __future__ import annotations

import dataclasses
import os
import select
import selectors
import socket
import threading
import time
from typing import Callable, Protocol

from .transport import SerialTransport, SocketTransport

_POLL_S = 0.05
#: pseudo-terminal pairs can be made here (POSIX); on Windows simulated serial instruments use sockets
PTY_AVAILABLE = os.name == "posix" and hasattr(os, "openpty")
#: how simulated serial instruments are served by default: ``"pty"`` where ptys exist, else ``"tcp"``
DEFAULT_SERIAL_SERVER = "pty" if PTY_AVAILABLE else "tcp"
SERIAL_SERVERS = ("pty", "tcp")


class DisconnectRequested(Exception):
    """Raised by a handler or session to make its server drop the connection (fault injection)."""


class Session(Protocol):
    """Protocol state of one connection."""

    #: complete requests handled so far (the idle timer restarts whenever it grows)
    requests_done: int
    #: set by :meth:`feed` to have the connection closed once its reply is sent
    wants_close: bool

    def feed(self, data: bytes) -> bytes:
        """Consume received bytes, return the bytes to send back (possibly empty).
        May raise :class:`DisconnectRequested`."""
        ...

    def close(self) -> None:
        """The connection has ended (any reason)."""
        ...


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """Resource limits of a :class:`GuardedTcpServer`.

    Attributes
    ----------
    max_connections : int
        Sessions served at a time; further connections are refused.
    idle_timeout_s : float or None
        A session completing no request for this long is closed; ``None`` = never.
    backlog : int
        Listen backlog (connections the kernel queues before ``accept``). Measured on Linux: with 64,
        a burst of 300 connections from one Python client made every ~120th wait 1 s for a SYN
        retransmission (the accept thread fell behind); with 128 the burst took 0.05 s.
    send_timeout_s : float
        Longest time one reply may take to send (a client that stops reading is dropped).
    refusal_linger_s : float
        Longest time a refused connection is held to deliver its refusal.
    max_refusing : int
        Refused connections held at a time; beyond that they are closed without a reply.
    """

    max_connections: int = 8
    idle_timeout_s: float | None = 600.0
    backlog: int = 128
    send_timeout_s: float = 10.0
    refusal_linger_s: float = 2.0
    max_refusing: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.max_connections <= 10_000:
            raise ValueError(f"max_connections {self.max_connections} outside 1..10000")
        if self.idle_timeout_s is not None and not self.idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s {self.idle_timeout_s!r} must be > 0 s or None")
        if not 1 <= self.backlog <= 4096:
            raise ValueError(f"backlog {self.backlog} outside 1..4096")
        for name in ("send_timeout_s", "refusal_linger_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} {getattr(self, name)!r} must be > 0 s")
        if not 0 <= self.max_refusing <= 10_000:
            raise ValueError(f"max_refusing {self.max_refusing} outside 0..10000")


@dataclasses.dataclass
class _Refusing:
    received: bytearray
    deadline: float
    replied: bool = False


class GuardedTcpServer:
    """Serve one :class:`Session` per connection on ``host:port`` (0 = a free port).

    Parameters
    ----------
    open_session : callable
        ``open_session(peer) -> Session`` for an accepted connection; ``peer`` is ``"host:port"``.
    refuse : callable
        ``refuse(reason, received) -> bytes | None``: the refusal to send to a connection over the
        limit, given what it has sent so far (``None`` = wait for more, e.g. a whole request).
    host, port : str, int
        Address to bind.
    limits : ServerLimits
    name : str
        Thread name prefix.
    greeting : callable, optional
        ``greeting() -> bytes`` sent to every served connection when it is accepted.

    Attributes
    ----------
    accepted : int
        Connections accepted so far (served or refused).
    refused : int
        Connections refused so far.
    errors : list of BaseException
        Unexpected exceptions of sessions (the connection was closed; kept for tests).
    """

    def __init__(self, open_session: Callable[[str], Session], refuse: Callable[[str, bytes], bytes | None],
                 host: str = "127.0.0.1", port: int = 0, limits: ServerLimits = ServerLimits(),
                 name: str = "server", greeting: Callable[[], bytes] | None = None) -> None:
        self.open_session, self.refuse, self.limits, self.name = open_session, refuse, limits, name
        self.greeting = greeting
        self.accepted = self.refused = 0
        self.errors: list[BaseException] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(limits.backlog)
        self._listener.setblocking(False)   # select says when to accept; accept never blocks
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[socket.socket, threading.Thread] = {}
        self._refusing: dict[socket.socket, _Refusing] = {}
        self._thread: threading.Thread | None = None
        # a selector (epoll on Linux), not select.select, which fails for descriptors >= 1024
        self._selector = selectors.DefaultSelector()

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._active)

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> "GuardedTcpServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, close every connection and join the threads."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        else:
            self._listener.close()
            self._selector.close()
        with self._lock:
            active = list(self._active.items())
        for conn, _ in active:
            _shutdown(conn)
        for _, thread in active:
            thread.join(timeout_s)

    def __enter__(self) -> "GuardedTcpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accepting and refusing -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in self._selector.select(_POLL_S):
                    try:
                        if key.fileobj is self._listener:
                            self._accept()
                        else:
                            self._read_refusing(key.fileobj)  # type: ignore[arg-type]
                    except Exception as exc:  # noqa: BLE001 - nothing a client does may stop the accept loop
                        self.errors.append(exc)
                now = time.monotonic()
                for sock, state in list(self._refusing.items()):
                    if now >= state.deadline:
                        self._drop_refusing(sock)
        finally:
            for sock in list(self._refusing):
                self._drop_refusing(sock)
            self._selector.close()
            self._listener.close()

    def _accept(self) -> None:
        try:
            conn, address = self._listener.accept()
        except (BlockingIOError, InterruptedError):   # the client gave up in the meantime
            return
        except OSError as exc:   # e.g. out of descriptors: report, and do not spin on the listener
            self.errors.append(exc)
            time.sleep(_POLL_S)
            return
        self.accepted += 1
        conn.setblocking(True)
        self._admit(conn, f"{address[0]}:{address[1]}")

    def _admit(self, conn: socket.socket, peer: str) -> None:
        with self._lock:
            n_active = len(self._active)
            full = n_active >= self.limits.max_connections
        if full:
            self.refused += 1
            if len(self._refusing) >= self.limits.max_refusing:
                conn.close()
                return
            conn.setblocking(False)
            self._refusing[conn] = _Refusing(bytearray(), time.monotonic() + self.limits.refusal_linger_s)
            self._selector.register(conn, selectors.EVENT_READ)
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            session = self.open_session(peer)
        except Exception as exc:  # noqa: BLE001 - a broken factory must not stop the accept loop
            self.errors.append(exc)
            conn.close()
            return
        thread = threading.Thread(target=self._serve, args=(conn, session), name=f"{self.name}-{peer}",
                                  daemon=True)
        with self._lock:
            self._active[conn] = thread
        thread.start()

    def _read_refusing(self, sock: socket.socket) -> None:
        state = self._refusing[sock]
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_refusing(sock)
            return
        if state.replied:
            return  # draining until the client closes or the linger time ends
        state.received.extend(data[:4096 - len(state.received)])
        n = self.limits.max_connections
        reason = f"{n} connection{'s' if n != 1 else ''} open (limit {n})"
        reply = self.refuse(reason, bytes(state.received))
        if reply is None and len(state.received) < 4096:
            return
        try:
            if reply:
                sock.send(reply)  # a short reply into an empty send buffer: never blocks
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop_refusing(sock)
            return
        state.replied = True

    def _drop_refusing(self, sock: socket.socket) -> None:
        if self._refusing.pop(sock, None) is not None:
            self._selector.unregister(sock)
        sock.close()

    # -- serving ------------------------------------------------------------------------------------
    def _serve(self, conn: socket.socket, session: Session) -> None:
        idle = self.limits.idle_timeout_s
        last_progress = time.monotonic()
        done = 0
        conn.settimeout(self.limits.send_timeout_s)
        selector = selectors.DefaultSelector()
        try:
            if self.greeting is not None and (opening := self.greeting()):
                conn.sendall(opening)
            selector.register(conn, selectors.EVENT_READ)
            while not self._stop.is_set():
                if idle is not None and time.monotonic() - last_progress > idle:
                    break
                if not selector.select(_POLL_S):
                    continue
                data = conn.recv(65536)
                if not data:
                    break
                try:
                    reply = session.feed(data)
                except DisconnectRequested:
                    break
                if session.requests_done != done:
                    done, last_progress = session.requests_done, time.monotonic()
                if reply:
                    conn.sendall(reply)
                if session.wants_close:
                    _linger(conn, self.limits.refusal_linger_s)
                    break
        except OSError:
            pass  # the client went away or stopped reading: its session ends below
        except Exception as exc:  # noqa: BLE001 - kept for tests; the connection is closed, the server lives
            self.errors.append(exc)
        finally:
            selector.close()
            try:
                session.close()
            except Exception as exc:  # noqa: BLE001
                self.errors.append(exc)
            _shutdown(conn)
            conn.close()
            with self._lock:
                self._active.pop(conn, None)


def _linger(conn: socket.socket, max_s: float) -> None:
    """Half-close and drain what the client still sends (bounded in time), so our last reply is
    not destroyed by the reset that closing a socket with unread data provokes."""
    end = time.monotonic() + max_s
    try:
        conn.shutdown(socket.SHUT_WR)
        while (remaining := end - time.monotonic()) > 0:
            conn.settimeout(min(remaining, _POLL_S * 4))
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue
    except OSError:
        pass


def _shutdown(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------
# One byte-level instrument on a socket or a pty pair
# ------------------------------------------------------------------------------------------------
class ByteHandler(Protocol):
    """A simulated instrument seen at the byte level."""

    def greeting(self) -> bytes:
        """Bytes sent when a client connects (e.g. ``b"Ready\\n"``), usually empty."""
        ...

    def receive(self, data: bytes) -> bytes:
        """Consume received bytes, return the bytes to send back (possibly empty)."""
        ...


class _HandlerSession:
    """A connection to a :class:`TcpServer`: it feeds the server's one handler (a line instrument
    keeps no state per connection, as the real one on its serial line)."""

    wants_close = False

    def __init__(self, server: "TcpServer") -> None:
        self.server = server
        self.requests_done = 0

    def feed(self, data: bytes) -> bytes:
        self.requests_done += 1
        return self.server.feed(data)

    def close(self) -> None:
        pass


class TcpServer(GuardedTcpServer):
    """Serve one :class:`ByteHandler` on ``127.0.0.1`` (port chosen by the OS unless given), a
    thread per client, with the guarded server's limits (no idle timeout by default: a driver may
    stay connected and silent, as on its serial line)."""

    def __init__(self, handler: ByteHandler, host: str = "127.0.0.1", port: int = 0,
                 limits: ServerLimits = ServerLimits(max_connections=16, idle_timeout_s=None)) -> None:
        self.handler = handler
        #: bytes received from every client so far
        self.bytes_received = 0
        super().__init__(lambda peer: _HandlerSession(self), lambda reason, received: b"", host, port,
                         limits, name=f"TcpServer({type(handler).__name__})", greeting=handler.greeting)

    def feed(self, data: bytes) -> bytes:
        self.bytes_received += len(data)
        return self.handler.receive(data)

    def connect(self, timeout_s: float = 1.0) -> SocketTransport:
        return SocketTransport(self.host, self.port, timeout_s=timeout_s)


class PtyServer:
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

        self.handler = handler
        #: bytes received from the client so far
        self.bytes_received = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master: int | None
        self._slave: int | None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)

    def connect(self, baudrate: int = 9600, timeout_s: float = 1.0) -> SerialTransport:
        return SerialTransport(self.port, baudrate=baudrate, timeout_s=timeout_s)

    def start(self) -> "PtyServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="PtyServer", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        master = self._master
        assert master is not None
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
                self.bytes_received += len(data)
                try:
                    reply = self.handler.receive(data)
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
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._close_fds()

    def __enter__(self) -> "PtyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serial_server(handler: ByteHandler, kind: str = DEFAULT_SERIAL_SERVER) -> PtyServer | TcpServer:
    """A (not yet started) server for a simulated *serial* instrument: on a pty pair
    (``kind="pty"``, POSIX only) or on a 127.0.0.1 socket (``kind="tcp"``), which pyserial opens
    as ``socket://127.0.0.1:PORT`` (see :func:`serial_address`)."""
    if kind not in SERIAL_SERVERS:
        raise ValueError(f"serial server kind {kind!r} is not one of {SERIAL_SERVERS}")
    return PtyServer(handler) if kind == "pty" else TcpServer(handler)


def serial_address(server: PtyServer | TcpServer) -> str:
    """The port a :class:`~detectors.common.transport.SerialTransport` (or a site file's ``port``
    key) opens to reach ``server``: the pty slave's path, or a pyserial ``socket://host:port`` URL."""
    if isinstance(server, PtyServer):
        return server.port
    return f"socket://{server.host}:{server.port}"
