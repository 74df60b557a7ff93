"""The simulated VG column: byte-level simulators served on ptys/sockets, real drivers on top.

:class:`SimulatedVGColumn` ``(world, config=None)`` builds :class:`~.physics.ColumnPhysics` on the
world, serves each simulated instrument through the laser package's transport servers (pty pairs
for the serial instruments, 127.0.0.1 sockets for the units we gave a TCP line protocol), connects
the real drivers and assembles a :class:`~.column.VGColumn` waiting on the world clock.
"""
from __future__ import annotations

from typing import Any, Mapping

from detectors.common.config_tables import with_timeouts
from detectors.common.simbase import Fault, SimulatedInstrument
from detectors.common.transport import PtyServer, RecordingTransport, TcpServer
from detectors.simulation.world import SimulatedWorld

from .apertures import ApertureMotors, SimulatedApertureMotors
from .bus import HighTension, ProbeUnit, SimulatedHighTension, SimulatedProbeUnit, SimulatedStage, Stage
from .column import VGColumn
from .config import VGConfig
from .lenses import LensSupply, SimulatedLensSupply
from .physics import ColumnPhysics
from .vacuum import GunGauge, PfeifferGauge, SimulatedGunGauge, SimulatedPfeifferGauge

SERIAL = ("lenses", "apertures", "gun_gauge", "column_gauge")
NETWORK = ("ht", "probe", "stage")



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
        How the serial instruments are served (pty pairs through pyserial, or sockets).
    timeout_s : float, optional
        If given, replaces the read timeout of every driver's config (wall-clock s).

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
                 probe_shift: object | None = None, serial: str = "pty", timeout_s: float | None = None) -> None:
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
            t = {name: self._serve(name, serial, timeout_s or 0.5) for name in self.simulators}
            clock = world.clock
            self.column = VGColumn(
                ht=HighTension(t["ht"], config.ht), lenses=LensSupply(t["lenses"], config.lenses),
                probe=ProbeUnit(t["probe"], config.probe_shift),
                stage=Stage(t["stage"], config.stage, sleep=clock.sleep, monotonic=clock.now_s),
                apertures=ApertureMotors(t["apertures"], config.apertures),
                gun_gauge=GunGauge(t["gun_gauge"], 1, config.vacuum.timeout_s),
                column_gauge=PfeifferGauge(t["column_gauge"], config.vacuum.column_address,
                                           config.vacuum.timeout_s),
                config=config, spectrometer=WorldEELSSpectrometer(world), monotonic=clock.now_s)
        except BaseException:
            self.close()
            raise

    def _serve(self, name: str, serial: str, timeout_s: float) -> RecordingTransport:
        handler = self.simulators[name]
        server = PtyServer(handler) if (name in SERIAL and serial == "pty") else TcpServer(handler)
        self.servers[name] = server.start()
        transport = RecordingTransport(server.connect(timeout_s=timeout_s))
        self.transports[name] = transport
        return transport

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
