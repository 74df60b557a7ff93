"""The simulated spectrometer: byte-level lens unit and drift-tube supply on the shared world.

:class:`SpectrometerOptics` holds the set points and the drift-tube count and writes
``world.spectrometer`` (``dispersion_eV_per_channel``, ``energy_offset_eV``) after every change,
so simulated spectra (the simulated camera, the Merlin simulator) follow the spectrometer.

Optics model (ours): the dispersion is a smooth function of the six dispersion set points
(q1–q4, dx, dmx) through the presets at the world's high tension — exactly a preset's dispersion
at its set points, an inverse-distance-weighted (power 4, in log dispersion) blend of the presets
in between — so a driver at the wrong HT, or a quadrupole tuned by hand, gives another dispersion
than it believes. The zero-loss peak falls at ``config.zlp_channel`` with the drift tube at 0 V;
1 V on the drift tube shifts the spectrum by 1 eV. The focus elements (fx, fy, sx, sy, dy) are
accepted and kept but do not change the spectra.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Mapping

from detectors.common.errors import DeviceTimeout
from detectors.common.simbase import Fault, LineInstrument
from detectors.common.transport import RecordingTransport
from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER, PtyServer, TcpServer
from detectors.simulation.world import SimulatedWorld

from .config import EELSSpectrometerConfig
from .connect import driver_from_transports
from .presets import CURRENT_LIMIT, DISPERSION_ELEMENTS, Preset, PresetTable
from .protocol import encode_word, parse_lens_request


class SpectrometerOptics:
    """Hidden state of the simulated spectrometer, coupled to ``world.spectrometer``.

    It starts where the world is: the set points of the preset closest to the world's dispersion
    and the drift-tube count closest to the world's offset; the world is written only when a
    request arrives.
    """

    def __init__(self, world: SimulatedWorld, presets: PresetTable, config: EELSSpectrometerConfig) -> None:
        self.world = world
        self.presets = presets
        self.config = config
        self.lock = threading.RLock()
        s = world.spectrometer
        nearest = min(self._table(), key=lambda p: abs(math.log(p.dispersion_eV_per_channel / s.dispersion_eV_per_channel)))
        self.currents: dict[str, int] = dict(nearest.currents)
        volts = s.energy_offset_eV + config.zlp_channel * s.dispersion_eV_per_channel
        self.drift_counts = int(round(min(max(volts, 0.0), config.drift_tube_range_V[1]) * config.drift_tube_counts_per_V))

    def _table(self) -> tuple[Preset, ...]:
        """Presets at the table HT nearest the world's beam."""
        kV = self.world.beam.high_tension_V / 1000.0
        ht = min(self.presets.high_tensions_kV, key=lambda h: abs(h - kV))
        return self.presets.presets(ht)

    def dispersion_eV_per_channel(self) -> float:
        with self.lock:
            x = [self.currents[n] / CURRENT_LIMIT for n in DISPERSION_ELEMENTS]
            num = den = 0.0
            for p in self._table():
                dist2 = sum((a - b / CURRENT_LIMIT) ** 2 for a, b in zip(x, (p.currents[n] for n in DISPERSION_ELEMENTS)))
                if dist2 < 1e-18:
                    return p.dispersion_eV_per_channel
                w = 1.0 / dist2 ** 2
                num += w * math.log(p.dispersion_eV_per_channel)
                den += w
            return math.exp(num / den)

    @property
    def drift_tube_V(self) -> float:
        return self.drift_counts / self.config.drift_tube_counts_per_V

    def set_current(self, element: str, value: int) -> None:
        with self.lock:
            self.currents[element] = value
            self.apply_to_world()

    def set_drift_counts(self, counts: int) -> None:
        with self.lock:
            self.drift_counts = counts
            self.apply_to_world()

    def apply_to_world(self) -> None:
        with self.lock:
            d = self.dispersion_eV_per_channel()
            with self.world.lock:  # both at once, and the calibration's listeners told
                self.world.spectrometer.set(self.drift_tube_V - self.config.zlp_channel * d, d)


class SimulatedLensUnit(LineInstrument):
    """The lens unit's bytes: ``<element> 0,<hex>\\r`` -> 6 bytes (the word applied, [I])."""

    terminator = b"\r"

    def __init__(self, optics: SpectrometerOptics) -> None:
        super().__init__()
        self.optics = optics

    def handle(self, request: bytes) -> bytes | None:
        text = request.decode("ascii", errors="replace").strip()
        if not text:
            return None
        parsed = parse_lens_request(text)
        if parsed is None or abs(parsed[1]) > CURRENT_LIMIT:
            return b"????\r\n"
        element, value = parsed
        self.optics.set_current(element, value)
        return f"{encode_word(value):04X}\r\n".encode("ascii")

    def garble(self, reply: bytes) -> bytes:
        return b"\x15#\x7f\x00\r\n"


