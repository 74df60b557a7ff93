"""Spectra-Physics pump laser power supply (shutter, diode, diode currents): driver + simulator.

Wire format (serial 57600 8N1, ASCII lines ending ``\\n``)
-------------------------------------------------------
Queries, answered by one line: ``?SHT`` -> ``OPEN``/``CLOSED``, ``?D`` -> ``ON``/``OFF``, ``?G``
(gate) -> ``OPEN``/``CLOSED``, ``?C1``/``?C2`` -> diode current in A (``0.10``), ``?T1``/``?T2``
-> temperature in °C. Settings, each answered by one line that Orsay's client reads and
discards: ``SHT:1``/``SHT:0``, ``D:1``/``D:0``, ``G:1``/``G:0``, ``Q:0``, ``C1:<A, 2 decimals>``,
``C2:<A>``. Source: ``OrsayDev/OrsayLaser`` ``SirahCredoServer/power_supply.py`` (client),
``virtualInstruments/power_supply_vi.py`` (its simulated supply: ``?G`` -> ``OPEN``/``CLOSED``)
and ``nionswift_plugin/laser_mod/gain_inst.py`` (compares ``?D`` with ``ON``, ``?G`` and ``?SHT``
with ``OPEN``/``CLOSED``). What a setting's reply line holds is not recorded: our simulator
answers ``OK`` and unknown commands ``ERR <command>`` [I]; the driver accepts any reply line
except one starting with ``ERR``.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .config import PumpConfig
from detectors.common.errors import BadReply, InstrumentError, check_range, names_its_device
from .physics import LaserPhysics
from detectors.common.simbase import LineInstrument
from detectors.common.transport import LineChannel, Transport


@runtime_checkable
class PumpSupply(Protocol):
    """Pump laser: shutter, diode and diode current (A)."""

    max_current_A: float

    def set_shutter(self, open_: bool) -> None: ...

    def shutter_open(self) -> bool: ...

    def set_diode(self, on: bool) -> None: ...

    def diode_on(self) -> bool: ...

    def set_current_A(self, current_A: float, channel: int | None = None) -> None: ...

    def current_A(self, channel: int = 1) -> float: ...

    def make_safe(self) -> None: ...


def _parse_bool(reply: str, true: str, false: str, what: str) -> bool:
    word = reply.strip().upper()
    if word in (true, "1"):
        return True
    if word in (false, "0"):
        return False
    raise BadReply(f"unexpected {what} reply {reply!r} (expected {true}/{false})")


def _parse_float(reply: str, what: str) -> float:
    try:
        return float(reply.strip().rstrip("ACac°").strip())
    except ValueError as exc:
        raise BadReply(f"unexpected {what} reply {reply!r} (expected a number)") from exc


@names_its_device
class SpectraPhysicsPump:
    """Driver of the Spectra-Physics pump power supply.

    Parameters
    ----------
    transport : Transport
        Serial line, 57600 8N1.
    config : PumpConfig
        Hard current limit ``max_current_A`` (A), safe current, ramp.
    sleep : callable
        Waiting between ramp steps (``time.sleep``; the simulated bench passes ``SimClock.sleep``).
    """

    def __init__(self, transport: Transport, config: PumpConfig | None = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or PumpConfig()
        self.channel = LineChannel(transport, b"\n")
        self._sleep = sleep

    @property
    def max_current_A(self) -> float:
        return self.config.max_current_A

    # -- low level ------------------------------------------------------------------------------
    def _set(self, command: str) -> None:
        reply = self.channel.query(command, self.config.timeout_s)
        if reply.upper().startswith("ERR"):
            raise InstrumentError(f"power supply refused {command!r}: {reply!r}")

    def _query(self, command: str) -> str:
        reply = self.channel.query(command, self.config.timeout_s)
        if reply.upper().startswith("ERR"):
            raise InstrumentError(f"power supply refused {command!r}: {reply!r}")
        return reply

    # -- shutter / diode / gate -----------------------------------------------------------------
    def set_shutter(self, open_: bool) -> None:
        """Open (True) or close (False) the laser shutter."""
        self._set("SHT:1" if open_ else "SHT:0")

    def shutter_open(self) -> bool:
        return _parse_bool(self._query("?SHT"), "OPEN", "CLOSED", "shutter")

    def set_diode(self, on: bool) -> None:
        """Switch the pump diode on or off."""
        self._set("D:1" if on else "D:0")

    def diode_on(self) -> bool:
        return _parse_bool(self._query("?D"), "ON", "OFF", "diode")

    def set_gate(self, on: bool) -> None:
        """Open (True) or close (False) the gate."""
        self._set("G:1" if on else "G:0")

    def gate_on(self) -> bool:
        """True when the gate is open (``?G`` -> ``OPEN``)."""
        return _parse_bool(self._query("?G"), "OPEN", "CLOSED", "gate")

    def temperature_C(self, channel: int = 1) -> float:
        """Diode temperature of ``channel`` (1 or 2), °C."""
        self._check_channel(channel)
        return _parse_float(self._query(f"?T{channel}"), "temperature")

    # -- current --------------------------------------------------------------------------------
    @staticmethod
    def _check_channel(channel: int) -> None:
        if channel not in (1, 2):
            raise ValueError(f"diode channel {channel} must be 1 or 2")

    def check_current(self, current_A: float) -> float:
        """Return ``current_A`` or raise :class:`LimitError` (nothing is sent)."""
        return check_range("diode current", current_A, 0.0, self.config.max_current_A, "A")

    def set_current_A(self, current_A: float, channel: int | None = None) -> None:
        """Set the diode current, A (both channels if ``channel`` is None).

        Raises :class:`LimitError` above ``config.max_current_A`` before anything is sent.
        """
        value = self.check_current(current_A)
        channels = (1, 2) if channel is None else (channel,)
        for c in channels:
            self._check_channel(c)
        for c in channels:
            self._set(f"C{c}:{value:.2f}")

    def current_A(self, channel: int = 1) -> float:
        """Diode current of ``channel``, A."""
        self._check_channel(channel)
        return _parse_float(self._query(f"?C{channel}"), "current")

    def ramp_current_A(self, target_A: float, steps: int | None = None,
                       interval_s: float | None = None,
                       abort: Callable[[], bool] | None = None) -> float:
        """Ramp both channels linearly from their present mean current to ``target_A``.

        Returns the last current set, A (earlier than the target if ``abort()`` became true).
        """
        target = self.check_current(target_A)
        steps = self.config.ramp_steps if steps is None else int(steps)
        interval_s = self.config.ramp_interval_s if interval_s is None else interval_s
        start = 0.5 * (self.current_A(1) + self.current_A(2))
        value = start
        for value in np.linspace(start, target, steps + 1)[1:]:
            if abort is not None and abort():
                break
            self.set_current_A(float(value))
            self._sleep(interval_s)
        return float(value)

    def startup_check(self) -> bool:
        """As at power-up in the lab: if a current exceeds ``startup_limit_A``, ramp both down to
        ``safe_current_A`` and switch diode, gate and Q-switch off. Returns True if it acted."""
        currents = (self.current_A(1), self.current_A(2))
        if max(currents) <= self.config.startup_limit_A:
            return False
        self.ramp_current_A(self.config.safe_current_A)
        self.set_diode(False)
        self.set_gate(False)
        self._set("Q:0")
        return True

    def make_safe(self) -> None:
        """Close the shutter, ramp the current to the safe value, switch the diode off."""
        self.set_shutter(False)
        self.ramp_current_A(self.config.safe_current_A)
        self.set_diode(False)


class SimulatedPumpSupply(LineInstrument):
    """The power supply's ASCII protocol on top of :class:`LaserPhysics`."""

    #: the simulated supply's own absolute maximum, A (above the site limit)
    hardware_max_current_A = 12.0

    def __init__(self, physics: LaserPhysics) -> None:
        super().__init__()
        self.physics = physics

    def handle_line(self, line: str) -> str | None:
        p = self.physics
        cmd = line.strip().upper()
        if cmd == "?SHT":
            return "OPEN" if p.state.shutter_open else "CLOSED"
        if cmd == "?D":
            return "ON" if p.state.diode_on else "OFF"
        if cmd == "?G":
            return "OPEN" if p.gate_on else "CLOSED"
        if cmd in ("?C1", "?C2"):
            return f"{p.currents_A[int(cmd[2]) - 1]:.2f}"
        if cmd in ("?T1", "?T2"):
            return f"{p.temperatures_C[int(cmd[2]) - 1]:.2f}"
        key, sep, arg = cmd.partition(":")
        if not sep:
            return f"ERR {line}"
        if key in ("SHT", "D", "G", "Q") and arg in ("0", "1"):
            if key == "SHT":
                p.set_shutter(arg == "1")
            elif key == "D":
                p.set_diode(arg == "1")
            elif key == "G":
                p.gate_on = arg == "1"
            else:
                p.q_switch = arg == "1"
            return "OK"
        if key in ("C1", "C2"):
            try:
                value = float(arg)
            except ValueError:
                return f"ERR {line}"
            if not 0 <= value <= self.hardware_max_current_A:
                return f"ERR {line}"
            p.set_current(int(key[1]), value)
            return "OK"
        return f"ERR {line}"
