"""A hostile client against the simulated Merlin (``lumiere merlin-sim``; real sockets on 127.0.0.1):
file names that leave their directory, a second data connection, connection floods, idle and
trickling connections, non-ASCII and broken requests. Each ends in a clear refusal within bounded
timeouts, and the next honest client is served."""
from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest

from detectors.common.guarded_server import ServerLimits
from detectors.merlin.control import MerlinControl
from detectors.merlin.errors import MerlinBusy, MerlinConnectionLost, MerlinValueOutOfRange
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.receiver import MerlinDataClient
from detectors.merlin.settings import MerlinSettings
from detectors.merlin.simulator import LISTEN_BACKLOG, MerlinSimulator

FAST = dict(counter_depth=12, acquisition_time_ms=0.5, acquisition_period_ms=0.5)


def simulator(**kwargs) -> MerlinSimulator:
    return MerlinSimulator(frame_source=PatternSource((256, 1024), 4095), realtime=False, **kwargs)


def wait_until(condition, timeout_s: float = 3.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.01)


def honest(sim: MerlinSimulator, n_frames: int = 3) -> None:
    """An honest client acquires a few frames."""
    with MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as data:
        control.apply(MerlinSettings(num_frames=n_frames, **FAST))
        control.start_acquisition()
        assert data.receive().complete


def raw_request(sock: socket.socket, body: bytes, timeout_s: float = 2.0) -> bytes:
    sock.settimeout(timeout_s)
    sock.sendall(b"MPX,%010d," % (len(body) + 1) + body)
    prefix = sock.recv(15, socket.MSG_WAITALL)
    assert len(prefix) == 15, f"connection closed: {prefix!r}"
    return sock.recv(int(prefix[4:14]) - 1, socket.MSG_WAITALL)


@pytest.mark.parametrize("name", ["../x", "../../etc/x", "/tmp/x", "a/b", "a\\b", "..", "", "C:x", "x\x01y"],
                         ids=["dotdot", "dotdot2", "absolute", "subdir", "backslash", "parent", "empty", "drive",
                              "control-char"])
def test_file_name_leaving_filedirectory_is_refused(tmp_path, name):
    inside = tmp_path / "data"
    with simulator() as sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control:
        control.set("FILEDIRECTORY", str(inside))
        with pytest.raises(MerlinValueOutOfRange, match="FILENAME"):
            control.set("FILENAME", name)
        assert control.get("FILENAME") == "acquisition", "the refused name was not stored"
        assert any("FILENAME" in text for text in sim.refusals)
        control.apply(MerlinSettings(num_frames=2, file_enable=True, file_directory=str(inside),
                                     file_name="acquisition", **FAST))
        with MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as data:
            control.start_acquisition()
            assert data.receive().complete
        wait_until(lambda: control.detector_status() == 0)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.mib")) == ["data/acquisition.mib"]


def test_filedirectory_is_confined_to_the_file_root(tmp_path):
    root = tmp_path / "root"
    with simulator(file_root=root) as sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control:
        for outside in ("..", str(tmp_path), "/etc", "sub/../../x"):
            with pytest.raises(MerlinValueOutOfRange, match="FILEDIRECTORY"):
                control.set("FILEDIRECTORY", outside)
        (tmp_path / "elsewhere").mkdir()
        root.mkdir()
        (root / "link").symlink_to(tmp_path / "elsewhere")
        with pytest.raises(MerlinValueOutOfRange):
            control.set("FILEDIRECTORY", "link")       # a symlink does not lead out either
        control.set("FILEDIRECTORY", "run1")
        sim.set_parameter("FILENAME", "../escape")     # set behind the protocol's back: still refused
        control.set("FILEENABLE", 1)
        control.set("NUMFRAMESTOACQUIRE", 1)
        with MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as data:
            wait_until(lambda: sim._data_conn is not None)
            control.start_acquisition()
            wait_until(lambda: control.detector_status() == 0)
            assert any("escape" in str(e) for e in sim.errors)
            data.drain()
            control.set("FILENAME", "ok")
            control.start_acquisition()
            assert data.receive().complete
        wait_until(lambda: control.detector_status() == 0)
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.mib")] == ["root/run1/ok.mib"]


