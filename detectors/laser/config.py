"""Configuration of the EEGS laser bench: limits, calibrations, ports, simulator parameters.

One frozen dataclass per device, grouped in :class:`LaserConfig`. :meth:`LaserConfig.from_dict`
builds it from the ``[laser]`` table of a site TOML file and refuses unknown keys, so a typo in
a limit cannot silently fall back to a default.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from detectors.common.config_tables import check_order, field_names, from_sections, with_timeouts

__all__ = ["AttenuatorConfig", "BlankerConfig", "CredoConfig", "LaserConfig", "LockConfig", "PowerMeterConfig",
           "PumpConfig", "SimulationConfig", "with_timeouts"]


@dataclasses.dataclass(frozen=True)
class CredoConfig:
    """Sirah Credo dye laser.

    ``position_coefficients`` give the motor position (steps) as a polynomial of the wavelength
    in nm, of any order, lowest order first: ``steps = sum(c[k] * wavelength_nm**k)``; the inverse
    is solved numerically. The default is the 5th-order polynomial Orsay's laser server uses on
    the instrument (``OrsayDev/OrsayLaser`` ``SirahCredoServer/laser.py``, ``_wl_to_pos``, the
    "0.9 nm shift" fit of the 35 positions recorded 540–750 nm in ``Examples/Laser/calib_raw.dat``
    with λ + 0.9 nm): it reproduces every recorded position within 0.53 steps. Calibrate per
    instrument (site file ``[laser.credo] position_coefficients = [...]``).
    """

    min_wavelength_nm: float = 532.0
    max_wavelength_nm: float = 800.0
    position_coefficients: tuple[float, ...] = (2.14359461e6, -9.62421214e2, -2.78629338e-1,
                                                -2.08761563e-3, 2.49169408e-6, -1.13903735e-9)
    port: str = ""
    baudrate: int = 19200
    timeout_s: float = 0.5
    poll_interval_s: float = 0.05
    move_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_order("wavelength range", self.min_wavelength_nm, self.max_wavelength_nm)
        if len(self.position_coefficients) < 2:
            raise ValueError(f"position_coefficients {self.position_coefficients!r}: need at least two "
                             "coefficients (steps = c0 + c1·λ + …, λ in nm)")
        object.__setattr__(self, "position_coefficients", tuple(float(c) for c in self.position_coefficients))
        steps = np.polynomial.Polynomial(self.position_coefficients)(
            np.linspace(self.min_wavelength_nm, self.max_wavelength_nm, 257))
        if not (np.all(np.diff(steps) < 0) or np.all(np.diff(steps) > 0)):
            raise ValueError(f"position_coefficients {self.position_coefficients!r} are not monotonic over "
                             f"{self.min_wavelength_nm}–{self.max_wavelength_nm} nm; a calibration must be")


@dataclasses.dataclass(frozen=True)
class PumpConfig:
    """Spectra-Physics pump laser power supply; currents in A."""

    max_current_A: float = 8.0
    safe_current_A: float = 0.10
    startup_limit_A: float = 2.0
    ramp_steps: int = 10
    ramp_interval_s: float = 0.25
    port: str = ""
    baudrate: int = 57600
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        check_order("diode current range", 0.0, self.max_current_A)
        if not 0 <= self.safe_current_A <= self.max_current_A:
            raise ValueError(f"safe current {self.safe_current_A} A outside 0–{self.max_current_A} A")
        if self.ramp_steps < 1:
            raise ValueError(f"ramp_steps must be >= 1, got {self.ramp_steps}")


@dataclasses.dataclass(frozen=True)
class PowerMeterConfig:
    """Thorlabs PM100 power meters (``in`` = before the column, ``out`` = after it)."""

    min_wavelength_nm: float = 400.0
    max_wavelength_nm: float = 1100.0
    averaging: int = 10
    max_averaging: int = 10000
    wavelength_tolerance_nm: float = 0.1
    port_in: str = ""
    port_out: str = ""
    baudrate: int = 115200
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        check_order("power meter wavelength range", self.min_wavelength_nm, self.max_wavelength_nm)
        if not 1 <= self.averaging <= self.max_averaging:
            raise ValueError(f"averaging {self.averaging} outside 1–{self.max_averaging}")


@dataclasses.dataclass(frozen=True)
class AttenuatorConfig:
    """Arduino servo attenuator; angle in integer degrees."""

    min_angle_deg: int = 0
    max_angle_deg: int = 180
    port: str = ""
    baudrate: int = 9600
    timeout_s: float = 0.5
    #: wall-clock wait for the firmware's "Ready" after opening the port resets the board, s
    ready_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        check_order("servo angle range", self.min_angle_deg, self.max_angle_deg)
        if self.min_angle_deg < 0 or self.max_angle_deg > 180:
            raise ValueError("servo angle limits must lie within the firmware range 0–180°")


@dataclasses.dataclass(frozen=True)
class BlankerConfig:
    """Laser/beam synchronisation box (TCP ASCII): delay and width in ns, rate in Hz."""

    host: str = "127.0.0.1"
    port: int = 80
    min_delay_ns: float = 0.0
    max_delay_ns: float = 1.0e6
    min_width_ns: float = 10.0
    max_width_ns: float = 1.0e6
    min_rate_Hz: float = 1.0
    max_rate_Hz: float = 1.0e6
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        check_order("delay range", self.min_delay_ns, self.max_delay_ns)
        check_order("width range", self.min_width_ns, self.max_width_ns)
        check_order("rate range", self.min_rate_Hz, self.max_rate_Hz)


@dataclasses.dataclass(frozen=True)
class LockConfig:
    """Power lock: largest allowed set point (µW), relative tolerance, loop gain."""

    max_power_uW: float = 1000.0
    tolerance_rel: float = 0.01
    gain: float = 0.7

    def __post_init__(self) -> None:
        if not self.max_power_uW > 0:
            raise ValueError(f"max_power_uW {self.max_power_uW} must be > 0")


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Physics of the simulated bench.

    Power at the specimen: ``peak_power_uW * tuning(λ) * pump(I) * T_att(angle) * drift(t)`` with a
    Gaussian dye tuning curve (Pyrromethene 597: peak near 582 nm), a pump factor linear above the
    lasing threshold, a servo attenuator ``T = t_min + (1 - t_min) cos²(π·angle/360)`` and a slow
    sinusoidal drift. The meter before the column reads ``P / specimen_fraction``, the one after
    it ``P / specimen_fraction * column_transmission``.
    """

    peak_power_uW: float = 400.0
    tuning_centre_nm: float = 582.0
    tuning_fwhm_nm: float = 30.0
    tuning_floor: float = 0.002
    lasing_threshold_A: float = 1.0
    nominal_current_A: float = 6.0
    attenuator_min_transmission: float = 0.01
    specimen_fraction: float = 0.8
    column_transmission: float = 0.6
    power_noise_rel: float = 0.003
    power_drift_rel: float = 0.03
    power_drift_period_s: float = 300.0
    meter_dark_uW: float = 0.002
    meter_sample_time_s: float = 3.0e-4
    settle_base_s: float = 0.25
    settle_jitter_s: float = 0.5
    credo_motor_max_steps: int = 2_000_000


