"""Lens power supply (objective, C1, C2): driver, simulator, objective thermal model.

Wire format (serial 57600 8N1, ASCII, requests end with ``\\r``)
-------------------------------------------------------------
NSLumiere's client (``nionswift_plugin/lenses/lens_ps.py``) reads 7 bytes of echo, the current
and voltage up to each ``,``, then ``readline()`` — up to ``\\n`` — for the rest, and reads every
other reply with ``readline()`` too: so a reply line ends with ``\\r\\n`` [I: the ``\\r``]. The
driver reads up to ``\\r`` and drops the ``\\n`` wherever it lands.

- Query channel ``c`` (1 objective, 2 C1, 3 C2): ``>1,2,c``. The supply echoes the request
  line (7 bytes for a one-digit channel), then answers ``<current A>,<voltage V>,<status>``.
- Set: ``>1,1,c,<current A>,0.5`` (current with 6 decimals, as NSLumiere saves and sends it;
  last field fixed at 0.5 [I: ramp/compliance]); echo, then the same
  ``<current>,<voltage>,<status>`` line with the new values.
- Unlock (sent once at start): ``>1,11,255,1``; echo, then ``OK``.
- [I] Errors: echo, then a line starting with ``E`` (``E,LOCKED``, ``E,RANGE``, ``E,SYNTAX``).
"""
from __future__ import annotations

import math
import re

from detectors.common.simbase import LineInstrument
from detectors.common.transport import Transport

from .config import LensConfig
from detectors.common.errors import BadReply, InstrumentError, check_range, names_its_device
from .physics import ColumnPhysics

LENS_CHANNELS: dict[str, int] = {"OL": 1, "C1": 2, "C2": 3}
_REPLY = re.compile(r"^\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*,")


class ObjectiveThermalModel:
    """First-order thermal estimate of the objective lens temperature from its current history.

    ``dT/dt = (T_ss(I) − T) / tau_s`` with ``T_ss(I) = ambient_C + heating_C_per_A2 · I²``; the
    current is piecewise constant between :meth:`set_current` calls, so the update is exact:
    ``T(t + dt) = T_ss + (T − T_ss) · exp(−dt / tau_s)``.

    Parameters
    ----------
    config : LensConfig
        ``ambient_C``, ``heating_C_per_A2``, ``tau_s``.
    now_s : float
        Time of the first current, s.
    current_A : float
        Present objective current, A.
    temperature_C : float, optional
        Present temperature; default: the steady state of ``current_A`` (the lens has been on).

    Examples
    --------
    >>> from detectors.vg_lumiere.config import LensConfig
    >>> m = ObjectiveThermalModel(LensConfig(ambient_C=20, heating_C_per_A2=1, tau_s=10), 0.0, 0.0)
    >>> m.set_current(0.0, 5.0)
    >>> round(m.temperature_C(10.0), 3)   # 20 + 25 (1 - 1/e)
    35.803
    """

    def __init__(self, config: LensConfig, now_s: float, current_A: float,
                 temperature_C: float | None = None) -> None:
        self.config = config
        self._t = float(now_s)
        self._current = float(current_A)
        self._temperature = self.steady_state_C(current_A) if temperature_C is None else float(temperature_C)

    def steady_state_C(self, current_A: float) -> float:
        c = self.config
        return c.ambient_C + c.heating_C_per_A2 * float(current_A) ** 2

    def temperature_C(self, now_s: float) -> float:
        """Estimated temperature at ``now_s`` (≥ the last update), °C."""
        dt = max(0.0, float(now_s) - self._t)
        ss = self.steady_state_C(self._current)
        return ss + (self._temperature - ss) * math.exp(-dt / self.config.tau_s)

    def set_current(self, now_s: float, current_A: float) -> None:
        """Record that the current became ``current_A`` at ``now_s``."""
        self._temperature = self.temperature_C(now_s)
        self._t = max(self._t, float(now_s))
        self._current = float(current_A)

    @property
    def current_A(self) -> float:
        return self._current