def test_second_data_connection_is_refused_and_the_first_keeps_the_stream():
    with simulator() as sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as first:
        control.apply(MerlinSettings(num_frames=4, **FAST))
        wait_until(lambda: sim._data_conn is not None)
        second = MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2).connect()
        with pytest.raises(MerlinConnectionLost, match=r"refused the connection: busy: data channel owned by "
                                                       r"127\.0\.0\.1:\d+"):
            second.receive()
        second.close()
        control.start_acquisition()
        assert first.receive().complete, "the first client still gets every frame"
    assert any("data channel owned" in text for text in sim.refusals)


def test_data_channel_is_free_again_once_its_client_leaves():
    with simulator() as sim:
        MerlinDataClient("127.0.0.1", sim.data_port).connect().close()
        honest(sim)


def test_idle_data_squatter_is_closed_and_our_client_reconnects_by_itself():
    with simulator(data_idle_timeout_s=0.3) as sim:
        squatter = socket.create_connection(("127.0.0.1", sim.data_port), timeout=2)
        wait_until(lambda: sim._data_conn is not None)
        squatter.settimeout(2)
        assert squatter.recv(100) == b"", "closed after 0.3 s without an acquisition"
        assert any("idle for 0.3 s" in text for text in sim.refusals)
        with MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control, \
                MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as data:
            control.apply(MerlinSettings(num_frames=2, **FAST))
            wait_until(lambda: sim._data_conn is None)          # our own idle client was closed too
            control.start_acquisition()
            assert data.receive().complete, "receive() noticed and replaced the closed connection"
        squatter.close()


def test_control_connection_limit_refuses_clearly_and_frees_slots():
    with simulator() as sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as a, \
            MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as b:
        assert a.get_int("COUNTERDEPTH") == b.get_int("COUNTERDEPTH") == 12
        third = MerlinControl("127.0.0.1", sim.control_port, timeout_s=2)
        with pytest.raises(MerlinBusy, match=r"refused 'GET,IMAGEX': busy: 2 connections open \(limit 2\)"):
            third.get("IMAGEX")
        a.close()
        wait_until(lambda: sim._control.active_connections == 1)
        assert third.get_int("IMAGEX") == 1024, "a freed slot is served"
        third.close()


def test_flood_of_idle_connections_is_bounded_and_times_out():
    sim = simulator(control_limits=ServerLimits(max_connections=2, idle_timeout_s=0.4))
    with sim:
        threads_before = threading.active_count()
        flood = [socket.create_connection(("127.0.0.1", sim.control_port), timeout=2) for _ in range(200)]
        try:
            wait_until(lambda: sim._control.accepted == 200)
            assert sim._control.active_connections <= 2 and sim._control.refused >= 100
            assert threading.active_count() <= threads_before + 2, "no thread per connection over the limit"
            wait_until(lambda: sim._control.active_connections == 0)   # the idle ones are closed
            honest(sim)
        finally:
            for s in flood:
                s.close()


def test_listen_backlogs_queue_a_burst_of_connections():
    # not started: only the kernel's queues (the backlogs) can complete these handshakes; with the old
    # backlog of 4 the 6th connection timed out
    sim = simulator()
    assert LISTEN_BACKLOG == sim._control.limits.backlog == 128
    burst = []
    try:
        for port in (sim.control_port, sim.data_port):
            for _ in range(100):
                burst.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
        for s in burst:
            s.close()
        sim.start()
        wait_until(lambda: sim._control.accepted == 100 and sim._control.active_connections == 0)
        honest(sim)
    finally:
        for s in burst:
            s.close()
        sim.stop()


def test_client_reconnects_by_itself_after_the_idle_timeout():
    sim = simulator(control_limits=ServerLimits(max_connections=2, idle_timeout_s=0.3))
    with sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control:
        assert control.get_int("COUNTERDEPTH") == 12
        wait_until(lambda: sim._control.active_connections == 0)
        assert control.get_int("COUNTERDEPTH") == 12, "the closed connection was noticed and replaced"


