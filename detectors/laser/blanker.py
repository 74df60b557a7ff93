"""Laser/electron-beam synchronisation box (fast blanker, TCP ASCII): driver and simulator.

Wire format (TCP, lines ending ``\\n``)
------------------------------------
The lab's HV deflector box (``OrsayDev/OrsayLaser`` ``SirahCredoServer/hv.py``, whose docstring
lists the box's commands, and ``Examples/HVCtrl/hv.py``) answers ``*IDN?`` and ``CMD?`` and takes
``HV+ <int %>``, ``HV- <int %>`` (100 % ≈ 1000 V; both 0 at power-on), ``HV:MON?`` (reply holds
``+<n>%`` and ``-<n>%``). Orsay's clients send ``CMD?`` with no terminator and
``HV+ x\\nHV- x`` with the second command unterminated, so the box takes the end of a TCP packet
as the end of a command [I: how it delimits is not recorded]; the simulator does the same.
The timing commands below are **our own definition** for the gating parameters (the public
code does not show them): ``DLY <ns>`` /
``DLY?`` delay after the trigger, ``WID <ns>`` / ``WID?`` light window, ``RATE <Hz>`` / ``RATE?``
repetition rate, ``GATE 1|0`` / ``GATE?`` gating on/off. Settings are not answered; the driver
reads every setting back.

The duty cycle (fraction of electrons that see light) is ``width × rate``; with gating off the
illumination is continuous (duty cycle 1).
"""
from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from .config import BlankerConfig
from detectors.common.errors import BadReply, InstrumentError, LimitError, check_range, names_its_device
from .physics import LaserPhysics
from detectors.common.simbase import LineInstrument
from detectors.common.transport import LineChannel, Transport


@dataclasses.dataclass(frozen=True)
class SyncTiming:
    """Gating parameters: delay and width in ns, repetition rate in Hz."""

    delay_ns: float
    width_ns: float
    rate_Hz: float

    @property
    def duty_cycle(self) -> float:
        """Fraction of time the light window is open: ``width_ns·1e-9 × rate_Hz``."""
        return self.width_ns * 1e-9 * self.rate_Hz

    @property
    def period_ns(self) -> float:
        return 1e9 / self.rate_Hz


@runtime_checkable
class BeamSync(Protocol):
    def set_timing(self, delay_ns: float | None = None, width_ns: float | None = None,
                   rate_Hz: float | None = None) -> SyncTiming: ...

    def timing(self) -> SyncTiming: ...

    def set_gating(self, on: bool) -> None: ...

    def duty_cycle(self) -> float: ...


