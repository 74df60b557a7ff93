"""A hostile scan unit against the real driver (``TcpScanGenerator``, real sockets on 127.0.0.1):
a unit that trickles, sends garbage, oversize lines or absurd payload sizes, or drops the
connection mid-reply makes the driver raise a typed error (``detectors.common.errors``) within its
deadline, never hang or allocate what the unit announces."""
from __future__ import annotations

import re
import socket
import threading
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from detectors.common.errors import BadReply, ConnectionLost, DeviceError, DeviceTimeout
from detectors.scan import ScanGeneratorError, TcpScanGenerator

TIMEOUT_S = 0.5
HANDSHAKE = {"*IDN?": b"LUMIERE,SCANGEN,1,4,HAADF:ADF\n", "FRAME?": b"FRAME 4 4 16.0 0.0 0.0 0.0 1e-06 0\n",
             "CHAN?": b"CHAN HAADF\n", "ORDER": b"OK\n", "OUT?": None}


class HostileUnit:
    """Answers the driver's handshake like a unit, then runs ``attack(conn)`` on the first other command."""

    def __init__(self, attack) -> None:
        self.attack = attack
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(5.0)
        conn, _ = self.listener.accept()
        buffer = b""
        try:
            while not self.stop.is_set():
                while b"\n" not in buffer:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\n", 1)
                keyword, _, rest = line.decode().partition(" ")
                if keyword in HANDSHAKE:
                    reply = HANDSHAKE[keyword] or f"OUT {rest} off high 0.0 0.0\n".encode()
                    conn.sendall(reply)
                    continue
                self.attack(conn, self.stop)
                return
        except OSError:
            pass
        finally:
            conn.close()
            self.listener.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5.0)


def against(attack):
    unit = HostileUnit(attack)
    driver = TcpScanGenerator.connect("127.0.0.1", unit.port, timeout_s=TIMEOUT_S)
    return unit, driver


def trickle(data: bytes, period_s: float = 0.05):
    def attack(conn, stop):
        for byte in data:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(period_s)
        stop.wait(5.0)
    return attack


def timed(call):
    start = time.monotonic()
    try:
        call()
    except DeviceError as error:
        return error, time.monotonic() - start
    raise AssertionError("no error raised")


LINE_ATTACKS = [
    ("trickled reply line", trickle(b"PROBE 1.0 " + b"9" * 1000), DeviceTimeout,
     r"no reply to 'PROBE\?' within 0.5 s \(expected PROBE <y_nm> <x_nm>\)", TIMEOUT_S),
    ("silent unit", lambda conn, stop: stop.wait(5.0), DeviceTimeout, r"no reply to 'PROBE\?' within 0.5 s",
     TIMEOUT_S),
    ("binary garbage", lambda conn, stop: conn.sendall(b"\x00\xff\x13garbage\n"), BadReply,
     r"expected PROBE <y_nm> <x_nm> to 'PROBE\?': non-ASCII reply", 0.0),
    ("unprintable", lambda conn, stop: conn.sendall(b"PROBE \x07 1\n"), BadReply, "unprintable reply", 0.0),
    ("wrong reply", lambda conn, stop: conn.sendall(b"PROBE one two\n"), BadReply,
     r"expected PROBE <y_nm> <x_nm> to 'PROBE\?'", 0.0),
    ("oversize line", lambda conn, stop: (conn.sendall(b"A" * 100_000), stop.wait(5.0)), BadReply,
     r"reply to 'PROBE\?' longer than 4096 bytes", 0.0),
    ("disconnect mid-line", lambda conn, stop: conn.sendall(b"PROBE 1.0"), ConnectionLost,
     r"waiting for the reply to 'PROBE\?'.*closed", 0.0),
]


@pytest.mark.parametrize("case, attack, kind, message, deadline_s", LINE_ATTACKS, ids=[a[0] for a in LINE_ATTACKS])
def test_hostile_replies_raise_typed_errors_within_the_deadline(case, attack, kind, message, deadline_s):
    unit, driver = against(attack)
    try:
        error, elapsed = timed(driver.probe_position_nm)
        assert isinstance(error, kind), f"{case}: {error!r}"
        assert error is not None and re.search(message, str(error)), f"{case}: {error}"
        assert elapsed < deadline_s + 1.5, f"{case}: {elapsed:.2f} s"   # the attacks last 5 s or more
    finally:
        driver.close()
        unit.close()


def data_header(n_values: int, payload: bytes, nbytes: int | None = None) -> bytes:
    return b"DATA 0.0 %d %d %08x\n" % (n_values, len(payload) if nbytes is None else nbytes, zlib.crc32(payload))


PAYLOAD = np.arange(16, dtype="<f4").tobytes()


DATA_ATTACKS = [
    ("trickled payload", lambda conn, stop: (conn.sendall(data_header(16, PAYLOAD)), trickle(PAYLOAD)(conn, stop)),
     DeviceTimeout, r"'SCAN' data: 64 bytes announced by .* not received within 0.5 s", 2 * TIMEOUT_S),
    ("absurd payload size", lambda conn, stop: (conn.sendall(data_header(16, PAYLOAD, 10**12)), stop.wait(5.0)),
     BadReply, r"expected 16 values . 1 channels \(64 bytes\) to 'SCAN', got 'DATA 0.0 16 1000000000000", 0.0),
    ("disconnect mid-payload", lambda conn, stop: conn.sendall(data_header(16, PAYLOAD) + PAYLOAD[:30]),
     ConnectionLost, r"'SCAN' data: connection lost before the 64 bytes", 0.0),
    ("error reply", lambda conn, stop: conn.sendall(b"ERR 4 busy: owned by 127.0.0.1:1\n"), ScanGeneratorError,
     r"scan unit refused 'SCAN': 4 busy: owned by 127.0.0.1:1", 0.0),
]


@pytest.mark.parametrize("case, attack, kind, message, deadline_s", DATA_ATTACKS, ids=[a[0] for a in DATA_ATTACKS])
def test_hostile_data_replies_raise_typed_errors_within_the_deadline(case, attack, kind, message, deadline_s):
    unit, driver = against(attack)
    tracemalloc.start()
    try:
        error, elapsed = timed(driver.acquire_frame)
        _, peak = tracemalloc.get_traced_memory()
        assert isinstance(error, kind), f"{case}: {error!r}"
        assert re.search(message, str(error)), f"{case}: {error}"
        assert elapsed < deadline_s + 1.5, f"{case}: {elapsed:.2f} s"   # the attacks last 5 s or more
        assert peak < 1 << 20, f"{case}: {peak} bytes allocated"
    finally:
        tracemalloc.stop()
        driver.close()
        unit.close()


def test_handshake_from_a_hostile_unit_is_refused_with_a_typed_error():
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        conn.recv(100)
        conn.sendall("LUMIÈRE\n".encode())
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(BadReply, match=r"non-ASCII reply"):
            TcpScanGenerator.connect("127.0.0.1", listener.getsockname()[1], timeout_s=TIMEOUT_S)
    finally:
        thread.join(5.0)
        listener.close()
