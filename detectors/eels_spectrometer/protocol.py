"""Wire protocols of the VG Lumière EELS spectrometer (read in NSLumiere, OrsayDev/NSLumiere).

Lens unit: serial 9600 8N1 (``EELS_spec/eels_spec.py``)
-------------------------------------------------------
One request per element: ``<element> 0,<hex>\\r`` (ASCII), e.g. ``fx 0,30c4\\r``. ``<element>`` is
``fx fy sx sy dy q1 q2 q3 q4 dx`` or ``al`` (NSLumiere's "dmx" goes on the wire as ``al``).
``<hex>`` is the 16-bit word, lower-case hexadecimal without leading zeros, of the signed set point
v (|v| ≤ 32766): ``0xffff - v`` for v ≥ 0, ``|v|`` for v < 0 — so 0 is ``ffff``, 1 is ``fffe``,
-1 is ``1``. After each request NSLumiere reads up to 6 bytes (0.2 s timeout) and ignores them.

[I] inferred: what the 6 reply bytes are. The driver requires that the unit answers (a silent unit
raises :class:`~detectors.common.errors.DeviceTimeout` naming it) and keeps the bytes in
``last_reply`` without interpreting them; our simulator answers the word it applied as four
upper-case hex digits and ``\\r\\n`` (6 bytes), ``????\\r\\n`` to a request it cannot parse.
NSLumiere's first test script wrote ``SY 0,0\\r`` (upper case, word 0): the simulator accepts any
case and 1–4 hex digits.

Drift-tube supply ("VSM"): TCP (``EELS_spec/eels_spec.py``)
-----------------------------------------------------------
``HV+ <counts>\\n`` with ``counts = int(V * 4.095)`` for 0 ≤ V ≤ 1000 (NSLumiere refuses anything
else); ``HV+ 0\\n`` is sent on connection. Nothing is read back. [I] The driver rounds to the nearest
count (NSLumiere truncates) and reports the voltage of the count sent.
"""
from __future__ import annotations

import re
from typing import Callable

from detectors.common.errors import ConnectionLost, DeviceTimeout, LimitError
from detectors.common.transport import Transport

from .presets import CURRENT_LIMIT, ELEMENTS

#: element name (ours and NSLumiere's) -> name on the wire
WIRE_NAMES: dict[str, str] = {name: name for name in ELEMENTS} | {"dmx": "al"}
_FROM_WIRE = {wire: name for name, wire in WIRE_NAMES.items()}
_REQUEST = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)\s+0,([0-9A-Fa-f]{1,4})\s*$")


def check_current(element: str, value: int) -> int:
    """Return ``value`` as an int or raise ``LimitError``/``ValueError`` naming the element."""
    if element not in WIRE_NAMES:
        raise ValueError(f"unknown spectrometer element {element!r}; known: {', '.join(ELEMENTS)}")
    if isinstance(value, bool) or not float(value).is_integer():
        raise LimitError(f"{element} = {value!r} is not allowed; expected an integer set point "
                         f"-{CURRENT_LIMIT}–{CURRENT_LIMIT}")
    v = int(value)
    if abs(v) > CURRENT_LIMIT:
        raise LimitError(f"{element} = {v} outside the allowed range -{CURRENT_LIMIT}–{CURRENT_LIMIT}")
    return v


def encode_word(value: int) -> int:
    """The 16-bit word the lens unit receives for a signed set point."""
    return abs(value) if value < 0 else 0xFFFF - value


def decode_word(word: int) -> int:
    """Inverse of :func:`encode_word` (words ≥ 0x8000 are positive set points)."""
    return 0xFFFF - word if word >= 0x8000 else -word


def lens_request(element: str, value: int) -> bytes:
    """The request bytes setting ``element`` to ``value`` (checked)."""
    v = check_current(element, value)
    return f"{WIRE_NAMES[element]} 0,{encode_word(v):x}\r".encode("ascii")


def parse_lens_request(line: str) -> tuple[str, int] | None:
    """``(element, set point)`` of a request line (without ``\\r``), ``None`` if it is not one."""
    m = _REQUEST.match(line)
    if not m:
        return None
    element = _FROM_WIRE.get(m.group(1).lower())
    if element is None:
        return None
    return element, decode_word(int(m.group(2), 16))


def drift_tube_request(counts: int) -> bytes:
    return f"HV+ {int(counts)}\n".encode("ascii")


class LensUnit:
    """Serial lens unit of the spectrometer: writes set points, checks that it answers.

    The unit cannot be read back: :attr:`currents` is what was last sent successfully.
    """

    name = "EELS spectrometer lens unit"

    def __init__(self, transport: Transport, timeout_s: float = 0.5, reply_gap_s: float = 0.05) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self.reply_gap_s = reply_gap_s
        self.currents: dict[str, int] = {}
        self.last_reply = b""

    def set_current(self, element: str, value: int) -> None:
        request = lens_request(element, value)
        t = self.transport
        t.reset_input()
        t.write(request)
        where = getattr(t, "name", "") or getattr(getattr(t, "inner", None), "name", "")
        try:
            reply = t.read_exact(1, self.timeout_s)
        except DeviceTimeout as exc:
            raise DeviceTimeout(f"{self.name} did not answer {request!r} within {self.timeout_s} s"
                                f"{' on ' + where if where else ''} ({exc})") from exc
        # the rest of the (up to) 6 bytes, as NSLumiere's ser.read(6); content not interpreted [I]
        while len(reply) < 6:
            try:
                reply += t.read_exact(1, self.reply_gap_s)
            except DeviceTimeout:
                break
        self.last_reply = reply
        self.currents[element] = int(value)


class DriftTubeSupply:
    """Drift-tube high-voltage supply over TCP: the energy offset, 0–1000 V in DAC counts."""

    name = "EELS drift-tube supply"

    def __init__(self, transport: Transport, counts_per_V: float = 4.095,
                 range_V: tuple[float, float] = (0.0, 1000.0),
                 after_write: Callable[[int], None] | None = None) -> None:
        self.transport = transport
        self.counts_per_V = counts_per_V
        self.range_V = range_V
        self.counts = 0
        #: called with the number of requests sent so far: the supply gives no reply to wait for,
        #: the simulated one waits here until its simulator has applied them
        self.after_write = after_write
        self.requests_sent = 0

    @property
    def voltage_V(self) -> float:
        """Voltage of the last count sent, V."""
        return self.counts / self.counts_per_V

    def counts_for(self, voltage_V: float) -> int:
        lo, hi = self.range_V
        v = float(voltage_V)
        if not lo <= v <= hi:
            raise LimitError(f"drift tube {v:g} V outside the allowed range {lo:g}–{hi:g} V")
        return int(round(v * self.counts_per_V))

    def set_voltage_V(self, voltage_V: float) -> float:
        """Send the nearest DAC count; returns the voltage set, V."""
        counts = self.counts_for(voltage_V)
        try:
            self.transport.write(drift_tube_request(counts))
        except ConnectionLost as exc:
            where = getattr(self.transport, "name", "") or getattr(getattr(self.transport, "inner", None), "name", "")
            raise ConnectionLost(f"{self.name}{' at ' + where if where else ''}: {exc}") from exc
        self.counts = counts
        self.requests_sent += 1
        if self.after_write is not None:
            self.after_write(self.requests_sent)
        return self.voltage_V
