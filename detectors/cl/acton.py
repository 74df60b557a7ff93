"""Princeton Instruments / Acton spectrometer: command layer and byte-level simulator.

Wire format (serial 9600 8N1; requests end with ``\\r``, replies end with `` ok\\r\\n``)
-------------------------------------------------------------------------------------
From the manufacturer's manual (IsoPlane SCT 320 manual, appendix A.4, same command set as the
SpectraPro/Acton SP series): a command is complete when the unit sends ``ok`` followed by CR LF
(``20 6F 6B 0D 0A``); the unit **echoes every character on RS-232 and does not echo over USB**;
``<GOTO>`` is the same as ``GOTO`` (for software written for older Acton models; NSLumiere's
driver sends ``<goto>`` in lower case). The driver works with and without the echo: the echo
(with its ``\\r``) is recognised as the request text and dropped.

==============================  ===========================================================
request                         reply (after the echo, if any)
==============================  ===========================================================
``?NM``                         ``<λ with 3 decimals> nm  ok``
``<λ, 3 decimals> GOTO``        `` ok`` once the move is done (also ``<GOTO>``)
``?GRATING``                    ``<1-based index>  ok``
``<n> GRATING``                 `` ok`` once the turret has turned
``?GRATINGS``                   one line per grating, ``<mark><n>  600 g/mm BLZ=  300NM ``
                                (lines/mm from column 4, as NSLumiere's ``gratingLPMM`` slices
                                ``line[4:8]``; mark ``\\x1a`` on the current one), then `` ok``
``SIDE-ENT-SLIT ?MICRONS``      ``<µm> um  ok`` (same for ``SIDE-EXIT-SLIT``)
``SIDE-ENT-SLIT <µm> MICRONS``  `` ok``
``EXIT-MIRROR ?MIRROR``         `` front  ok`` / `` side  ok`` (NSLumiere compares
                                ``line[1:6]`` with ``front``)
``EXIT-MIRROR FRONT|SIDE``      `` ok`` (a trailing ``<n> MS`` of the Orsay client is accepted)
==============================  ===========================================================

[I] A refused or unknown request ends with ``?`` (Acton monochromators answer ``?`` to what
they do not understand) -> :class:`InstrumentError`.
"""
from __future__ import annotations

import re
import threading

import numpy as np

from detectors.common.errors import BadReply, InstrumentError, LimitError, check_range, names_its_device
from detectors.common.simbase import LineInstrument
from detectors.common.transport import Transport
from detectors.simulation.clock import SimClock

from .config import CLConfig
from .geometry import Grating, LinearCalibration

SLITS = {"entrance": "SIDE-ENT-SLIT", "exit": "SIDE-EXIT-SLIT"}
MIRRORS = ("FRONT", "SIDE")
_NUMBER = r"([-+]?\d+(?:\.\d*)?)"
_GRATING_LINE = re.compile(r"(\d+)\s+(\d+(?:\.\d*)?)\s*g/mm\s+BLZ=\s*(\d+(?:\.\d*)?)\s*(NM|UM|nm|um)")


