"""Site configuration: which backend each device uses, its limits and calibrations.

One TOML file per site. Every key has a type, an allowed range or set and a default; the default
configuration is the simulated instrument. A bad file raises :class:`ConfigError` naming the key,
the bad value and what is allowed. Unknown sections or keys are errors too (a typo must not
silently fall back to a default).

Example::

    [world]
    seed = 3
    clock_speed = 1.0            # "virtual" (default) or a speed factor vs wall time

    [world.drift]
    rate_nm_per_min = [0.5, -1.0]

    [eels_camera]
    backend = "merlin"
    host = "192.168.0.20"

    [vg]
    backend = "serial"           # "simulated" (default) or "serial": the real column
    [vg.lenses]
    port = "/dev/ttyUSB0"        # device path, pty path or pyserial URL ("socket://host:port")
    baudrate = 57600
    [vg.apertures]
    port = "/dev/ttyUSB1"        # 9600
    [vg.vacuum]
    gun_port = "/dev/ttyUSB2"    # 115200
    column_port = "/dev/ttyUSB3" # 9600
    [vg.ht]
    host = "192.168.0.30"        # HT, probe unit and stage: our TCP line protocol (bridge)
    port = 7001
    [vg.probe_shift]
    host = "192.168.0.30"
    port = 7002
    [vg.stage]
    host = "192.168.0.30"
    port = 7003

    [cl]
    backend = "serial"
    port = "COM4"                # Acton spectrometer, 9600 8N1

    [eels_spectrometer]
    backend = "serial"           # lens unit (serial 9600 8N1) + drift-tube supply (TCP)
    port = "COM5"
    drift_tube_host = "192.168.0.40"
    drift_tube_port = 80

Every table below ``[vg]`` is a section of :class:`~detectors.vg_lumiere.config.VGConfig`
(limits, HT table, interlock thresholds, ports; ``[vg.ht.table.60000]`` …); the keys of ``[cl]``
besides ``backend`` (and ``[cl.geometry]``, ``[cl.camera]``) are
:class:`~detectors.cl.config.CLConfig`'s, those of ``[eels_spectrometer]``
:class:`~detectors.eels_spectrometer.config.EELSSpectrometerConfig`'s. With ``backend = "serial"`` every port, host and baud
rate of that device must be given (checked at load time, the error names the key); the simulated
backends ignore them (but a given one is still checked).

The instrument (:func:`detectors.instrument.build_instrument`) owns its clock, the EELS energy
calibration (``[spectrometer]``: offset, dispersion, channels; what every camera's energy axis
is, the real Merlin's included) and the probe position (through the scan generator), and says
per device whether it is simulated (``Instrument.metadata()``).

The simulated world (``[world]``, ``[beam]``) is built only when some device's backend is
simulated (``"simulated"``, ``"merlin-simulated"``, ``"tcp-simulated"``): it is the physics behind
those devices, and ``Instrument.world`` is None on a site whose devices are all real. A real device
neither reads nor writes it: a real VG column's ``EHT``/``CSH``/blanker do not change the simulated
beam or the simulated scan's probe shift, the real Merlin takes its energy axis from the
instrument's calibration, and a real CL spectrometer has no camera (the simulated CL camera needs
the simulated spectrometer's state). Clock: a fully simulated instrument runs on the world's clock
(``[world] clock_speed``: virtual or scaled); as soon as one backend is real the instrument runs on
the wall clock and the world's clock is built real-time (speed 1, whatever ``clock_speed`` says),
so the simulated devices take the time the real ones do. Mixing is for bench tests of one real
instrument; a workflow whose devices must share one specimen needs them all simulated or all real.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import tomllib
import typing

from detectors.cl.config import CLConfig
from detectors.common.config_tables import from_table, setting
from detectors.eels_spectrometer.config import EELSSpectrometerConfig
from detectors.laser.config import LaserConfig
from detectors.registry import KINDS, get_backend
from detectors.vg_lumiere.config import VGConfig
from detectors.scan.outputs import OutputLine, validate_output_line


class ConfigError(ValueError):
    """A site configuration value is missing, of the wrong type or out of range."""


def _positive(v: typing.Any) -> bool:
    return v > 0


def _pair(v: typing.Any) -> bool:
    return len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)


def _port(v: typing.Any) -> bool:
    return 0 <= v <= 65535


def _clock(v: typing.Any) -> bool:
    return v == "virtual" or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)


#: the ``backend`` key of a device's table: one of the names registered for its kind
#: (:mod:`detectors.registry`), checked by :func:`validate` with the list of them
BACKEND = setting("simulated", "a backend name", kind=str)


# The instrument's own tables of the site file (the devices' tables are their configs' dataclasses,
# e.g. [vg.*] VGConfig's): each key a :func:`~detectors.common.config_tables.setting`.
@dataclasses.dataclass(frozen=True)
class WorldTable:
    seed: int = setting(0, "an integer ≥ 0", lambda v: v >= 0)
    clock_speed: str | float = setting("virtual", '"virtual" or a number > 0', _clock, kind=(str, int, float))


@dataclasses.dataclass(frozen=True)
class DriftTable:
    rate_nm_per_min: list = setting([1.2, 1.6], "[vy, vx] in nm/min", _pair)
    random_walk_nm_per_sqrt_min: float = setting(0.3, "a number ≥ 0", lambda v: v >= 0)


@dataclasses.dataclass(frozen=True)
class BeamTable:
    high_tension_kV: float = setting(100, "40, 60, 80, 100 or 200", lambda v: v in (40, 60, 80, 100, 200),
                                     kind=(int, float))
    current_pA: float = setting(20.0, "0 < current ≤ 5000 pA", lambda v: 0 < v <= 5000)
    zlp_fwhm_eV: float = setting(0.35, "0.005–3 eV", lambda v: 0.005 <= v <= 3)
    # probe convergence semi-angle: HyperSpy's TEM.convergence_angle, used by quantification
    convergence_angle_mrad: float = setting(10.0, "0 < angle ≤ 100 mrad", lambda v: 0 < v <= 100)


@dataclasses.dataclass(frozen=True)
class SpectrometerTable:
    energy_offset_eV: float = setting(-20.0, "-1000–5000 eV", lambda v: -1000 <= v <= 5000)
    dispersion_eV_per_channel: float = setting(0.1, "0.001–5 eV/channel", lambda v: 0.001 <= v <= 5)
    # spectrometer entrance (collection) semi-angle: HyperSpy's Detector.EELS.collection_angle
    collection_angle_mrad: float = setting(25.0, "0 < angle ≤ 200 mrad", lambda v: 0 < v <= 200)
    channels: int = setting(1024, "an integer 1–65536", lambda v: 1 <= v <= 65536)


@dataclasses.dataclass(frozen=True)
class ScanTable:
    # the scan generator (detectors/scan/README.md): the world directly, the world behind our
    # TCP scan protocol on 127.0.0.1 (in-process simulator), or a scan unit at host:port
    backend: str = BACKEND
    host: str = setting("127.0.0.1", "a host name or address", lambda v: len(v) > 0)
    port: int = setting(7300, "0–65535", _port)
    timeout_s: float = setting(2.0, "a number > 0", _positive)
    n_outputs: int = setting(4, "1–16", lambda v: 1 <= v <= 16)
    # [[scan.outputs]] tables: index, source, polarity, delay_us, width_us (outputs.py)
    outputs: list = setting([], "a list of [[scan.outputs]] tables", lambda v: all(isinstance(t, dict) for t in v))
    max_fov_nm: float = setting(4000.0, "a number > 0", _positive)
    max_probe_shift_nm: float = setting(2000.0, "a number > 0", _positive)


@dataclasses.dataclass(frozen=True)
class EELSCameraTable:
    backend: str = BACKEND
    host: str = setting("127.0.0.1", "a host name or address", lambda v: len(v) > 0)
    control_port: int = setting(6341, "0–65535", _port)
    data_port: int = setting(6342, "0–65535", _port)
    timeout_s: float = setting(5.0, "a number > 0", _positive)


@dataclasses.dataclass(frozen=True)
class SerialDeviceTable:
    """The [vg], [cl] and [eels_spectrometer] tables' own key; their other keys are the device's config."""

    backend: str = BACKEND


@dataclasses.dataclass(frozen=True)
class LaserTable:
    backend: str = BACKEND
    wavelength_min_nm: float = setting(532.0, "200–2000 nm", lambda v: 200 <= v <= 2000)
    wavelength_max_nm: float = setting(800.0, "200–2000 nm", lambda v: 200 <= v <= 2000)
    max_diode_current_A: float = setting(8.0, "a number > 0", _positive)
    max_power_uW: float = setting(5000.0, "a number > 0", _positive)

    def __post_init__(self) -> None:
        if self.wavelength_min_nm >= self.wavelength_max_nm:
            raise ValueError(f"laser.wavelength_min_nm = {self.wavelength_min_nm} must be below "
                             f"laser.wavelength_max_nm = {self.wavelength_max_nm}")


#: the site file's tables and the dataclass of each (built with :func:`from_table`)
TABLES: dict[str, type] = {
    "world": WorldTable, "world.drift": DriftTable, "beam": BeamTable, "spectrometer": SpectrometerTable,
    "scan": ScanTable, "eels_camera": EELSCameraTable, "vg": SerialDeviceTable, "cl": SerialDeviceTable,
    "eels_spectrometer": SerialDeviceTable, "laser": LaserTable,
}


@dataclasses.dataclass(frozen=True)
class SiteConfig:
    """Validated configuration: ``config["section"]["key"]``."""

    values: dict[str, dict[str, typing.Any]]
    source: str = "<defaults>"

    def __getitem__(self, section: str) -> dict[str, typing.Any]:
        return self.values[section]

    @property
    def clock_speed(self) -> float | None:
        speed = self.values["world"]["clock_speed"]
        return None if speed == "virtual" else float(speed)

    def vg_config(self) -> VGConfig:
        """The VG column's configuration from ``[vg]`` and its ``[vg.*]`` tables."""
        return VGConfig.from_dict({k: v for k, v in self.values["vg"].items() if k != "backend"})

    def cl_config(self) -> CLConfig:
        """The CL spectrometer's configuration from ``[cl]`` (and ``[cl.geometry]``, ``[cl.camera]``)."""
        return CLConfig.from_dict({k: v for k, v in self.values["cl"].items() if k != "backend"})

    def eels_spectrometer_config(self) -> EELSSpectrometerConfig:
        """The EELS spectrometer's configuration from ``[eels_spectrometer]``."""
        return EELSSpectrometerConfig.from_dict(
            {k: v for k, v in self.values["eels_spectrometer"].items() if k != "backend"})


