"""The Merlin's control variables: names, types, ranges and defaults, shared by client and simulator.

The table follows the Merlin manual §13 and newer software (see merlin.md §1.3). Names are
case-insensitive on the wire (``TriggerOutTTL`` is sent as in the manual); here they are upper case.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Callable


class TriggerSource(enum.IntEnum):
    """TRIGGERSTART / TRIGGERSTOP values (manual §13). ``SOFT`` exists only for TRIGGERSTART."""

    INTERNAL = 0
    RISING_TTL = 1
    FALLING_TTL = 2
    RISING_LVDS = 3
    FALLING_LVDS = 4
    SOFT = 5


class FileFormat(enum.IntEnum):
    """FILEFORMAT values: binary U08/U16/U32 or raw R64 words."""

    BINARY = 0
    RAW = 2


class DetectorStatus(enum.IntEnum):
    IDLE = 0
    BUSY = 1
    STANDBY = 2


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One control variable: Python type, validity test, default and whether SET is allowed."""

    kind: type
    default: object
    valid: Callable[[object], bool] = lambda value: True
    read_only: bool = False


def _int_range(low: int, high: int) -> Callable[[object], bool]:
    return lambda value: low <= value <= high  # type: ignore[operator]


def _float_range(low: float, high: float) -> Callable[[object], bool]:
    return lambda value: low <= value <= high  # type: ignore[operator]


def _one_of(*choices: int) -> Callable[[object], bool]:
    return lambda value: value in choices


PARAMETERS: dict[str, ParameterSpec] = {
    "COUNTERDEPTH": ParameterSpec(int, 12, _one_of(1, 6, 12, 24)),
    "CONTINUOUSRW": ParameterSpec(int, 0, _one_of(0, 1)),
    "NUMFRAMESTOACQUIRE": ParameterSpec(int, 1, _int_range(0, 42_949_672_950)),
    "NUMFRAMESPERTRIGGER": ParameterSpec(int, 1, _int_range(1, 10_000_000)),
    "ACQUISITIONTIME": ParameterSpec(float, 1.0, _float_range(0.0001, 1e7)),
    "ACQUISITIONPERIOD": ParameterSpec(float, 1.0, _float_range(0.0001, 1e7)),
    "TRIGGERSTART": ParameterSpec(int, 0, _int_range(0, 5)),
    "TRIGGERSTOP": ParameterSpec(int, 0, _int_range(0, 4)),
    "ENABLECOUNTER1": ParameterSpec(int, 0, _int_range(0, 2)),
    "COLOURMODE": ParameterSpec(int, 0, _one_of(0, 1)),
    "CHARGESUMMING": ParameterSpec(int, 0, _one_of(0, 1)),
    "GAIN": ParameterSpec(int, 0, _int_range(0, 3)),
    **{f"THRESHOLD{i}": ParameterSpec(float, 0.0 if i else 10.0, _float_range(0.0, 999.99)) for i in range(8)},
    "OPERATINGENERGY": ParameterSpec(float, 60.0, _float_range(0.0, 999.99)),
    "HVBIAS": ParameterSpec(float, 120.0, _float_range(0.0, 500.0)),
    "TEMPERATURE": ParameterSpec(float, 40.0, read_only=True),
    "SOFTWAREVERSION": ParameterSpec(str, "lumiere-sim 0.1", read_only=True),
    "DETECTORSTATUS": ParameterSpec(int, 0, read_only=True),
    "IMAGEX": ParameterSpec(int, 1024, read_only=True),
    "IMAGEY": ParameterSpec(int, 256, read_only=True),
    "FILEENABLE": ParameterSpec(int, 0, _one_of(0, 1)),
    "FILEDIRECTORY": ParameterSpec(str, ""),
    "FILENAME": ParameterSpec(str, "acquisition"),
    "FILEFORMAT": ParameterSpec(int, 0, _one_of(0, 2)),
    "IMAGESPERFILE": ParameterSpec(int, 0, _int_range(0, 10_000_000)),
    "RUNHEADLESS": ParameterSpec(int, 0, _one_of(0, 1)),
    "USETIMESTAMPING": ParameterSpec(int, 0, _one_of(0, 1)),
    "THSTART": ParameterSpec(float, 0.0, _float_range(0.0, 999.99)),
    "THSTOP": ParameterSpec(float, 10.0, _float_range(0.0, 999.99)),
    "THSTEP": ParameterSpec(float, 1.0, _float_range(0.0, 999.99)),
    "THNUMSTEPS": ParameterSpec(int, 10, _int_range(1, 100_000)),
    "TRIGGEROUTTTL": ParameterSpec(int, 0, _int_range(0, 7)),
    "TRIGGEROUTLVDS": ParameterSpec(int, 0, _int_range(0, 7)),
    "TRIGGEROUTTTLINVERT": ParameterSpec(int, 0, _one_of(0, 1)),
    "TRIGGEROUTLVDSINVERT": ParameterSpec(int, 0, _one_of(0, 1)),
    "TRIGGEROUTTTLDELAY": ParameterSpec(int, 0, _int_range(0, 2**40)),
    "TRIGGEROUTLVDSDELAY": ParameterSpec(int, 0, _int_range(0, 2**40)),
    "TRIGGERUSEDELAY": ParameterSpec(int, 0, _one_of(0, 1)),
}

