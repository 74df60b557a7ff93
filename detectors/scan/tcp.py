"""``TcpScanGenerator``: the scan-generator driver over our line-based ASCII protocol on TCP.

The protocol is defined in ``detectors/scan/README.md`` (commands, replies, error codes, binary
framing). In short: one command per ``\\n``-terminated ASCII line, every command answered by one
line — ``OK``, a query reply starting with the command's keyword, ``ERR <code> <text>``, or a
``DATA <t0_s> <n> <nbytes> <crc32>`` header followed by ``nbytes`` of little-endian float32 (one
block of ``n`` visit values per enabled channel, in visit order). A pixel order travels the other
way as ``ORDER <n> <crc32>`` followed by ``4·n`` bytes of little-endian uint32.

The driver validates every setting before sending it (:class:`~detectors.scan.base.GeneratorSettings`),
so a refused value names itself and nothing reaches the unit. Visit positions, times and the
output timelines are computed on the host from the frame and ``t0_s`` (pure geometry).
"""
from __future__ import annotations

import threading
import time
import typing
import zlib

import numpy as np

from detectors.common.errors import BadReply, ChecksumError, ConnectionLost, DeviceTimeout, names_its_device
from detectors.common.transport import LineChannel, SocketTransport, Transport
from detectors.interfaces import ScanFrame
from detectors.scan.base import GeneratorSettings, frame_fields
from detectors.scan.generator import BlockData, FrameData, ScanGeneratorError, visit_sequence
from detectors.scan.outputs import OutputLine

#: the protocol version this driver speaks (third field of ``*IDN?``)
PROTOCOL_VERSION = "1"
#: longest reply line accepted (the transport's line limit); a longer one is a broken unit
MAX_REPLY_LINE_BYTES = 4096


def format_number(value: float | int) -> str:
    """Numbers on the wire: ints as such, floats by ``repr`` (shortest text that round-trips)."""
    return str(int(value)) if isinstance(value, (int, np.integer)) else repr(float(value))


def order_payload(order: np.ndarray) -> tuple[bytes, int]:
    data = np.ascontiguousarray(order, dtype="<u4").tobytes()
    return data, zlib.crc32(data)


