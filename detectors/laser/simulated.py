"""The simulated EEGS laser bench and a harness serving it to the real drivers.

:class:`SimulatedLaserSystem` is what the simulated world builds: one constructor
``(state, clock, rng, config)``, every simulated instrument acting on the shared
:class:`~detectors.simulation.state.LaserState`. :class:`SimulatedLaserBench` serves each
instrument on its transport (pty pairs for the serial instruments, a 127.0.0.1 socket for the
sync box) and connects the real drivers to them, returned as a :class:`LaserBench`.

Example
-------
>>> import numpy as np
>>> from detectors.simulation.clock import SimClock
>>> from detectors.simulation.state import LaserState
>>> system = SimulatedLaserSystem(LaserState(), SimClock(), np.random.default_rng(0))
>>> with SimulatedLaserBench(system) as bench:                          # doctest: +SKIP
...     bench.laser.set_wavelength_nm(590.0)
...     bench.pump.set_diode(True); bench.pump.set_current_A(6.0); bench.pump.set_shutter(True)
...     bench.meter_in.read_power_uW()
"""
from __future__ import annotations

import os

import numpy as np

from detectors.simulation.clock import SimClock
from detectors.simulation.state import LaserState

from .attenuator import ServoAttenuator, SimulatedServoAttenuator
from .bench import DEVICE_NAMES, LaserBench
from .blanker import BlankerBox, SimulatedBlanker
from .config import LaserConfig, with_timeouts
from .credo import SimulatedCredo, SirahCredo
from .physics import LaserPhysics
from .power_meter import SimulatedPM100, ThorlabsPM100
from .pump import SimulatedPumpSupply, SpectraPhysicsPump
from detectors.common.simbase import Fault, SimulatedInstrument
from detectors.common.transport import RecordingTransport
from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER, PtyServer, TcpServer

SERIAL_DEVICES = ("laser", "pump", "meter_in", "meter_out", "attenuator")
DEVICES = SERIAL_DEVICES + ("blanker",)


class _GreetOnOpen:
    """Serve a handler on a pty without its greeting at server start.

    A pty server writes the greeting before any client, and pyserial flushes pending input when
    it opens a port, so the greeting could be lost; on the instruments it follows the opening
    (the Arduino resets, the laser auto-prompts). :meth:`SimulatedLaserBench._serve` writes it
    once the driver's transport is open. (The TCP server already greets each client.)"""

    def __init__(self, handler: SimulatedInstrument) -> None:
        self.handler = handler

    def greeting(self) -> bytes:
        return b""

    def receive(self, data: bytes) -> bytes:
        return self.handler.receive(data)


class SimulatedLaserSystem:
    """All simulated laser-bench instruments on one shared state.

    Parameters
    ----------
    state : LaserState
        Shared record the simulated microscope reads (updated in place).
    clock : SimClock
        Simulated time; settle times and meter integration take time on it.
    rng : numpy.random.Generator
        Noise source.
    config : LaserConfig, optional
        Limits, calibration, simulation parameters (default: :class:`LaserConfig()`).

    Attributes
    ----------
    physics : LaserPhysics
    laser, pump, meter_in, meter_out, attenuator, blanker : SimulatedInstrument
        Byte-level simulators, each with a ``fault`` switch.
    """

    def __init__(self, state: LaserState, clock: SimClock, rng: np.random.Generator,
                 config: LaserConfig | None = None) -> None:
        self.config = config or LaserConfig()
        self.state = state
        self.clock = clock
        self.physics = LaserPhysics(state, clock, rng, self.config)
        self.laser = SimulatedCredo(self.physics)
        self.pump = SimulatedPumpSupply(self.physics)
        self.meter_in = SimulatedPM100(self.physics, "in")
        self.meter_out = SimulatedPM100(self.physics, "out")
        self.attenuator = SimulatedServoAttenuator(self.physics)
        self.blanker = SimulatedBlanker(self.physics)

    def instruments(self) -> dict[str, SimulatedInstrument]:
        return {name: getattr(self, name) for name in DEVICES}

    def update(self) -> LaserState:
        """Bring the shared state to the current simulated time (wavelength during a move,
        power drift) and return it."""
        return self.physics.update()

    def clear_faults(self) -> None:
        for inst in self.instruments().values():
            inst.fault = Fault.NONE