def _flatten(table: dict[str, typing.Any], prefix: str = "") -> dict[str, dict[str, typing.Any]]:
    sections: dict[str, dict[str, typing.Any]] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            sections.update(_flatten(value, name))
        else:
            sections.setdefault(prefix, {})[key] = value
    return sections


#: device tables allowed below [laser] (``[laser.credo]``, ``[laser.simulation]`` …): ports,
#: calibrations and limits of :class:`detectors.laser.config.LaserConfig`, checked by it
LASER_TABLES = ("credo", "pump", "meter", "attenuator", "blanker", "lock", "simulation")


#: device tables below [vg] (``[vg.lenses]`` …): the sections of :class:`detectors.vg_lumiere.config.VGConfig`
VG_TABLES = tuple(f.name for f in dataclasses.fields(VGConfig))
#: tables below [cl]; the other keys of [cl] but ``backend`` are :class:`detectors.cl.config.CLConfig`'s
CL_TABLES = ("geometry", "camera")


def _device_tables(given: dict[str, dict[str, typing.Any]], device: str,
                   names: tuple[str, ...]) -> dict[str, dict[str, typing.Any]]:
    """Remove the ``<device>.<name>`` tables (and tables nested in them, such as
    ``[vg.ht.table.60000]``) from ``given`` and return them by name, nested again."""
    tables: dict[str, typing.Any] = {}
    for section in [s for s in given if s.startswith(device + ".")]:
        path = section.split(".")[1:]
        if path[0] in names:
            table = tables
            for part in path:
                table = table.setdefault(part, {})
            table.update(given.pop(section))
    return tables


