"""Servo attenuator (Arduino firmware, ASCII): driver and simulator.

Wire format (serial 9600 8N1, lines ending ``\\n``)
------------------------------------------------
On reset the board prints ``Ready``. ``?POS`` -> the servo angle as an integer line;
``POS:<n>`` sets the angle in integer degrees (the firmware clamps to 0–180 and sends no reply).
The driver refuses angles outside the configured range before sending and reads the angle back.
A larger angle transmits less light (see :class:`~detectors.laser.config.SimulationConfig`).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from .config import AttenuatorConfig
from detectors.common.errors import BadReply, InstrumentError, LimitError, check_range, names_its_device
from .physics import LaserPhysics
from detectors.common.simbase import LineInstrument
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
    """

    def __init__(self, transport: Transport, config: AttenuatorConfig | None = None, *,
                 verify: bool = True) -> None:
        self.config = config or AttenuatorConfig()
        self.channel = LineChannel(transport, b"\n", skip=("Ready",))
        self.verify = verify

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


class SimulatedServoAttenuator(LineInstrument):
    """The Arduino firmware's protocol on top of :class:`LaserPhysics`."""

    greeting_bytes = b"Ready\n"

    def __init__(self, physics: LaserPhysics) -> None:
        super().__init__()
        self.physics = physics

    def handle_line(self, line: str) -> str | None:
        cmd = line.strip().upper()
        if cmd == "?POS":
            return str(self.physics.angle_deg)
        if cmd.startswith("POS:"):
            try:
                self.physics.set_angle(int(cmd[4:]))
            except ValueError:
                pass
        return None
