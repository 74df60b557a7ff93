"""Transports and simulator servers: pty pair (pyserial) and 127.0.0.1 socket."""
from __future__ import annotations

import pytest

from detectors.common.errors import ConnectionLost, DeviceTimeout
from detectors.common.simbase import Fault, LineInstrument
from detectors.common.transport import LineChannel, RecordingTransport, SocketTransport, Transport
from detectors.common.guarded_server import PtyServer, TcpServer


class Echo(LineInstrument):
    """Answers ``PING`` with ``PONG``, ``BIG`` with 5000 bytes, ``QUIET`` with nothing."""

    def handle_line(self, line: str) -> str | None:
        if line == "PING":
            return "PONG"
        if line == "BIG":
            return "X" * 5000
        if line == "QUIET":
            return None
        return f"ECHO {line}"


@pytest.fixture(params=["pty", "tcp"])
def served(request):
    handler = Echo()
    server = PtyServer(handler) if request.param == "pty" else TcpServer(handler)
    with server:
        transport = server.connect(timeout_s=0.5)
        yield handler, server, transport
        transport.close()


def test_transport_protocol_and_line_roundtrip(served):
    handler, server, transport = served
    assert isinstance(transport, Transport)
    channel = LineChannel(transport, b"\n")
    assert channel.query("PING") == "PONG"
    assert channel.query("hello") == "ECHO hello"
    assert server.bytes_received == len(b"PING\nhello\n")
    assert handler.requests == [b"PING", b"hello"]


def test_read_exact_and_read_until(served):
    _, _, transport = served
    transport.reset_input()  # drop the greeting if it arrived
    transport.write(b"abc\n")
    assert transport.read_exact(4) == b"ECHO"
    assert transport.read_until(b"\n") == b" abc\n"
    transport.write(b"BIG\n")
    line = transport.read_until(b"\n", max_bytes=10000)
    assert len(line) == 5001


def test_timeouts_are_typed(served):
    _, _, transport = served
    transport.reset_input()
    transport.write(b"QUIET\n")
    with pytest.raises(DeviceTimeout):
        transport.read_exact(1, timeout_s=0.05)
    with pytest.raises(DeviceTimeout):
        transport.read_until(b"\n", timeout_s=0.05)


def test_no_reply_fault_times_out_and_recovers(served):
    handler, _, transport = served
    channel = LineChannel(transport, b"\n", skip=("Ready",))
    handler.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        channel.query("PING", timeout_s=0.05)
    handler.fault = Fault.NONE
    assert channel.query("PING") == "PONG"


def test_disconnect_is_connection_lost(served):
    handler, _, transport = served
    handler.fault = Fault.DISCONNECT
    with pytest.raises(ConnectionLost):  # on a pty the write itself may already fail
        transport.write(b"PING\n")
        transport.read_until(b"\n", timeout_s=1.0)


def test_closed_transport_and_refused_connection():
    with TcpServer(Echo()) as server:
        transport = server.connect(timeout_s=0.5)
        transport.close()
        with pytest.raises(ConnectionLost):
            transport.write(b"PING\n")
        port = server.port
    with pytest.raises(ConnectionLost):  # the listener is closed once the server stopped
        SocketTransport("127.0.0.1", port, connect_timeout_s=0.5)


def test_greeting_is_sent_on_connect_and_skipped():
    class Greeter(Echo):
        greeting_bytes = b"Ready\n"

    with TcpServer(Greeter()) as server:
        transport = server.connect(timeout_s=0.5)
        assert transport.read_until(b"\n") == b"Ready\n"
        transport.write(b"PING\n")
        assert LineChannel(transport, skip=("Ready",)).read_line() == "PONG"
        transport.close()


def test_recording_transport_keeps_writes():
    with TcpServer(Echo()) as server:
        rec = RecordingTransport(server.connect(timeout_s=0.5))
        channel = LineChannel(rec, b"\n", skip=("Ready",))
        assert channel.query("PING") == "PONG"
        assert rec.written == [b"PING\n"]
        rec.close()


def test_exact_socket_reads_raise_the_common_errors_or_a_drivers_own():
    """The raw-socket reads Merlin uses are the common transport's: by default they raise
    DeviceTimeout / ConnectionLost with how much arrived; a driver's deadline names its subclasses."""
    import socket

    from detectors.common.transport import Deadline, peer_closed, recv_exact
    from detectors.merlin.errors import MERLIN_WIRE_ERRORS, MerlinConnectionLost, MerlinTimeout

    a, b = socket.socketpair()
    try:
        b.sendall(b"abc")
        with pytest.raises(DeviceTimeout, match="no data for 0.05 s after 3 of 5 bytes") as info:
            recv_exact(a, 5, Deadline(0.05, 1.0), "reply")
        assert info.value.bytes_received == 3 and not isinstance(info.value, MerlinTimeout)
        b.sendall(b"xy")
        with pytest.raises(MerlinTimeout, match="no data"):
            recv_exact(a, 3, Deadline(0.05, 1.0, errors=MERLIN_WIRE_ERRORS).within(0.5), "frame")
        assert not peer_closed(a)
        b.close()
        assert peer_closed(a)
        with pytest.raises(MerlinConnectionLost, match="connection closed after 0 of 4 bytes"):
            recv_exact(a, 4, Deadline(0.05, errors=MERLIN_WIRE_ERRORS), "frame")
    finally:
        a.close()
        b.close()
