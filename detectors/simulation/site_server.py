"""One simulated microscope behind the real wire protocols, for a process of its own.

:class:`SimulatedSite` builds ONE :class:`~detectors.simulation.world.SimulatedWorld` on a
real-time clock and serves the simulators of the devices asked for on 127.0.0.1, each through the
transport its real instrument uses:

==========  ============================================================  =====================
device      simulators (existing classes, served as they are)             transport
==========  ============================================================  =====================
``scan``    :class:`~detectors.scan.server.ScanUnitSimulator`             TCP (scan protocol)
``merlin``  :class:`~detectors.merlin.simulator.MerlinSimulator`          TCP control + data
``laser``   :class:`~detectors.laser.simulated.SimulatedLaserSystem`'s    serial (pty / socket),
            Credo, pump supply, two power meters, attenuator; sync box    sync box TCP
``vg``      :class:`~detectors.vg_lumiere.SimulatedVGColumn` (no driver)  serial + TCP
``cl``      :class:`~detectors.cl.SimulatedCLSpectrometer`'s Acton        serial
==========  ============================================================  =====================

Because they share the world, the experiment is coherent across processes: the Merlin's frames
are taken where the scan unit put the beam (a synchronized block steers the world's beam through
its visits, as the real unit moves the beam on the camera's triggers), the HAADF drifts in wall
time, the laser the client tunes shows up as EEGS sidebands, the column's ``CSH`` moves the scan.
:meth:`SimulatedSite.site_tables` are the site-file tables whose *real* backends (``merlin``,
scan ``tcp``, laser/vg/cl ``serial``) reach these servers; :func:`site_file_text` writes them.

Serial instruments are served on pty pairs (POSIX) or, with ``serial="tcp"`` (the default where
ptys do not exist, e.g. Windows), on sockets that pyserial opens as ``socket://127.0.0.1:PORT``.

Example
-------
>>> with SimulatedSite(("scan", "merlin"), seed=1) as site:            # doctest: +SKIP
...     print(site_file_text(site.site_tables()))
"""
from __future__ import annotations

import json
import time
import typing

import numpy as np

from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER, SERIAL_SERVERS, TcpServer, serial_address, serial_server
from detectors.config import SiteConfig, load_config
from detectors.scan.generator import BlockData, FrameData
from detectors.scan.simulated import SimulatedScanGenerator
from detectors.simulation.devices import SimulatedProbeShift
from detectors.simulation.world import SimulatedWorld

#: devices a site can serve, in start order
SITE_DEVICES = ("scan", "merlin", "laser", "vg", "cl")
#: laser-bench simulators (attributes of SimulatedLaserSystem) -> (``[laser.*]`` table, port key)
#: reply timeout written for every line instrument, wall-clock s: the simulators share the
#: machine's cores with their clients (on a loaded 2-core test machine a reply can take longer
#: than the real links' 0.5 s); a real site file keeps its own
SIM_REPLY_TIMEOUT_S = 2.0
LASER_PORTS = {"laser": ("credo", "port"), "pump": ("pump", "port"), "meter_in": ("meter", "port_in"),
               "meter_out": ("meter", "port_out"), "attenuator": ("attenuator", "port")}


class SiteScanGenerator(SimulatedScanGenerator):
    """The simulated scan generator as a scan unit in its own process behaves.

    A free-running frame takes its frame time on the wall clock (a real unit does; the client's
    driver does not pace a ``tcp`` unit). With ``follow_beam``, each synchronized block queues its
    visits (commanded positions + probe shift) as the world's probe positions for the next camera
    frames, so the Merlin served from the same world records its spectra there.
    """

    def __init__(self, world: SimulatedWorld, probe_shift: SimulatedProbeShift | None = None,
                 n_outputs: int = 4, *, follow_beam: bool = False) -> None:
        super().__init__(world, probe_shift, n_outputs=n_outputs)
        self.follow_beam = follow_beam

    def acquire_frame(self) -> FrameData:
        start = time.monotonic()
        data = super().acquire_frame()
        if not self.world.clock.is_virtual:  # a virtual clock was advanced by the frame itself
            order = self.pixel_order()
            frame = data.frame
            self.world.pace(start, frame.frame_time_s if order is None else order.size * frame.dwell_s)
        return data

    def acquire_block(self, start: int, count: int) -> BlockData:
        block = super().acquire_block(start, count)
        if self.follow_beam:
            dy, dx = self._shift()
            self.world.queue_probe_positions(block.visits.y_nm + dy, block.visits.x_nm + dx)
        return block