class SimulatedLaserBench:
    """Serve a :class:`SimulatedLaserSystem` and connect the real drivers to it.

    Parameters
    ----------
    system : SimulatedLaserSystem, optional
        Built with a fresh state, a virtual clock and ``default_rng(seed)`` if omitted.
    serial : {"pty", "tcp"}
        Serve the serial instruments on pty pairs (through pyserial) or on loopback sockets (default: ptys where they exist, sockets on Windows).
    timeout_s : float, optional
        If given, replaces the read timeout of every driver's config (wall-clock s).
    seed : int
        Seed of the default random generator.

    Notes
    -----
    Use as a context manager; ``__enter__`` returns the :class:`LaserBench`. The drivers wait
    through the system's :class:`SimClock` (``sleep``/``now_s``), so with a virtual clock a
    wavelength move is instant in wall time. Every driver's transport is a
    :class:`RecordingTransport` (``self.transports[name].written``).
    """

    def __init__(self, system: SimulatedLaserSystem | None = None, *, serial: str = DEFAULT_SERIAL_SERVER,
                 timeout_s: float | None = None, seed: int = 0) -> None:
        if serial not in ("pty", "tcp"):
            raise ValueError(f"serial must be 'pty' or 'tcp', got {serial!r}")
        if system is None:
            system = SimulatedLaserSystem(LaserState(), SimClock(), np.random.default_rng(seed))
        self.system = system
        self.serial = serial
        self.timeout_s = timeout_s
        self.servers: dict[str, PtyServer | TcpServer] = {}
        self.transports: dict[str, RecordingTransport] = {}
        self.bench: LaserBench | None = None

    def _serve(self, name: str):
        handler = getattr(self.system, name)
        pty = name in SERIAL_DEVICES and self.serial == "pty"
        server = PtyServer(_GreetOnOpen(handler)) if pty else TcpServer(handler)
        self.servers[name] = server.start()
        inner = server.connect(timeout_s=self.timeout_s or 1.0)
        inner.name = f"{DEVICE_NAMES[name]} on {inner.name}"  # names the instrument in its errors
        transport = RecordingTransport(inner)
        self.transports[name] = transport
        if pty and (greeting := handler.greeting()):
            os.write(server._master, greeting)  # the port is open now: the device greets
        return transport

    def start(self) -> LaserBench:
        cfg = self.system.config
        if self.timeout_s is not None:
            cfg = with_timeouts(cfg, self.timeout_s)
        clock = self.system.clock
        try:
            self.bench = LaserBench(
                laser=SirahCredo(self._serve("laser"), cfg.credo, sleep=clock.sleep,
                                 monotonic=clock.now_s),
                pump=SpectraPhysicsPump(self._serve("pump"), cfg.pump, sleep=clock.sleep),
                meter_in=ThorlabsPM100(self._serve("meter_in"), cfg.meter),
                meter_out=ThorlabsPM100(self._serve("meter_out"), cfg.meter),
                attenuator=ServoAttenuator(self._serve("attenuator"), cfg.attenuator),
                blanker=BlankerBox(self._serve("blanker"), cfg.blanker),
            )
        except BaseException:
            self.stop()
            raise
        return self.bench

    def stop(self) -> None:
        for transport in self.transports.values():
            try:
                transport.close()
            except Exception:  # noqa: BLE001 - closing best effort
                pass
        for server in self.servers.values():
            server.stop()
        self.transports.clear()
        self.servers.clear()

    def __enter__(self) -> LaserBench:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
