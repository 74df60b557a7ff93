"""The simulated Merlin's control sessions and the checks that keep a client inside its limits.

Each control connection is a :class:`ControlSession` (its own MPX framing state) served by
:class:`~detectors.common.guarded_server.GuardedTcpServer`: at most ``max_connections`` at a time
(the manual's Merlin takes two), closed after ``idle_timeout_s`` without a complete request.

Refusals the Merlin protocol has a code for are answered with it (3 = out of range for a file
name that leaves its directory). Refusals it has no code for (connection limit, data channel
already taken) are sent as an MPX message whose body is ``ERR,<text>``, a simulator extension our
clients turn into :class:`~detectors.merlin.errors.MerlinBusy` /
:class:`~detectors.merlin.errors.MerlinConnectionLost` with the text; every refusal is also
appended to the simulator's ``refusals`` log.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MerlinError
from .framing import PREFIX_BYTES, encode_message, parse_prefix

if TYPE_CHECKING:
    from .simulator import MerlinSimulator

#: longest control request body accepted; a longer length field drops the connection
MAX_REQUEST_BODY_BYTES = 64 * 1024
#: longest FILENAME accepted (a common file-system limit for one name, minus ".mib")
MAX_FILENAME_CHARS = 200


def error_message(text: str) -> bytes:
    """An ``ERR,<text>`` MPX message (simulator extension; ASCII whatever ``text`` holds)."""
    return encode_message("ERR," + text.encode("ascii", "replace").decode("ascii"))


def check_file_name(name: str) -> str | None:
    """Why ``name`` is not a plain file name inside FILEDIRECTORY, or ``None`` if it is one."""
    if not name or len(name) > MAX_FILENAME_CHARS:
        return f"FILENAME {name!r} must have 1..{MAX_FILENAME_CHARS} characters"
    if not name.isascii() or not name.isprintable():
        return f"FILENAME {name!r} must be printable ASCII"
    if name in (".", "..") or any(sep in name for sep in ("/", "\\", ":")):
        return f"FILENAME {name!r} must be a plain name inside FILEDIRECTORY (no '/', '\\\\', ':', '..')"
    return None


def confined_directory(root: Path | None, directory: str) -> tuple[Path | None, str | None]:
    """``(resolved directory, None)`` if ``directory`` lies inside ``root`` (relative paths are
    taken from ``root``), else ``(None, why)``. Without a root any directory is allowed."""
    if not directory.isascii() or not directory.isprintable():
        return None, f"FILEDIRECTORY {directory!r} must be printable ASCII"
    if root is None:
        return Path(directory or "."), None
    base = root.resolve()
    path = (base / directory).resolve()   # symlinks resolved: a link cannot lead out either
    if path != base and base not in path.parents:
        return None, f"FILEDIRECTORY {directory!r} resolves outside the simulator's file root {str(base)!r}"
    return path, None


def refuse_control(reason: str, received: bytes) -> bytes | None:
    """Refusal of a control connection over the limit, sent once its first request is complete."""
    if len(received) < PREFIX_BYTES:
        return None
    try:
        length = parse_prefix(received[:PREFIX_BYTES], MAX_REQUEST_BODY_BYTES)
    except MerlinError:
        return b""   # not our protocol: close without a reply
    if len(received) < PREFIX_BYTES + min(length, 4096 - PREFIX_BYTES):
        return None
    return error_message(f"busy: {reason}")


class ControlSession:
    """Framing state of one control connection (``MPX,<len>,<body>`` requests)."""

    def __init__(self, simulator: "MerlinSimulator", peer: str) -> None:
        self.simulator, self.peer = simulator, peer
        self.requests_done = 0
        self.wants_close = False
        self._rx = bytearray()

    def feed(self, data: bytes) -> bytes:
        self._rx.extend(data)
        out = bytearray()
        while len(self._rx) >= PREFIX_BYTES and not self.wants_close:
            try:
                length = parse_prefix(self._rx[:PREFIX_BYTES], MAX_REQUEST_BODY_BYTES)
            except MerlinError as exc:
                # the stream cannot be resynchronised: say why and drop the client, as the detector would
                self.simulator.refuse(f"{self.peer}: {exc}")
                self.wants_close = True
                return bytes(out)
            if len(self._rx) < PREFIX_BYTES + length:
                break
            body = bytes(self._rx[PREFIX_BYTES:PREFIX_BYTES + length])
            del self._rx[:PREFIX_BYTES + length]
            self.requests_done += 1
            reply = self._answer(body)
            if not self.simulator.faults.silent_control:
                out += encode_message(reply)
        return bytes(out)

    def _answer(self, body: bytes) -> str:
        """The reply body; a request that is not ASCII is answered code 2 (its bytes shown as ``?``),
        and no request ever kills the session."""
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            text = body.decode("ascii", "replace").replace("\ufffd", "?")
            self.simulator.refuse(f"{self.peer}: non-ASCII control request {body[:60]!r}")
            reply = ",".join(text.split(",")[:2]) + ",2"
        else:
            try:
                reply = self.simulator.handle_command(text.rstrip("\r\n\x00"))
            except Exception as exc:  # noqa: BLE001 - kept for tests, answered "not recognised"
                self.simulator.errors.append(exc)
                reply = ",".join(text.split(",")[:2]) + ",2"
        return "".join(c if c.isascii() and c.isprintable() else "?" for c in reply)

    def close(self) -> None:
        self._rx.clear()


def refuse_data_connection(conn: socket.socket, text: str) -> None:
    """Send an ``ERR,<text>`` message on a data connection and close it; the client has sent
    nothing, so closing loses nothing of the message."""
    try:
        conn.settimeout(0.5)
        conn.sendall(error_message(text))
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.close()


def safe_file_path(directory: Path, name: str) -> Path:
    """``directory/name.mib`` after re-checking the name (the parameters may have been set directly)."""
    why = check_file_name(name)
    if why is not None:
        raise ValueError(why)
    return directory / (name + ".mib")


__all__ = ["ControlSession", "MAX_REQUEST_BODY_BYTES", "check_file_name", "confined_directory", "error_message",
           "refuse_control", "refuse_data_connection", "safe_file_path"]
