"""Vacuum gauges: column (Pfeiffer protocol) and gun (ion-pump controller): drivers, simulators.

Column gauge — Pfeiffer Vacuum protocol, 9600 8N1, ``\\r``
----------------------------------------------------------
Telegram = address (3 digits) + action (2: ``00`` query, ``10`` data/write) + parameter (3:
``740`` = pressure) + data length (2) + data + checksum (3 digits: sum of the preceding ASCII
codes mod 256) + ``\\r``. Query: ``0010074002=?106\\r``; reply ``0011074006mmmmEEccc\\r`` with
p = mmmm/1000 · 10^(EE−20) hPa [I: "u_expo_new"]. The driver returns Pa (1 hPa = 100 Pa).

Gun gauge — ion-pump/gauge controller, 115200 8N1
-------------------------------------------------
Query ``GDAT? 1\\n``; the reply is 15 bytes. What NSLumiere's reader fixes
(``nionswift_plugin/IVG/gun.py``: ``read(15)``, mantissa ``float(value[0:6])``, exponent
``int(value[-5:-1])``, pressure = mantissa·10^exponent) and its display (``ivg_inst.py`` formats
the gun value with ``' Torr'``): the exponent sits in bytes 10–13 and the unit is Torr. [I] The
form that fits all of that is C's ``%+E`` with CR LF, ``+3.000000E-08\\r\\n`` (15 bytes; bytes
10–13 ``-08\\r``): the driver reads it as one number and converts Torr to Pa. (Our earlier
guess ``+3.000E-08 Pa\\r\\n`` put `` Pa\\r`` where NSLumiere reads the exponent.)
"""
from __future__ import annotations

import math
import re

from detectors.common.simbase import LineInstrument, SimulatedInstrument
from detectors.common.transport import Transport

from detectors.common.errors import BadReply, ChecksumError, InstrumentError, names_its_device
from .physics import ColumnPhysics

PARAM_PRESSURE = 740
GUN_REPLY_LEN = 15
_GUN_REPLY = re.compile(rb"^\s*([+-]?\d\.\d+E[+-]\d+)\s*$")
#: 1 Torr in Pa (101 325 / 760): the gun controller reports Torr
PA_PER_TORR = 101_325.0 / 760.0


def pfeiffer_checksum(body: str) -> int:
    return sum(body.encode("ascii")) % 256


def pfeiffer_telegram(address: int, action: int, parameter: int, data: str) -> bytes:
    """A complete telegram with checksum and ``\\r``."""
    body = f"{address:03d}{action:02d}{parameter:03d}{len(data):02d}{data}"
    return f"{body}{pfeiffer_checksum(body):03d}\r".encode("ascii")


def parse_pfeiffer(telegram: bytes) -> tuple[int, int, int, str]:
    """(address, action, parameter, data) of a telegram; raises on bad form or checksum."""
    text = telegram.rstrip(b"\r").decode("ascii", errors="replace")
    if len(text) < 13 or not text[:10].isdigit() or not text[-3:].isdigit():
        raise BadReply(f"not a Pfeiffer telegram: {telegram!r}")
    length = int(text[8:10])
    data = text[10:-3]
    if len(data) != length:
        raise BadReply(f"Pfeiffer telegram data length {len(data)} != {length}: {telegram!r}")
    if pfeiffer_checksum(text[:-3]) != int(text[-3:]):
        raise ChecksumError(f"Pfeiffer telegram checksum {text[-3:]} wrong: {telegram!r}")
    return int(text[:3]), int(text[3:5]), int(text[5:8]), data


def encode_pressure_hPa(p_hPa: float) -> str:
    """``mmmmEE`` with p = mmmm/1000 · 10^(EE−20) hPa."""
    if not p_hPa > 0:
        return "000000"
    exponent = math.floor(math.log10(p_hPa))
    mantissa = round(p_hPa / 10 ** exponent * 1000)
    if mantissa >= 10000:
        mantissa //= 10
        exponent += 1
    return f"{mantissa:04d}{exponent + 20:02d}"