@names_its_device
class BlankerBox:
    """Driver of the synchronisation box.

    Parameters
    ----------
    transport : Transport
        TCP connection (``config.host``, ``config.port``).
    config : BlankerConfig
        Limits of delay (ns), width (ns), rate (Hz).
    """

    def __init__(self, transport: Transport, config: BlankerConfig | None = None) -> None:
        self.config = config or BlankerConfig()
        self.channel = LineChannel(transport, b"\n")

    def _query_float(self, command: str) -> float:
        reply = self.channel.query(command, self.config.timeout_s)
        try:
            return float(reply)
        except ValueError as exc:
            raise BadReply(f"unexpected {command} reply {reply!r}") from exc

    def identify(self) -> str:
        return self.channel.query("*IDN?", self.config.timeout_s)

    def timing(self) -> SyncTiming:
        """Read delay, width and rate from the box."""
        return SyncTiming(self._query_float("DLY?"), self._query_float("WID?"),
                          self._query_float("RATE?"))

    def check_timing(self, timing: SyncTiming) -> SyncTiming:
        """Raise :class:`LimitError` unless every value is in range and delay + width fit in
        one period."""
        c = self.config
        check_range("delay", timing.delay_ns, c.min_delay_ns, c.max_delay_ns, "ns")
        check_range("width", timing.width_ns, c.min_width_ns, c.max_width_ns, "ns")
        check_range("repetition rate", timing.rate_Hz, c.min_rate_Hz, c.max_rate_Hz, "Hz")
        if timing.delay_ns + timing.width_ns > timing.period_ns:
            raise LimitError(f"delay {timing.delay_ns} ns + width {timing.width_ns} ns exceed the "
                             f"period {timing.period_ns} ns at {timing.rate_Hz} Hz")
        return timing

    def set_timing(self, delay_ns: float | None = None, width_ns: float | None = None,
                   rate_Hz: float | None = None) -> SyncTiming:
        """Set any of delay (ns), width (ns), rate (Hz); others keep their present value.

        All values are checked together before anything is sent; returns the timing read back.
        """
        c = self.config
        if delay_ns is not None:
            check_range("delay", delay_ns, c.min_delay_ns, c.max_delay_ns, "ns")
        if width_ns is not None:
            check_range("width", width_ns, c.min_width_ns, c.max_width_ns, "ns")
        if rate_Hz is not None:
            check_range("repetition rate", rate_Hz, c.min_rate_Hz, c.max_rate_Hz, "Hz")
        present = self.timing() if None in (delay_ns, width_ns, rate_Hz) else None
        new = SyncTiming(
            float(delay_ns) if delay_ns is not None else present.delay_ns,
            float(width_ns) if width_ns is not None else present.width_ns,
            float(rate_Hz) if rate_Hz is not None else present.rate_Hz,
        )
        self.check_timing(new)
        # order the writes so that no intermediate state overruns the period
        self.channel.send(f"WID {new.width_ns:.1f}")
        self.channel.send(f"DLY {new.delay_ns:.1f}")
        self.channel.send(f"RATE {new.rate_Hz:.3f}")
        back = self.timing()
        if (abs(back.delay_ns - new.delay_ns) > 0.1 or abs(back.width_ns - new.width_ns) > 0.1
                or abs(back.rate_Hz - new.rate_Hz) > 1e-3 * new.rate_Hz):
            raise InstrumentError(f"sync box reports {back} after setting {new}")
        return back

    def set_gating(self, on: bool) -> None:
        """Gate the light to the window (True) or illuminate continuously (False)."""
        self.channel.send("GATE 1" if on else "GATE 0")
        if self.gating_on() != bool(on):
            raise InstrumentError(f"sync box did not switch gating {'on' if on else 'off'}")

    def gating_on(self) -> bool:
        reply = self.channel.query("GATE?", self.config.timeout_s)
        if reply not in ("0", "1"):
            raise BadReply(f"unexpected GATE? reply {reply!r}")
        return reply == "1"

    def duty_cycle(self) -> float:
        """Fraction of electrons that see light: width × rate if gating, else 1."""
        return self.timing().duty_cycle if self.gating_on() else 1.0

    def set_hv_percent(self, plus_percent: int, minus_percent: int) -> None:
        """Deflector outputs in % of full scale (100 % ≈ 1000 V), each 0–100."""
        p = int(check_range("HV+ output", plus_percent, 0, 100, "%"))
        m = int(check_range("HV- output", minus_percent, 0, 100, "%"))
        self.channel.send(f"HV+ {p}")
        self.channel.send(f"HV- {m}")


class SimulatedBlanker(LineInstrument):
    """The sync box's protocol on top of :class:`LaserPhysics` (sets ``LaserState.duty_cycle``)."""

    def __init__(self, physics: LaserPhysics) -> None:
        super().__init__()
        self.physics = physics

    def _split_requests(self) -> list[bytes]:
        lines = super()._split_requests()
        if self._rx.strip():  # a packet's unterminated tail is one command (see module docstring)
            lines.append(bytes(self._rx))
        self._rx.clear()
        return lines

    def handle_line(self, line: str) -> str | None:
        p = self.physics
        head, _, arg = line.strip().partition(" ")
        head = head.upper()
        queries = {"*IDN?": lambda: "LUMIERE-SYNC,SIM,0,1.0", "DLY?": lambda: f"{p.delay_ns:.1f}",
                   "WID?": lambda: f"{p.width_ns:.1f}", "RATE?": lambda: f"{p.rate_Hz:.3f}",
                   "GATE?": lambda: "1" if p.gating else "0",
                   "HV:MON?": lambda: f"+{p.hv_percent[0]}% -{p.hv_percent[1]}%",
                   "CMD?": lambda: "COM"}
        if head in queries:
            return queries[head]()
        try:
            value = float(arg)
        except ValueError:
            return None
        if head == "DLY" and value >= 0:
            p.set_timing(delay_ns=value)
        elif head == "WID" and value > 0:
            p.set_timing(width_ns=value)
        elif head == "RATE" and value > 0:
            p.set_timing(rate_Hz=value)
        elif head == "GATE":
            p.set_timing(gating=value != 0)
        elif head in ("HV+", "HV-"):
            p.hv_percent[0 if head == "HV+" else 1] = int(min(max(value, 0), 100))
        return None
