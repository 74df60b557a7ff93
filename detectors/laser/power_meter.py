"""Thorlabs PM100 power meters (SCPI): driver, simulator and the two-meter transmission.

Wire format (SCPI over USB-TMC/VISA in the lab; here any transport, lines ending ``\\n``)
-------------------------------------------------------------------------------------
Set-up: ``SENS:POW:RANG:AUTO 1`` (``SENS:POW:RANG:AUTO?`` -> ``1``/``0``, queried in Orsay's
``Examples/Pw/hello_hardware.py``), ``CONF:POW``, ``SENS:AVER:COUN <n>``; wavelength correction
``SENS:CORR:WAV <nm>`` (re-sent only when λ changed by more than 0.1 nm); ``READ?`` -> power in
W as a float string (we report µW); ``FETC?`` the last reading; ``*IDN?``; ``SYST:ERR?``.
Settings are not answered (SCPI), queries are answered by one line.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from .config import PowerMeterConfig
from detectors.common.errors import BadReply, InstrumentError, LimitError, check_range, names_its_device
from .physics import LaserPhysics
from detectors.common.simbase import LineInstrument
from detectors.common.transport import LineChannel, Transport


@runtime_checkable
class PowerMeter(Protocol):
    """A power meter reading in µW with a wavelength correction in nm."""

    def averaging(self) -> int:
        """Number of samples averaged per reading, as the meter reports it."""
        ...

    def set_wavelength_nm(self, wavelength_nm: float, force: bool = False) -> bool: ...

    def read_power_uW(self) -> float: ...


@names_its_device
class ThorlabsPM100:
    """Driver of a Thorlabs PM100 power meter.

    Parameters
    ----------
    transport : Transport
        Line transport to the meter.
    config : PowerMeterConfig
        Wavelength-correction range (nm), averaging, timeout.
    initialise : bool
        Send auto-range, power mode and the configured averaging.
    """

    def __init__(self, transport: Transport, config: PowerMeterConfig | None = None, *,
                 initialise: bool = True) -> None:
        self.config = config or PowerMeterConfig()
        self.channel = LineChannel(transport, b"\n")
        self._wavelength_nm: float | None = None
        self._averaging: int | None = None
        if initialise:
            self.channel.send("SENS:POW:RANG:AUTO 1")
            self.channel.send("CONF:POW")
            self.set_averaging(self.config.averaging)

    def identify(self) -> str:
        """The ``*IDN?`` string."""
        return self.channel.query("*IDN?", self.config.timeout_s)

    def check_error(self) -> None:
        """Raise :class:`InstrumentError` if the meter's error queue is not empty."""
        reply = self.channel.query("SYST:ERR?", self.config.timeout_s)
        code, _, text = reply.partition(",")
        try:
            value = int(code)
        except ValueError as exc:
            raise BadReply(f"unexpected SYST:ERR? reply {reply!r}") from exc
        if value != 0:
            raise InstrumentError(f"power meter error {value}: {text.strip(chr(34))}")

    def set_averaging(self, count: int) -> None:
        """Number of samples averaged per reading (1 … ``config.max_averaging``)."""
        if int(count) != count:
            raise LimitError(f"averaging count {count} is not an integer")
        check_range("averaging count", count, 1, self.config.max_averaging, "samples")
        self.channel.send(f"SENS:AVER:COUN {int(count)}")
        self._averaging = int(count)

    def auto_range(self) -> bool:
        """True when the power range is automatic (``SENS:POW:RANG:AUTO?``)."""
        reply = self.channel.query("SENS:POW:RANG:AUTO?", self.config.timeout_s)
        if reply.strip() not in ("0", "1"):
            raise BadReply(f"unexpected SENS:POW:RANG:AUTO? reply {reply!r} (expected 1 or 0)")
        return reply.strip() == "1"

    def averaging(self) -> int:
        """Number of samples averaged per reading, as the meter reports it."""
        return int(self._parse(self.channel.query("SENS:AVER:COUN?", self.config.timeout_s),
                               "averaging"))

    def set_wavelength_nm(self, wavelength_nm: float, force: bool = False) -> bool:
        """Set the wavelength correction, nm.

        Sent only if it differs by more than ``config.wavelength_tolerance_nm`` from the last
        value set (or ``force``). Returns True if a command was sent.
        """
        wl = check_range("power meter wavelength", wavelength_nm, self.config.min_wavelength_nm,
                         self.config.max_wavelength_nm, "nm")
        if (not force and self._wavelength_nm is not None
                and abs(wl - self._wavelength_nm) <= self.config.wavelength_tolerance_nm):
            return False
        self.channel.send(f"SENS:CORR:WAV {wl:.2f}")
        self._wavelength_nm = wl
        return True

    def wavelength_nm(self) -> float:
        """The wavelength correction the meter uses, nm."""
        return self._parse(self.channel.query("SENS:CORR:WAV?", self.config.timeout_s), "wavelength")

    @staticmethod
    def _parse(reply: str, what: str) -> float:
        try:
            return float(reply)
        except ValueError as exc:
            raise BadReply(f"unexpected {what} reply {reply!r}") from exc

    def read_power_uW(self) -> float:
        """Trigger a measurement and return the power in µW."""
        return 1e6 * self._parse(self.channel.query("READ?", self.config.timeout_s), "power")

    def fetch_power_uW(self) -> float:
        """The last measured power in µW (no new measurement)."""
        return 1e6 * self._parse(self.channel.query("FETC?", self.config.timeout_s), "power")


