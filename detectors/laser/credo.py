"""Sirah Credo tunable dye laser: binary frame codec, driver and simulated instrument.

Wire format (serial 19200 8N1)
------------------------------
Request, 13 bytes: ``0x3C '<'``, command, 9 argument bytes, checksum, ``0x3E '>'``, where the
checksum is the sum of bytes 0–10 modulo 256. Commands used: 16 = auto-prompt off (answered by
one status frame), 7 = move (argument byte 0 = 1 absolute, bytes 1–4 = motor position uint32
little-endian; no reply), 23 = status query.

Status reply, 14 bytes, as recorded on the real laser (``OrsayDev/OrsayLaser``,
``Examples/Laser/calib_raw.dat``, a serial-port monitor log of 35 status reads, 540–750 nm)::

    5b 00 c1 02 1f ee 14 00 1e 00 00 00 00 5d      (540 nm, motor at 1 371 679)

byte 0 ``0x5B '['``; byte 1 error code (0 = none; Orsay's client compares it with 0); byte 2
``0xC1`` in every recorded frame, whatever the command (meaning unknown, **not** a command echo);
byte 3 motion status (2 = holding in every record; 3 = moving per Orsay's client); bytes 4–7 the
motor position, uint32 little-endian; bytes 8–11 ``1e 00 00 00`` in every record (meaning
unknown); byte 12 ``0x00`` in every record (so there is no sum checksum); byte 13 ``0x5D ']'``.
The driver checks only what the evidence fixes (bytes 0 and 13, the length) and keeps bytes 2 and
8–12 as read. The monitor shows the frame arriving in pieces (reads of 7–13 bytes), so replies
are always read by length.

Unlike the original client, an out-of-range wavelength raises :class:`LimitError` before any
byte is sent, a non-zero error code raises :class:`InstrumentError`, and a move is followed by
polling the status until the laser holds at the requested position. With auto-prompt on (after
power-up) the laser sends status frames unasked (Orsay's client reads up to 512 bytes on opening),
so the driver discards pending input before command 16 and drains frames that follow it.
"""
from __future__ import annotations

import dataclasses
import struct
import time
from typing import Callable, Protocol, runtime_checkable

from .calibration import WavelengthCalibration
from .config import CredoConfig
from detectors.common.errors import (BadReply, ChecksumError, DeviceTimeout, InstrumentError, check_range,
                                     names_its_device)
from .physics import LaserPhysics
from detectors.common.simbase import SimulatedInstrument
from detectors.common.transport import Transport

REQUEST_START, REQUEST_END = 0x3C, 0x3E
REPLY_START, REPLY_END = 0x5B, 0x5D
REQUEST_LEN, REPLY_LEN = 13, 14
CMD_MOVE, CMD_AUTOPROMPT_OFF, CMD_STATUS = 7, 16, 23
MOTION_HOLD, MOTION_MOVING = 2, 3
#: byte 2 and bytes 8-12 of every recorded real status frame (calib_raw.dat); meaning unknown
RECORDED_REPLY_CODE = 0xC1
RECORDED_TAIL = bytes([0x1E, 0, 0, 0, 0])
ERR_CHECKSUM, ERR_ARGUMENT, ERR_UNKNOWN_COMMAND, ERR_RANGE = 1, 2, 3, 4


def encode_request(command: int, args: bytes = b"") -> bytes:
    """Build a 13-byte request frame (``args`` padded with zeros to 9 bytes)."""
    if len(args) > 9:
        raise ValueError(f"at most 9 argument bytes, got {len(args)}")
    body = bytes([REQUEST_START, command & 0xFF]) + args.ljust(9, b"\0")
    return body + bytes([sum(body) % 256, REQUEST_END])


def encode_move(position_steps: int) -> bytes:
    """Absolute move request to ``position_steps`` (uint32)."""
    if not 0 <= position_steps < 2**32:
        raise ValueError(f"motor position {position_steps} outside uint32")
    return encode_request(CMD_MOVE, b"\x01" + struct.pack("<I", position_steps))


def decode_request(frame: bytes) -> tuple[int, bytes]:
    """``(command, 9 argument bytes)``; :class:`ChecksumError` / :class:`BadReply` if malformed."""
    if len(frame) != REQUEST_LEN or frame[0] != REQUEST_START or frame[-1] != REQUEST_END:
        raise BadReply(f"malformed request frame {frame!r}")
    if sum(frame[:11]) % 256 != frame[11]:
        raise ChecksumError(f"request checksum {frame[11]} != {sum(frame[:11]) % 256}")
    return frame[1], frame[2:11]


