"""High tension, probe unit (probe shift + blanker) and stage: drivers and simulators.

On the Orsay VG these are driven through closed vendor DLLs (``VGStage``, the scan unit) or
from the HT console, so there is no public wire protocol. We define one small ASCII line
protocol (``\\n``-terminated, one reply line per request, served over TCP by default), the same
for the three units, so a site can put a thin bridge in front of the DLLs:

=====================  ==============================  ==========================
request                reply                           unit
=====================  ==============================  ==========================
``HT?``                ``HT <V>`` (``HT OFF`` if off)  high tension
``HT <V>``/``HT OFF``  ``OK``                          high tension
``SHIFT?``             ``SHIFT <dy_nm> <dx_nm>``       probe unit
``SHIFT <dy> <dx>``    ``OK``                          probe unit
``BLANK?``             ``BLANK 0``/``BLANK 1``         probe unit
``BLANK 0``/``1``      ``OK``                          probe unit
``POS?``               ``POS <x_nm> <y_nm>``           stage
``MOVE <x> <y>``       ``OK`` (motion starts)          stage
``STATUS?``            ``IDLE``/``MOVING``             stage
``STOP``               ``OK``                          stage
=====================  ==============================  ==========================

Any refused request is answered ``ERR <reason>``.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from detectors.common.simbase import LineInstrument
from detectors.common.transport import LineChannel, Transport

from .config import HTConfig, ProbeShiftConfig, StageConfig
from detectors.common.errors import BadReply, DeviceTimeout, InstrumentError, LimitError, check_range, names_its_device
from .physics import ColumnPhysics


@names_its_device
class _LineDevice:
    """One-line request/reply over a transport; ``ERR`` replies raise :class:`InstrumentError`."""

    name = "device"

    def __init__(self, transport: Transport, timeout_s: float) -> None:
        self.channel = LineChannel(transport, b"\n")
        self.timeout_s = timeout_s

    def _query(self, command: str, prefix: str | None = None) -> list[str]:
        reply = self.channel.query(command, self.timeout_s)
        if reply.upper().startswith("ERR"):
            raise InstrumentError(f"{self.name} refused {command!r}: {reply!r}")
        words = reply.split()
        if prefix is not None and (not words or words[0] != prefix):
            raise BadReply(f"{self.name}: unexpected reply {reply!r} to {command!r}")
        return words[1:] if prefix is not None else words

    def _ok(self, command: str) -> None:
        words = self._query(command)
        if words != ["OK"]:
            raise BadReply(f"{self.name}: unexpected reply {' '.join(words)!r} to {command!r}")

    def _floats(self, command: str, prefix: str, n: int) -> tuple[float, ...]:
        words = self._query(command, prefix)
        try:
            values = tuple(float(w) for w in words)
        except ValueError:
            values = ()
        if len(values) != n:
            raise BadReply(f"{self.name}: expected {n} numbers after {prefix!r}, got {words!r}")
        return values


@names_its_device
class HighTension(_LineDevice):
    """High tension of the gun: one of the table's values (V) or off."""

    name = "high tension"

    def __init__(self, transport: Transport, config: HTConfig | None = None) -> None:
        self.config = config or HTConfig()
        super().__init__(transport, self.config.timeout_s)

    def high_tension_V(self) -> float:
        """Present HT, V (0.0 when off)."""
        words = self._query("HT?", "HT")
        if words == ["OFF"]:
            return 0.0
        try:
            (value,) = (float(w) for w in words)
        except ValueError:
            raise BadReply(f"high tension: unexpected reply {words!r} to 'HT?'") from None
        return value

    def set_high_tension_V(self, value_V: float) -> None:
        """Set one of ``config.choices_V`` (0 switches the HT off)."""
        if float(value_V) == 0.0:
            self.off()
            return
        if float(value_V) not in self.config.choices_V:
            choices = ", ".join(f"{v:.0f}" for v in self.config.choices_V)
            raise LimitError(f"high tension {value_V} V is not one of {choices} V (or 0 = off)")
        self._ok(f"HT {float(value_V):.0f}")

    def off(self) -> None:
        self._ok("HT OFF")


@names_its_device
class ProbeUnit(_LineDevice):
    """Probe shift (``CSH``, nm, microscope frame (dy, dx)) and beam blanker of the scan unit."""

    name = "probe unit"

    def __init__(self, transport: Transport, config: ProbeShiftConfig | None = None) -> None:
        self.config = config or ProbeShiftConfig()
        super().__init__(transport, self.config.timeout_s)

    def get_shift_nm(self) -> tuple[float, float]:
        dy, dx = self._floats("SHIFT?", "SHIFT", 2)
        return dy, dx

    def set_shift_nm(self, dy_nm: float, dx_nm: float) -> None:
        lim = self.config.limit_nm
        dy = check_range("probe shift y", dy_nm, -lim, lim, "nm")
        dx = check_range("probe shift x", dx_nm, -lim, lim, "nm")
        self._ok(f"SHIFT {dy:.3f} {dx:.3f}")

    def blanked(self) -> bool:
        words = self._query("BLANK?", "BLANK")
        if words not in (["0"], ["1"]):
            raise BadReply(f"probe unit: unexpected blank state {words!r}")
        return words == ["1"]

    def set_blanked(self, blanked: bool) -> None:
        self._ok(f"BLANK {1 if blanked else 0}")