def read_transmission(before: PowerMeter, after: PowerMeter) -> tuple[float, float, float]:
    """Read both meters and return ``(P_before_uW, P_after_uW, transmission)``.

    The transmission is ``P_after / P_before`` (NaN if ``P_before <= 0``).
    """
    p_in = before.read_power_uW()
    p_out = after.read_power_uW()
    return p_in, p_out, (p_out / p_in if p_in > 0 else float("nan"))


_ALIASES = {"WAVE": "WAV", "POWE": "POW"}


def _scpi_key(header: str) -> str:
    """Reduce an SCPI header to our canonical short form (``SENSE:AVERAGE:COUNT`` -> ``AVER:COUN``)."""
    query = header.endswith("?")
    tokens = [t for t in header.rstrip("?").upper().split(":") if t]
    if tokens and tokens[0].startswith("SENS"):
        tokens = tokens[1:]
    short = [t if t.startswith("*") else _ALIASES.get(t[:4], t[:4]) for t in tokens]
    return ":".join(short) + ("?" if query else "")


class SimulatedPM100(LineInstrument):
    """SCPI front-end of a simulated PM100 placed ``"in"`` (before) or ``"out"`` (after) the column."""

    def __init__(self, physics: LaserPhysics, position: str = "in") -> None:
        super().__init__()
        if position not in ("in", "out"):
            raise ValueError(f"meter position must be 'in' or 'out', got {position!r}")
        self.physics = physics
        self.position = position
        self.wavelength_nm = 633.0
        self.averaging = 1
        self.auto_range = True
        self.last_W = 0.0
        self.errors: list[str] = []

    def handle_line(self, line: str) -> str | None:
        header, _, arg = line.strip().partition(" ")
        key = _scpi_key(header)
        if key == "*IDN?":
            return f"Thorlabs,PM100USB,SIM-{self.position.upper()},1.7.0"
        if key == "SYST:ERR?":
            return self.errors.pop(0) if self.errors else '0,"No error"'
        if key in ("READ?", "MEAS:POW?", "MEAS?"):
            self.last_W = 1e-6 * self.physics.meter_reading_uW(self.position, self.wavelength_nm,
                                                               self.averaging)
            return f"{self.last_W:.6E}"
        if key == "FETC?":
            return f"{self.last_W:.6E}"
        if key == "CORR:WAV?":
            return f"{self.wavelength_nm:.2f}"
        if key == "AVER:COUN?":
            return str(self.averaging)
        if key == "POW:RANG:AUTO?":
            return "1" if self.auto_range else "0"
        try:
            if key == "CORR:WAV":
                value = float(arg)
                if not 400.0 <= value <= 1100.0:
                    raise ValueError
                self.wavelength_nm = value
            elif key == "AVER:COUN":
                self.averaging = max(1, int(arg))
            elif key == "POW:RANG:AUTO":
                word = arg.strip().upper()
                if word not in ("0", "1", "ON", "OFF"):
                    raise ValueError
                self.auto_range = word in ("1", "ON")
            elif key not in ("CONF:POW", "CONF", "*RST", "*CLS"):
                self.errors.append('-113,"Undefined header"')
        except ValueError:
            self.errors.append('-222,"Data out of range"')
        return None