@names_its_device
class TcpScanGenerator(GeneratorSettings):
    """Driver of a scan unit speaking the Lumière scan protocol.

    Parameters
    ----------
    transport : Transport
        A connected byte transport (:class:`~detectors.common.transport.SocketTransport`).
    timeout_s : float
        Reply timeout of commands, s; a scan's timeout adds its expected duration.

    Raises
    ------
    DeviceTimeout, BadReply, ChecksumError, ConnectionLost
        (:mod:`detectors.common.errors`) when the unit does not answer, answers something that is
        not the expected reply, sends corrupted data or drops the connection;
        :class:`~detectors.scan.generator.ScanGeneratorError` when it refuses a command.
    """

    def __init__(self, transport: Transport, timeout_s: float = 2.0) -> None:
        if getattr(transport, "name", "") and not transport.name.startswith("scan generator"):
            transport.name = f"scan generator at {transport.name}"  # errors name it
        self.transport = transport
        self.timeout_s = float(timeout_s)
        self.channel = LineChannel(transport, b"\n")
        # one command/reply exchange at a time: Swift sets the probe from the UI thread while its
        # scan thread reads frames
        self._lock = threading.RLock()
        ident = self._query("*IDN?", "LUMIERE,SCANGEN,<version>,<outputs>,<channels>")
        fields = ident.split(",")
        if len(fields) != 5 or fields[:2] != ["LUMIERE", "SCANGEN"] or not fields[3].isdigit():
            raise BadReply(f"expected an identity 'LUMIERE,SCANGEN,<version>,<outputs>,<channels>' "
                           f"to *IDN?, got {ident!r}")
        if fields[2] != PROTOCOL_VERSION:
            raise BadReply(f"scan unit speaks protocol {fields[2]!r}, this driver {PROTOCOL_VERSION!r}")
        self.identity = ident
        super().__init__(int(fields[3]))
        self.channel_names = tuple(fields[4].split(":"))
        # the unit's present state becomes ours; the pixel order is not read back but reset, so a
        # new driver starts from a raster scan whatever a previous session left behind
        self._store(frame=self._read_frame(), channels=self._read_channels())
        self._command("ORDER NONE")
        for i in range(1, self.n_outputs + 1):
            self._store(line=self._read_line_settings(i))

    @classmethod
    def connect(cls, host: str, port: int, timeout_s: float = 2.0) -> "TcpScanGenerator":
        return cls(SocketTransport(host, port, timeout_s=timeout_s), timeout_s)

    # -- wire helpers -----------------------------------------------------------------------------
    def _query(self, command: str, expected: str, timeout_s: float | None = None) -> str:
        with self._lock:
            self.transport.reset_input()
            self.channel.send(command)
            return self._read_reply(command, expected, timeout_s)

    def _command(self, command: str, payload: bytes = b"") -> None:
        with self._lock:
            self.transport.reset_input()
            # header line and payload in one write: the unit reads the payload after the line
            self.transport.write(command.encode("ascii") + b"\n" + payload)
            reply = self._read_reply(command, "OK")
        if reply != "OK":
            raise BadReply(f"expected OK to {command.split(' ')[0]!r}, got {reply!r}")

    def _read_reply(self, command: str, expected: str, timeout_s: float | None = None) -> str:
        """One reply line within ``timeout_s`` (overall, however the bytes trickle in); an ``ERR``
        reply raises :class:`ScanGeneratorError`."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        keyword = command.split(" ")[0]
        start = time.monotonic()
        try:
            reply = self.channel.read_line(timeout)
        except DeviceTimeout as exc:
            if time.monotonic() - start < 0.9 * timeout:
                # read_until gives up early only when the line outgrows its byte limit
                raise BadReply(f"reply to {keyword!r} longer than {MAX_REPLY_LINE_BYTES} bytes without a "
                               f"line end (expected {expected})") from exc
            raise DeviceTimeout(f"no reply to {keyword!r} within {timeout:g} s (expected {expected})") from exc
        except BadReply as exc:
            raise BadReply(f"expected {expected} to {keyword!r}: {exc}") from exc
        except ConnectionLost as exc:
            raise ConnectionLost(f"waiting for the reply to {keyword!r} (expected {expected}): {exc}") from exc
        if reply.startswith("ERR "):
            raise ScanGeneratorError(f"scan unit refused {keyword!r}: {reply[4:]}")
        return reply

    def _fields(self, command: str, keyword: str, n: int, expected: str) -> list[str]:
        reply = self._query(command, expected)
        fields = reply.split()
        if len(fields) != n + 1 or fields[0] != keyword:
            raise BadReply(f"expected {expected} to {command!r}, got {reply!r}")
        return fields[1:]

    def _read_frame(self) -> ScanFrame:
        expected = "FRAME <h> <w> <fov_nm> <cy_nm> <cx_nm> <rotation_rad> <dwell_s> <flyback_px>"
        fields = self._fields("FRAME?", "FRAME", 8, expected)
        try:
            h, w, fov, cy, cx, rot, dwell, fb = fields
            return ScanFrame((int(h), int(w)), float(fov), (float(cy), float(cx)), float(rot),
                             float(dwell), int(fb))
        except ValueError as exc:
            raise BadReply(f"expected {expected} to 'FRAME?', got {' '.join(fields)!r}: {exc}") from exc

    def _read_channels(self) -> tuple[str, ...]:
        [names] = self._fields("CHAN?", "CHAN", 1, "CHAN <name>[,<name>…]")
        return tuple(names.split(","))

    def _read_line_settings(self, index: int) -> OutputLine:
        expected = "OUT <i> <source> <polarity> <delay_us> <width_us>"
        fields = self._fields(f"OUT? {index}", "OUT", 5, expected)
        try:
            return OutputLine(int(fields[0]), fields[1], fields[2], float(fields[3]), float(fields[4]))
        except ValueError as exc:
            raise BadReply(f"expected {expected} to 'OUT? {index}', got {fields!r}") from exc

    def _read_data(self, command: str, n_values: int, timeout_s: float) -> tuple[float, dict[str, np.ndarray]]:
        with self._lock:
            return self._read_data_locked(command, n_values, timeout_s)

    def _read_data_locked(self, command: str, n_values: int, timeout_s: float) -> tuple[float, dict[str, np.ndarray]]:
        expected = "DATA <t0_s> <n> <nbytes> <crc32>"
        header = self._query(command, expected, timeout_s)
        fields = header.split()
        names = self._channels
        try:
            if len(fields) != 5 or fields[0] != "DATA":
                raise ValueError("not a DATA header")
            t0, n, nbytes, crc = float(fields[1]), int(fields[2]), int(fields[3]), int(fields[4], 16)
        except ValueError as exc:
            raise BadReply(f"expected {expected} to {command!r}, got {header!r}") from exc
        if n != n_values or nbytes != 4 * n * len(names):
            raise BadReply(f"expected {n_values} values × {len(names)} channels "
                           f"({4 * n_values * len(names)} bytes) to {command!r}, got {header!r}")
        try:
            payload = self.transport.read_exact(nbytes, self.timeout_s)
        except DeviceTimeout:  # (its own message would quote every byte received)
            raise DeviceTimeout(f"{command!r} data: {nbytes} bytes announced by {header!r} not received "
                                f"within {self.timeout_s:g} s") from None
        except ConnectionLost as exc:
            raise ConnectionLost(f"{command!r} data: connection lost before the {nbytes} bytes announced "
                                 f"by {header!r} arrived: {exc}") from exc
        if zlib.crc32(payload) != crc:
            raise ChecksumError(f"{command!r} data: CRC32 {zlib.crc32(payload):08x} != header {crc:08x}")
        values = np.frombuffer(payload, "<f4").astype(np.float32).reshape(len(names), n)
        return t0, {name: values[i] for i, name in enumerate(names)}

    # -- settings -----------------------------------------------------------------------------------
    def configure(self, frame: ScanFrame) -> None:
        frame = self._check_frame(frame)
        self._command("FRAME " + " ".join(format_number(v) for v in frame_fields(frame)))
        self._store(frame=frame)

    def set_channels(self, names: typing.Sequence[str]) -> None:
        names = self._check_channels(names)
        self._command("CHAN " + ",".join(names))
        self._store(channels=names)

    def set_pixel_order(self, order: typing.Sequence[int] | np.ndarray | None) -> None:
        checked = self._check_order(order)
        if checked is None:
            self._command("ORDER NONE")
        else:
            payload, crc = order_payload(checked)
            self._command(f"ORDER {checked.size} {crc:08x}", payload)
        self._store(order=checked)

    def set_output_line(self, line: OutputLine) -> None:
        line = self._check_line(line)
        self._command(f"OUT {line.index} {line.source} {line.polarity} "
                      f"{format_number(line.delay_us)} {format_number(line.width_us)}")
        self._store(line=line)

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        y, x = float(y_nm), float(x_nm)
        if not (np.isfinite(y) and np.isfinite(x)):
            raise ValueError(f"probe position ({y_nm!r}, {x_nm!r}) nm is not finite")
        self._command(f"PROBE {format_number(y)} {format_number(x)}")

    def probe_position_nm(self) -> tuple[float, float]:
        fields = self._fields("PROBE?", "PROBE", 2, "PROBE <y_nm> <x_nm>")
        try:
            return float(fields[0]), float(fields[1])
        except ValueError as exc:
            raise BadReply(f"expected PROBE <y_nm> <x_nm> to 'PROBE?', got {fields!r}") from exc

    def park(self) -> None:
        self._command("PARK")

    # -- acquisition --------------------------------------------------------------------------------
    def acquire_frame(self) -> FrameData:
        frame, order = self._frame, self._order
        n = self.n_visits()
        duration = frame.frame_time_s if order is None else n * frame.dwell_s
        t0, values = self._read_data("SCAN", n, self.timeout_s + duration)
        visits = visit_sequence(frame, order, t0)
        images = {}
        for name, v in values.items():
            image = np.zeros(frame.size_px[0] * frame.size_px[1], np.float32)
            image[visits.order] = v
            images[name] = image.reshape(frame.size_px)
        return FrameData(frame, t0, images, visits)

    def acquire_block(self, start: int, count: int) -> BlockData:
        n = self.n_visits()
        if start < 0 or count < 1 or start + count > n:  # refused before anything is sent
            raise ValueError(f"visits {start}…{start + count - 1} outside the {n} visits of the frame")
        t0, values = self._read_data(f"BLOCK {int(start)} {int(count)}", count,
                                     self.timeout_s + count * self._frame.dwell_s)
        visits = visit_sequence(self._frame, self._order, t0, start, count, flyback=False)
        return BlockData(start, t0, values, visits)

    def close(self) -> None:
        self.transport.close()