def _check_device(source: str, device: str, build: typing.Callable[[], typing.Any]) -> typing.Any:
    try:
        return build()
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: [{device}]: {e}") from None


def _check_scan_outputs(scan: dict[str, typing.Any], source: str) -> None:
    """Each [[scan.outputs]] table must be a valid output line (the error names the bad value)."""
    for table in scan["outputs"]:
        try:
            validate_output_line(OutputLine.from_dict(table), scan["n_outputs"])
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{source}: [[scan.outputs]] {table}: {e}") from None


def _check_finite(value: typing.Any, source: str, key: str) -> None:
    """TOML has ``inf`` and ``nan``; no key of ours allows them (an infinite timeout hangs, an
    infinite limit is no limit), so every number anywhere in the file must be finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {key} = {value!r} is not allowed; every number in a site file "
                          "must be finite")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, source, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, source, f"{key}[{i}]")


def validate(raw: dict[str, typing.Any], source: str = "<dict>") -> SiteConfig:
    """Check a parsed TOML table against :data:`TABLES` (and the devices' configs) and fill defaults."""
    _check_finite(raw, source, "")
    given = _flatten(raw)
    laser_tables = _device_tables(given, "laser", LASER_TABLES)
    vg_tables = _device_tables(given, "vg", VG_TABLES)
    cl_tables = _device_tables(given, "cl", CL_TABLES)
    if "cl" in given:  # [cl] holds CLConfig's own keys next to backend
        cl_tables.update({k: v for k, v in given["cl"].items() if k != "backend"})
        given["cl"] = {k: v for k, v in given["cl"].items() if k == "backend"}
    eels_keys: dict[str, typing.Any] = {}
    if "eels_spectrometer" in given:  # its keys sit next to backend, like [cl]
        eels_keys = {k: v for k, v in given["eels_spectrometer"].items() if k != "backend"}
        given["eels_spectrometer"] = {k: v for k, v in given["eels_spectrometer"].items() if k == "backend"}
    for section, keys in given.items():
        if section not in TABLES:
            raise ConfigError(f"{source}: unknown section [{section or '(top level)'}] with keys "
                              f"{sorted(keys)}; known sections: {sorted(TABLES)}")
    values: dict[str, dict[str, typing.Any]] = {}
    for section, table_cls in TABLES.items():
        try:
            table: typing.Any = from_table(table_cls, given.get(section, {}), section)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{source}: {e}") from None
        values[section] = {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}
    laser = values["laser"]
    _check_scan_outputs(values["scan"], source)
    laser.update(laser_tables)
    settings = {  # each kind's configuration, as its backends' factories receive it
        "scan": values["scan"], "camera": values["eels_camera"],
        "laser": _check_device(source, "laser", lambda: LaserConfig.from_site_section(laser)),
        "vg": _check_device(source, "vg", lambda: VGConfig.from_dict(vg_tables)),
        "cl": _check_device(source, "cl", lambda: CLConfig.from_dict(cl_tables)),
        "eels_spectrometer": _check_device(source, "eels_spectrometer",
                                           lambda: EELSSpectrometerConfig.from_dict(eels_keys)),
    }
    _check_device(source, "eels_spectrometer", settings["eels_spectrometer"].presets)  # settings file, HT, preset
    for kind, section in KINDS.items():  # the backend is a registered one; it checks what it needs
        try:
            backend = get_backend(kind, values[section]["backend"])
        except ValueError as e:
            raise ConfigError(f"{source}: {e}") from None
        if (check := backend.validate) is not None:
            _check_device(source, section, lambda: check(settings[kind]))  # noqa: B023 - called at once
    values["vg"].update(vg_tables)
    values["cl"].update(cl_tables)
    values["eels_spectrometer"].update(eels_keys)
    return SiteConfig(values, source)



def load_config(path: str | pathlib.Path | None = None) -> SiteConfig:
    """Load and validate a site file; ``None`` gives the default (simulated) instrument."""
    if path is None:
        return validate({}, "<defaults>")
    p = pathlib.Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"site configuration file {str(p)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return validate(raw, str(p))
