"""Typed errors of every instrument driver, and the one-line text a user sees for any error.

One hierarchy: every device error of every package (laser bench, VG column, CL spectrometer,
scan generator, Merlin, the EEGS shutter guard) derives from :class:`DeviceError`, so a
workflow, the CLI and the Swift panels catch one class to leave the instrument safe and report
what happened. Drivers raise these (or :class:`LimitError` / :class:`ParameterError`, both
:class:`ValueError`) instead of printing, retrying blindly or returning a placeholder value.

Each :class:`DeviceError` names its device: ``error.device`` is the instance's device (e.g.
``"Merlin at 127.0.0.1:6341"``, set by the driver that knows the address) or, when the driver
did not say, the class's kind (:attr:`DeviceError.device_kind`, e.g. ``"Merlin"``). Drivers set
it with :func:`naming_device` (a block) or :func:`names_its_device` (a class decorator: the
name of the driver's transport, e.g. ``"pump supply on serial port COM4"``).
:func:`describe_error` turns any exception into the single line the CLI prints and the panels
show, e.g. ``"Merlin at 127.0.0.1:6341: reply b'garbage' does not answer 'GET,DETECTORSTATUS'"``.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import typing

T = typing.TypeVar("T")


class DeviceError(RuntimeError):
    """Base class of every instrument error (communication, refusal, interlock, shutter).

    Parameters
    ----------
    *args
        The message (as for any exception).
    device : str, optional
        Which device, with its address where known, e.g. ``"Merlin at 127.0.0.1:6341"`` or
        ``"CL spectrometer on serial port /dev/ttyUSB0"``. Default: :attr:`device_kind`.
    """

    #: what kind of device raises this class; subclasses of each package override it
    device_kind: str = "instrument"

    def __init__(self, *args: typing.Any, device: str | None = None) -> None:
        super().__init__(*args)
        self._device = device

    @property
    def device(self) -> str:
        """The device that failed: the instance's name (with address) or the class's kind."""
        return self._device or self.device_kind

    @device.setter
    def device(self, name: str | None) -> None:
        self._device = name

    @property
    def device_named(self) -> bool:
        """True when a driver set the instance's device name (usually with its address)."""
        return bool(self._device)


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


class ParameterError(ValueError):
    """An input (CLI option, workflow parameter, panel field) that is not allowed; nothing moved.

    The message names the parameter, the bad value and what is allowed, e.g.
    ``"fov_nm = inf nm is not allowed; expected a finite number > 0 nm"``.
    """


class LimitError(ParameterError):
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


@contextlib.contextmanager
def naming_device(device: str) -> typing.Iterator[None]:
    """Give every :class:`DeviceError` that leaves the block without a device name ``device``.

    Drivers wrap the calls that talk to the instrument, so errors raised deep in a protocol
    layer (which does not know the address) still say which instrument failed::

        with naming_device(f"Merlin at {host}:{port}"):
            reply = recv_exact(...)
    """
    try:
        yield
    except DeviceError as error:
        if not error.device_named:
            error.device = device
        raise


def _device_of(driver: typing.Any) -> str:
    """The name of the transport a driver talks through (``driver.transport`` or
    ``driver.channel.transport``), e.g. ``"laser on serial port /dev/ttyUSB0"``; for a transport
    itself its own ``name``; ``""`` if none."""
    for holder in (driver, getattr(driver, "channel", None)):
        transport = getattr(holder, "transport", None)
        name = getattr(transport, "name", "") if transport is not None else ""
        if name:
            return str(name)
    own = getattr(driver, "name", "")
    return own if isinstance(own, str) and hasattr(driver, "read_until") else ""


def names_its_device(cls: type[T]) -> type[T]:
    """Class decorator for a serial/TCP driver: :class:`DeviceError` s leaving any of its public
    methods carry the name of the driver's transport as their device (unless already named).

    The protocol code that raises (a parser of a status frame, a reply check) does not know
    which instrument it parses for; the transport's name does (``connect_*`` functions prefix
    it with the instrument: ``"pump supply on serial port COM4"``).
    """
    for attr, value in list(vars(cls).items()):
        # public methods, and __init__ (drivers talk to the instrument when connecting)
        if (attr.startswith("_") and attr != "__init__") or not inspect.isfunction(value):
            continue

        def wrap(method: typing.Callable[..., typing.Any]) -> typing.Callable[..., typing.Any]:
            @functools.wraps(method)
            def wrapper(self: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
                try:
                    return method(self, *args, **kwargs)
                except DeviceError as error:
                    if not error.device_named:
                        error.device = _device_of(self) or None
                    raise
            return wrapper

        setattr(cls, attr, wrap(value))
    return cls


def describe_error(error: BaseException) -> str:
    """One line for a user: which device (or input) failed and why, no traceback.

    A :class:`DeviceError` is prefixed with its device unless the message already names it; a
    :class:`ValueError` (bad input, :class:`ParameterError`, :class:`LimitError`, the site
    file's ``ConfigError``) is its message; a :class:`MemoryError` says so; anything else
    (a bug) is ``"internal error: <type>: <message>"``. Newlines are folded into ``"; "``.
    """
    message = str(error).strip()
    if isinstance(error, DeviceError):
        device = error.device
        text = message if device.lower() in message.lower() else f"{device}: {message or type(error).__name__}"
    elif isinstance(error, (ValueError, LookupError)) and message:
        # LookupError: e.g. an unknown control name (vg_lumiere.UnknownControl lists the known ones)
        # KeyError's str() is the repr of its argument: show the argument itself
        text = error.args[0] if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(
            error.args[0], str) else message
    elif isinstance(error, MemoryError):
        text = f"out of memory{': ' + message if message else ''}; choose smaller sizes"
    elif isinstance(error, OSError) and message:
        text = message
    else:
        text = f"internal error: {type(error).__name__}{': ' + message if message else ''}"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
