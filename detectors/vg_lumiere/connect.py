"""The real VG column: the drivers over the transports a :class:`~.config.VGConfig` names.

:func:`connect_column` opens every device's transport (serial line or TCP), builds the drivers and
returns the :class:`~.column.VGColumn` (wall clock; ``close()`` closes the transports). The
simulated column (:class:`~.simulated.SimulatedVGColumn`) builds the same column through
:func:`column_from_transports` over its simulators' ptys/sockets, so both share every driver.

=================  ====================  ==========================================  ==========
device             subsystem             config keys (``vg.<section>.<key>``)         transport
=================  ====================  ==========================================  ==========
``lenses``         lens power supply     ``lenses.port``, ``lenses.baudrate``         serial
``apertures``      aperture motors       ``apertures.port``, ``apertures.baudrate``   serial
``gun_gauge``      gun gauge             ``vacuum.gun_port``, ``vacuum.gun_baudrate``  serial
``column_gauge``   column gauge          ``vacuum.column_port``, ``…column_baudrate``  serial
``ht``             high tension          ``ht.host``, ``ht.port``                     TCP
``probe``          probe unit            ``probe_shift.host``, ``probe_shift.port``   TCP
``stage``          stage                 ``stage.host``, ``stage.port``               TCP
=================  ====================  ==========================================  ==========
"""
from __future__ import annotations

import time
import typing
from typing import Any, Callable, Mapping

from detectors.common.config_tables import check_serial_address, check_tcp_address
from detectors.common.errors import DeviceError
from detectors.common.transport import SerialTransport, SocketTransport, Transport

from .apertures import ApertureMotors
from .bus import HighTension, ProbeUnit, Stage
from .column import SpectrometerLink, VGColumn, subsystem_call
from .config import VGConfig
from .lenses import LensSupply
from .vacuum import GunGauge, PfeifferGauge


class SerialDevice(typing.NamedTuple):
    subsystem: str
    section: str
    port_key: str
    baudrate_key: str


class TcpDevice(typing.NamedTuple):
    subsystem: str
    section: str


SERIAL_DEVICES: dict[str, SerialDevice] = {
    "lenses": SerialDevice("lens power supply", "lenses", "port", "baudrate"),
    "apertures": SerialDevice("aperture motors", "apertures", "port", "baudrate"),
    "gun_gauge": SerialDevice("gun gauge", "vacuum", "gun_port", "gun_baudrate"),
    "column_gauge": SerialDevice("column gauge", "vacuum", "column_port", "column_baudrate"),
}
TCP_DEVICES: dict[str, TcpDevice] = {
    "ht": TcpDevice("high tension", "ht"),
    "probe": TcpDevice("probe unit", "probe_shift"),
    "stage": TcpDevice("stage", "stage"),
}
SUBSYSTEMS = {name: d.subsystem for name, d in {**SERIAL_DEVICES, **TCP_DEVICES}.items()}


def check_addresses(config: VGConfig, where: str = "vg", *, required: bool = True) -> None:
    """Raise ``ValueError`` naming the first missing or malformed port/host/baud rate key
    (``"vg.lenses.port = '' is not allowed; expected …"``). ``required=False`` checks only the
    devices whose port or host is given (the simulated backend)."""
    for d in SERIAL_DEVICES.values():
        section = getattr(config, d.section)
        if not required and not getattr(section, d.port_key):
            continue
        check_serial_address(f"{where}.{d.section}.{d.port_key}", getattr(section, d.port_key),
                             f"{where}.{d.section}.{d.baudrate_key}", getattr(section, d.baudrate_key))
    for d in TCP_DEVICES.values():
        section = getattr(config, d.section)
        if not required and not (section.host or section.port):
            continue
        check_tcp_address(f"{where}.{d.section}.host", section.host, f"{where}.{d.section}.port", section.port)


