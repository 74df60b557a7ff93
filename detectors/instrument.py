"""Build the instrument (devices, and a simulated world behind the simulated ones) of a site file.

The :class:`Instrument` owns what every workflow needs from the machine, whatever its backends:

* a clock (:attr:`Instrument.clock`, ``now_s()``/``sleep(s)``): the world's clock when every device
  is simulated; the wall clock as soon as one backend is real (the world, if any, then runs in real
  time, see :func:`build_world`);
* the EELS energy calibration (:attr:`Instrument.spectrometer`, :meth:`Instrument.energy_axis_eV`),
  from ``[spectrometer]`` and then set by the EELS spectrometer (:attr:`Instrument.eels_spectrometer`):
  every EELS camera reads its axis from it (the real Merlin's too), and on a simulated instrument
  the world's spectrometer is this same object, so the simulated spectra follow;
* the probe position, through the scan generator (:meth:`Instrument.set_probe_position_nm`);
* per-device metadata saying which backend is simulated (:meth:`Instrument.metadata`).

A simulated world exists only when some backend is simulated (:attr:`Instrument.world` is None on a
real site), and nothing on a real device's path reads it.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import typing

import numpy as np

from detectors.calibration import Clock, EnergyCalibration, WallClock
from detectors.cl import CLSpectrometer, SimulatedCLSpectrometer
from detectors.common.errors import DeviceError, LimitError
from detectors.config import SiteConfig, load_config
from detectors.eels_spectrometer import EELSSpectrometerDriver, SimulatedEELSSpectrometer
from detectors.interfaces import EELSCamera, ScanDevice, SpectrumImager
from detectors.laser.bench import LaserBench
from detectors.laser.config import LaserConfig
from detectors.laser.simulated import SimulatedLaserSystem
from detectors.registry import KINDS, BuildContext, get_backend
from detectors.scan import OutputLine, ScanGenerator
from detectors.scan.adapters import GeneratorScan, SynchronizedSpectrumImager
from detectors.simulation.clock import SimClock
from detectors.simulation.devices import SimulatedProbeShift
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import SimulatedVGColumn, VGColumn

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Instrument:
    """The devices of one microscope, ready for workflows.

    ``world`` is the simulated instrument behind the simulated backends (``None`` when every
    device is real hardware); :attr:`clock`, :attr:`spectrometer`, :attr:`simulated` and
    :meth:`metadata` are what workflows read instead (see the module docstring).

    The EEGS laser bench (:attr:`laser_bench`: connected drivers of the dye laser, pump
    supply/shutter, two power meters, attenuator and sync box) is opened on first use, so an
    instrument that never touches the laser starts no server threads and opens no ports. On the
    simulated backend the bench's physics (:attr:`laser_system`) is part of the world from the
    start: ``world.laser`` follows it before every signal.

    The VG column (:attr:`column`: HT, lenses, probe shift, stage, apertures, gauges, interlocks)
    and the CL spectrometer (:attr:`cl`: Acton driver + CL camera) are connected on first access
    too. ``[vg] backend = "simulated"`` (default): a :class:`~detectors.vg_lumiere.SimulatedVGColumn`
    whose simulators serve on ptys/sockets; it drives the scan's :attr:`probe_shift` (``CSH``
    moves the scan) and the CL camera follows it. ``"serial"``: the same drivers on the
    ``[vg.*]`` ports (:func:`~detectors.vg_lumiere.connect_column`, wall clock); a real column
    does not touch the world. Same for ``[cl]``: a
    :class:`~detectors.cl.SimulatedCLSpectrometer`, or a :class:`~detectors.cl.CLSpectrometer`
    on ``cl.port`` (no real CL camera yet).
    """

    config: SiteConfig
    world: SimulatedWorld | None
    scan: ScanDevice
    eels_camera: EELSCamera
    spectrum_imager: SpectrumImager
    probe_shift: SimulatedProbeShift
    #: the instrument's time base (``now_s()``, ``sleep(s)``): the world's clock only when every
    #: device is simulated, else the wall clock
    clock: Clock = dataclasses.field(default_factory=WallClock)
    #: the EELS energy calibration every camera reads (the world's spectrometer on a simulator)
    spectrometer: EnergyCalibration = dataclasses.field(default_factory=EnergyCalibration)
    #: per device (``scan``, ``eels_camera``, ``laser``, ``vg``, ``cl``): whether its backend is simulated
    simulated: dict[str, bool] = dataclasses.field(default_factory=dict)
    laser_config: LaserConfig = dataclasses.field(default_factory=LaserConfig)
    #: the simulated bench's instruments (``fault`` switches, physics); None on real hardware
    laser_system: SimulatedLaserSystem | None = None
    _laser_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _closed: bool = dataclasses.field(default=False, repr=False)
    #: the devices connected on first use (laser, vg, cl, eels_spectrometer) by kind, and what
    #: closes each (its backend's closers, else its own ``close``)
    _connected: dict[str, typing.Any] = dataclasses.field(default_factory=dict, repr=False)
    _closers: dict[str, list[typing.Callable[[], None]]] = dataclasses.field(default_factory=dict, repr=False)
    _simulators: dict[str, typing.Any] = dataclasses.field(default_factory=dict, repr=False)
    #: the scan generator of ``[scan] backend`` (detectors/scan): what the Swift scan device drives
    scan_generator: ScanGenerator | None = None
    _scan_closers: list[typing.Callable[[], None]] = dataclasses.field(default_factory=list, repr=False)

    @property
    def fully_simulated(self) -> bool:
        """Every device is simulated (the world's specimen is what every device sees)."""
        return all(self.simulated.values())

    def energy_axis_eV(self) -> np.ndarray:
        """The EELS energy axis (channel centres, energy loss in eV) of :attr:`spectrometer`."""
        return self.spectrometer.energy_axis_eV()

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        """Park the probe at a commanded position (microscope frame, nm) through the scan generator
        (the column's probe shift comes on top)."""
        self.scan.set_probe_position_nm(y_nm, x_nm)

    def probe_position_nm(self) -> tuple[float, float]:
        """The scan generator's commanded probe position, nm (y, x)."""
        y, x = self.scan.probe_position_nm()
        return float(y), float(x)

    def metadata(self) -> dict[str, typing.Any]:
        """What every workflow result records about the instrument: ``simulated`` (True only when
        every device is), per device its backend and whether it is simulated, the energy
        calibration, the clock, the beam (from the simulated column when it is simulated, else
        the site file's nominal high tension and no measured current) and the convergence and
        collection semi-angles (mrad, site file)."""
        devices = {name: {"backend": self.config[name]["backend"], "simulated": bool(self.simulated.get(name, False))}
                   for name in DEVICES}
        world = self.world
        beam: dict[str, float | None]
        if world is not None and self.simulated.get("vg", False):
            beam = {"high_tension_V": float(world.beam.high_tension_V), "beam_current_pA": float(world.beam.current_pA),
                    "zlp_fwhm_eV": float(world.beam.zlp_fwhm_eV)}
        else:
            beam = {"high_tension_V": float(self.config["beam"]["high_tension_kV"]) * 1e3,
                    "beam_current_pA": None, "zlp_fwhm_eV": None}
        speed = getattr(self.clock, "speed", None)
        clock = ("wall" if isinstance(self.clock, WallClock)
                 else "simulated, virtual" if speed is None else f"simulated, {speed:g}× wall time")
        # the site file's probe convergence and spectrometer collection semi-angles: with the high
        # tension, what a cross section needs (lumiere/metadata.py writes HyperSpy's TEM from them)
        angles = {"convergence_angle_mrad": float(self.config["beam"]["convergence_angle_mrad"]),
                  "collection_angle_mrad": float(self.config["spectrometer"]["collection_angle_mrad"])}
        return {"simulated": self.fully_simulated, "devices": devices, "clock": clock,
                "spectrometer": self.spectrometer.as_dict(), **beam, **angles}

    @property
    def column(self) -> SimulatedVGColumn | VGColumn:
        """The VG column, connected on first access: simulated (drivers over the simulators'
        ptys/sockets; its ``CSH`` is kept equal to the scan's :attr:`probe_shift`) or, with
        ``[vg] backend = "serial"``, the real column on the configured ports. Raises what
        :func:`~detectors.vg_lumiere.connect_column` raises (a silent device names itself and
        its port)."""
        with self._laser_lock:
            return self._connect("vg", self.config.vg_config())

    @property
    def beam_shift(self) -> typing.Any:
        """What moves the beam for drift correction (``get_shift_nm``/``set_shift_nm``, nm): the real
        column's ``CSH`` with ``[vg] backend = "serial"`` (a real scan unit does not apply our
        :attr:`probe_shift` record), else the simulated :attr:`probe_shift` the simulated scan
        applies (the simulated column keeps its ``CSH`` equal to it)."""
        if not self.simulated["vg"]:
            return self.column
        return self.probe_shift

    @property
    def column_connected(self) -> bool:
        return "vg" in self._connected

    @property
    def cl(self) -> SimulatedCLSpectrometer | CLSpectrometer:
        """The CL spectrometer, connected on first access: simulated (Acton driver over a pty, and
        the CL camera, which follows the scan's :attr:`probe_shift`) or, with ``[cl] backend =
        "serial"``, the real spectrometer on ``cl.port`` (no camera yet)."""
        with self._laser_lock:
            return self._connect("cl", self.config.cl_config())

    @property
    def cl_connected(self) -> bool:
        return "cl" in self._connected

    @property
    def eels_spectrometer(self) -> EELSSpectrometerDriver:
        """The EELS spectrometer (energy offset, dispersion, presets), connected on first access:
        simulated (the driver over its simulators, which write the world's spectrometer) or, with
        ``[eels_spectrometer] backend = "serial"``, the real lens unit and drift-tube supply.

        Either way :attr:`spectrometer` follows it (on the simulator because the world's
        spectrometer *is* :attr:`spectrometer`; on the real one because the driver sets it after
        every change). On connection the window of :attr:`spectrometer` (``[spectrometer]``, or
        whatever it was set to) is set again, so connecting does not move it; a window the
        spectrometer cannot show is logged and the driver's initial one (the configured preset,
        drift tube at 0 V) kept."""
        with self._laser_lock:
            first = "eels_spectrometer" not in self._connected
            offset, dispersion = self.spectrometer.energy_offset_eV, self.spectrometer.dispersion_eV_per_channel
            s = self._connect("eels_spectrometer", self.config.eels_spectrometer_config())
            driver = s.spectrometer if isinstance(s, SimulatedEELSSpectrometer) else s
            if first:
                try:
                    driver.set_window(offset, dispersion)
                except LimitError as e:
                    log.warning("the EELS spectrometer cannot show the window %g eV + %g eV/channel (%s); "
                                "it shows %g eV + %g eV/channel", offset, dispersion, e,
                                driver.energy_offset_eV, driver.dispersion_eV_per_channel)
                    driver.publish()
                except BaseException:  # a silent unit: do not leave its simulator serving
                    self._disconnect("eels_spectrometer")
                    raise
            return driver

    @property
    def eels_spectrometer_connected(self) -> bool:
        return "eels_spectrometer" in self._connected

    @property
    def laser_bench(self) -> LaserBench:
        """Connected drivers of the laser bench (opened on first access).

        Simulated backend: the real drivers over pty pairs (serial instruments) and a 127.0.0.1
        socket (sync box), waiting on the world's clock. ``serial`` backend: the ports of the
        ``[laser.*]`` tables of the site file, on the wall clock.
        """
        with self._laser_lock:
            return self._connect("laser", self.laser_config)

    def simulator(self, kind: str) -> typing.Any:
        """The simulator serving the connected device of ``kind`` (e.g. the laser bench's
        :class:`~detectors.laser.simulated.SimulatedLaserBench`: ``transports``), if its backend
        started one; None otherwise."""
        return self._simulators.get(kind)

    def _context(self, settings: typing.Any) -> BuildContext:
        return BuildContext(settings, self.world, self.spectrometer, self.probe_shift, self.clock,
                            laser_system=self.laser_system)

    def _connect(self, kind: str, settings: typing.Any) -> typing.Any:
        """The device of ``kind``, built by its registered backend on first use (hold the lock)."""
        if self._closed:
            raise RuntimeError("the instrument was closed")
        if kind not in self._connected:
            ctx = self._context(settings)
            self._connected[kind] = get_backend(kind, self.config[KINDS[kind]]["backend"]).factory(ctx)
            self._closers[kind] = ctx.closers
            self._simulators[kind] = ctx.simulator
        return self._connected[kind]

    def _disconnect(self, kind: str) -> None:
        """Close the device of ``kind`` (its backend's closers, else its own ``close``)."""
        device = self._connected.pop(kind, None)
        closers = self._closers.pop(kind, [])
        self._simulators.pop(kind, None)
        if device is None:
            return
        for close in closers or [getattr(device, "close", lambda: None)]:
            close()

    def close(self) -> None:
        """Leave every device safe: the laser shutter closed, the laser bench's, VG column's and CL
        spectrometer's connections and simulator servers stopped. Safe to call twice."""
        with self._laser_lock:
            if self._closed:
                return
            self._closed = True
            bench = self._connected.get("laser")
        for kind in ("vg", "cl", "eels_spectrometer"):
            try:
                self._disconnect(kind)
            except Exception as e:  # noqa: BLE001 - close the others regardless
                log.error("could not close the %s: %s", kind, e)
        try:
            if bench is not None:
                try:
                    bench.pump.set_shutter(False)
                except DeviceError as e:
                    log.error("could not close the laser shutter while closing the instrument "
                              "(pump supply connection: %s)", e)
            if self.laser_system is not None:
                # the simulated bench: whatever the connection state, the modelled shutter closes
                self.laser_system.physics.set_shutter(False)
        finally:
            self._disconnect("laser")
            for close in self._scan_closers or ([self.scan_generator.close] if self.scan_generator else []):
                close()  # "tcp-simulated": the unit stops its driver and its server
            close_camera = getattr(self.eels_camera, "close", None)
            if close_camera is not None:  # the Merlin's connections (and its in-process simulator)
                close_camera()

    def __enter__(self) -> "Instrument":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: the devices of an instrument's metadata and the section of the site file that chooses each one's backend
DEVICES = ("scan", "eels_camera", "laser", "vg", "cl")
#: the device kind (:data:`detectors.registry.KINDS`) of each section
KIND_OF_SECTION = {section: kind for kind, section in KINDS.items()}


def simulated_devices(config: SiteConfig) -> dict[str, bool]:
    """Per device, whether the site file's backend for it is simulated (as registered)."""
    return {device: get_backend(KIND_OF_SECTION[device], config[device]["backend"]).simulated for device in DEVICES}


def build_energy_calibration(config: SiteConfig) -> EnergyCalibration:
    """The instrument's EELS energy calibration from ``[spectrometer]``."""
    spec = config["spectrometer"]
    return EnergyCalibration(float(spec["energy_offset_eV"]), float(spec["dispersion_eV_per_channel"]),
                             int(spec["channels"]))


def build_world(config: SiteConfig, spectrometer: EnergyCalibration | None = None, *,
                real_time: bool = False) -> SimulatedWorld:
    """The simulated world of ``[world]`` and ``[beam]``; its spectrometer is ``spectrometer`` (the
    instrument's calibration, shared, so the world follows it). ``real_time`` (some device is real
    hardware): the world's clock runs at wall speed whatever ``[world] clock_speed`` says, since
    real devices take real time and the simulated ones must keep pace with them."""
    w = config["world"]
    drift = config["world.drift"]
    speed = config.clock_speed
    if real_time and speed != 1.0:
        log.info("%s: some devices are real, so the simulated world runs in real time (clock_speed %r ignored)",
                 config.source, w["clock_speed"])
        speed = 1.0
    world = SimulatedWorld(
        seed=w["seed"], clock=SimClock(speed),
        drift=DriftSettings((float(drift["rate_nm_per_min"][0]), float(drift["rate_nm_per_min"][1])),
                            float(drift["random_walk_nm_per_sqrt_min"])))
    beam = config["beam"]
    world.beam.high_tension_V = beam["high_tension_kV"] * 1000.0
    world.beam.current_pA = float(beam["current_pA"])
    world.beam.zlp_fwhm_eV = float(beam["zlp_fwhm_eV"])
    world.spectrometer = spectrometer if spectrometer is not None else build_energy_calibration(config)
    return world


def build_laser_system(world: SimulatedWorld, laser_config: LaserConfig) -> SimulatedLaserSystem:
    """The simulated laser bench on ``world.laser``, registered as a state updater of the world
    (its noise generator is seeded from the world's seed)."""
    rng = np.random.default_rng([world.seed, 0x1A5E])
    system = SimulatedLaserSystem(world.laser, world.clock, rng, laser_config)
    world.add_state_updater(system.update)
    return system


def build_scan_generator(ctx: BuildContext, backend: str) -> ScanGenerator:
    """The scan generator of ``scan.backend`` (its registered factory) with the site's output lines."""
    generator: ScanGenerator = get_backend("scan", backend).factory(ctx)
    try:
        for table in ctx.settings["outputs"]:
            generator.set_output_line(OutputLine.from_dict(table))
    except BaseException:
        for close in ctx.closers or [generator.close]:
            close()
        raise
    return generator


def build_spectrum_imager(ctx: BuildContext, backend: str, generator: ScanGenerator,
                          camera: EELSCamera) -> SpectrumImager:
    """The workflows' spectrum imager: the camera backend's own (the world computing whole sections
    when the camera is the world; the world's beam following the visits on the Merlin simulator),
    else the scan generator clocked by the camera (:class:`~detectors.scan.adapters.SynchronizedSpectrumImager`),
    as a real unit moves the real beam on the camera's triggers."""
    imager = get_backend("camera", backend).spectrum_imager
    return imager(ctx, generator, camera) if imager is not None else SynchronizedSpectrumImager(generator, camera)


def build_instrument(config: SiteConfig | str | None = None) -> Instrument:
    """Create the devices the configuration asks for (default: the simulated instrument); a
    simulated world only if some backend is simulated (see the module docstring)."""
    if not isinstance(config, SiteConfig):
        config = load_config(config)
    simulated = simulated_devices(config)
    spectrometer = build_energy_calibration(config)
    all_simulated = all(simulated.values())
    world = (build_world(config, spectrometer, real_time=not all_simulated)
             if any(simulated.values()) else None)
    clock: Clock = world.clock if world is not None and all_simulated else WallClock()
    probe_shift = SimulatedProbeShift(world, limit_nm=config["scan"]["max_probe_shift_nm"])
    laser_config = LaserConfig.from_site_section(config["laser"])
    scan_ctx = BuildContext(config["scan"], world, spectrometer, probe_shift, clock)
    scan_generator = build_scan_generator(scan_ctx, config["scan"]["backend"])
    camera_ctx = BuildContext(config["eels_camera"], world, spectrometer, probe_shift, clock)
    try:
        eels_camera = get_backend("camera", config["eels_camera"]["backend"]).factory(camera_ctx)
        spectrum_imager = build_spectrum_imager(camera_ctx, config["eels_camera"]["backend"], scan_generator,
                                                eels_camera)
    except BaseException:
        for close in scan_ctx.closers or [scan_generator.close]:
            close()
        raise
    laser_system = (build_laser_system(world, laser_config) if simulated["laser"] and world is not None else None)
    # a simulated unit takes no wall time: pace scaled clocks here (a virtual clock it advances itself)
    pace = world.pace if world is not None and simulated["scan"] and not world.clock.is_virtual else None
    return Instrument(config=config, world=world, scan=GeneratorScan(scan_generator, pace),
                      eels_camera=eels_camera, spectrum_imager=spectrum_imager,
                      probe_shift=probe_shift, clock=clock, spectrometer=spectrometer, simulated=simulated,
                      laser_config=laser_config, laser_system=laser_system,
                      scan_generator=scan_generator, _scan_closers=scan_ctx.closers)
