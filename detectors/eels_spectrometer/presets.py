"""Spectrometer presets (the NSLumiere settings-file format) and the choice of an energy window.

Settings file (JSON, the format of NSLumiere's ``eels_settings.json``)
----------------------------------------------------------------------
::

    {"100": {"0": {"range": "0.0231", "note": "V =2.027", "fx": "-125", "fy": "-4619",
                   "sx": "-8538", "sy": "416", "dy": "-846", "q1": "-519", "q2": "14688",
                   "q3": "9396", "q4": "10957", "dx": "-1504", "dmx": "-988"},
             "1": {...}},
     "60": {...},
     "last": 0}

Top-level keys are the high tension in kV; below them one entry per dispersion range (index as a
string, 0–6 in NSLumiere's panel), whose ``range`` is the dispersion in eV per channel
(NSLumiere writes it to ``EELS_TV_eVperpixel``, the camera's x scale) and whose element values
are the signed 16-bit set points of the lens unit (strings of integers). ``last`` is the index in
use when the file was saved. Other keys (a per-HT ``last`` in older files) are ignored.

The dispersion <-> currents mapping of the instrument *is* this table: the quadrupoles (q1–q4)
and the dispersion deflectors (dx, dmx) are tuned by hand for each range at each HT; there is
no model between presets, so the driver offers exactly the presets' dispersions.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import pathlib
from typing import Any, Callable, Mapping, Sequence

from detectors.common.errors import LimitError

#: the lens unit's elements, in the order NSLumiere applies a preset (``set_spec_values``):
#: focus (fx, fy), second order (sx, sy, dy), quadrupoles (q1–q4), dispersion deflectors (dx, dmx)
ELEMENTS: tuple[str, ...] = ("fx", "fy", "sx", "sy", "dy", "q1", "q2", "q3", "q4", "dx", "dmx")
#: the elements that set the dispersion (NSLumiere's "Dispersion" tab); the rest focus the spectrum
DISPERSION_ELEMENTS: tuple[str, ...] = ("q1", "q2", "q3", "q4", "dx", "dmx")
#: largest |set point| the lens unit accepts (NSLumiere: ``abs(val) < 32767``)
CURRENT_LIMIT = 32766


@dataclasses.dataclass(frozen=True)
class Preset:
    """One dispersion range at one high tension."""

    high_tension_kV: float
    index: int
    dispersion_eV_per_channel: float
    currents: Mapping[str, int]
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.high_tension_kV:g} kV #{self.index} ({self.dispersion_eV_per_channel:g} eV/channel)"


@dataclasses.dataclass(frozen=True)
class PresetTable:
    """Presets by high tension (kV), each tuple sorted by index; ``last`` as saved in the file."""

    by_ht: Mapping[float, tuple[Preset, ...]]
    last: int = 0
    source: str = "<built-in>"

    @property
    def high_tensions_kV(self) -> tuple[float, ...]:
        return tuple(sorted(self.by_ht))

    def presets(self, high_tension_kV: float) -> tuple[Preset, ...]:
        """The presets at ``high_tension_kV``; ``LimitError`` naming the HTs the table has."""
        try:
            return self.by_ht[float(high_tension_kV)]
        except (KeyError, TypeError, ValueError):
            have = ", ".join(f"{h:g}" for h in self.high_tensions_kV)
            raise LimitError(f"high tension {high_tension_kV!r} kV has no spectrometer presets in "
                             f"{self.source}; allowed: {have} kV") from None

    def preset(self, high_tension_kV: float, index: int) -> Preset:
        for p in self.presets(high_tension_kV):
            if p.index == index:
                return p
        have = [p.index for p in self.presets(high_tension_kV)]
        raise LimitError(f"preset {index!r} does not exist at {high_tension_kV:g} kV in {self.source}; "
                         f"allowed: {have}")

    def by_dispersion(self, high_tension_kV: float, dispersion_eV_per_channel: float,
                      rel_tolerance: float = 0.01) -> Preset:
        """The preset whose dispersion is within ``rel_tolerance`` of the value asked for (the
        lowest index if several); ``LimitError`` naming the value and the allowed dispersions."""
        presets = self.presets(high_tension_kV)
        d = float(dispersion_eV_per_channel)
        for p in presets:
            if abs(p.dispersion_eV_per_channel - d) <= rel_tolerance * p.dispersion_eV_per_channel:
                return p
        allowed = ", ".join(f"{v:g}" for v in sorted({p.dispersion_eV_per_channel for p in presets}))
        raise LimitError(f"dispersion {dispersion_eV_per_channel!r} eV/channel is not one of the presets at "
                         f"{high_tension_kV:g} kV ({self.source}); allowed: {allowed} eV/channel")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<mapping>") -> "PresetTable":
        """Parse the settings-file structure; errors name the source, HT, index and key."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object of high tensions, got {type(data).__name__}")
        by_ht: dict[float, tuple[Preset, ...]] = {}
        for ht_key, entries in data.items():
            try:
                ht = float(ht_key)
            except ValueError:
                continue  # "last" and other bookkeeping keys
            if not isinstance(entries, Mapping):
                raise ValueError(f"{source}: [{ht_key}] must be an object of presets")
            presets = [_preset(ht, k, v, f"{source}: [{ht_key}][{k}]")
                       for k, v in entries.items() if k.isdigit()]
            if presets:
                by_ht[ht] = tuple(sorted(presets, key=lambda p: p.index))
        if not by_ht:
            raise ValueError(f"{source}: no presets (expected keys such as \"100\" holding \"0\", \"1\" …)")
        last = data.get("last", 0)
        try:
            last = int(last)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: last = {last!r} is not a preset index") from None
        return cls(by_ht, last, source)