def column_from_transports(t: Mapping[str, Transport], config: VGConfig, *,
                           spectrometer: SpectrometerLink | None = None,
                           sleep: Callable[[float], None] = time.sleep,
                           monotonic: Callable[[], float] = time.monotonic,
                           owned: typing.Sequence[Transport] = ()) -> VGColumn:
    """Drivers on the transports ``t`` (keys of :data:`SUBSYSTEMS`) behind one :class:`VGColumn`.

    ``sleep``/``monotonic`` are the stage's and thermal model's time base (the simulated column
    passes the world clock's). ``owned`` transports are closed by the column's ``close()``. A silent
    device raises :class:`SubsystemTimeout` naming it (the lens supply is unlocked and read here).
    """
    c = config
    lenses = subsystem_call("lens power supply", LensSupply, t["lenses"], c.lenses)
    return VGColumn(
        ht=HighTension(t["ht"], c.ht), lenses=lenses, probe=ProbeUnit(t["probe"], c.probe_shift),
        stage=Stage(t["stage"], c.stage, sleep=sleep, monotonic=monotonic),
        apertures=ApertureMotors(t["apertures"], c.apertures),
        gun_gauge=GunGauge(t["gun_gauge"], 1, c.vacuum.timeout_s),
        column_gauge=PfeifferGauge(t["column_gauge"], c.vacuum.column_address, c.vacuum.timeout_s),
        config=c, spectrometer=spectrometer, monotonic=monotonic, owned_transports=owned)


def check_every_device_answers(column: VGColumn) -> None:
    """Read each subsystem once (HT, probe shift, stage, the first aperture motor, both gauges);
    a silent one raises :class:`SubsystemTimeout` naming it and its port."""
    first_motor = next(iter(column.config.apertures.motors), None)
    reads: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("high tension", column.ht.high_tension_V, ()), ("probe unit", column.probe.get_shift_nm, ()),
        ("stage", column.stage.position_nm, ()), ("gun gauge", column.gun_gauge.pressure_Pa, ()),
        ("column gauge", column.column_gauge.pressure_Pa, ())]
    if first_motor is not None:
        reads.append(("aperture motors", column.apertures.position_um, (first_motor,)))
    for subsystem, read, args in reads:
        subsystem_call(subsystem, read, *args)


def connect_column(config: VGConfig | Mapping[str, Any], *, spectrometer: SpectrometerLink | None = None,
                   check: bool = True) -> VGColumn:
    """Open every device of ``config`` and return the connected column (wall clock).

    Parameters
    ----------
    config : VGConfig or mapping
        Ports, baud rates, hosts (see the module table), limits, HT table, interlocks.
    spectrometer : SpectrometerLink, optional
        Receives the per-HT EELS spectrometer settings (none on the real column by default).
    check : bool
        Read every subsystem once before returning (a silent device fails now, not at first use).

    Raises
    ------
    ValueError
        A port/host/baud rate is missing or malformed (the message names the key).
    ConnectionLost
        A port cannot be opened.
    SubsystemTimeout
        A device did not answer; the message names it and its port.
    Already opened transports are closed again on any error.
    """
    if not isinstance(config, VGConfig):
        config = VGConfig.from_dict(config)
    check_addresses(config)
    opened: dict[str, Transport] = {}
    try:
        for name, d in SERIAL_DEVICES.items():
            section = getattr(config, d.section)
            timeout = config.vacuum.timeout_s if d.section == "vacuum" else section.timeout_s
            opened[name] = SerialTransport(getattr(section, d.port_key), getattr(section, d.baudrate_key), timeout)
        for name, d in TCP_DEVICES.items():
            section = getattr(config, d.section)
            opened[name] = SocketTransport(section.host, section.port, section.timeout_s)
        for name, transport in opened.items():  # name the instrument in its transport's errors
            transport.name = f"VG column {SUBSYSTEMS[name]} on {transport.name}"
        column = column_from_transports(opened, config, spectrometer=spectrometer, owned=list(opened.values()))
        if check:
            check_every_device_answers(column)
    except BaseException:
        for transport in opened.values():
            try:
                transport.close()
            except DeviceError:
                pass
        raise
    return column
