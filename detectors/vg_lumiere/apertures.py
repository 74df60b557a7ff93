"""Aperture motors (Zaber binary protocol [I]): driver and simulator.

Wire format (serial 9600 8N1, 6-byte frames both ways)
------------------------------------------------------
``[device, command, d0, d1, d2, d3]`` with data a signed 32-bit little-endian integer; every
request is answered by one 6-byte frame from the addressed device. Commands: 1 = home (reply
data = position 0), 20 = move absolute in microsteps (reply when the move is done, data = final
position), 60 = return current position. Device 0 is Zaber's broadcast address: every motor on
the chain executes the command and answers with its own device number (NSLumiere's
``diaf.Diafs.set_home`` loops over devices 0–3 and so homes every motor through device 0).
NSLumiere drives its four motors as devices 1–4 (``diaf_inst.py``: ``set_val(1..4, …)``, m1/m2
for the objective aperture, m3/m4 for the selected-area one) and stores their positions in
microsteps, all positive (``aux_files/config/diafs_settings.json``: 49 500–128 480): position 0
is the home end of the travel and positions are counted from it. [I] An error is answered with
command 255 and the error code as data (Zaber: 255 = "error").
"""
from __future__ import annotations

import struct

from detectors.common.simbase import SimulatedInstrument
from detectors.common.transport import Transport

from .config import ApertureConfig
from detectors.common.errors import BadReply, InstrumentError, check_range, names_its_device
from .physics import ColumnPhysics

CMD_HOME = 1
CMD_MOVE_ABSOLUTE = 20
CMD_RETURN_POSITION = 60
CMD_ERROR = 255
#: Zaber error codes used by the simulator [I]
ERR_INVALID_COMMAND = 64
ERR_POSITION_RANGE = 20
FRAME = struct.Struct("<BBi")


def encode_frame(device: int, command: int, data: int = 0) -> bytes:
    """One 6-byte frame."""
    return FRAME.pack(device, command, int(data))


def decode_frame(frame: bytes) -> tuple[int, int, int]:
    """(device, command, data) of a 6-byte frame."""
    if len(frame) != FRAME.size:
        raise BadReply(f"aperture motor frame of {len(frame)} bytes, expected 6: {frame!r}")
    return FRAME.unpack(frame)


@names_its_device
class ApertureMotors:
    """Driver of the aperture motors; positions in µm through ``config.microstep_um``.

    Parameters
    ----------
    transport : Transport
        Serial line (9600 8N1), one daisy chain for every motor.
    config : ApertureConfig
        Motor names → device numbers (from 1), microstep size, range, timeouts.
    """

    def __init__(self, transport: Transport, config: ApertureConfig | None = None) -> None:
        self.transport = transport
        self.config = config or ApertureConfig()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.config.motors)

    def device(self, name: str) -> int:
        try:
            return self.config.motors[name]
        except KeyError:
            raise ValueError(f"unknown aperture motor {name!r}; motors: {', '.join(self.config.motors)}") from None

    def _exchange(self, device: int, command: int, data: int = 0, timeout_s: float | None = None) -> int:
        self.transport.reset_input()
        self.transport.write(encode_frame(device, command, data))
        dev, cmd, value = decode_frame(self.transport.read_exact(FRAME.size, timeout_s or self.config.timeout_s))
        if dev != device:
            raise BadReply(f"aperture motor: reply from device {dev}, expected {device}")
        if cmd == CMD_ERROR:
            raise InstrumentError(f"aperture motor {device} reported error code {value}")
        if cmd != command:
            raise BadReply(f"aperture motor {device}: reply to command {cmd}, expected {command}")
        return value

    def position_steps(self, name: str) -> int:
        return self._exchange(self.device(name), CMD_RETURN_POSITION)

    def position_um(self, name: str) -> float:
        return self.position_steps(name) * self.config.microstep_um

    def home(self, name: str) -> None:
        self._exchange(self.device(name), CMD_HOME, timeout_s=self.config.move_timeout_s)

    def home_all(self) -> dict[str, int]:
        """Home every motor at once through the broadcast address (device 0); each motor answers
        for itself. Returns the reported position (microsteps) per motor name."""
        self.transport.reset_input()
        self.transport.write(encode_frame(0, CMD_HOME))
        by_device = {d: n for n, d in self.config.motors.items()}
        positions: dict[str, int] = {}
        for _ in by_device:
            dev, cmd, value = decode_frame(self.transport.read_exact(FRAME.size, self.config.move_timeout_s))
            if dev not in by_device:
                raise BadReply(f"aperture motors: reply from device {dev}, configured {sorted(by_device)}")
            if cmd == CMD_ERROR:
                raise InstrumentError(f"aperture motor {dev} reported error code {value}")
            if cmd != CMD_HOME:
                raise BadReply(f"aperture motor {dev}: reply to command {cmd}, expected {CMD_HOME}")
            positions[by_device[dev]] = value
        return positions

    def move_to_um(self, name: str, position_um: float) -> float:
        """Move and wait for completion; returns the final position, µm."""
        device = self.device(name)
        value = check_range(f"aperture {name}", position_um, *self.config.range_um, "µm")
        steps = round(value / self.config.microstep_um)
        got = self._exchange(device, CMD_MOVE_ABSOLUTE, steps, timeout_s=self.config.move_timeout_s)
        if got != steps:
            raise InstrumentError(f"aperture {name} stopped at {got} microsteps instead of {steps}")
        return got * self.config.microstep_um


class SimulatedApertureMotors(SimulatedInstrument):
    """A daisy chain of Zaber-like motors; moves take time on the world clock."""

    def __init__(self, physics: ColumnPhysics) -> None:
        super().__init__()
        self.physics = physics

    def _split_requests(self) -> list[bytes]:
        out = []
        while len(self._rx) >= FRAME.size:
            out.append(bytes(self._rx[:FRAME.size]))
            del self._rx[:FRAME.size]
        return out

    def garble(self, reply: bytes) -> bytes:
        return b"\x15?#\x15?#"

    def handle(self, request: bytes) -> bytes | None:
        p = self.physics
        device, command, data = FRAME.unpack(request)
        if device == 0:  # broadcast: every motor executes and answers, in chain order
            devices = sorted(p.aperture_steps)
        elif device in p.aperture_steps:
            devices = [device]
        else:
            return None  # nobody on the chain answers
        cfg = p.config.apertures
        travel_steps = round(max(cfg.range_um) / cfg.microstep_um)  # home (0) to the far end
        replies, longest_s = [], 0.0
        for d in devices:
            if command == CMD_RETURN_POSITION:
                replies.append(encode_frame(d, command, p.aperture_steps[d]))
            elif command in (CMD_HOME, CMD_MOVE_ABSOLUTE):
                target = 0 if command == CMD_HOME else data
                if not 0 <= target <= travel_steps:
                    replies.append(encode_frame(d, CMD_ERROR, ERR_POSITION_RANGE))
                    continue
                distance_um = abs(target - p.aperture_steps[d]) * cfg.microstep_um
                longest_s = max(longest_s, distance_um / cfg.speed_um_per_s)  # they move together
                p.aperture_steps[d] = target
                replies.append(encode_frame(d, command, target))
            else:
                replies.append(encode_frame(d, CMD_ERROR, ERR_INVALID_COMMAND))
        p.clock.sleep(longest_s)
        return b"".join(replies)
