"""Typed errors of every instrument driver (laser bench, VG column, CL spectrometer).

Every driver raises one of these (or :class:`LimitError`, a :class:`ValueError`) instead of
printing, retrying blindly or returning a placeholder value. A workflow catches
:class:`DeviceError` to leave the instrument safe and report what happened.
"""
from __future__ import annotations


class DeviceError(RuntimeError):
    """Base class of every instrument communication error."""


class DeviceTimeout(DeviceError, TimeoutError):
    """The instrument did not answer (completely) within the timeout."""


class BadReply(DeviceError):
    """The instrument answered something that does not parse as the expected reply."""


class ChecksumError(BadReply):
    """A binary frame arrived with a checksum that does not match its content."""


class ConnectionLost(DeviceError, ConnectionError):
    """The transport was closed by the other side or the port disappeared."""


class InstrumentError(DeviceError):
    """The instrument itself reported an error (e.g. a non-zero error code in a status frame)."""


class LimitError(ValueError):
    """A requested setting lies outside the configured safe range; nothing was sent.

    The message names the value, its unit and the limit, e.g.
    ``"wavelength 850.0 nm outside the allowed range 532.0–800.0 nm"``.
    """


def check_range(name: str, value: float, low: float, high: float, unit: str) -> float:
    """Return ``float(value)`` if ``low <= value <= high``, else raise :class:`LimitError`.

    Parameters
    ----------
    name : str
        Human name of the quantity, e.g. ``"wavelength"``.
    value : float
        Requested value.
    low, high : float
        Inclusive limits, same unit as ``value``.
    unit : str
        Unit printed after numbers, e.g. ``"nm"``.
    """
    v = float(value)
    if not (low <= v <= high):  # also refuses NaN
        raise LimitError(f"{name} {v} {unit} outside the allowed range {float(low)}–{float(high)} {unit}")
    return v
