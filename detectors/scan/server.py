"""A simulated scan unit speaking the Lumière scan protocol on 127.0.0.1, over
:class:`~detectors.scan.simulated.SimulatedScanGenerator` (the real driver is what tests use)."""
from __future__ import annotations

import zlib

import numpy as np

from detectors.common.simbase import Fault, SimulatedInstrument
from detectors.common.transport import TcpServer
from detectors.scan.base import frame_from_fields, frame_fields
from detectors.scan.interface import ScanGeneratorError
from detectors.scan.outputs import OutputLine
from detectors.scan.simulated import SimulatedScanGenerator
from detectors.scan.tcp import PROTOCOL_VERSION, TcpScanGenerator, format_number

#: error codes of ``ERR <code> <text>`` replies
ERR_SYNTAX, ERR_VALUE, ERR_CHECKSUM = 1, 2, 3


class ScanUnitSimulator(SimulatedInstrument):
    """Byte handler of the simulated unit (``fault`` switch of :class:`~detectors.common.simbase.Fault`).

    Requests are ASCII lines; ``ORDER <n> <crc>`` lines are followed by ``4·n`` payload bytes,
    which belong to the same request.
    """

    def __init__(self, generator: SimulatedScanGenerator) -> None:
        super().__init__()
        self.generator = generator

    def _split_requests(self) -> list[bytes]:
        requests = []
        while True:
            idx = self._rx.find(b"\n")
            if idx < 0:
                return requests
            line = bytes(self._rx[:idx])
            payload = 0
            fields = line.split()
            if len(fields) == 3 and fields[0] == b"ORDER" and fields[1].isdigit():
                payload = 4 * int(fields[1])
            if len(self._rx) < idx + 1 + payload:
                return requests  # wait for the rest of the payload
            requests.append(bytes(self._rx[:idx + 1 + payload]))
            del self._rx[:idx + 1 + payload]

    def handle(self, request: bytes) -> bytes | None:
        line, _, payload = request.partition(b"\n")
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return b"ERR 1 non-ASCII command\n"
        if not text:
            return None
        try:
            reply = self._dispatch(text, payload)
        except (ValueError, TypeError, ScanGeneratorError) as exc:
            return f"ERR {ERR_VALUE} {exc}\n".encode("ascii", "replace")
        except _Syntax as exc:
            return f"ERR {ERR_SYNTAX} {exc}\n".encode("ascii", "replace")
        return reply if isinstance(reply, bytes) else reply.encode("ascii") + b"\n"

    def _dispatch(self, text: str, payload: bytes) -> str | bytes:
        g = self.generator
        keyword, *args = text.split()
        if keyword == "*IDN?":
            return f"LUMIERE,SCANGEN,{PROTOCOL_VERSION},{g.n_outputs},{':'.join(g.channel_names)}"
        if keyword == "FRAME?":
            return "FRAME " + " ".join(format_number(v) for v in frame_fields(g.frame))
        if keyword == "FRAME":
            g.configure(frame_from_fields(args))
            return "OK"
        if keyword == "CHAN?":
            return "CHAN " + ",".join(g.channels())
        if keyword == "CHAN":
            _nargs(keyword, args, 1)
            g.set_channels(args[0].split(","))
            return "OK"
        if keyword == "ORDER":
            if args == ["NONE"]:
                g.set_pixel_order(None)
                return "OK"
            _nargs(keyword, args, 2)
            if zlib.crc32(payload) != int(args[1], 16):
                return f"ERR {ERR_CHECKSUM} ORDER payload CRC32 {zlib.crc32(payload):08x} ≠ {args[1]}"
            g.set_pixel_order(np.frombuffer(payload, "<u4").astype(np.int64))
            return "OK"
        if keyword == "OUT?":
            _nargs(keyword, args, 1)
            lines = {line.index: line for line in g.output_lines()}
            if not args[0].isdigit() or int(args[0]) not in lines:
                raise ValueError(f"output index {args[0]!r} outside 1–{g.n_outputs}")
            line = lines[int(args[0])]
            return (f"OUT {line.index} {line.source} {line.polarity} {format_number(line.delay_us)} "
                    f"{format_number(line.width_us)}")
        if keyword == "OUT":
            _nargs(keyword, args, 5)
            g.set_output_line(OutputLine(int(args[0]), args[1], args[2], float(args[3]), float(args[4])))
            return "OK"
        if keyword == "PROBE?":
            return "PROBE " + " ".join(format_number(v) for v in g.probe_position_nm())
        if keyword == "PROBE":
            _nargs(keyword, args, 2)
            g.set_probe_position_nm(float(args[0]), float(args[1]))
            return "OK"
        if keyword == "PARK":
            g.park()
            return "OK"
        if keyword == "SCAN":
            data = g.acquire_frame()
            return _data_reply(data.t0_s, [data.images[n].ravel()[data.visits.order] for n in g.channels()])
        if keyword == "BLOCK":
            _nargs(keyword, args, 2)
            block = g.acquire_block(int(args[0]), int(args[1]))
            return _data_reply(block.t0_s, [block.values[n] for n in g.channels()])
        raise _Syntax(f"unknown command {keyword!r}")

    def garble(self, reply: bytes) -> bytes:
        return b"#\x15garbage\x7f\n"

    def corrupt_checksum(self, reply: bytes) -> bytes:
        if not reply.startswith(b"DATA ") or reply.endswith(b"\n"):
            return reply
        out = bytearray(reply)
        out[-1] ^= 0xFF
        return bytes(out)


class _Syntax(Exception):
    pass


def _nargs(keyword: str, args: list[str], n: int) -> None:
    if len(args) != n:
        raise _Syntax(f"{keyword} takes {n} arguments, got {len(args)}")


def _data_reply(t0_s: float, blocks: list[np.ndarray]) -> bytes:
    payload = np.concatenate([np.asarray(b, "<f4") for b in blocks]).tobytes()
    n = blocks[0].size if blocks else 0
    header = f"DATA {format_number(t0_s)} {n} {len(payload)} {zlib.crc32(payload):08x}\n"
    return header.encode("ascii") + payload


class SimulatedScanUnit:
    """The simulator served on ``127.0.0.1`` (OS-chosen port unless given) with a connected driver.

    ``with SimulatedScanUnit(generator) as unit: unit.driver.acquire_frame()``; ``unit.simulator.fault``
    injects faults; :meth:`connect` opens further drivers.
    """

    def __init__(self, generator: SimulatedScanGenerator, port: int = 0, timeout_s: float = 2.0) -> None:
        self.simulator = ScanUnitSimulator(generator)
        self.server = TcpServer(self.simulator, "127.0.0.1", port)
        self.timeout_s = timeout_s
        self.driver: TcpScanGenerator | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> TcpScanGenerator:
        self.server.start()
        self.driver = self.connect()
        return self.driver

    def connect(self) -> TcpScanGenerator:
        return TcpScanGenerator.connect("127.0.0.1", self.server.port, self.timeout_s)

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None
        self.server.stop()

    def __enter__(self) -> "SimulatedScanUnit":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ScanUnitSimulator", "SimulatedScanUnit", "Fault"]