@names_its_device
class LensSupply:
    """Driver of the lens power supply.

    Parameters
    ----------
    transport : Transport
        Serial line (57600 8N1) or a transport to the simulator.
    config : LensConfig
        Current limits (objective 0–9.5 A, condensers 0–1.5 A), compliance field, timeout.
    unlock : bool
        Send the unlock command ``>1,11,255,1`` at start.
    """

    def __init__(self, transport: Transport, config: LensConfig | None = None, *, unlock: bool = True) -> None:
        self.transport = transport
        self.config = config or LensConfig()
        if unlock:
            reply = self._exchange(">1,11,255,1")
            if reply.strip().upper() != "OK":
                raise BadReply(f"lens supply: unexpected reply {reply!r} to unlock")

    def _exchange(self, command: str) -> str:
        t = self.transport
        t.reset_input()
        request = command.encode("ascii") + b"\r"
        t.write(request)
        echo = t.read_until(b"\r", self.config.timeout_s).lstrip(b"\n")
        if echo != request:
            raise BadReply(f"lens supply: echo {echo!r} does not match the request {request!r}")
        raw = t.read_until(b"\r", self.config.timeout_s).lstrip(b"\n")
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise BadReply(f"lens supply: non-ASCII reply {raw!r}") from exc
        if line.upper().startswith("E"):
            raise InstrumentError(f"lens supply refused {command!r}: {line!r}")
        return line

    @staticmethod
    def channel(lens: str) -> int:
        try:
            return LENS_CHANNELS[lens]
        except KeyError:
            raise ValueError(f"unknown lens {lens!r}; lenses: {', '.join(LENS_CHANNELS)}") from None

    def limit_A(self, lens: str) -> float:
        return self.config.objective_max_A if lens == "OL" else self.config.condenser_max_A

    def _parse(self, line: str) -> tuple[float, float]:
        m = _REPLY.match(line)
        if not m:
            raise BadReply(f"lens supply: cannot parse {line!r} as '<current>,<voltage>,…'")
        return float(m.group(1)), float(m.group(2))

    def read(self, lens: str) -> tuple[float, float]:
        """(current A, voltage V) of ``lens`` (``"OL"``, ``"C1"``, ``"C2"``)."""
        return self._parse(self._exchange(f">1,2,{self.channel(lens)}"))

    def current_A(self, lens: str) -> float:
        return self.read(lens)[0]

    def check_current(self, lens: str, current_A: float) -> float:
        """Return ``current_A`` or raise :class:`LimitError` (nothing sent)."""
        return check_range(f"{lens} current", current_A, 0.0, self.limit_A(lens), "A")

    def set_current_A(self, lens: str, current_A: float) -> float:
        """Set ``lens`` to ``current_A``; returns the current the supply reports, A."""
        value = self.check_current(lens, current_A)
        got, _ = self._parse(self._exchange(f">1,1,{self.channel(lens)},{value:.6f},{self.config.compliance}"))
        if abs(got - value) > 1e-3:
            raise InstrumentError(f"lens supply set {lens} to {got} A instead of {value} A")
        return got


class SimulatedLensSupply(LineInstrument):
    """The lens supply's bytes on top of :class:`ColumnPhysics` (hardware limit 10 A)."""

    terminator = b"\r"
    hardware_max_A = 10.0

    def __init__(self, physics: ColumnPhysics) -> None:
        super().__init__()
        self.physics = physics

    def handle(self, request: bytes) -> bytes | None:
        if not request.strip():
            return None
        line = self.handle_line(request.decode("ascii", errors="replace").strip())
        return request + b"\r" + line.encode("ascii") + b"\r\n"

    def garble(self, reply: bytes) -> bytes:
        return b"\x15\x7f>1?" + b"\r" + b"#garbage\r"

    def handle_line(self, line: str) -> str:
        p = self.physics
        fields = line.lstrip(">").split(",")
        if not line.startswith(">") or len(fields) < 3 or fields[0] != "1":
            return "E,SYNTAX"
        if fields[1:] == ["11", "255", "1"]:
            p.lens_unlocked = True
            return "OK"
        try:
            channel = int(fields[2])
        except ValueError:
            return "E,SYNTAX"
        if channel not in p.lens_currents_A:
            return "E,CHANNEL"
        if fields[1] == "2" and len(fields) == 3:
            pass
        elif fields[1] == "1" and len(fields) == 5:
            if not p.lens_unlocked:
                return "E,LOCKED"
            try:
                value = float(fields[3])
            except ValueError:
                return "E,SYNTAX"
            if not 0.0 <= value <= self.hardware_max_A:
                return "E,RANGE"
            with p.lock:
                p.lens_currents_A[channel] = value
        else:
            return "E,SYNTAX"
        return f"{p.lens_currents_A[channel]:.6f},{p.lens_voltage_V(channel):.3f},0"