def _preset(ht_kV: float, key: str, entry: Any, where: str) -> Preset:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be an object with range, note and {', '.join(ELEMENTS)}")
    missing = [k for k in ("range",) + ELEMENTS if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    try:
        dispersion = float(entry["range"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: range = {entry['range']!r} is not a number (eV/channel)") from None
    if not (math.isfinite(dispersion) and dispersion > 0):
        raise ValueError(f"{where}: range = {entry['range']!r} must be a dispersion > 0 eV/channel")
    currents = {}
    for name in ELEMENTS:
        raw = entry[name]
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{where}: {name} = {raw!r} is not an integer set point") from None
        if abs(value) > CURRENT_LIMIT:
            raise ValueError(f"{where}: {name} = {value} outside the allowed range "
                             f"-{CURRENT_LIMIT}–{CURRENT_LIMIT}")
        currents[name] = value
    return Preset(ht_kV, int(key), dispersion, currents, str(entry.get("note", "")))


def load_settings_file(path: str | pathlib.Path) -> PresetTable:
    """Read a settings file (NSLumiere ``eels_settings.json`` format)."""
    p = pathlib.Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"EELS spectrometer settings file {str(p)!r} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON: {e}") from None
    return PresetTable.from_mapping(data, str(p))


#: dispersions of the built-in (simulated instrument's) presets, eV/channel
DEFAULT_DISPERSIONS_EV = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
DEFAULT_HIGH_TENSIONS_KV = (40.0, 60.0, 80.0, 100.0)


def default_presets() -> PresetTable:
    """Placeholder presets of the simulated instrument: the dispersions of
    :data:`DEFAULT_DISPERSIONS_EV` at each of :data:`DEFAULT_HIGH_TENSIONS_KV`, with set points of
    the order of the Orsay file's, distinct for each preset (the simulator interpolates between
    them). ``last`` is the 0.1 eV/channel preset, the world's default dispersion."""
    by_ht = {}
    for ht in DEFAULT_HIGH_TENSIONS_KV:
        k = math.sqrt(ht / 100.0)  # excitation grows with the electron momentum (order of magnitude)
        presets = []
        for i, d in enumerate(DEFAULT_DISPERSIONS_EV):
            x = math.log10(d / 0.1)  # -2 … +1
            raw = {"fx": -9000 - 4000 * x, "fy": -3500 + 300 * x, "sx": -8000, "sy": -500,
                   "dy": -1500 + 800 * x, "q1": -519 - 200 * x, "q2": -800 - 6000 * x,
                   "q3": 9000 - 2500 * x, "q4": 10957 + 100 * x, "dx": -800 + 300 * x, "dmx": -988}
            currents = {n: int(round(v * k)) for n, v in raw.items()}
            presets.append(Preset(ht, i, d, currents, "built-in placeholder"))
        by_ht[ht] = tuple(presets)
    return PresetTable(by_ht, DEFAULT_DISPERSIONS_EV.index(0.1), "<built-in presets>")


# ------------------------------------------------------------------------------------------------
#: ``dispersion_eV_per_channel -> (lowest, highest)`` reachable energy offset, eV
OffsetRange = Callable[[float], tuple[float, float]]


def plan_window(low_eV: float, high_eV: float, n_channels: int, dispersions_eV: Sequence[float],
                offset_range_eV: OffsetRange) -> tuple[float, float]:
    """The finest dispersion of ``dispersions_eV`` and an energy offset whose window of
    ``n_channels`` channels covers the losses ``low_eV``–``high_eV``.

    Parameters
    ----------
    low_eV, high_eV : float
        Energy-loss interval to show (gain is negative).
    n_channels : int
        Channels of the camera.
    dispersions_eV : sequence of float
        Available dispersions, eV/channel.
    offset_range_eV : callable
        ``offset_range_eV(dispersion) -> (lowest, highest)`` reachable energy offset (loss at the
        centre of channel 0) at that dispersion.

    Returns
    -------
    (dispersion_eV_per_channel, energy_offset_eV)
        The offset centres the interval in the window where the reachable offsets allow it.

    Raises
    ------
    LimitError
        No preset covers the interval; the message names it and the widest window.
    """
    if not (math.isfinite(low_eV) and math.isfinite(high_eV) and low_eV < high_eV):
        raise LimitError(f"energy window {low_eV}–{high_eV} eV must be finite and increasing")
    if isinstance(n_channels, bool) or not isinstance(n_channels, numbers.Integral) or n_channels < 2:
        raise LimitError(f"n_channels = {n_channels!r} is not allowed; expected an integer ≥ 2")
    n_channels = int(n_channels)
    for d in sorted(dispersions_eV):
        span = (n_channels - 1) * d
        if span < high_eV - low_eV:
            continue
        lo, hi = offset_range_eV(d)
        # offsets o with o <= low and o + span >= high, inside the reachable range
        o_min, o_max = max(lo, high_eV - span), min(hi, low_eV)
        if o_min > o_max:
            continue
        centred = (low_eV + high_eV) / 2 - span / 2
        return d, min(max(centred, o_min), o_max)
    widest = max(dispersions_eV)
    lo, hi = offset_range_eV(widest)
    raise LimitError(f"no preset shows {low_eV:g}–{high_eV:g} eV on {n_channels} channels: the widest "
                     f"({widest:g} eV/channel) spans {(n_channels - 1) * widest:g} eV with its first channel "
                     f"at {lo:g}–{hi:g} eV")

