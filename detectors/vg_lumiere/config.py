"""Configuration of the VG Lumière column: limits, per-HT table, interlocks, ports, simulator.

One frozen dataclass per subsystem, grouped in :class:`VGConfig`. :meth:`VGConfig.from_dict`
builds it from the site file's ``[vg.*]`` tables (nested tables per section) and refuses unknown keys.
Units are in the names: V, A, nm, µm (``_um``), Pa, °C (``_C``), s.

Where each device is reached (the ``serial`` backend, :func:`~.connect.connect_column`): the serial
instruments have ``port`` (a device path such as ``/dev/ttyUSB0`` or ``COM3``, a pty path, or a
pyserial URL such as ``socket://127.0.0.1:4001``) and ``baudrate`` (the instruments' own: lenses
57600, apertures 9600, gun gauge 115200, column gauge 9600, all 8N1); the units behind our TCP line
protocol (HT, probe unit, stage: :mod:`.bus`) have ``host`` and ``port``. The simulated backend
ignores all of them.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from detectors.common.config_tables import check_order, from_sections


@dataclasses.dataclass(frozen=True)
class HTSettings:
    """What is pushed to the column when the high tension changes.

    Lens currents in A; ``spectrometer`` holds the EELS spectrometer settings for this HT
    (``energy_offset_eV``, ``dispersion_eV_per_channel``), handed to the column's spectrometer
    link (the simulated one writes ``world.spectrometer``).
    """

    OL_A: float
    C1_A: float
    C2_A: float
    spectrometer: Mapping[str, float] = dataclasses.field(default_factory=dict)


def _default_ht_table() -> dict[float, HTSettings]:
    # Lens currents: the per-HT values saved on the instrument by NSLumiere
    # (nionswift_plugin/aux_files/config/lenses_settings.json: obj, c1, c2 per kV; C1 is off at
    # every HT there). The spectrometer settings are placeholders of the right order.
    return {
        40_000.0: HTSettings(7.8, 0.0, 0.67, {"energy_offset_eV": -20.0, "dispersion_eV_per_channel": 0.05}),
        60_000.0: HTSettings(5.636218, 0.0, 0.54137, {"energy_offset_eV": -20.0, "dispersion_eV_per_channel": 0.075}),
        80_000.0: HTSettings(7.435577, 0.0, 0.632461, {"energy_offset_eV": -20.0, "dispersion_eV_per_channel": 0.09}),
        100_000.0: HTSettings(7.549036, 0.0, 0.720259, {"energy_offset_eV": -20.0, "dispersion_eV_per_channel": 0.1}),
    }


@dataclasses.dataclass(frozen=True)
class HTConfig:
    """High tension: the allowed values (V) and the per-HT settings table."""

    table: Mapping[float, HTSettings] = dataclasses.field(default_factory=_default_ht_table)
    initial_V: float = 100_000.0
    host: str = ""
    port: int = 0
    timeout_s: float = 0.5

    @property
    def choices_V(self) -> tuple[float, ...]:
        return tuple(sorted(self.table))

    def __post_init__(self) -> None:
        if not self.table:
            raise ValueError("the HT table needs at least one high tension")
        if self.initial_V not in self.table:
            raise ValueError(f"initial HT {self.initial_V} V not in the table {sorted(self.table)}")


@dataclasses.dataclass(frozen=True)
class LensConfig:
    """Lens power supply (channel 1 objective, 2 C1, 3 C2) and the objective thermal model.

    The objective temperature estimate is a first-order model driven by the current history:
    ``dT/dt = (ambient_C + heating_C_per_A2 · I² − T) / tau_s``. Above ``objective_max_C`` the
    interlock reduces the objective current to ``objective_safe_A`` and blanks the beam.
    """

    objective_max_A: float = 9.5
    condenser_max_A: float = 1.5
    compliance: float = 0.5
    ambient_C: float = 22.0
    heating_C_per_A2: float = 0.6
    tau_s: float = 600.0
    objective_max_C: float = 65.0
    objective_safe_A: float = 0.0
    port: str = ""
    baudrate: int = 57600
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        check_order("objective current", 0.0, self.objective_max_A)
        check_order("condenser current", 0.0, self.condenser_max_A)
        if not self.tau_s > 0:
            raise ValueError(f"thermal time constant {self.tau_s} s must be > 0")
        if not 0 <= self.objective_safe_A <= self.objective_max_A:
            raise ValueError(f"objective safe current {self.objective_safe_A} A outside 0–{self.objective_max_A} A")


@dataclasses.dataclass(frozen=True)
class ProbeShiftConfig:
    """Probe shift (``CSH``) limits, nm, per axis."""

    limit_nm: float = 2000.0
    host: str = ""
    port: int = 0
    timeout_s: float = 0.5


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Stage x/y limits (nm) and the simulated motion."""

    x_range_nm: tuple[float, float] = (-1.0e6, 1.0e6)
    y_range_nm: tuple[float, float] = (-1.0e6, 1.0e6)
    speed_nm_per_s: float = 20_000.0
    settle_s: float = 0.5
    poll_interval_s: float = 0.05
    move_timeout_s: float = 120.0
    host: str = ""
    port: int = 0
    timeout_s: float = 0.5

    def __post_init__(self) -> None:
        check_order("stage x range", *self.x_range_nm)
        check_order("stage y range", *self.y_range_nm)