def decode_pressure_hPa(data: str) -> float:
    if len(data) != 6 or not data.isdigit():
        raise BadReply(f"Pfeiffer pressure {data!r} is not 'mmmmEE'")
    return int(data[:4]) / 1000.0 * 10.0 ** (int(data[4:]) - 20)


@names_its_device
class PfeifferGauge:
    """Column gauge driver (Pfeiffer protocol): :meth:`pressure_Pa`."""

    name = "column gauge"

    def __init__(self, transport: Transport, address: int = 1, timeout_s: float = 0.5) -> None:
        self.transport = transport
        self.address = address
        self.timeout_s = timeout_s

    def pressure_Pa(self) -> float:
        self.transport.reset_input()
        self.transport.write(pfeiffer_telegram(self.address, 0, PARAM_PRESSURE, "=?"))
        address, action, parameter, data = parse_pfeiffer(self.transport.read_until(b"\r", self.timeout_s))
        if (address, action, parameter) != (self.address, 10, PARAM_PRESSURE):
            raise BadReply(f"column gauge: reply for address {address}, action {action}, "
                           f"parameter {parameter}; expected {self.address}, 10, {PARAM_PRESSURE}")
        if data in ("NO_DEF", "_RANGE", "_LOGIC"):
            raise InstrumentError(f"column gauge answered {data!r}")
        return decode_pressure_hPa(data) * 100.0


@names_its_device
class GunGauge:
    """Gun gauge driver: ``GDAT? <channel>`` → 15-byte reply; :meth:`pressure_Pa`."""

    name = "gun gauge"

    def __init__(self, transport: Transport, channel: int = 1, timeout_s: float = 0.5) -> None:
        self.transport = transport
        self.channel = channel
        self.timeout_s = timeout_s

    def pressure_Pa(self) -> float:
        self.transport.reset_input()
        self.transport.write(f"GDAT? {self.channel}\n".encode("ascii"))
        raw = self.transport.read_exact(GUN_REPLY_LEN, self.timeout_s)
        m = _GUN_REPLY.match(raw)
        if not m:
            raise BadReply(f"gun gauge: cannot parse {raw!r} as a number in Torr like '+3.000000E-08\\r\\n'")
        value_torr = float(m.group(1))
        if value_torr < 0:
            raise InstrumentError(f"gun gauge reports a negative pressure {value_torr} Torr (sensor fault)")
        return value_torr * PA_PER_TORR


class SimulatedPfeifferGauge(LineInstrument):
    """Column gauge on ``physics.column_pressure_Pa``."""

    terminator = b"\r"

    def __init__(self, physics: ColumnPhysics, address: int = 1) -> None:
        super().__init__()
        self.physics = physics
        self.address = address

    def handle(self, request: bytes) -> bytes | None:
        try:
            address, action, parameter, data = parse_pfeiffer(request)
        except BadReply:
            return None  # a Pfeiffer device ignores malformed telegrams
        if address != self.address:
            return None
        if action == 0 and parameter == PARAM_PRESSURE and data == "=?":
            value = encode_pressure_hPa(self.physics.column_pressure_Pa / 100.0)
        else:
            value = "NO_DEF"
        return pfeiffer_telegram(self.address, 10, parameter, value)

    def corrupt_checksum(self, reply: bytes) -> bytes:
        return reply[:-4] + f"{(int(reply[-4:-1]) + 1) % 256:03d}".encode() + b"\r"


class SimulatedGunGauge(SimulatedInstrument):
    """Gun gauge on ``physics.gun_pressure_Pa``."""

    def __init__(self, physics: ColumnPhysics) -> None:
        super().__init__()
        self.physics = physics

    def _split_requests(self) -> list[bytes]:
        lines = []
        while (idx := self._rx.find(b"\n")) >= 0:
            lines.append(bytes(self._rx[:idx]))
            del self._rx[:idx + 1]
        return lines

    def handle(self, request: bytes) -> bytes | None:
        if request.strip().split() != [b"GDAT?", b"1"]:
            return b"ERR           \n"[:GUN_REPLY_LEN]
        return f"{self.physics.gun_pressure_Pa / PA_PER_TORR:+E}\r\n".encode("ascii")

    def garble(self, reply: bytes) -> bytes:
        return b"\x15?#garbage?#\x7f\r\n"