@names_its_device
class Stage(_LineDevice):
    """Stage x/y in nm, with limits and move completion polled on an injected clock.

    Parameters
    ----------
    sleep, monotonic : callables
        Time base for polling (wall clock for hardware; the simulated column passes its
        :class:`~detectors.simulation.clock.SimClock`).
    """

    name = "stage"

    def __init__(self, transport: Transport, config: StageConfig | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config or StageConfig()
        super().__init__(transport, self.config.timeout_s)
        self._sleep = sleep
        self._monotonic = monotonic

    def position_nm(self) -> tuple[float, float]:
        """(x, y), nm."""
        x, y = self._floats("POS?", "POS", 2)
        return x, y

    def moving(self) -> bool:
        words = self._query("STATUS?")
        if words not in (["IDLE"], ["MOVING"]):
            raise BadReply(f"stage: unexpected status {words!r}")
        return words == ["MOVING"]

    def check_position(self, x_nm: float, y_nm: float) -> tuple[float, float]:
        c = self.config
        return (check_range("stage x", x_nm, *c.x_range_nm, "nm"),
                check_range("stage y", y_nm, *c.y_range_nm, "nm"))

    def move_to_nm(self, x_nm: float, y_nm: float, wait: bool = True) -> float:
        """Move to (x, y) nm; with ``wait`` poll until the stage is idle. Returns the time waited, s."""
        x, y = self.check_position(x_nm, y_nm)
        self._ok(f"MOVE {x:.1f} {y:.1f}")
        return self.wait_until_idle() if wait else 0.0

    def wait_until_idle(self) -> float:
        t0 = self._monotonic()
        while self.moving():
            if self._monotonic() - t0 > self.config.move_timeout_s:
                self.stop()
                raise DeviceTimeout(f"stage still moving after {self.config.move_timeout_s} s; stopped")
            self._sleep(self.config.poll_interval_s)
        return self._monotonic() - t0

    def stop(self) -> None:
        self._ok("STOP")


# ---------------------------------------------------------------------------------------------
def _numbers(args: list[str], n: int) -> list[float] | None:
    if len(args) != n:
        return None
    try:
        values = [float(a) for a in args]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


class _SimulatedColumnUnit(LineInstrument):
    """A unit of the simulated column on its own line: replies from the shared physics."""

    def __init__(self, physics: ColumnPhysics) -> None:
        super().__init__()
        self.physics = physics

    def handle_line(self, line: str) -> str:
        return self.reply(self.physics, line.split(), line)

    def reply(self, p: ColumnPhysics, words: list[str], line: str) -> str:
        raise NotImplementedError


class SimulatedHighTension(_SimulatedColumnUnit):
    """HT unit: accepts the table's values only."""

    def reply(self, p: ColumnPhysics, words: list[str], line: str) -> str:
        if words == ["HT?"]:
            return f"HT {p.ht_V:.0f}" if p.ht_on else "HT OFF"
        if words == ["HT", "OFF"]:
            p.high_tension_off()
            return "OK"
        if len(words) == 2 and words[0] == "HT":
            v = _numbers(words[1:], 1)
            if v is None or v[0] not in p.config.ht.table:
                return f"ERR bad value {words[1]}"
            p.set_high_tension(v[0])
            return "OK"
        return f"ERR unknown {line}"


class SimulatedProbeUnit(_SimulatedColumnUnit):
    """Scan unit's probe shift and blanker (hardware range ±10 µm)."""

    hardware_limit_nm = 10_000.0

    def reply(self, p: ColumnPhysics, words: list[str], line: str) -> str:
        if words == ["SHIFT?"]:
            return f"SHIFT {p.shift_nm[0]:.3f} {p.shift_nm[1]:.3f}"
        if words == ["BLANK?"]:
            return f"BLANK {1 if p.blanked else 0}"
        if words[:1] == ["SHIFT"]:
            v = _numbers(words[1:], 2)
            if v is None or max(abs(v[0]), abs(v[1])) > self.hardware_limit_nm:
                return "ERR bad shift"
            p.set_shift(v[0], v[1])
            return "OK"
        if words[:1] == ["BLANK"] and words[1:] in (["0"], ["1"]):
            p.set_blanked(words[1] == "1")
            return "OK"
        return f"ERR unknown {line}"


class SimulatedStage(_SimulatedColumnUnit):
    """Stage controller: moves at ``config.stage.speed_nm_per_s`` on the world clock."""

    def reply(self, p: ColumnPhysics, words: list[str], line: str) -> str:
        if words == ["POS?"]:
            x, y = p.stage_position_nm()
            return f"POS {x:.1f} {y:.1f}"
        if words == ["STATUS?"]:
            return "MOVING" if p.stage_moving() else "IDLE"
        if words == ["STOP"]:
            p.stop_stage()
            return "OK"
        if words[:1] == ["MOVE"]:
            v = _numbers(words[1:], 2)
            c = p.config.stage
            if v is None or not (c.x_range_nm[0] <= v[0] <= c.x_range_nm[1]
                                 and c.y_range_nm[0] <= v[1] <= c.y_range_nm[1]):
                return "ERR bad position"
            p.start_stage_move(v[0], v[1])
            return "OK"
        return f"ERR unknown {line}"
