"""A hostile client against the scan-unit server (real sockets on 127.0.0.1): every attack ends in
a clear ``ERR`` refusal (or the attacker's connection closed), within bounded timeouts, and the
next honest client is served."""
from __future__ import annotations

import socket
import threading
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from detectors.common.guarded_server import ServerLimits
from detectors.interfaces import ScanFrame
from detectors.scan import ScanGeneratorError, SimulatedScanGenerator, SimulatedScanUnit
from detectors.scan.server import ScanUnitLimits
from detectors.simulation.world import SimulatedWorld

TIMEOUT_S = 2.0
WORLD: SimulatedWorld


class Raw:
    """A raw client: bytes out, reply lines in, every read bounded."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self, timeout_s: float = TIMEOUT_S) -> str:
        end = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            self.sock.settimeout(max(end - time.monotonic(), 0.001))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the server; received {bytes(self.buffer)!r}")
            self.buffer += chunk
        idx = self.buffer.index(b"\n")
        text = bytes(self.buffer[:idx]).decode("ascii")   # every reply is ASCII
        del self.buffer[:idx + 1]
        return text

    def query(self, text: str) -> str:
        self.send(text.encode("ascii") + b"\n")
        return self.line()

    def closed_by_server(self, timeout_s: float = TIMEOUT_S) -> bool:
        self.sock.settimeout(timeout_s)
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def wait_until(condition, timeout_s: float = TIMEOUT_S) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture(scope="module", autouse=True)
def world():
    global WORLD
    WORLD = SimulatedWorld(3)   # built once: it takes seconds
    yield WORLD


def serve(**server_limits) -> SimulatedScanUnit:
    unit = SimulatedScanUnit(SimulatedScanGenerator(WORLD), timeout_s=TIMEOUT_S,
                             server_limits=ServerLimits(**server_limits))
    unit.server.start()
    return unit


@pytest.fixture
def unit():
    u = serve(idle_timeout_s=None)
    yield u
    u.stop()


def honest(unit: SimulatedScanUnit) -> None:
    """The next honest client connects (once the unit is free) and scans a small frame."""
    wait_until(lambda: unit.simulator.owner is None)
    driver = unit.connect()
    try:
        driver.configure(ScanFrame((8, 8), 32.0, dwell_s=1e-6))
        assert driver.acquire_frame().images["HAADF"].shape == (8, 8)
    finally:
        driver.close()


def test_each_connection_has_its_own_buffer_and_bytes_are_answered_where_they_came_from(unit):
    hostile = Raw(unit.port)
    hostile.send(b"*ID")                      # half a line, never finished
    driver = unit.connect()                   # its *IDN? is not glued to the hostile half line
    try:
        other = Raw(unit.port)
        assert other.query("PARK") == f"ERR 4 busy: owned by {unit.simulator.owner}"
        assert driver.probe_position_nm() == (0.0, 0.0), "the refused PARK reached nobody's socket but its own"
        hostile.send(b"N?\n")
        assert hostile.line().startswith("LUMIERE,SCANGEN,1"), "its own half line completed on its own connection"
        other.close()
    finally:
        driver.close()
        hostile.close()
    honest(unit)


def test_order_of_four_billion_visits_is_refused_and_does_not_jam_the_unit(unit):
    hostile = Raw(unit.port)
    assert hostile.query("ORDER 4000000000 0") == "ERR 2 ORDER of 4000000000 visits outside 1..65536 (the pixels of " \
                                                  "the 256x256 frame)"
    assert hostile.closed_by_server(), "a payload that cannot be skipped ends the connection"
    hostile.close()
    honest(unit)
    honest(unit)   # and stays usable, unlike before (every later call timed out)


def test_order_too_large_for_the_frame_is_refused_and_its_payload_skipped(unit):
    hostile = Raw(unit.port)
    payload = np.arange(70_000, dtype="<u4").tobytes()
    hostile.send(b"ORDER 70000 %08x\n" % zlib.crc32(payload) + payload)
    assert hostile.line().startswith("ERR 2 ORDER of 70000 visits outside 1..65536")
    assert hostile.query("FRAME?").startswith("FRAME 256 256"), "the stream stays in step after the skip"
    hostile.close()
    honest(unit)


def test_order_from_a_non_owner_is_refused_busy(unit):
    driver = unit.connect()
    try:
        hostile = Raw(unit.port)
        payload = np.arange(4, dtype="<u4").tobytes()
        hostile.send(b"ORDER 4 %08x\n" % zlib.crc32(payload) + payload)
        assert hostile.line().startswith("ERR 4 busy: owned by 127.0.0.1:")
        assert hostile.query("*IDN?").startswith("LUMIERE,SCANGEN"), "in step after the skipped payload"
        assert driver.pixel_order() is None and unit.simulator.generator.pixel_order() is None
        hostile.close()
    finally:
        driver.close()


def test_fifty_mib_line_without_newline_is_refused_not_buffered(unit):
    hostile = Raw(unit.port)
    chunk = b"A" * (1 << 20)
    tracemalloc.start()
    try:
        for _ in range(50):
            hostile.send(chunk)
        assert hostile.line() == "ERR 1 line longer than 1024 bytes (limit 1024)"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"server buffered {peak} bytes"
    hostile.send(b"\n")                       # the over-long line ends: the connection is usable again
    assert hostile.query("*IDN?").startswith("LUMIERE,SCANGEN")
    hostile.close()
    honest(unit)


def test_huge_frame_is_refused_with_the_allowed_range_and_scan_allocates_nothing(unit):
    hostile = Raw(unit.port)
    assert hostile.query("FRAME 100000 100000 512.0 0 0 0 1e-6 0") == \
        "ERR 2 frame size 100000x100000 px outside 1..4096 px per side"
    assert hostile.query("FRAME 16 16 1e9 0 0 0 1e-6 0").startswith("ERR 2 frame of fov 1000000000.0 nm")
    reply = hostile.query("FRAME 16 16 64 0 0 nan 1e-6 0")  # ScanFrame itself refuses non-finite values
    assert reply.startswith("ERR 2") and "rotation" in reply and "nan" in reply, reply
    assert hostile.query("FRAME 16 16 64 0 0 0 100 0") == "ERR 2 dwell 100.0 s outside 1e-08..10.0 s"
    assert hostile.query("BLOCK 0 1000000000000").startswith("ERR 2 BLOCK 0 1000000000000: visits 0..")
    assert hostile.query("FRAME 4 4 16 0 0 0 1e-6 0") == "OK"
    hostile.send(b"SCAN\n")
    header = hostile.line()
    assert header.startswith("DATA ") and header.split()[2:4] == ["16", "64"]
    hostile.close()
    honest(unit)


def test_bad_crc_is_answered_err_3_and_the_handler_lives(unit):
    hostile = Raw(unit.port)
    assert hostile.query("FRAME 4 4 16 0 0 0 1e-6 0") == "OK"
    payload = np.array([3, 1], "<u4").tobytes()
    hostile.send(b"ORDER 2 deadbeef\n" + payload)
    assert hostile.line() == f"ERR 3 ORDER payload CRC32 {zlib.crc32(payload):08x} != deadbeef"
    hostile.send(b"ORDER 2 %08x\n" % zlib.crc32(payload) + payload)
    assert hostile.line() == "OK", "the same connection is still served"
    hostile.close()
    honest(unit)


def test_probe_outside_the_field_is_refused(unit):
    hostile = Raw(unit.port)
    assert hostile.query("PROBE 1e9 1e9") == "ERR 2 probe position (1000000000.0, 1000000000.0) nm outside the " \
                                             "field -10000..10000 nm"
    assert hostile.query("PROBE nan 0") .startswith("ERR 2 probe position (nan, 0.0) nm outside")
    assert hostile.query("PROBE?") == "PROBE 0.0 0.0"
    hostile.close()
    honest(unit)


def test_error_replies_are_ascii_and_non_ascii_commands_are_refused(unit):
    hostile = Raw(unit.port)
    assert hostile.query("OUT 9 flyback high 0 0") == "ERR 2 output index 9 outside 1..4"
    hostile.send("PROBE 1 2 µ\n".encode("utf-8"))
    assert hostile.line().startswith("ERR 1 non-ASCII command")
    hostile.send(b"\xff\xfe\x00\n")
    assert hostile.line().startswith("ERR 1 non-ASCII command")
    assert hostile.query("JUMP") == "ERR 1 unknown command 'JUMP'"
    hostile.close()
    honest(unit)


def test_owner_leaving_resets_the_unit_for_the_next_client(unit):
    hostile = Raw(unit.port)
    assert hostile.query("FRAME 4 4 16 0 0 0 1e-6 0") == "OK"
    payload = np.array([3, 1], "<u4").tobytes()
    hostile.send(b"ORDER 2 %08x\n" % zlib.crc32(payload) + payload)
    assert hostile.line() == "OK"
    assert hostile.query("OUT 1 pixel-clock low 5 0") == "OK"
    assert hostile.query("PROBE 100 100") == "OK"
    hostile.close()
    wait_until(lambda: unit.simulator.owner is None)
    g = unit.simulator.generator
    assert g.frame == ScanFrame() and g.pixel_order() is None and g.output_lines()[0].source == "off"
    assert g.probe_position_nm() == (0.0, 0.0), "probe parked"
    honest(unit)


def test_connection_limit_refuses_clearly_and_idle_connections_are_closed():
    unit = serve(max_connections=3, idle_timeout_s=0.5)
    threads_before = threading.active_count()
    idle = [Raw(unit.port) for _ in range(40)]
    try:
        wait_until(lambda: unit.server.accepted == 40)
        assert unit.server.active_connections <= 3 and unit.server.refused >= 20
        assert threading.active_count() <= threads_before + 3, "no thread per refused connection"
        late = Raw(unit.port)
        assert late.query("*IDN?") == "ERR 4 busy: 3 connections open (limit 3)"
        assert late.closed_by_server()
        late.close()
        wait_until(lambda: unit.server.active_connections == 0)   # idle ones closed, slots free
        honest(unit)
    finally:
        for c in idle:
            c.close()
        unit.stop()


def test_trickling_owner_is_dropped_after_the_idle_timeout_and_the_unit_freed():
    unit = serve(idle_timeout_s=0.4)
    try:
        hostile = Raw(unit.port)
        assert hostile.query("PARK") == "OK"              # owns the unit
        start = time.monotonic()
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(100):                           # a byte every 50 ms, never a whole line
                hostile.send(b"P")
                time.sleep(0.05)
        assert time.monotonic() - start < 4.0   # the trickle alone would last 5 s or more
        wait_until(lambda: unit.simulator.owner is None)
        honest(unit)
        hostile.close()
    finally:
        unit.stop()


def test_listen_backlog_queues_a_burst_of_connections():
    # the accept thread is not started: only the kernel's queue (the backlog) can complete these
    # handshakes; with the old backlog of 4 the 6th connection timed out
    unit = SimulatedScanUnit(SimulatedScanGenerator(WORLD), server_limits=ServerLimits(idle_timeout_s=None))
    assert unit.server.limits.backlog == 128
    burst = []
    try:
        for _ in range(100):
            burst.append(socket.create_connection(("127.0.0.1", unit.port), timeout=0.5))
        unit.server.start()
        wait_until(lambda: unit.server.active_connections == 8)
        for s in burst:
            s.close()
        wait_until(lambda: unit.server.accepted == 100 and unit.server.active_connections == 0)
        honest(unit)
    finally:
        for s in burst:
            s.close()
        unit.stop()


def test_driver_refused_by_an_owned_unit_raises_a_typed_error(unit):
    driver = unit.connect()
    try:
        with pytest.raises(ScanGeneratorError, match=r"4 busy: owned by 127\.0\.0\.1:\d+"):
            unit.connect()
    finally:
        driver.close()
    honest(unit)


def test_limits_are_configurable():
    unit = SimulatedScanUnit(SimulatedScanGenerator(WORLD),
                             limits=ScanUnitLimits(max_size_px=64, field_nm=100.0))
    with unit:
        with pytest.raises(ScanGeneratorError, match="frame size 128x128 px outside 1..64 px per side"):
            unit.driver.configure(ScanFrame((128, 128), 50.0))
        with pytest.raises(ScanGeneratorError, match="probe position .* outside the field -50..50 nm"):
            unit.driver.set_probe_position_nm(60.0, 0.0)
        unit.driver.set_probe_position_nm(50.0, -50.0)
    assert unit.server.errors == []


def test_server_serves_and_refuses_with_descriptors_beyond_1024():
    filler = [socket.socket() for _ in range(1100)]   # later sockets get descriptors select() cannot take
    unit = serve(max_connections=1, idle_timeout_s=None)
    try:
        driver = unit.connect()
        late = Raw(unit.port)
        assert late.sock.fileno() >= 1024
        assert late.query("*IDN?") == "ERR 4 busy: 1 connection open (limit 1)"
        late.close()
        driver.close()
        honest(unit)
        assert unit.server.errors == []
    finally:
        unit.stop()
        for s in filler:
            s.close()