@dataclasses.dataclass(frozen=True)
class ApertureConfig:
    """Aperture motors (Zaber binary protocol): device numbers from 1, µm per microstep.

    Positions count from the home end of the travel (0) and are positive, as NSLumiere's saved
    positions (49 500–128 480 microsteps) are. ``range_um`` default: the 25 mm travel of a Zaber
    actuator with the 0.047 625 µm microstep below [I: neither the model nor the microstep is
    recorded; set both per site].
    """

    motors: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"OA.x": 1, "OA.y": 2, "CA.x": 3, "CA.y": 4})
    microstep_um: float = 0.047625
    range_um: tuple[float, float] = (0.0, 25_000.0)
    speed_um_per_s: float = 500.0
    port: str = ""
    baudrate: int = 9600
    timeout_s: float = 0.5
    move_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_order("aperture range", *self.range_um)
        if self.range_um[0] < 0:
            raise ValueError(f"aperture range {self.range_um} µm: positions count from home (0), "
                             "so the range must lie within 0 and the travel")
        if any(not 1 <= d <= 254 for d in self.motors.values()):
            raise ValueError(f"aperture device numbers must be 1–254 (0 is broadcast): {dict(self.motors)}")


@dataclasses.dataclass(frozen=True)
class VacuumConfig:
    """Vacuum gauges and interlock thresholds, Pa.

    Gun pressure above ``gun_max_Pa`` switches the high tension off and blanks the beam; column
    pressure above ``column_max_Pa`` blanks the beam.
    """

    gun_max_Pa: float = 5e-7
    column_max_Pa: float = 1e-4
    gun_address: int = 1
    column_address: int = 1
    gun_port: str = ""
    gun_baudrate: int = 115200
    column_port: str = ""
    column_baudrate: int = 9600
    timeout_s: float = 0.5


@dataclasses.dataclass(frozen=True)
class SimulatedColumnConfig:
    """Hidden state of the simulated column at start-up."""

    gun_pressure_Pa: float = 3e-8
    column_pressure_Pa: float = 2e-6
    objective_resistance_ohm: float = 1.3
    condenser_resistance_ohm: float = 4.0
    #: couple stage moves to the specimen (the world's drift gets a step of the stage move)
    stage_moves_specimen: bool = True


@dataclasses.dataclass(frozen=True)
class VGConfig:
    """Everything the column adaptor needs."""

    ht: HTConfig = dataclasses.field(default_factory=HTConfig)
    lenses: LensConfig = dataclasses.field(default_factory=LensConfig)
    probe_shift: ProbeShiftConfig = dataclasses.field(default_factory=ProbeShiftConfig)
    stage: StageConfig = dataclasses.field(default_factory=StageConfig)
    apertures: ApertureConfig = dataclasses.field(default_factory=ApertureConfig)
    vacuum: VacuumConfig = dataclasses.field(default_factory=VacuumConfig)
    simulation: SimulatedColumnConfig = dataclasses.field(default_factory=SimulatedColumnConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "VGConfig":
        """Build from nested tables, e.g. ``{"lenses": {"objective_max_C": 60}}``.

        The HT table is given as ``{"ht": {"table": {"60000": {"OL_A": 5.1, "C1_A": 0.7,
        "C2_A": 0.8, "spectrometer": {...}}}}}``. Unknown sections or keys raise ``ValueError``.
        """
        return from_sections(cls, data, "vg", {"ht": {"table": _ht_table}})


def _ht_table(table: Mapping[Any, Any]) -> dict[float, HTSettings]:
    """``{"60000": {"OL_A": …}}`` (TOML keys are strings) → ``{60000.0: HTSettings(…)}``."""
    return {float(k): v if isinstance(v, HTSettings) else HTSettings(**v) for k, v in table.items()}
