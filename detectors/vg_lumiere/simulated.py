"""The simulated VG column: byte-level simulators served on ptys/sockets, real drivers on top.

:class:`SimulatedVGColumn` ``(world, config=None)`` builds :class:`~.physics.ColumnPhysics` on the
world, serves each simulated instrument through :mod:`detectors.common.transport`'s servers (pty pairs
for the serial instruments, 127.0.0.1 sockets for the units we gave a TCP line protocol), connects
the real drivers and assembles a :class:`~.column.VGColumn` waiting on the world clock.
"""
from __future__ import annotations

from typing import Any, Mapping

from detectors.common.config_tables import with_timeouts
from detectors.common.simbase import Fault, SimulatedInstrument
from detectors.common.transport import RecordingTransport
from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER, PtyServer, TcpServer, serial_address
from detectors.simulation.world import SimulatedWorld

from .apertures import SimulatedApertureMotors
from .bus import SimulatedHighTension, SimulatedProbeUnit, SimulatedStage
from .config import VGConfig
from .connect import SERIAL_DEVICES, TCP_DEVICES, column_from_transports
from .lenses import SimulatedLensSupply
from .physics import ColumnPhysics
from .vacuum import SimulatedGunGauge, SimulatedPfeifferGauge



class WorldEELSSpectrometer:
    """Spectrometer link of the simulated column: writes the per-HT settings into
    ``world.spectrometer`` (keys ``energy_offset_eV``, ``dispersion_eV_per_channel``)."""

    def __init__(self, world: SimulatedWorld) -> None:
        self.world = world

    def apply_high_tension_settings(self, high_tension_V: float, settings: Mapping[str, float]) -> None:
        spec = self.world.spectrometer
        for key, value in settings.items():
            if not hasattr(spec, key):
                raise ValueError(f"unknown EELS spectrometer setting {key!r} in the HT table")
            setattr(spec, key, float(value))


class SimulatedVGColumn:
    """Simulated column served on the real transports, with connected drivers.

    Parameters
    ----------
    world : SimulatedWorld
        Shared world: the column writes ``beam.high_tension_V``, ``beam.blanked``, the probe
        position, ``spectrometer`` (per-HT table) and, on stage moves, ``drift``.
    config : VGConfig, optional
        Defaults to ``VGConfig()``.
    probe_shift : object, optional
        The scan's probe shift (``set_shift_nm``), kept equal to ``CSH``.
    serial : {"pty", "tcp"}
        How the serial instruments are served (pty pairs through pyserial, or sockets; default: ptys where they exist, sockets on Windows).
    timeout_s : float, optional
        If given, replaces the read timeout of every driver's config (wall-clock s).
    connect : bool
        False: only serve the simulators (no drivers, no :attr:`column`); a client connects to
        :meth:`site_tables` (e.g. the ``serial`` backend of a site file, in tests).

    Attributes
    ----------
    column : VGColumn
        The facade (``get``/``set``/``try_get``/``poll``; also reachable on this object).
    physics : ColumnPhysics
        Hidden state (``gun_pressure_Pa`` … for tests).
    simulators : dict of str to SimulatedInstrument
        ``lenses``, ``apertures``, ``gun_gauge``, ``column_gauge``, ``ht``, ``probe``, ``stage``;
        each has a ``fault`` switch.
    transports : dict of str to RecordingTransport

    Examples
    --------
    >>> from detectors.simulation.world import SimulatedWorld
    >>> world = SimulatedWorld(0)
    >>> with SimulatedVGColumn(world) as vg:
    ...     vg.set("EHT", 60_000)
    ...     world.beam.high_tension_V
    60000.0
    """

    def __init__(self, world: SimulatedWorld, config: VGConfig | Mapping[str, Any] | None = None, *,
                 probe_shift: object | None = None, serial: str = DEFAULT_SERIAL_SERVER, timeout_s: float | None = None,
                 connect: bool = True) -> None:
        if serial not in ("pty", "tcp"):
            raise ValueError(f"serial must be 'pty' or 'tcp', got {serial!r}")
        if not isinstance(config, VGConfig):
            config = VGConfig.from_dict(config)
        if timeout_s is not None:
            config = with_timeouts(config, timeout_s)
        self.world = world
        self.config = config
        self.physics = ColumnPhysics(world, config, probe_shift)
        p = self.physics
        self.simulators: dict[str, SimulatedInstrument] = {
            "lenses": SimulatedLensSupply(p), "apertures": SimulatedApertureMotors(p),
            "gun_gauge": SimulatedGunGauge(p),
            "column_gauge": SimulatedPfeifferGauge(p, config.vacuum.column_address),
            "ht": SimulatedHighTension(p), "probe": SimulatedProbeUnit(p), "stage": SimulatedStage(p),
        }
        self.servers: dict[str, PtyServer | TcpServer] = {}
        self.transports: dict[str, RecordingTransport] = {}
        try:
            for name, handler in self.simulators.items():
                server = PtyServer(handler) if (name in SERIAL_DEVICES and serial == "pty") else TcpServer(handler)
                self.servers[name] = server.start()
            if not connect:
                return
            t = {name: self._connect(name, timeout_s or 0.5) for name in self.simulators}
            self.column = column_from_transports(t, config, spectrometer=WorldEELSSpectrometer(world),
                                                 sleep=world.clock.sleep, monotonic=world.clock.now_s)
        except BaseException:
            self.close()
            raise

    def _connect(self, name: str, timeout_s: float) -> RecordingTransport:
        transport = RecordingTransport(self.servers[name].connect(timeout_s=timeout_s))
        self.transports[name] = transport
        return transport

    def site_tables(self) -> dict[str, dict[str, Any]]:
        """``[vg.*]`` tables of a site file whose ``serial`` backend reaches these simulators: pty
        paths (or ``socket://127.0.0.1:<port>`` URLs when served on sockets) for the serial
        instruments, 127.0.0.1 host/port for the others. A pty has room for one client only: use
        with ``connect=False``."""
        def address(name: str) -> str:
            return serial_address(self.servers[name])

        tables: dict[str, dict[str, Any]] = {}
        for name, d in SERIAL_DEVICES.items():
            tables.setdefault(d.section, {})[d.port_key] = address(name)
        for name, d in TCP_DEVICES.items():
            server = self.servers[name]
            tables.setdefault(d.section, {}).update(host=server.host, port=server.port)
        return tables

    def __getattr__(self, name: str) -> Any:
        # get/set/try_get/poll/controls/events/reset_interlocks … of the facade
        if name == "column":
            raise AttributeError(name)
        return getattr(self.column, name)

    def clear_faults(self) -> None:
        for sim in self.simulators.values():
            sim.fault = Fault.NONE

    def close(self) -> None:
        """Close the drivers' transports and stop the simulator servers (safe to call twice)."""
        column = self.__dict__.get("column")
        if column is not None:
            column.close()
        for t in self.transports.values():
            try:
                t.close()
            except Exception:  # noqa: BLE001 - closing regardless
                pass
        self.transports = {}
        for server in self.servers.values():
            server.stop()
        self.servers = {}

    def __enter__(self) -> "SimulatedVGColumn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