class SimulatedSite:
    """Serve the simulators of ``devices`` on one world (see the module docstring).

    Parameters
    ----------
    devices : sequence of str
        Some of :data:`SITE_DEVICES`.
    seed : int, optional
        Seed of the world (specimen, drift, noise); default ``[world] seed`` of ``config``.
    serial : {"pty", "tcp"}
        How serial instruments are served (default: ptys where they exist, else sockets).
    config : SiteConfig or path, optional
        The simulated world's ``[world]`` (drift), ``[beam]``, ``[spectrometer]`` and the
        simulators' ``[scan]``/``[laser]``/``[vg]``/``[cl]`` limits; backends, ports and the
        clock speed in it are ignored (the site runs on the wall clock). Default: the defaults.

    Attributes
    ----------
    world : SimulatedWorld
    servers : dict of str to object
        Every running server by name (``scan``, ``merlin``, ``laser.credo`` …, ``vg``, ``cl``).
    """

    def __init__(self, devices: typing.Sequence[str] = SITE_DEVICES, *, seed: int | None = None,
                 serial: str = DEFAULT_SERIAL_SERVER, config: SiteConfig | str | None = None) -> None:
        unknown = [d for d in devices if d not in SITE_DEVICES]
        if unknown or not devices:
            raise ValueError(f"devices {list(devices)!r}: expected one or more of {', '.join(SITE_DEVICES)}")
        if serial not in SERIAL_SERVERS:
            raise ValueError(f"serial {serial!r} is not one of {SERIAL_SERVERS}")
        if not isinstance(config, SiteConfig):
            config = load_config(config)
        values = {k: dict(v) for k, v in config.values.items()}
        values["world"]["clock_speed"] = 1.0  # clients wait on the wall clock: so does the world
        if seed is not None:
            if seed < 0:
                raise ValueError(f"seed {seed!r} must be an integer ≥ 0")
            values["world"]["seed"] = seed
        self.config = SiteConfig(values, config.source)
        self.devices = tuple(d for d in SITE_DEVICES if d in devices)
        self.serial = serial
        self.world: SimulatedWorld | None = None
        self.servers: dict[str, typing.Any] = {}
        self._tables: dict[str, dict[str, typing.Any]] = {}

    # -- life cycle -----------------------------------------------------------------------------
    @property
    def _started_world(self) -> SimulatedWorld:
        assert self.world is not None, "start() builds the world before any server"
        return self.world

    def start(self) -> "SimulatedSite":
        """Build the world and start every server (all stopped again if one fails)."""
        from detectors.instrument import build_world  # the instrument builder's world, same defaults

        self.world = world = build_world(self.config)
        _warm_up()
        self.probe_shift = SimulatedProbeShift(world, limit_nm=self.config["scan"]["max_probe_shift_nm"])
        try:
            for device in self.devices:
                getattr(self, f"_start_{device}")()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server, last started first; the simulated laser shutter is closed."""
        laser_system = getattr(self, "laser_system", None)
        if laser_system is not None:
            laser_system.physics.set_shutter(False)
        for server in reversed(list(self.servers.values())):
            try:
                if hasattr(server, "stop"):  # transport servers, the Merlin
                    server.stop()
                else:  # the VG column's and CL spectrometer's simulator sets
                    server.close()
            except Exception:  # noqa: BLE001 - stop the others regardless
                pass
        self.servers.clear()

    def __enter__(self) -> "SimulatedSite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- devices --------------------------------------------------------------------------------
    def _start_scan(self) -> None:
        from detectors.scan.server import SimulatedScanUnit

        section = self.config["scan"]
        generator = SiteScanGenerator(self._started_world, self.probe_shift, n_outputs=section["n_outputs"],
                                      follow_beam="merlin" in self.devices)
        # the unit's own server only: no driver of ours connects (a client owns the unit)
        server = self._add("scan", SimulatedScanUnit(generator).server)
        self._tables["scan"] = {"backend": "tcp", "host": "127.0.0.1", "port": server.port,
                                "n_outputs": section["n_outputs"]}

    def _start_merlin(self) -> None:
        from detectors.merlin.simulator import MerlinSimulator

        # realtime=False: the world paces each exposure on its (wall-time) clock
        sim = MerlinSimulator("127.0.0.1", 0, 0, frame_source=self._started_world.eels_frames, layout="Nx1",
                              realtime=False)
        self.servers["merlin"] = sim.start()
        spec = self.config["spectrometer"]
        self._tables["eels_camera"] = {"backend": "merlin", "host": "127.0.0.1", "control_port": sim.control_port,
                                       "data_port": sim.data_port}
        # the client's energy axis is the simulated spectrometer's calibration
        self._tables["spectrometer"] = dict(spec)

    def _start_laser(self) -> None:
        from detectors.instrument import build_laser_system
        from detectors.laser.config import LaserConfig

        self.laser_system = build_laser_system(self._started_world, LaserConfig.from_site_section(self.config["laser"]))
        table: dict[str, typing.Any] = {"backend": "serial"}
        for name, (section, key) in LASER_PORTS.items():
            server = self._add(f"laser.{name}", serial_server(getattr(self.laser_system, name), self.serial))
            table.setdefault(section, {})[key] = serial_address(server)
        blanker = self._add("laser.blanker", TcpServer(self.laser_system.blanker))
        table["blanker"] = {"host": blanker.host, "port": blanker.port}
        self._tables["laser"] = table

    def _start_vg(self) -> None:
        from detectors.vg_lumiere import SimulatedVGColumn

        column = SimulatedVGColumn(self._started_world, self.config.vg_config(), probe_shift=self.probe_shift,
                                   serial=self.serial, connect=False)
        self.servers["vg"] = column
        self.vg_column = column
        self._tables["vg"] = {"backend": "serial", **column.site_tables()}

    def _start_cl(self) -> None:
        from detectors.cl import SimulatedCLSpectrometer

        cl = SimulatedCLSpectrometer(self._started_world, self.config.cl_config(), serial=self.serial, connect=False)
        self.servers["cl"] = cl
        self.cl_spectrometer = cl
        self._tables["cl"] = {"backend": "serial", **cl.site_table()}

    def _add(self, name: str, server: typing.Any) -> typing.Any:
        self.servers[name] = server.start()
        return server

    # -- what clients need ----------------------------------------------------------------------
    def site_tables(self) -> dict[str, dict[str, typing.Any]]:
        """Site-file tables (nested dicts) whose real backends reach the running servers."""
        if self.world is None:
            raise RuntimeError("the site is not started: call start() first")
        tables = json.loads(json.dumps(self._tables))  # a deep copy
        if "cl" in tables:
            tables["cl"]["timeout_s"] = SIM_REPLY_TIMEOUT_S
        for device in ("laser", "vg"):  # every instrument's table below [laser] / [vg]
            for table in tables.get(device, {}).values():
                if isinstance(table, dict):
                    table["timeout_s"] = SIM_REPLY_TIMEOUT_S
        return tables

    def describe(self) -> list[str]:
        """One line per served instrument: where it listens."""
        lines = []
        t = self._tables
        if "scan" in t:
            lines.append(f"scan unit          tcp     {t['scan']['host']}:{t['scan']['port']}")
        if "eels_camera" in t:
            e = t["eels_camera"]
            lines.append(f"merlin             tcp     {e['host']} control {e['control_port']}, data {e['data_port']}")
        if "laser" in t:
            for name, (section, key) in LASER_PORTS.items():
                label = section if name in ("laser", "pump", "attenuator") else name.replace("_", " ")
                lines.append(f"laser {label:<12} serial  {t['laser'][section][key]}")
            b = t["laser"]["blanker"]
            lines.append(f"laser sync box     tcp     {b['host']}:{b['port']}")
        if "vg" in t:
            for section, table in t["vg"].items():
                if isinstance(table, dict):
                    where = (f"{table['host']}:{table['port']}" if "host" in table
                             else ", ".join(f"{k} {v}" for k, v in table.items()))
                    lines.append(f"vg {section:<15} {'tcp   ' if 'host' in table else 'serial'}  {where}")
        if "cl" in t:
            lines.append(f"cl acton           serial  {t['cl']['port']}")
        return lines


def _warm_up() -> None:
    """Load the noise kernels (numba: one specialisation per array rank) before any client comes:
    a first HAADF frame would otherwise take most of a second, on a busy machine longer than the
    scan driver's reply timeout. The world's own noise sequence is not touched."""
    from detectors.simulation.noise import poisson_counts

    for shape in ((1,), (1, 1), (1, 1, 1)):
        poisson_counts(np.ones(shape), 0)


def site_file_text(tables: dict[str, dict[str, typing.Any]], comment: str = "") -> str:
    """TOML text of nested site-file tables (scalars and tables; strings quoted with escapes)."""
    out = [f"# {line}" for line in comment.splitlines()]

    def value(v: typing.Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a valid TOML basic string (\\, \", \uXXXX escapes)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} ({type(v).__name__}) into a site file")

    def emit(name: str, table: dict[str, typing.Any]) -> None:
        out.append(f"\n[{name}]")
        out.extend(f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict))
        for k, v in table.items():
            if isinstance(v, dict):
                emit(f"{name}.{k}", v)

    for name, table in tables.items():
        emit(name, table)
    return "\n".join(out).lstrip("\n") + "\n"