class SimulatedDriftTube(LineInstrument):
    """The drift-tube supply's bytes: ``HV+ <counts>\\n``, no reply. Requests it cannot apply
    (not that form, counts outside the DAC) are ignored and listed in :attr:`refused`."""

    terminator = b"\n"

    def __init__(self, optics: SpectrometerOptics, max_counts: int = 4095) -> None:
        super().__init__()
        self.optics = optics
        self.max_counts = max_counts
        self.refused: list[str] = []
        self.processed = 0
        self._done = threading.Condition()

    def handle_line(self, line: str) -> str | None:
        words = line.split()
        if len(words) == 2 and words[0] == "HV+" and words[1].isdigit() and int(words[1]) <= self.max_counts:
            self.optics.set_drift_counts(int(words[1]))
        else:
            self.refused.append(line)
        with self._done:
            self.processed += 1
            self._done.notify_all()
        return None

    def wait_processed(self, n: int, timeout_s: float = 2.0) -> None:
        """Block until ``n`` requests have been handled in total (the driver's sync: the real
        supply sends nothing back). Raises ``DeviceTimeout`` after ``timeout_s`` (wall clock)."""
        with self._done:
            if not self._done.wait_for(lambda: self.processed >= n, timeout_s):
                raise DeviceTimeout(f"simulated EELS drift-tube supply applied {self.processed} of {n} "
                                    f"requests within {timeout_s} s")


class SimulatedEELSSpectrometer:
    """Simulated spectrometer on the world, with the real driver connected.

    Parameters
    ----------
    world : SimulatedWorld
    config : EELSSpectrometerConfig or mapping, optional
        Its ``settings_file`` (or the built-in presets) is both the simulator's optics and the
        driver's table.
    serial : {"pty", "tcp"}
        Serve the lens unit on a pty pair (through pyserial) or a 127.0.0.1 socket; the drift
        tube is always on a 127.0.0.1 socket. Default: a pty where there are ptys, a socket on
        Windows (``DEFAULT_SERIAL_SERVER``, as the other simulated instruments).
    timeout_s : float, optional
        Driver reply timeout (wall-clock s); default ``config.timeout_s``.
    connect : bool
        False: only serve the simulators (a client connects to :meth:`site_table`).

    Attributes
    ----------
    spectrometer : EELSSpectrometerDriver
        The driver (initialised: the configured preset and 0 V applied).
    optics : SpectrometerOptics
    lens_simulator, drift_simulator : the byte-level simulators (``fault`` switches)
    lens_transport, drift_transport : RecordingTransport
    """

    def __init__(self, world: SimulatedWorld, config: EELSSpectrometerConfig | Mapping[str, Any] | None = None, *,
                 serial: str = DEFAULT_SERIAL_SERVER, timeout_s: float | None = None, connect: bool = True) -> None:
        if serial not in ("pty", "tcp"):
            raise ValueError(f"serial must be 'pty' or 'tcp', got {serial!r}")
        if not isinstance(config, EELSSpectrometerConfig):
            config = EELSSpectrometerConfig.from_dict(config)
        self.world = world
        self.config = config
        self.presets = config.presets()
        self.optics = SpectrometerOptics(world, self.presets, config)
        self.lens_simulator = SimulatedLensUnit(self.optics)
        self.drift_simulator = SimulatedDriftTube(self.optics,
                                                  int(round(config.drift_tube_range_V[1] * config.drift_tube_counts_per_V)))
        self.lens_server: PtyServer | TcpServer | None = (PtyServer if serial == "pty" else TcpServer)(self.lens_simulator)
        self.drift_server: TcpServer | None = TcpServer(self.drift_simulator)
        self.lens_server.start()
        self.drift_server.start()
        self.lens_transport: RecordingTransport | None = None
        self.drift_transport: RecordingTransport | None = None
        if not connect:
            return
        try:
            timeout = timeout_s or config.timeout_s
            self.lens_transport = RecordingTransport(self.lens_server.connect(timeout_s=timeout))
            self.drift_transport = RecordingTransport(self.drift_server.connect(timeout_s=timeout))
            self.spectrometer = driver_from_transports(
                self.lens_transport, self.drift_transport, config, self.presets,
                owned=(self.lens_transport, self.drift_transport),
                after_drift_tube_write=self._sync_drift_tube)
        except BaseException:
            self.close()
            raise

    def _sync_drift_tube(self, sent: int) -> None:
        if self.drift_simulator.fault is Fault.NONE:  # a faulty supply may drop requests
            self.drift_simulator.wait_processed(sent, max(2.0, self.config.timeout_s))

    def site_table(self) -> dict[str, Any]:
        """``[eels_spectrometer]`` keys of a site file whose ``serial`` backend reaches these
        simulators (a pty has room for one client: use with ``connect=False``)."""
        lens, drift = self.lens_server, self.drift_server
        assert lens is not None and drift is not None, "the simulator was closed"
        port = lens.port if isinstance(lens, PtyServer) else f"socket://{lens.host}:{lens.port}"
        return {"port": port, "drift_tube_host": drift.host, "drift_tube_port": drift.port}

    def clear_faults(self) -> None:
        self.lens_simulator.fault = Fault.NONE
        self.drift_simulator.fault = Fault.NONE

    def close(self) -> None:
        """Close the driver's connections and stop the simulators (safe to call twice)."""
        for t in (self.lens_transport, self.drift_transport):
            if t is not None:
                try:
                    t.close()
                except Exception:  # noqa: BLE001 - closing regardless
                    pass
        self.lens_transport = self.drift_transport = None
        for server in (self.lens_server, self.drift_server):
            if server is not None:
                server.stop()
        self.lens_server = self.drift_server = None

    def __enter__(self) -> "SimulatedEELSSpectrometer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
