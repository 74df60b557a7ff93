"""Typed errors of the Merlin driver.

Every failure of the protocol layer, the clients and the file reader is one of these, so callers can
tell a broken wire (:class:`MerlinConnectionLost`), a silent peer (:class:`MerlinTimeout`), bytes that
do not follow the protocol (:class:`MerlinProtocolError`) and a refused command
(:class:`MerlinCommandError`) apart. Each message names the offending value.

Errors raised during an acquisition carry what was received before the failure in ``partial``
(an :class:`~detectors.merlin.client.AcquisitionResult` or ``None``), so frames already read are
never lost.

They are :class:`~detectors.common.errors.DeviceError` s like every instrument's errors (and,
by kind, a :class:`~detectors.common.errors.BadReply`, :class:`~detectors.common.errors.DeviceTimeout`,
:class:`~detectors.common.errors.ConnectionLost` or :class:`~detectors.common.errors.InstrumentError`),
so the CLI, the panels and the workflows catch one family; ``error.device`` says
``"Merlin at host:port"`` when a client raised it.
"""
from __future__ import annotations

from typing import Any

from detectors.common.errors import BadReply, ConnectionLost, DeviceError, DeviceTimeout, InstrumentError


class MerlinError(DeviceError):
    """Base class of every Merlin driver error.

    Attributes
    ----------
    partial : object or None
        Data received before the error (an ``AcquisitionResult`` for data-channel errors).
    device : str
        ``"Merlin at host:port"`` when raised by a client, else ``"Merlin"``.
    """

    device_kind = "Merlin"

    def __init__(self, message: str, *, partial: Any = None, device: str | None = None) -> None:
        super().__init__(message, device=device)
        self.partial = partial


class MerlinProtocolError(MerlinError, BadReply):
    """Bytes on the wire or in a file do not follow the Merlin protocol."""


class MerlinHeaderError(MerlinProtocolError):
    """An HDR acquisition header or an MQ1 frame header cannot be parsed."""


class MerlinFrameTooLarge(MerlinProtocolError):
    """A length field claims more bytes than the configured maximum (checked before allocating)."""


class MerlinUnsupportedFormat(MerlinProtocolError):
    """A valid but unsupported combination (pixel type, counter depth, chip layout)."""


class MerlinTimeout(MerlinError, DeviceTimeout):
    """The peer sent nothing (or too little) within the configured time."""


class MerlinConnectionLost(MerlinError, ConnectionLost):
    """The peer closed the connection, possibly in the middle of a message."""


#: what the common socket reads raise for a Merlin peer (:class:`~detectors.common.transport.Deadline`)
MERLIN_WIRE_ERRORS = (MerlinTimeout, MerlinConnectionLost)


class MerlinCommandError(MerlinError, InstrumentError):
    """The detector answered a control command with a non-zero code.

    Attributes
    ----------
    code : int
        1 busy, 2 not recognised, 3 parameter out of range.
    command : str
        The command as sent, e.g. ``"SET,COUNTERDEPTH,7"``.
    """

    def __init__(self, message: str, *, code: int, command: str, device: str | None = None) -> None:
        super().__init__(message, device=device)
        self.code = code
        self.command = command


class MerlinBusy(MerlinCommandError):
    """Code 1: the detector is busy (usually acquiring)."""


class MerlinUnknownCommand(MerlinCommandError):
    """Code 2: the command or variable name is not recognised."""


class MerlinValueOutOfRange(MerlinCommandError):
    """Code 3: the parameter is out of range."""


def command_error_for_code(code: int, command: str) -> MerlinCommandError:
    """Build the typed error for a non-zero response ``code`` to ``command``."""
    kinds: dict[int, tuple[type[MerlinCommandError], str]] = {
        1: (MerlinBusy, "detector busy"),
        2: (MerlinUnknownCommand, "command not recognised"),
        3: (MerlinValueOutOfRange, "parameter out of range"),
    }
    kind, text = kinds.get(code, (MerlinCommandError, "unknown response code"))
    return kind(f"Merlin refused {command!r}: {text} (code {code})", code=code, command=command)
