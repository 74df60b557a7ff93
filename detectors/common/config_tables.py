"""Device configs from TOML tables: one frozen dataclass per device section, unknown keys refused.

The laser bench (:class:`~detectors.laser.config.LaserConfig`), the VG column
(:class:`~detectors.vg_lumiere.config.VGConfig`) and the CL spectrometer
(:class:`~detectors.cl.config.CLConfig`) are dataclasses of per-device dataclasses built from
the nested tables of the site file. The shared part lives here: refuse unknown keys (a typo must
not silently fall back to a default), turn TOML arrays into tuples, convert special keys, and
replace the read timeouts of every section.
"""
from __future__ import annotations

import dataclasses
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


def from_table(cls: type[T], table: Mapping[str, Any] | T | None, where: str,
               convert: Converters | None = None) -> T:
    """``cls(**table)``: unknown keys raise ``ValueError`` naming ``where``, the keys and the known
    ones; lists become tuples; ``convert[key]`` is applied to the keys it names. An instance of
    ``cls`` is returned unchanged."""
    if isinstance(table, cls):
        return table
    values = dict(table or {})
    known = field_names(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown keys {unknown} in {where}; known: {sorted(known)}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if convert and key in convert:
            values[key] = convert[key](value)
            continue
        _check_type(f"{where}.{key}", value, defaults[key])
        if isinstance(value, list):
            values[key] = tuple(value)
    return cls(**values)


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
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {where} config sections {unknown}; known: {sorted(fields)}")
    sections = {}
    for name, table in data.items():
        field = fields[name]
        section_cls = field.default_factory if field.default_factory is not dataclasses.MISSING else type(field.default)
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
    sections = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    return dataclasses.replace(config, **{name: dataclasses.replace(section, timeout_s=timeout_s)
                                          for name, section in sections.items() if hasattr(section, "timeout_s")})