@names_its_device
class ActonSpectrometer:
    """Command layer of the Acton/Princeton spectrometer.

    Parameters
    ----------
    transport : Transport
        Serial line (9600 8N1) or a transport to the simulator.
    config : CLConfig
        Geometry and grating table (for the calibration), ranges, timeouts.

    Notes
    -----
    Moves (``GOTO``, ``GRATING``) answer when done; they are read with ``config.move_timeout_s``
    (the Orsay client used 60 s for everything), queries with ``config.timeout_s``.
    """

    def __init__(self, transport: Transport, config: CLConfig | None = None) -> None:
        self.transport = transport
        self.config = config or CLConfig()

    # -- low level ------------------------------------------------------------------------------
    def command(self, request: str, timeout_s: float | None = None) -> list[str]:
        """Send ``request``; return the reply lines (the echo, if the unit echoes, dropped), the
        ``ok`` stripped from the last. Raises :class:`InstrumentError` on a ``?`` reply,
        :class:`BadReply` on garbage."""
        t = self.transport
        t.reset_input()
        t.write(request.encode("ascii") + b"\r")
        timeout = self.config.timeout_s if timeout_s is None else timeout_s
        echo = request.strip().upper()
        lines: list[str] = []
        first = True
        for _ in range(64):
            raw = t.read_until(b"\n", timeout)
            try:
                decoded = raw.decode("ascii").replace("\x1a", " ")
            except UnicodeDecodeError as exc:
                raise BadReply(f"spectrometer: non-ASCII reply {raw!r} to {request!r}") from exc
            # an RS-232 echo ends with the request's own \r, not \r\n: split on both
            for part in decoded.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                text = part.strip()
                if not text:
                    continue
                if not text.isprintable():
                    raise BadReply(f"spectrometer: unprintable reply {raw!r} to {request!r}")
                if first and text.upper().startswith(echo):
                    text = text[len(echo):].strip()  # the echo
                first = False
                if not text:
                    continue
                if text.endswith("?"):
                    raise InstrumentError(f"spectrometer refused {request!r}: {text!r}")
                if text == "ok" or text.endswith(" ok"):
                    lines.append(text[:-2].strip())
                    return [line for line in lines if line]
                lines.append(text)
        raise BadReply(f"spectrometer: no 'ok' after 64 lines for {request!r}")

    # -- wavelength -----------------------------------------------------------------------------
    def wavelength_nm(self) -> float:
        """Centre wavelength, nm."""
        lines = self.command("?NM")
        m = re.search(_NUMBER + r"\s*nm", " ".join(lines), re.IGNORECASE)
        if not m:
            raise BadReply(f"spectrometer: no '<number> nm' in {lines!r}")
        return float(m.group(1))

    def check_wavelength(self, wavelength_nm: float) -> float:
        """Return ``wavelength_nm`` or raise :class:`LimitError` (nothing sent)."""
        return check_range("centre wavelength", wavelength_nm, *self.config.wavelength_range_nm, "nm")

    def goto_nm(self, wavelength_nm: float) -> float:
        """Move to ``wavelength_nm`` (refused outside the configured range); returns the new λ."""
        value = self.check_wavelength(wavelength_nm)
        self.command(f"{value:.3f} GOTO", self.config.move_timeout_s)
        return self.wavelength_nm()

    # -- gratings -------------------------------------------------------------------------------
    def grating_index(self) -> int:
        """Present grating, 1-based."""
        lines = self.command("?GRATING")
        try:
            return int(lines[-1].split()[0])
        except (IndexError, ValueError):
            raise BadReply(f"spectrometer: no grating index in {lines!r}") from None

    def set_grating(self, index: int) -> None:
        n = len(self.config.gratings)
        if not (isinstance(index, (int, float)) and index == int(index) and 1 <= index <= n):
            raise LimitError(f"grating {index!r} outside the allowed range 1–{n} (an integer)")
        self.command(f"{int(index)} GRATING", self.config.move_timeout_s)

    def gratings(self) -> list[Grating]:
        """The turret's gratings as the instrument lists them (``?GRATINGS``)."""
        out = []
        for line in self.command("?GRATINGS"):
            m = _GRATING_LINE.search(line)
            if not m:
                raise BadReply(f"spectrometer: cannot parse grating line {line!r}")
            blaze = float(m.group(3)) * (1000.0 if m.group(4).upper() == "UM" else 1.0)
            out.append(Grating(float(m.group(2)), blaze))
        return out

    def check_gratings(self) -> None:
        """Compare the instrument's gratings with the configuration (the calibration uses it)."""
        found = self.gratings()
        expected = list(self.config.gratings)
        if [(g.lines_per_mm, g.blaze_nm) for g in found[:len(expected)]] != \
                [(g.lines_per_mm, g.blaze_nm) for g in expected]:
            raise InstrumentError(f"spectrometer gratings {found} differ from the configuration {expected}")

    # -- slits and mirror -----------------------------------------------------------------------
    def slit_um(self, which: str = "entrance") -> float:
        lines = self.command(f"{self._slit(which)} ?MICRONS")
        m = re.search(_NUMBER, " ".join(lines))
        if not m:
            raise BadReply(f"spectrometer: no slit width in {lines!r}")
        return float(m.group(1))

    def set_slit_um(self, width_um: float, which: str = "entrance") -> None:
        name = self._slit(which)
        value = check_range(f"{which} slit", width_um, *self.config.slit_range_um, "µm")
        self.command(f"{name} {round(value)} MICRONS", self.config.move_timeout_s)

    @staticmethod
    def _slit(which: str) -> str:
        try:
            return SLITS[which]
        except KeyError:
            raise ValueError(f"slit {which!r} must be one of {sorted(SLITS)}") from None

    def exit_mirror(self) -> str:
        lines = self.command("EXIT-MIRROR ?MIRROR")
        word = " ".join(lines).split()[-1:] or [""]
        if word[0].upper() not in MIRRORS:
            raise BadReply(f"spectrometer: unexpected exit mirror {lines!r}")
        return word[0].upper()

    def set_exit_mirror(self, port: str) -> None:
        if port.upper() not in MIRRORS:
            raise ValueError(f"exit mirror {port!r} must be one of {MIRRORS}")
        self.command(f"EXIT-MIRROR {port.upper()}", self.config.move_timeout_s)

    # -- calibration ----------------------------------------------------------------------------
    def pixel_wavelengths_nm(self) -> np.ndarray:
        """Wavelength of every camera pixel for the present grating and centre, nm (non-linear)."""
        grating = self.config.grating(self.grating_index())
        return self.config.geometry.pixel_wavelengths_nm(grating, self.wavelength_nm())

    def linear_calibration(self) -> LinearCalibration:
        """(offset_nm, scale_nm) straight-line calibration of the camera axis, for Swift."""
        return LinearCalibration.fit(self.pixel_wavelengths_nm())


