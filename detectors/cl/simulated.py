"""`SimulatedCLSpectrometer`: the Acton simulator served on a pty, the real driver, the CL camera."""
from __future__ import annotations

from typing import Any, Mapping

from detectors.common.simbase import Fault
from detectors.common.transport import RecordingTransport
from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER, PtyServer, TcpServer, serial_address, serial_server
from detectors.simulation.world import SimulatedWorld

from .acton import ActonSpectrometer, SimulatedActon, SpectrographState
from .camera import Emission, SimulatedCLCamera
from .config import CLConfig


class SimulatedCLSpectrometer:
    """Simulated CL spectrometer + camera on the world, with the real command layer connected.

    Parameters
    ----------
    world : SimulatedWorld
    config : CLConfig or mapping, optional
    serial : {"pty", "tcp"}
        Serve the spectrometer on a pty pair (through pyserial) or a 127.0.0.1 socket (default: a pty where ptys exist, a socket on Windows).
    timeout_s : float, optional
        Driver read timeout (wall-clock s); default ``config.timeout_s``.
    emission : callable, optional
        Replaces ``world.cl_emission`` for the camera (synthetic lines in tests).
    connect : bool
        False: only serve the simulator (no :attr:`spectrometer` driver); a client connects to
        :meth:`site_table` (the ``serial`` backend of a site file, in tests).

    Attributes
    ----------
    spectrometer : ActonSpectrometer
        The driver (``goto_nm``, ``set_grating``, ``set_slit_um``, ``pixel_wavelengths_nm`` …).
    camera : SimulatedCLCamera
        ``acquire_spectrum(exposure_s)``, ``acquire_spectrum_image(frame)``.
    state : SpectrographState
        Hidden state of the simulated spectrometer.
    simulator : SimulatedActon
        Byte-level simulator (``fault`` switch).
    transport : RecordingTransport

    Examples
    --------
    >>> from detectors.simulation.world import SimulatedWorld
    >>> with SimulatedCLSpectrometer(SimulatedWorld(0)) as cl:
    ...     cl.spectrometer.goto_nm(575.0)
    ...     cl.camera.acquire_spectrum(1.0).shape
    575.0
    (1024,)
    """

    def __init__(self, world: SimulatedWorld, config: CLConfig | Mapping[str, Any] | None = None, *,
                 serial: str = DEFAULT_SERIAL_SERVER, timeout_s: float | None = None, emission: Emission | None = None,
                 connect: bool = True) -> None:
        if serial not in ("pty", "tcp"):
            raise ValueError(f"serial must be 'pty' or 'tcp', got {serial!r}")
        if not isinstance(config, CLConfig):
            config = CLConfig.from_dict(config)
        self.world = world
        self.config = config
        self.state = SpectrographState(world.clock, config)
        self.simulator = SimulatedActon(self.state, echo=config.simulated_echo)
        self.server: PtyServer | TcpServer | None = serial_server(self.simulator, serial)
        self.server.start()
        self.camera = SimulatedCLCamera(world, self.state, emission)
        self.transport: RecordingTransport | None = None
        if not connect:
            return
        try:
            self.transport = RecordingTransport(self.server.connect(timeout_s=timeout_s or config.timeout_s))
        except BaseException:
            self.server.stop()
            raise
        self.spectrometer = ActonSpectrometer(self.transport, config)

    def site_table(self) -> dict[str, str]:
        """``[cl]`` keys of a site file whose ``serial`` backend reaches this simulator: the pty
        path, or a ``socket://127.0.0.1:<port>`` URL when served on a socket (one client on a pty:
        use with ``connect=False``)."""
        if self.server is None:
            raise RuntimeError("the CL simulator was closed: it serves no port")
        return {"port": serial_address(self.server)}

    def clear_faults(self) -> None:
        self.simulator.fault = Fault.NONE

    def close(self) -> None:
        """Close the driver's transport and stop the simulator (safe to call twice)."""
        if self.server is not None:
            try:
                if self.transport is not None:
                    self.transport.close()
            finally:
                self.server.stop()
                self.server = None

    def __enter__(self) -> "SimulatedCLSpectrometer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
