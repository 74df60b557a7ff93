"""Typed errors and interlock events of the VG Lumière column adaptor.

The communication errors are those of the laser bench (:mod:`detectors.common.errors`), so a
workflow catches one :class:`~detectors.common.errors.DeviceError` family for every instrument.
The column adds: an unknown control name, a value out of range, a silent subsystem, a read-only
control and a tripped interlock.
"""
from __future__ import annotations

import dataclasses

from detectors.common.errors import DeviceError, DeviceTimeout, LimitError

__all__ = ["ControlRangeError", "InterlockEvent", "InterlockTripped", "ReadOnlyControl", "SubsystemTimeout",
           "UnknownControl"]


class UnknownControl(LookupError):
    """A control name the column does not know; the message lists the known names."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown control {name!r}; known controls: {', '.join(self.known)}")

    def __str__(self) -> str:  # LookupError/KeyError would quote the message
        return self.args[0]


class ControlRangeError(LimitError):
    """A value outside a control's allowed range or set; nothing was sent.

    The message names the control, the value and the range, e.g.
    ``"OL = 12.0 A is out of range; allowed 0.0–9.5 A"``.
    """


class ReadOnlyControl(ValueError):
    """``set`` was called on a read-only control (a gauge, the temperature estimate)."""


class SubsystemTimeout(DeviceTimeout):
    """A column subsystem (lens supply, gauge, stage …) did not answer in time.

    Attributes
    ----------
    subsystem : str
        Which instrument was silent, e.g. ``"lens power supply"``.
    """

    device_kind = "VG column"

    def __init__(self, subsystem: str, detail: str = "") -> None:
        self.subsystem = subsystem
        msg = f"{subsystem} did not answer"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


@dataclasses.dataclass(frozen=True)
class InterlockEvent:
    """One interlock trip: what tripped, why, and what was done to make the column safe.

    Attributes
    ----------
    interlock : str
        ``"objective_temperature"``, ``"gun_vacuum"`` or ``"column_vacuum"``.
    reason : str
        Human sentence with the value and the threshold.
    value, limit : float
        Measured (or estimated) value and its threshold, in ``unit``.
    unit : str
        ``"C"`` or ``"Pa"``.
    actions : tuple of str
        What the column did, e.g. ``("objective current reduced to 0.0 A", "beam blanked")``.
    time_s : float
        Time of the trip on the column's clock, s.
    """

    interlock: str
    reason: str
    value: float
    limit: float
    unit: str
    actions: tuple[str, ...]
    time_s: float

    def __str__(self) -> str:
        return f"interlock {self.interlock} tripped: {self.reason}; " + "; ".join(self.actions)


class InterlockTripped(DeviceError):
    """An interlock tripped (or is still latched) and the requested action was stopped.

    ``device`` is ``"VG column"``.

    Attributes
    ----------
    events : tuple of InterlockEvent
        The trips that caused this error (each says why and what was made safe).
    """

    device_kind = "VG column"

    def __init__(self, events: "list[InterlockEvent] | tuple[InterlockEvent, ...]", message: str = "") -> None:
        self.events = tuple(events)
        text = message or "; ".join(str(e) for e in self.events)
        super().__init__(text)

    @property
    def event(self) -> InterlockEvent:
        return self.events[0]