class SpectrographState:
    """Hidden state of the simulated spectrometer: grating, centre wavelength (moving on the
    world clock), slits, exit mirror. The simulated CL camera reads it."""

    def __init__(self, clock: SimClock, config: CLConfig) -> None:
        self.clock = clock
        self.config = config
        self.lock = threading.RLock()
        self.grating_index = config.initial_grating
        self.slits_um = {"entrance": config.initial_slit_um, "exit": config.initial_slit_um}
        self.exit_mirror = "FRONT"
        self._from_nm = self._to_nm = config.initial_center_nm
        self._t0 = self._t1 = clock.now_s()

    @property
    def grating(self) -> Grating:
        return self.config.grating(self.grating_index)

    def center_nm(self) -> float:
        """Centre wavelength now (linear during a move), nm."""
        with self.lock:
            t = self.clock.now_s()
            if t >= self._t1 or self._t1 <= self._t0:
                return self._to_nm
            f = (t - self._t0) / (self._t1 - self._t0)
            return self._from_nm + f * (self._to_nm - self._from_nm)

    def moving(self) -> bool:
        return self.clock.now_s() < self._t1

    def start_move(self, target_nm: float) -> float:
        """Start a move; returns its duration, s."""
        with self.lock:
            here = self.center_nm()
            c = self.config
            duration = abs(target_nm - here) / c.scan_speed_nm_per_s + c.move_settle_s
            self._from_nm, self._to_nm = here, float(target_nm)
            self._t0 = self.clock.now_s()
            self._t1 = self._t0 + duration
            return duration


class SimulatedActon(LineInstrument):
    """The spectrometer's bytes on :class:`SpectrographState`; moves wait on the world clock.

    ``echo=True`` behaves like the RS-232 port (every received character is sent back, the
    ``\\r`` included, before the reply), ``echo=False`` like the USB port (the default; NSLumiere's
    client parses the first line as the reply, so it ran without echo)."""

    terminator = b"\r"
    hardware_slit_um = (0.0, 5000.0)

    def __init__(self, state: SpectrographState, echo: bool = False) -> None:
        super().__init__()
        self.state = state
        self.echo = echo

    def handle(self, request: bytes) -> bytes | None:
        text = request.decode("ascii", errors="replace").strip()
        echo = request + self.terminator if self.echo else b""
        if not text:
            return echo or None
        lines = self.handle_line(text)
        return echo + "".join(line + "\r\n" for line in lines).encode("ascii")

    def garble(self, reply: bytes) -> bytes:
        return b"\x15#garbage\x7f\r\n"

    def handle_line(self, line: str) -> list[str]:  # type: ignore[override]
        s = self.state
        words = line.upper().split()
        if words == ["?NM"]:
            return [f"{s.center_nm():.3f} nm  ok"]
        if words == ["?GRATING"]:
            return [f"{s.grating_index}  ok"]
        if words == ["?GRATINGS"]:
            out = []
            for i, g in enumerate(s.config.gratings, start=1):
                mark = "\x1a" if i == s.grating_index else " "
                out.append(f"{mark}{i}  {g.lines_per_mm:.0f} g/mm BLZ={g.blaze_nm:5.0f}NM ")
            return out + [" ok"]
        if len(words) == 2 and words[1] in ("GOTO", "<GOTO>", "GRATING"):
            try:
                value = float(words[0])
            except ValueError:
                return ["?"]
            if words[1] != "GRATING":
                if not 0 <= value < s.config.geometry.max_wavelength_nm(s.grating):
                    return ["?"]
                s.clock.sleep(s.start_move(value))
                return [" ok"]
            if value != int(value) or not 1 <= value <= len(s.config.gratings):
                return ["?"]
            s.clock.sleep(s.config.grating_change_s if int(value) != s.grating_index else 0.0)
            s.grating_index = int(value)
            return [" ok"]
        slit = {v: k for k, v in SLITS.items()}.get(words[0]) if words else None
        if slit is not None:
            if words[1:] == ["?MICRONS"]:
                return [f"{s.slits_um[slit]:.0f} um  ok"]
            if len(words) == 3 and words[2] == "MICRONS":
                try:
                    value = float(words[1])
                except ValueError:
                    return ["?"]
                lo, hi = self.hardware_slit_um
                if not lo <= value <= hi:
                    return ["?"]
                s.slits_um[slit] = value
                return [" ok"]
            return ["?"]
        if words[:1] == ["EXIT-MIRROR"]:
            if words[1:] == ["?MIRROR"]:
                return [f" {s.exit_mirror.lower()}  ok"]
            if len(words) >= 2 and words[1] in MIRRORS and (len(words) == 2 or words[3:] == ["MS"]):
                s.exit_mirror = words[1]
                return [" ok"]
        return ["?"]
