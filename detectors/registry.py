"""Device kinds and their backends: one registry that the site-file check and the instrument read.

A device kind is one protocol the workflows program against (an EELS camera is a
:class:`~detectors.interfaces.EELSCamera`, a scan unit a :class:`~detectors.scan.generator.ScanGenerator`
…) and one table of the site file, whose ``backend`` key names one of the kind's registered
backends. A backend is a name, a factory that builds the device and whether it is simulated::

    register_backend("camera", "merlin", lambda ctx: connect_merlin_camera(...), simulated=False)

:func:`detectors.config.validate` accepts exactly the registered names (its message lists them)
and runs the backend's ``validate`` on the kind's configuration; :func:`detectors.instrument.build_instrument`
and the instrument's lazily connected devices call the factory. The built-in backends are registered
by :mod:`detectors.backends` (loaded on first use); adding a camera is one driver package and one
:func:`register_backend` call.
"""
from __future__ import annotations

import dataclasses
import importlib
import typing

if typing.TYPE_CHECKING:
    from detectors.calibration import Clock, EnergyCalibration
    from detectors.simulation.devices import SimulatedProbeShift
    from detectors.simulation.world import SimulatedWorld

#: device kind -> the table of the site file that chooses its backend
KINDS: dict[str, str] = {
    "scan": "scan",
    "camera": "eels_camera",
    "laser": "laser",
    "vg": "vg",
    "cl": "cl",
    "eels_spectrometer": "eels_spectrometer",
}


@dataclasses.dataclass
class BuildContext:
    """What a backend's factory builds its device from.

    ``settings`` is the kind's configuration: the site table as a dict (``camera``, ``scan``) or
    the device's config dataclass (``LaserConfig``, ``VGConfig``, ``CLConfig``,
    ``EELSSpectrometerConfig``).
    """

    settings: typing.Any
    world: SimulatedWorld | None
    spectrometer: EnergyCalibration
    probe_shift: SimulatedProbeShift
    clock: Clock
    #: the simulated laser bench's physics, part of the world from the start (simulated laser only)
    laser_system: typing.Any = None
    #: what closes the device when the instrument closes, if not its own ``close`` (a simulator's
    #: server that owns the device's connection)
    closers: list[typing.Callable[[], None]] = dataclasses.field(default_factory=list)
    #: the simulator serving a simulated device, if the factory started one (its ``fault``
    #: switches and recorded transports: :meth:`~detectors.instrument.Instrument.simulator`)
    simulator: typing.Any = None

    def simulated_world(self, what: str) -> SimulatedWorld:
        """The world a simulated ``what`` runs on; a clear error when the site has none."""
        if self.world is None:
            raise RuntimeError(f"the simulated {what} needs the simulated world")
        return self.world


Factory = typing.Callable[[BuildContext], typing.Any]
#: ``imager(ctx, scan_generator, camera) -> SpectrumImager`` (camera backends only)
ImagerFactory = typing.Callable[[BuildContext, typing.Any, typing.Any], typing.Any]


@dataclasses.dataclass(frozen=True)
class Backend:
    """One way to provide a device kind (see the module docstring)."""

    kind: str
    name: str
    factory: Factory
    #: the device is the simulated world's (the instrument then builds the world)
    simulated: bool
    #: ``validate(settings)`` at load time: raises ``ValueError`` naming the key (e.g. a port the
    #: real device needs); ``settings`` as in :class:`BuildContext`
    validate: typing.Callable[[typing.Any], None] | None = None
    #: camera backends: the spectrum imager pairing this camera with the scan generator; ``None``
    #: = the scan generator clocked by the camera (:class:`~detectors.scan.adapters.SynchronizedSpectrumImager`)
    spectrum_imager: ImagerFactory | None = None


_BACKENDS: dict[str, dict[str, Backend]] = {kind: {} for kind in KINDS}
_builtins_loaded = False


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"device kind {kind!r} is not one of {', '.join(KINDS)}")


def register_backend(kind: str, name: str, factory: Factory, *, simulated: bool,
                     validate: typing.Callable[[typing.Any], None] | None = None,
                     spectrum_imager: ImagerFactory | None = None) -> Backend:
    """Register backend ``name`` of device ``kind``; a site file may then say
    ``[<table>] backend = "<name>"``. A name is registered once per kind."""
    _check_kind(kind)
    if not name or not isinstance(name, str):
        raise ValueError(f"backend name {name!r} must be a non-empty string")
    if name in _BACKENDS[kind]:
        raise ValueError(f"a {kind} backend named {name!r} is already registered")
    if spectrum_imager is not None and kind != "camera":
        raise ValueError(f"spectrum_imager is for camera backends, not {kind!r}")
    backend = Backend(kind, name, factory, simulated, validate, spectrum_imager)
    _BACKENDS[kind][name] = backend
    return backend


def unregister_backend(kind: str, name: str) -> None:
    """Remove a registered backend (tests that register a toy one)."""
    _check_kind(kind)
    _BACKENDS[kind].pop(name, None)


def backends(kind: str) -> dict[str, Backend]:
    """The backends of ``kind`` by name, the built-in ones first."""
    _check_kind(kind)
    _load_builtins()
    return dict(_BACKENDS[kind])


def get_backend(kind: str, name: str) -> Backend:
    """The backend ``name`` of ``kind``; ``ValueError`` listing the registered ones otherwise."""
    known = backends(kind)
    if name not in known:
        raise ValueError(f"{KINDS[kind]}.backend = {name!r} is not allowed; expected {allowed_names(kind)}")
    return known[name]


def allowed_names(kind: str) -> str:
    """The registered names of ``kind`` for a message: ``"simulated", "merlin-simulated" or "merlin"``."""
    names = [f'"{name}"' for name in backends(kind)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        importlib.import_module("detectors.backends")  # registers the built-in backends
        _builtins_loaded = True