@dataclasses.dataclass(frozen=True)
class CredoStatus:
    """Decoded status frame. ``holding`` is True when the motor holds its position.

    ``reply_code`` (byte 2) and ``tail`` (bytes 8–12) are kept as received: the real laser sends
    ``0xC1`` and ``1e 00 00 00 00`` (calib_raw.dat); what they mean is not known.
    """

    error_code: int
    motion: int
    position_steps: int
    reply_code: int = RECORDED_REPLY_CODE
    tail: bytes = RECORDED_TAIL

    @property
    def holding(self) -> bool:
        return self.motion == MOTION_HOLD


def encode_status(status: CredoStatus) -> bytes:
    """The 14-byte status frame in the recorded layout (used by the simulator)."""
    if len(status.tail) != 5:
        raise ValueError(f"status tail must be 5 bytes (frame bytes 8-12), got {status.tail!r}")
    return (bytes([REPLY_START, status.error_code & 0xFF, status.reply_code & 0xFF,
                   status.motion & 0xFF]) + struct.pack("<I", status.position_steps)
            + bytes(status.tail) + bytes([REPLY_END]))


def decode_status(frame: bytes) -> CredoStatus:
    """Parse a 14-byte status reply; raises :class:`BadReply` if the length or the ``[``/``]``
    delimiters are wrong. Bytes 2 and 8–12 are not checked (no checksum in the real frames)."""
    if len(frame) != REPLY_LEN or frame[0] != REPLY_START or frame[-1] != REPLY_END:
        raise BadReply(f"malformed status frame {frame!r}: expected 14 bytes from 0x5B to 0x5D")
    (position,) = struct.unpack("<I", frame[4:8])
    return CredoStatus(frame[1], frame[3], position, frame[2], bytes(frame[8:13]))


@runtime_checkable
class TunableLaser(Protocol):
    """A tunable laser as the EEGS workflows use it (λ in nm, times in s)."""

    wavelength_range_nm: tuple[float, float]

    def set_wavelength_nm(self, wavelength_nm: float, wait: bool = True) -> float:
        """Move to ``wavelength_nm``; if ``wait``, return once holding (settle time in s)."""
        ...

    def wavelength_nm(self) -> float: ...

    def is_holding(self) -> bool: ...

    def wait_until_holding(self, timeout_s: float | None = None,
                           abort: Callable[[], bool] | None = None) -> float: ...


