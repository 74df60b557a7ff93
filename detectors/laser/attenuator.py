"""Servo attenuator (Arduino firmware, ASCII): driver and simulator.

Wire format (serial 9600 8N1), read in the firmware itself (``OrsayDev/OrsayLaser``,
``Examples/Servo_Motor/servo_serial_arduino.txt``)
-------------------------------------------------------------------------------------------
Requests end with ``\\n`` (``Serial.readStringUntil('\\n')``); replies come from
``Serial.println`` and end with ``\\r\\n``. Opening the port resets the board (the Arduino's
DTR auto-reset): ``setup()`` then moves the servo to **0°** and prints ``Ready``, so every
connection starts at 0° (the largest transmission) whatever was set before. ``?POS`` (exactly
that, case and spaces matter) -> the angle as an integer line; ``POS:<n>`` sets the angle: ``<n>``
goes through Arduino's ``String.toInt()`` (leading blanks and sign, then digits; ``POS:abc``
means 0) and is clamped to 0–180; nothing is sent back. Any other line is ignored silently.
The driver waits for ``Ready`` after opening (as Orsay's ``ard.py`` does with a 2 s
``readline``), refuses angles outside the configured range or non-integer before sending and
reads the angle back. A larger angle transmits less light (see
:class:`~detectors.laser.config.SimulationConfig`).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from .config import AttenuatorConfig
from detectors.common.errors import BadReply, DeviceTimeout, InstrumentError, LimitError, check_range, names_its_device
from .physics import LaserPhysics
from detectors.common.simbase import SimulatedInstrument
from detectors.common.transport import LineChannel, Transport


@runtime_checkable
class Attenuator(Protocol):
    """A variable attenuator set by an integer servo angle in degrees."""

    angle_range_deg: tuple[int, int]

    def set_angle_deg(self, angle_deg: int) -> None: ...

    def angle_deg(self) -> int: ...


@names_its_device
class ServoAttenuator:
    """Driver of the Arduino servo attenuator.

    Parameters
    ----------
    transport : Transport
        Serial line, 9600 8N1.
    config : AttenuatorConfig
        Allowed angle range (integer degrees) and timeout.
    verify : bool
        Read the angle back after every ``POS`` (the firmware does not acknowledge).
    wait_ready : bool
        Wait up to ``config.ready_timeout_s`` for the ``Ready`` the board prints after the reset
        that opening the port causes (commands sent during the reset are lost). Without it
        (a board that does not reset) the driver goes on after the timeout.

    Notes
    -----
    Opening the port resets the firmware, which puts the servo at 0°: the attenuation set before
    is lost: set the angle after connecting.
    """

    def __init__(self, transport: Transport, config: AttenuatorConfig | None = None, *,
                 verify: bool = True, wait_ready: bool = True) -> None:
        self.config = config or AttenuatorConfig()
        self.channel = LineChannel(transport, b"\n", skip=("Ready",))
        self.verify = verify
        self.ready = False
        if wait_ready:
            try:
                line = self.channel.transport.read_until(b"\n", self.config.ready_timeout_s)
                self.ready = line.strip() == b"Ready"
            except DeviceTimeout:
                self.ready = False

    @property
    def angle_range_deg(self) -> tuple[int, int]:
        return (self.config.min_angle_deg, self.config.max_angle_deg)

    def check_angle(self, angle_deg: float) -> int:
        """Return ``angle_deg`` as int or raise :class:`LimitError` (nothing is sent)."""
        if int(angle_deg) != angle_deg:
            raise LimitError(f"servo angle {angle_deg}° is not an integer number of degrees")
        check_range("servo angle", angle_deg, *self.angle_range_deg, "°")
        return int(angle_deg)

    def set_angle_deg(self, angle_deg: int) -> None:
        """Move the servo to ``angle_deg`` (integer degrees)."""
        angle = self.check_angle(angle_deg)
        self.channel.send(f"POS:{angle}")
        if self.verify:
            actual = self.angle_deg()
            if actual != angle:
                raise InstrumentError(f"servo at {actual}° after POS:{angle}")

    def angle_deg(self) -> int:
        """Current servo angle, degrees."""
        reply = self.channel.query("?POS", self.config.timeout_s)
        try:
            return int(reply)
        except ValueError as exc:
            raise BadReply(f"unexpected ?POS reply {reply!r}") from exc


def arduino_to_int(text: str) -> int:
    """Arduino ``String.toInt()`` (``atol``): leading blanks, an optional sign, then digits;
    anything else ends the number; no digits gives 0."""
    i, n = 0, len(text)
    while i < n and text[i] in " \t\n\r\f\v":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    value = 0
    while i < n and text[i].isdigit() and text[i].isascii():
        value = value * 10 + int(text[i])
        i += 1
    return sign * value


class SimulatedServoAttenuator(SimulatedInstrument):
    """The Arduino firmware on top of :class:`LaserPhysics`, line for line.

    :meth:`greeting` is the board's reset (servo to 0°, ``Ready\\r\\n``): the TCP server calls it
    for every client (each connection is a port opening), the pty server once when served (a pty
    has a single client)."""

    def __init__(self, physics: LaserPhysics) -> None:
        super().__init__()
        self.physics = physics

    def greeting(self) -> bytes:
        with self._lock:
            self.physics.set_angle(0)        # setup(): myservo.write(pos) with pos = 0
        return b"Ready\r\n"

    def _split_requests(self) -> list[bytes]:
        lines = []
        while (idx := self._rx.find(b"\n")) >= 0:
            lines.append(bytes(self._rx[:idx]))      # readStringUntil drops the '\n' only
            del self._rx[:idx + 1]
        return lines

    def handle(self, request: bytes) -> bytes | None:
        msg = request.decode("latin-1")
        if msg == "?POS":
            return f"{self.physics.angle_deg}\r\n".encode("ascii")
        if msg[:4] == "POS:":
            self.physics.set_angle(min(max(arduino_to_int(msg[4:]), 0), 180))
        return None

    def garble(self, reply: bytes) -> bytes:
        return b"#\x15garbage\x7f\r\n"