def test_trickling_control_client_is_dropped():
    sim = simulator(control_limits=ServerLimits(max_connections=2, idle_timeout_s=0.4))
    with sim:
        sock = socket.create_connection(("127.0.0.1", sim.control_port), timeout=2)
        start = time.monotonic()
        with pytest.raises(OSError):
            for byte in b"MPX,0000000100," + b"G" * 200:   # a byte every 50 ms, never a whole request
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        assert time.monotonic() - start < 4.0   # the trickle alone would last 5 s or more
        sock.close()
        honest(sim)


def test_non_ascii_request_is_answered_and_the_session_lives():
    with simulator() as sim, socket.create_connection(("127.0.0.1", sim.control_port), timeout=2) as sock:
        assert raw_request(sock, "GET,NAMÉ".encode("utf-8")) == b"GET,NAM??,2"
        assert raw_request(sock, "SET,FILENAME,é".encode("latin-1")) == b"SET,FILENAME,2"
        assert raw_request(sock, b"GET,COUNTERDEPTH") == b"GET,COUNTERDEPTH,12,0", "same connection still served"
        assert sim.errors == []
        assert raw_request(sock, b"SET,FILENAME,caf\xc3\xa9") == b"SET,FILENAME,2"
        assert raw_request(sock, b"GET,FILENAME") == b"GET,FILENAME,acquisition,0"


@pytest.mark.parametrize("attack", [b"GARBAGE-GARBAGE-GARBAGE", b"MPX,9999999999,GET", b"MPX,00000000x1,"],
                         ids=["garbage", "huge-length", "bad-digits"])
def test_broken_framing_drops_only_that_connection(attack):
    tracemalloc.start()
    try:
        with simulator() as sim:
            with socket.create_connection(("127.0.0.1", sim.control_port), timeout=2) as sock:
                sock.sendall(attack)
                assert sock.recv(100) == b"", "the server closed the connection"
            _, peak = tracemalloc.get_traced_memory()
            assert sim.refusals and peak < 64 << 20
            honest(sim)
    finally:
        tracemalloc.stop()


def test_cli_confines_files_and_limits_connections(tmp_path, capsys):
    from detectors.merlin.sim_cli import main
    import re

    stop = threading.Event()
    thread = threading.Thread(target=main, args=(["--control-port", "0", "--data-port", "0", "--no-realtime",
                                                 "--file-root", str(tmp_path), "--max-control-connections", "1",
                                                 "--idle-timeout", "5"], stop))
    thread.start()
    try:
        match = None
        for _ in range(500):
            match = re.search(r"control_port=(\d+)", capsys.readouterr().out)
            if match:
                break
            thread.join(0.01)
        assert match
        with MerlinControl("127.0.0.1", int(match.group(1)), timeout_s=2) as control:
            with pytest.raises(MerlinValueOutOfRange):
                control.set("FILEDIRECTORY", "/etc")
            with pytest.raises(MerlinBusy, match=r"limit 1"):
                MerlinControl("127.0.0.1", int(match.group(1)), timeout_s=2).get("IMAGEX")
    finally:
        stop.set()
        thread.join(10)
    err = capsys.readouterr().err
    assert "FILEDIRECTORY '/etc' resolves outside" in err and "busy: 1 connection open (limit 1)" in err


def test_simulator_works_with_descriptors_beyond_1024():
    filler = [socket.socket() for _ in range(1100)]   # later sockets get descriptors select() cannot take
    try:
        with simulator() as sim:
            honest(sim)
            with MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2) as data:
                assert data._sock.fileno() >= 1024
                wait_until(lambda: sim._data_conn is not None)
                second = MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=2)
                with pytest.raises(MerlinConnectionLost, match="busy: data channel owned by"):
                    second.receive()
                second.close()
            honest(sim)
    finally:
        for s in filler:
            s.close()