@names_its_device
class SirahCredo:
    """Driver of the Sirah Credo dye laser.

    Parameters
    ----------
    transport : Transport
        Serial line (19200 8N1) or any transport to a simulator.
    config : CredoConfig
        Range, calibration and timing.
    sleep, monotonic : callables
        Time base for polling (wall clock by default; the simulated bench passes its
        :class:`~detectors.simulation.clock.SimClock` so tests do not wait).
    initialise : bool
        Send auto-prompt off (command 16) and read its reply.
    """

    def __init__(self, transport: Transport, config: CredoConfig | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, initialise: bool = True) -> None:
        self.transport = transport
        self.config = config or CredoConfig()
        self.calibration = WavelengthCalibration(self.config.position_coefficients)
        self._sleep = sleep
        self._monotonic = monotonic
        self._target_steps: int | None = None
        if initialise:
            self.disable_auto_prompt()

    @property
    def wavelength_range_nm(self) -> tuple[float, float]:
        return (self.config.min_wavelength_nm, self.config.max_wavelength_nm)

    def disable_auto_prompt(self, quiet_s: float = 0.05) -> CredoStatus:
        """Command 16 (auto-prompt off). Frames the laser sent unasked before it took effect are
        drained: frames are read until none arrives for ``quiet_s`` (wall clock); the last is
        returned."""
        self.transport.reset_input()
        self.transport.write(encode_request(CMD_AUTOPROMPT_OFF))
        status = self._read_status()
        for _ in range(64):  # bounded: an auto-prompt that never stops is reported, not looped on
            try:
                status = self._read_status_within(quiet_s)
            except DeviceTimeout:
                return status
        raise BadReply("laser keeps sending status frames after auto-prompt off (command 16)")

    def _read_status_within(self, timeout_s: float) -> CredoStatus:
        status = decode_status(self.transport.read_exact(REPLY_LEN, timeout_s))
        if status.error_code:
            raise InstrumentError(f"laser reported error code {status.error_code}")
        return status

    def _read_status(self) -> CredoStatus:
        return self._read_status_within(self.config.timeout_s)

    def status(self) -> CredoStatus:
        """Query the status frame (command 23)."""
        self.transport.reset_input()
        self.transport.write(encode_request(CMD_STATUS))
        return self._read_status()

    def wavelength_nm(self) -> float:
        """Current wavelength in nm (from the motor position)."""
        return self.calibration.to_wavelength(self.status().position_steps)

    def is_holding(self) -> bool:
        """True when the motor holds (and, after a move, sits at the requested position)."""
        status = self.status()
        at_target = self._target_steps is None or abs(status.position_steps - self._target_steps) <= 2
        return status.holding and at_target

    def check_wavelength(self, wavelength_nm: float) -> float:
        """Return ``wavelength_nm`` as float or raise :class:`LimitError` (nothing is sent)."""
        return check_range("wavelength", wavelength_nm, *self.wavelength_range_nm, "nm")

    def set_wavelength_nm(self, wavelength_nm: float, wait: bool = True) -> float:
        """Move to ``wavelength_nm`` (nm).

        Returns
        -------
        float
            Settle time in s (time base of ``monotonic``) if ``wait``, else 0.

        Raises
        ------
        LimitError
            Outside ``wavelength_range_nm``; nothing is sent.
        """
        wl = self.check_wavelength(wavelength_nm)
        steps = self.calibration.to_position(wl)
        frame = encode_move(steps)
        self._target_steps = steps
        self.transport.write(frame)
        return self.wait_until_holding() if wait else 0.0

    def wait_until_holding(self, timeout_s: float | None = None,
                           abort: Callable[[], bool] | None = None) -> float:
        """Poll the status until the laser holds; returns the elapsed time in s.

        Raises :class:`DeviceTimeout` after ``timeout_s`` (default ``config.move_timeout_s``);
        returns early (elapsed time so far) if ``abort()`` becomes true.
        """
        timeout_s = self.config.move_timeout_s if timeout_s is None else timeout_s
        t0 = self._monotonic()
        while True:
            if self.is_holding():
                return self._monotonic() - t0
            if abort is not None and abort():
                return self._monotonic() - t0
            if self._monotonic() - t0 > timeout_s:
                raise DeviceTimeout(f"laser did not hold within {timeout_s} s")
            self._sleep(self.config.poll_interval_s)


class SimulatedCredo(SimulatedInstrument):
    """The Credo's byte protocol on top of :class:`LaserPhysics` (motion takes simulated time)."""

    def __init__(self, physics: LaserPhysics) -> None:
        super().__init__()
        self.physics = physics
        self._pending_error = 0

    def _split_requests(self) -> list[bytes]:
        frames = []
        while True:
            start = self._rx.find(bytes([REQUEST_START]))
            if start < 0:
                self._rx.clear()
                return frames
            del self._rx[:start]
            if len(self._rx) < REQUEST_LEN:
                return frames
            frames.append(bytes(self._rx[:REQUEST_LEN]))
            del self._rx[:REQUEST_LEN]

    def greeting(self) -> bytes:
        # auto-prompt is on after power-up: the laser reports its status unasked until command
        # 16 (Orsay's client reads whatever is pending on opening); one frame stands for that [I]
        with self._lock:
            return self._status()

    def _status(self, error: int = 0) -> bytes:
        steps, moving = self.physics.motor_position()
        self.physics.update()
        error = error or self._pending_error
        self._pending_error = 0
        return encode_status(CredoStatus(error, MOTION_MOVING if moving else MOTION_HOLD, steps))

    def handle(self, request: bytes) -> bytes | None:
        try:
            command, args = decode_request(request)
        except ChecksumError:
            return self._status(ERR_CHECKSUM)
        except BadReply:
            return self._status(ERR_ARGUMENT)
        if command == CMD_MOVE:
            (steps,) = struct.unpack("<I", args[1:5])
            if args[0] != 1:
                self._pending_error = ERR_ARGUMENT
            elif not 0 <= steps <= self.physics.sim.credo_motor_max_steps:
                self._pending_error = ERR_RANGE
            else:
                self.physics.start_move(steps)
            return None
        if command in (CMD_STATUS, CMD_AUTOPROMPT_OFF):
            return self._status()
        return self._status(ERR_UNKNOWN_COMMAND)

    def garble(self, reply: bytes) -> bytes:
        return b"\x00" + reply[1:]

    def corrupt_checksum(self, reply: bytes) -> bytes:
        # the real status frame has no checksum: the nearest fault is a damaged end delimiter
        return reply[:13] + b"\x00"