@dataclasses.dataclass(frozen=True)
class LaserConfig:
    """All laser-bench settings; the defaults describe the simulated bench."""

    credo: CredoConfig = dataclasses.field(default_factory=CredoConfig)
    pump: PumpConfig = dataclasses.field(default_factory=PumpConfig)
    meter: PowerMeterConfig = dataclasses.field(default_factory=PowerMeterConfig)
    attenuator: AttenuatorConfig = dataclasses.field(default_factory=AttenuatorConfig)
    blanker: BlankerConfig = dataclasses.field(default_factory=BlankerConfig)
    lock: LockConfig = dataclasses.field(default_factory=LockConfig)
    simulation: SimulationConfig = dataclasses.field(default_factory=SimulationConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "LaserConfig":
        """Build from nested mappings, e.g. ``{"credo": {"max_wavelength_nm": 700}}``.

        Raises ``ValueError`` on unknown sections or keys and on inconsistent limits.
        """
        return from_sections(cls, data, "laser")

    @classmethod
    def from_site_section(cls, section: Mapping[str, Any]) -> "LaserConfig":
        """Build from the site file's ``[laser]`` table (``detectors.config``).

        Flat keys map onto the device sections: ``wavelength_min_nm``/``wavelength_max_nm`` ->
        ``credo``, ``max_diode_current_A`` -> ``pump.max_current_A``, ``max_power_uW`` ->
        ``lock.max_power_uW``; ``backend`` is ignored here (it chooses real vs simulated). Nested
        tables named like our sections (``[laser.credo]`` …) are passed to :meth:`from_dict`.
        """
        flat = {"wavelength_min_nm": ("credo", "min_wavelength_nm"),
                "wavelength_max_nm": ("credo", "max_wavelength_nm"),
                "max_diode_current_A": ("pump", "max_current_A"),
                "max_power_uW": ("lock", "max_power_uW")}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in dict(section).items():
            if key == "backend":
                continue
            if key in flat:
                group, name = flat[key]
                nested.setdefault(group, {})[name] = value
            elif isinstance(value, Mapping):
                nested.setdefault(key, {}).update(value)
            else:
                raise ValueError(f"unknown key laser.{key}; known keys in [laser]: {sorted(flat)} and the "
                                 f"tables {sorted(field_names(cls))}")
        return cls.from_dict(nested)

    def replace(self, **sections: Any) -> "LaserConfig":
        """Copy with some sections replaced (dataclass instances)."""
        return dataclasses.replace(self, **sections)