COMMANDS = ("STARTACQUISITION", "STOPACQUISITION", "SOFTTRIGGER", "ABORT", "RESET", "THSCAN")


def parse_value(name: str, text: str) -> object:
    """Convert ``text`` to the variable's type; raises ``ValueError`` when it does not parse."""
    kind = PARAMETERS[name].kind
    if kind is int:
        stripped = text.strip()
        if not (stripped.isascii() and stripped.lstrip("-").isdigit()):
            if stripped.replace(".", "", 1).isdigit() and float(stripped).is_integer():
                return int(float(stripped))
            raise ValueError(f"{name} needs an integer, got {text!r}")
        return int(stripped)
    if kind is float:
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name} needs a finite number, got {text!r}")
        return value
    return text


def format_value(value: object) -> str:
    """Text sent on the wire for ``value`` (bools as 0/1, enums by number)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, enum.IntEnum):
        return str(int(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


@dataclasses.dataclass
class MerlinSettings:
    """The settings that shape an acquisition, applied in a safe order by ``MerlinControl.apply``.

    Attributes
    ----------
    counter_depth : int
        1, 6, 12 or 24 bit.
    continuous_rw : bool
        Continuous read/write (dead-time free; the period is then ignored).
    num_frames : int
        NUMFRAMESTOACQUIRE; 0 = until STOPACQUISITION.
    num_frames_per_trigger : int
    acquisition_time_ms, acquisition_period_ms : float
        Shutter-open time and frame period, milliseconds.
    trigger_start, trigger_stop : TriggerSource
    raw : bool
        FILEFORMAT 2 (raw R64 words) instead of binary.
    thresholds_keV : tuple of float
        THRESHOLD0, THRESHOLD1 in keV.
    file_enable : bool
        Save ``.mib`` files on the detector PC (FILEDIRECTORY / FILENAME).
    """

    counter_depth: int = 12
    continuous_rw: bool = False
    num_frames: int = 1
    num_frames_per_trigger: int = 1
    acquisition_time_ms: float = 1.0
    acquisition_period_ms: float = 1.0
    trigger_start: TriggerSource = TriggerSource.INTERNAL
    trigger_stop: TriggerSource = TriggerSource.INTERNAL
    raw: bool = False
    thresholds_keV: tuple[float, float] = (10.0, 0.0)
    file_enable: bool = False
    file_directory: str = ""
    file_name: str = "acquisition"

    def as_commands(self) -> list[tuple[str, object]]:
        """(NAME, value) pairs in the order they are sent: depth and mode before counts and times."""
        return [
            ("COUNTERDEPTH", self.counter_depth), ("CONTINUOUSRW", self.continuous_rw),
            ("FILEFORMAT", FileFormat.RAW if self.raw else FileFormat.BINARY),
            ("ACQUISITIONTIME", float(self.acquisition_time_ms)),
            ("ACQUISITIONPERIOD", float(self.acquisition_period_ms)),
            ("TRIGGERSTART", TriggerSource(self.trigger_start)), ("TRIGGERSTOP", TriggerSource(self.trigger_stop)),
            ("THRESHOLD0", float(self.thresholds_keV[0])), ("THRESHOLD1", float(self.thresholds_keV[1])),
            ("FILEENABLE", self.file_enable), ("FILEDIRECTORY", self.file_directory), ("FILENAME", self.file_name),
            ("NUMFRAMESTOACQUIRE", self.num_frames), ("NUMFRAMESPERTRIGGER", self.num_frames_per_trigger),
        ]
