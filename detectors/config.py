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
from detectors.cl.connect import check_address as check_cl_address
from detectors.eels_spectrometer.config import EELSSpectrometerConfig
from detectors.eels_spectrometer.connect import check_addresses as check_eels_spectrometer_addresses
from detectors.laser.config import LaserConfig
from detectors.vg_lumiere.config import VGConfig
from detectors.vg_lumiere.connect import check_addresses as check_vg_addresses
from detectors.scan.outputs import OutputLine, validate_output_line


class ConfigError(ValueError):
    """A site configuration value is missing, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True)
class Key:
    default: typing.Any
    kind: type | tuple[type, ...]
    check: typing.Callable[[typing.Any], bool] = lambda v: True
    allowed: str = ""


def _positive(v: typing.Any) -> bool:
    return v > 0


def _pair(v: typing.Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)


def _port(v: typing.Any) -> bool:
    return 0 <= v <= 65535


def _clock(v: typing.Any) -> bool:
    return v == "virtual" or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)


SCHEMA: dict[str, dict[str, Key]] = {
    "world": {
        "seed": Key(0, int, lambda v: v >= 0, "an integer ≥ 0"),
        "clock_speed": Key("virtual", (str, int, float), _clock, '"virtual" or a number > 0'),
    },
    "world.drift": {
        "rate_nm_per_min": Key([1.2, 1.6], list, _pair, "[vy, vx] in nm/min"),
        "random_walk_nm_per_sqrt_min": Key(0.3, (int, float), lambda v: v >= 0, "a number ≥ 0"),
    },
    "beam": {
        "high_tension_kV": Key(100, (int, float), lambda v: v in (40, 60, 80, 100, 200), "40, 60, 80, 100 or 200"),
        "current_pA": Key(20.0, (int, float), lambda v: 0 < v <= 5000, "0 < current ≤ 5000 pA"),
        "zlp_fwhm_eV": Key(0.35, (int, float), lambda v: 0.005 <= v <= 3, "0.005–3 eV"),
    },
    "spectrometer": {
        "energy_offset_eV": Key(-20.0, (int, float), lambda v: -1000 <= v <= 5000, "-1000–5000 eV"),
        "dispersion_eV_per_channel": Key(0.1, (int, float), lambda v: 0.001 <= v <= 5, "0.001–5 eV/channel"),
        "channels": Key(1024, int, lambda v: 1 <= v <= 65536, "an integer 1–65536"),
    },
    "scan": {
        # the scan generator (detectors/scan/README.md): the world directly, the world behind our
        # TCP scan protocol on 127.0.0.1 (in-process simulator), or a scan unit at host:port
        "backend": Key("simulated", str, lambda v: v in ("simulated", "tcp-simulated", "tcp"),
                       '"simulated", "tcp-simulated" or "tcp"'),
        "host": Key("127.0.0.1", str, lambda v: len(v) > 0, "a host name or address"),
        "port": Key(7300, int, _port, "0–65535"),
        "timeout_s": Key(2.0, (int, float), _positive, "a number > 0"),
        "n_outputs": Key(4, int, lambda v: 1 <= v <= 16, "1–16"),
        # [[scan.outputs]] tables: index, source, polarity, delay_us, width_us (outputs.py)
        "outputs": Key([], list, lambda v: all(isinstance(t, dict) for t in v),
                       "a list of [[scan.outputs]] tables"),
        "max_fov_nm": Key(4000.0, (int, float), _positive, "a number > 0"),
        "max_probe_shift_nm": Key(2000.0, (int, float), _positive, "a number > 0"),
    },
    "eels_camera": {
        "backend": Key("simulated", str, lambda v: v in ("simulated", "merlin-simulated", "merlin"),
                       '"simulated", "merlin-simulated" or "merlin"'),
        "host": Key("127.0.0.1", str, lambda v: len(v) > 0, "a host name or address"),
        "control_port": Key(6341, int, _port, "0–65535"),
        "data_port": Key(6342, int, _port, "0–65535"),
        "timeout_s": Key(5.0, (int, float), _positive, "a number > 0"),
    },
    "vg": {
        "backend": Key("simulated", str, lambda v: v in ("simulated", "serial"), '"simulated" or "serial"'),
    },
    "cl": {
        "backend": Key("simulated", str, lambda v: v in ("simulated", "serial"), '"simulated" or "serial"'),
    },
    "eels_spectrometer": {
        "backend": Key("simulated", str, lambda v: v in ("simulated", "serial"), '"simulated" or "serial"'),
    },
    "laser": {
        "backend": Key("simulated", str, lambda v: v in ("simulated", "serial"), '"simulated" or "serial"'),
        "wavelength_min_nm": Key(532.0, (int, float), lambda v: 200 <= v <= 2000, "200–2000 nm"),
        "wavelength_max_nm": Key(800.0, (int, float), lambda v: 200 <= v <= 2000, "200–2000 nm"),
        "max_diode_current_A": Key(8.0, (int, float), _positive, "a number > 0"),
        "max_power_uW": Key(5000.0, (int, float), _positive, "a number > 0"),
    },
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
    """Check a parsed TOML table against :data:`SCHEMA` and fill defaults."""
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
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section or '(top level)'}] with keys "
                              f"{sorted(keys)}; known sections: {sorted(SCHEMA)}")
    values: dict[str, dict[str, typing.Any]] = {}
    for section, keys in SCHEMA.items():
        supplied = given.get(section, {})
        for key in supplied:
            if key not in keys:
                raise ConfigError(f"{source}: unknown key {section}.{key}; known keys in [{section}]: {sorted(keys)}")
        values[section] = {}
        for key, spec in keys.items():
            value = supplied.get(key, spec.default)
            ok_type = isinstance(value, spec.kind) and not (isinstance(value, bool) and spec.kind is not bool)
            if not ok_type or not spec.check(value):
                raise ConfigError(f"{source}: {section}.{key} = {value!r} is not allowed; expected {spec.allowed}")
            values[section][key] = value
    laser = values["laser"]
    if laser["wavelength_min_nm"] >= laser["wavelength_max_nm"]:
        raise ConfigError(f"{source}: laser.wavelength_min_nm = {laser['wavelength_min_nm']} must be below "
                          f"laser.wavelength_max_nm = {laser['wavelength_max_nm']}")
    _check_scan_outputs(values["scan"], source)
    laser.update(laser_tables)
    _check_device(source, "laser", lambda: LaserConfig.from_site_section(laser))
    vg = _check_device(source, "vg", lambda: VGConfig.from_dict(vg_tables))
    cl = _check_device(source, "cl", lambda: CLConfig.from_dict(cl_tables))
    # ports are required by the serial backends, and checked wherever given
    _check_device(source, "vg", lambda: check_vg_addresses(vg, required=values["vg"]["backend"] == "serial"))
    _check_device(source, "cl", lambda: check_cl_address(cl, required=values["cl"]["backend"] == "serial"))
    eels = _check_device(source, "eels_spectrometer", lambda: EELSSpectrometerConfig.from_dict(eels_keys))
    _check_device(source, "eels_spectrometer", lambda: check_eels_spectrometer_addresses(
        eels, required=values["eels_spectrometer"]["backend"] == "serial"))
    _check_device(source, "eels_spectrometer", eels.presets)  # the settings file, its HT and preset
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
