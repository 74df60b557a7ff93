"""The one way a site-file table becomes a configuration: a frozen dataclass, unknown keys refused.

Every table of the site file is a dataclass whose fields are its keys with their defaults: the
instrument's own sections (``[beam]``, ``[scan]`` …, :mod:`detectors.config`) and the device
configs, e.g. the laser bench (:class:`~detectors.laser.config.LaserConfig`), the VG column
(:class:`~detectors.vg_lumiere.config.VGConfig`) and the CL spectrometer
(:class:`~detectors.cl.config.CLConfig`), dataclasses of per-device dataclasses built from the
nested tables. :func:`from_table` builds one: it refuses unknown keys (a typo must not silently
fall back to a default) and values of the wrong type, checks a field declared with
:func:`setting` against its rule, turns TOML arrays into tuples and converts special keys; its
errors name the key as the site file spells it (``beam.current_pA``), the value and what is
allowed. Checks that relate several keys go in the dataclass's ``__post_init__``.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")

#: key -> conversion of its TOML value (e.g. a table of tables into a mapping of dataclasses)
Converters = Mapping[str, Callable[[Any], Any]]


def check_order(name: str, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``low < high`` (a configured range)."""
    if not low < high:
        raise ValueError(f"{name}: lower limit {low} must be below upper limit {high}")


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def setting(default: Any, allowed: str, check: Callable[[Any], bool] = lambda v: True,
            kind: type | tuple[type, ...] | None = None) -> Any:
    """A field of a site-file table with a rule: its value must be of ``kind`` (by default the
    default's type; an int serves for a float, a bool never for a number) and pass ``check``,
    else :func:`from_table` says ``"<table>.<key> = <value> is not allowed; expected <allowed>"``.
    A list default (a TOML array) is copied for each instance and kept a list."""
    if kind is None:
        kind = (int, float) if type(default) is float else type(default)
    metadata = {"check": check, "allowed": allowed, "kind": kind}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def from_table(cls: type[T], table: Mapping[str, Any] | T | None, where: str,
               convert: Converters | None = None) -> T:
    """``cls(**table)``: unknown keys raise ``ValueError`` naming each as ``where.key`` and the known
    ones; a :func:`setting` is checked against its rule, any other field's value against the type of
    its default (lists become tuples); ``convert[key]`` is applied to the keys it names. An
    instance of ``cls`` is returned unchanged."""
    if isinstance(table, cls):
        return table
    values: dict[str, Any] = dict(typing.cast(Mapping[str, Any], table) or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(f'{where}.{k}' for k in unknown)}; "
                         f"known keys in [{where}]: {sorted(fields)}")
    for key, value in values.items():
        field = fields[key]
        if convert and key in convert:
            values[key] = convert[key](value)
        elif "check" in field.metadata:
            _check_setting(f"{where}.{key}", value, field.metadata)
        else:
            _check_type(f"{where}.{key}", value, field.default)
            if isinstance(value, list):
                values[key] = tuple(value)
    return cls(**values)


def _check_setting(name: str, value: Any, rule: Mapping[str, Any]) -> None:
    kind = rule["kind"]
    number = isinstance(kind, tuple) and (int in kind or float in kind) or kind in (int, float)
    ok_type = isinstance(value, kind) and not (isinstance(value, bool) and number)
    if not ok_type or not rule["check"](value):
        raise ValueError(f"{name} = {value!r} is not allowed; expected {rule['allowed']}")


def _check_type(name: str, value: Any, default: Any) -> None:
    """Refuse a value whose type does not match the field's default (a number for a number …)."""
    if default is dataclasses.MISSING or isinstance(value, type(default)) and not (
            isinstance(value, bool) and not isinstance(default, bool)):
        return
    if isinstance(default, bool):
        expected = "true or false"
    elif isinstance(default, int):
        expected = "an integer"
    elif isinstance(default, float):
        if isinstance(value, int) and not isinstance(value, bool):
            return
        expected = "a number"
    elif isinstance(default, str):
        expected = "a string"
    elif isinstance(default, tuple):
        if isinstance(value, list):
            return
        expected = "an array"
    else:
        return
    raise ValueError(f"{name} = {value!r} is not allowed; expected {expected}")


def from_sections(cls: type[T], data: Mapping[str, Any] | None, where: str,
                  convert: Mapping[str, Converters] | None = None) -> T:
    """``cls`` whose every field is a device section (a dataclass with defaults), each built with
    :func:`from_table` from the table of the same name; ``convert[section][key]`` as there.
    Unknown sections raise ``ValueError`` naming them and the known ones."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {where} config sections {unknown}; known: {sorted(fields)}")
    sections = {}
    for name, table in data.items():
        field = fields[name]
        section_cls: Any = (field.default_factory if field.default_factory is not dataclasses.MISSING
                            else type(field.default))
        sections[name] = from_table(section_cls, table, f"{where}.{name}", (convert or {}).get(name))
    return cls(**sections)


#: line speeds a serial instrument may be configured with (8N1 framing throughout)
BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def check_serial_address(port_key: str, port: Any, baudrate_key: str, baudrate: Any) -> None:
    """Refuse an empty/non-text serial port or an unusual baud rate, naming the key
    (``"vg.lenses.port"``). A port is a device path (``/dev/ttyUSB0``, ``COM3``, a pty path) or a
    pyserial URL (``socket://127.0.0.1:4001``, ``rfc2217://…``)."""
    if not isinstance(port, str) or not port.strip():
        raise ValueError(f"{port_key} = {port!r} is not allowed; expected a serial device path "
                         "or a pyserial URL such as 'socket://127.0.0.1:4001'")
    if isinstance(baudrate, bool) or baudrate not in BAUD_RATES:
        raise ValueError(f"{baudrate_key} = {baudrate!r} is not allowed; expected one of {list(BAUD_RATES)}")


def check_tcp_address(host_key: str, host: Any, port_key: str, port: Any) -> None:
    """Refuse an empty host or a TCP port outside 1–65535, naming the key."""
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"{host_key} = {host!r} is not allowed; expected a host name or address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{port_key} = {port!r} is not allowed; expected a TCP port 1–65535")


def with_timeouts(config: T, timeout_s: float) -> T:
    """Copy of a device-config dataclass (laser bench, VG column, …) with the ``timeout_s`` of
    every section that has one replaced (tests and simulators use short or long reply timeouts)."""
    fields = dataclasses.fields(config)  # type: ignore[arg-type]
    sections = {field.name: getattr(config, field.name) for field in fields}
    replaced = {name: dataclasses.replace(section, timeout_s=timeout_s)
                for name, section in sections.items() if hasattr(section, "timeout_s")}
    return dataclasses.replace(config, **replaced)  # type: ignore[type-var]
