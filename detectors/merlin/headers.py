"""HDR acquisition headers and MQ1 frame headers: parse and format.

HDR (sent once per acquisition after ``STARTACQUISITION``, also the ``.hdr`` file): latin-1 text,
CRLF lines ``key:\\tvalue``, first line ``HDR,\\t``, last line ``End\\t``, space-padded to 2048 bytes.

MQ1 (in front of every frame, on the wire and in ``.mib`` files): comma-separated ASCII, NUL-padded to
its own *data offset* = 256 + 128 x chips bytes. Fields 0-13 are positional; thresholds and per-chip
DACs follow; the ``MQ1A`` extension (UTC timestamp, shutter time in ns, counter depth) is found by
searching for the token, as real headers without thresholds exist.

Parsers raise only :class:`~detectors.merlin.errors.MerlinHeaderError` on bad input.
"""
from __future__ import annotations

import dataclasses
import datetime

from .errors import MerlinHeaderError

HDR_BYTES = 2048
PIXEL_TYPES = ("U01", "U08", "U16", "U32", "U64", "R64")
LAYOUTS = ("1x1", "2x2", "2x2G", "Nx1", "Nx1G")
COUNTER_DEPTHS = (1, 6, 12, 24)
_MQ1_POSITIONAL = 14


def frame_header_bytes(n_chips: int) -> int:
    """MQ1 header length (its data offset) for ``n_chips`` chips: 256 + 128 per chip."""
    return 256 + 128 * n_chips


@dataclasses.dataclass(frozen=True)
class FrameHeader:
    """One MQ1 frame header. Widths and heights are as written (raw order for ``R64``)."""

    sequence: int
    n_chips: int
    width: int
    height: int
    pixel_type: str
    layout: str
    counter_depth: int | None = None
    shutter_s: float = 0.001
    chip_select: int = 0x0F
    timestamp: str = "1970-01-01 00:00:00.000000"
    counter: int = 0
    colour_mode: int = 0
    gain: int = 0
    thresholds_keV: tuple[float, ...] = ()
    dacs: tuple[str, ...] = ()
    data_offset: int = 0
    utc_timestamp: str | None = None
    shutter_ns: int | None = None

    def __post_init__(self) -> None:
        if self.data_offset == 0:
            object.__setattr__(self, "data_offset", frame_header_bytes(self.n_chips))


def _ascii(raw: bytes | bytearray | memoryview, what: str) -> str:
    try:
        return bytes(raw).decode("ascii")
    except UnicodeDecodeError as exc:
        raise MerlinHeaderError(f"{what} is not ASCII: {bytes(raw)[:64]!r}") from exc


def _int(field: str, name: str, base: int = 10) -> int:
    text = field.strip()
    digits = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
    ok = text != "" and all(c in digits for c in text)
    if not ok:
        raise MerlinHeaderError(f"MQ1 field {name!r} is not a base-{base} number: {field!r}")
    return int(text, base)


def _float(field: str, name: str) -> float:
    text = field.strip()
    try:
        value = float(text)
    except ValueError as exc:
        raise MerlinHeaderError(f"MQ1 field {name!r} is not a number: {field!r}") from exc
    if not text.isascii() or "_" in text or value != value:
        raise MerlinHeaderError(f"MQ1 field {name!r} is not a finite decimal number: {field!r}")
    return value


def peek_data_offset(body: bytes | bytearray | memoryview) -> int:
    """Read the data offset (header length) from the first 16 bytes of an MQ1 body."""
    head = _ascii(bytes(body[:16]), "MQ1 header start")
    if len(head) < 16 or not head.startswith("MQ1,") or head[10] != ",":
        raise MerlinHeaderError(f"not an MQ1 frame header: {head!r}")
    return _int(head[11:16], "data offset")


def parse_frame_header(body: bytes | bytearray | memoryview) -> FrameHeader:
    """Parse the MQ1 header at the start of ``body`` (header plus any pixel bytes).

    Parameters
    ----------
    body : bytes-like
        The MQ1 message body: ``MQ1,...`` padded to the data offset, optionally followed by pixels.

    Returns
    -------
    FrameHeader

    Raises
    ------
    MerlinHeaderError
        Truncated header, wrong magic, non-numeric or out-of-range fields, unknown pixel type or layout.
    """
    offset = peek_data_offset(body)
    if offset < 16 or offset > len(body):
        raise MerlinHeaderError(f"MQ1 data offset {offset} outside the {len(body)} bytes available")
    text = _ascii(bytes(body[:offset]), "MQ1 header").rstrip("\x00 ")
    fields = text.split(",")
    if len(fields) < _MQ1_POSITIONAL:
        raise MerlinHeaderError(
            f"MQ1 header has {len(fields)} fields, needs at least {_MQ1_POSITIONAL}: {text[:120]!r}")
    pixel_type = fields[6].strip()
    layout = fields[7].strip()
    if pixel_type not in PIXEL_TYPES:
        raise MerlinHeaderError(f"unknown MQ1 pixel type {fields[6]!r} (known: {', '.join(PIXEL_TYPES)})")
    if layout not in LAYOUTS:
        raise MerlinHeaderError(f"unknown MQ1 chip layout {fields[7]!r} (known: {', '.join(LAYOUTS)})")
    n_chips = _int(fields[3], "number of chips")
    width, height = _int(fields[4], "width"), _int(fields[5], "height")
    if not (1 <= n_chips <= 16 and 1 <= width <= 8192 and 1 <= height <= 8192):
        raise MerlinHeaderError(f"implausible MQ1 geometry: {n_chips} chips, {width} x {height} pixels")
    rest = fields[_MQ1_POSITIONAL:]
    utc_timestamp = shutter_ns = counter_depth = None
    thresholds: tuple[float, ...] = ()
    dacs: tuple[str, ...] = ()
    if "MQ1A" in rest:
        ext = rest.index("MQ1A")
        tail = rest[ext + 1:]
        if len(tail) < 3:
            raise MerlinHeaderError(f"MQ1A extension truncated: {','.join(rest[ext:])!r}")
        utc_timestamp = tail[0]
        if not tail[1].endswith("ns"):
            raise MerlinHeaderError(f"MQ1A shutter time must end in 'ns', got {tail[1]!r}")
        shutter_ns = _int(tail[1][:-2], "MQ1A shutter time")
        counter_depth = _int(tail[2], "MQ1A counter depth")
        if counter_depth not in COUNTER_DEPTHS:
            raise MerlinHeaderError(f"MQ1A counter depth {counter_depth} not one of {COUNTER_DEPTHS}")
        rest = rest[:ext]
    rest = [f for f in rest if f != ""]
    if len(rest) >= 8:
        thresholds = tuple(_float(f, f"threshold {i}") for i, f in enumerate(rest[:8]))
        dacs = tuple(",".join(rest[8 + 28 * i: 8 + 28 * (i + 1)]) for i in range(max(0, (len(rest) - 8) // 28)))
    return FrameHeader(
        sequence=_int(fields[1], "sequence number"), data_offset=offset, n_chips=n_chips, width=width,
        height=height, pixel_type=pixel_type, layout=layout, chip_select=_int(fields[8], "chip select", 16),
        timestamp=fields[9], shutter_s=_float(fields[10], "shutter time"), counter=_int(fields[11], "counter"),
        colour_mode=_int(fields[12], "colour mode"), gain=_int(fields[13], "gain"), thresholds_keV=thresholds,
        dacs=dacs, utc_timestamp=utc_timestamp, shutter_ns=shutter_ns, counter_depth=counter_depth)


_DEFAULT_DACS = "3RX," + ",".join(["000"] * 8 + ["100", "010", "125", "255", "255", "000", "000", "000",
                                                  "000", "000", "100", "100", "128", "128", "180", "200", "150",
                                                  "150", "150"])


def format_frame_header(header: FrameHeader) -> bytes:
    """Encode ``header`` as MQ1 text, NUL-padded to ``header.data_offset`` bytes.

    Notes
    -----
    Thresholds default to 8 zeros and DACs to one neutral ``3RX`` block per chip when empty; the
    MQ1A extension is always written (the counter depth is needed to decode raw frames).
    """
    thresholds = header.thresholds_keV or (0.0,) * 8
    dacs = header.dacs or (_DEFAULT_DACS,) * header.n_chips
    shutter_ns = header.shutter_ns if header.shutter_ns is not None else round(header.shutter_s * 1e9)
    utc = header.utc_timestamp or header.timestamp.replace(" ", "T") + "000Z"
    fields = [
        "MQ1", f"{header.sequence:06d}", f"{header.data_offset:05d}", f"{header.n_chips:02d}",
        f"{header.width:04d}", f"{header.height:04d}", header.pixel_type, f"{header.layout:>6}",
        f"{header.chip_select:02X}", header.timestamp, f"{header.shutter_s:.6f}", str(header.counter),
        str(header.colour_mode), str(header.gain), *(f"{t:.6E}" for t in thresholds), *dacs,
        "MQ1A", utc, f"{shutter_ns}ns", str(header.counter_depth if header.counter_depth is not None else 12), ""]
    text = ",".join(fields).encode("ascii")
    if len(text) > header.data_offset:
        raise MerlinHeaderError(f"MQ1 header text of {len(text)} bytes exceeds its data offset {header.data_offset}")
    return text + b"\x00" * (header.data_offset - len(text))


@dataclasses.dataclass(frozen=True)
class AcquisitionHeader:
    """The HDR acquisition header as an ordered key -> value mapping, with typed accessors."""

    fields: dict[str, str]

    def _get(self, key: str) -> str:
        try:
            return self.fields[key]
        except KeyError:
            raise MerlinHeaderError(f"HDR has no {key!r} entry (keys: {list(self.fields)[:8]}...)") from None

    def _number(self, key: str) -> int:
        value = self._get(key).strip()
        if not (value.isascii() and value.isdigit()):
            raise MerlinHeaderError(f"HDR {key!r} is not an integer: {value!r}")
        return int(value)

    @property
    def frames_in_acquisition(self) -> int:
        return self._number("Frames in Acquisition (Number)")

    @property
    def frames_per_trigger(self) -> int:
        return self._number("Frames per Trigger (Number)")

    @property
    def counter_depth(self) -> int:
        depth = self._number("Counter Depth (number)")
        if depth not in COUNTER_DEPTHS:
            raise MerlinHeaderError(f"HDR counter depth {depth} not one of {COUNTER_DEPTHS}")
        return depth

    @property
    def layout(self) -> str:
        value = self._get("Assembly Size (NX1, 2X2)").strip()
        if value not in LAYOUTS:
            raise MerlinHeaderError(f"HDR assembly size {value!r} not one of {LAYOUTS}")
        return value


def parse_acquisition_header(body: bytes | bytearray | memoryview) -> AcquisitionHeader:
    """Parse an HDR block (the wire body after ``MPX,...,`` or a ``.hdr`` file).

    Raises
    ------
    MerlinHeaderError
        The block does not start with ``HDR``, has no ``End`` line or a line without a tab.
    """
    text = bytes(body).decode("latin-1")
    if not text.startswith("HDR"):
        raise MerlinHeaderError(f"acquisition header must start with 'HDR', got {text[:16]!r}")
    fields: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n")[1:]:
        if line.strip(" \x00") == "":
            continue
        if line.rstrip(" \x00\t") == "End":
            return AcquisitionHeader(fields)
        key, sep, value = line.partition(":\t")
        if not sep:
            key, sep, value = line.partition("\t")
        if not sep:
            raise MerlinHeaderError(f"HDR line without a tab separator: {line[:80]!r}")
        fields[key] = value.strip()
    raise MerlinHeaderError("acquisition header has no 'End' line")


_TRIGGER_NAMES = {0: "Internal", 1: "Rising Edge", 2: "Falling Edge", 3: "Rising Edge LVDS",
                  4: "Falling Edge LVDS", 5: "Soft Trigger"}


def make_acquisition_header(*, counter_depth: int, layout: str, n_chips: int, frames_in_acquisition: int,
                            frames_per_trigger: int, trigger_start: int = 0, trigger_stop: int = 0,
                            thresholds_keV: tuple[float, ...] = (0.0,) * 8, continuous_rw: bool = False,
                            gain_mode: str = "SLGM", software_version: str = "lumiere-sim 0.1",
                            when: datetime.datetime | None = None) -> AcquisitionHeader:
    """Build an HDR header with the keys and order a real Merlin writes (see merlin.md §1.5)."""
    when = when or datetime.datetime.now()
    chip_ids = ",".join([f"W000_S{i}" for i in range(n_chips)])
    fields = {
        "Time and Date Stamp (day, mnth, yr, hr, min, s)": when.strftime("%d/%m/%Y %H:%M:%S"),
        "Chip ID": chip_ids, "Chip Type (Medipix 3.0, Medipix 3.1, Medipix 3RX)": "Medipix 3RX",
        "Assembly Size (NX1, 2X2)": f"{layout:>6}", "Chip Mode  (SPM, CSM, CM, CSCM)": "SPM",
        "Counter Depth (number)": str(counter_depth), "Gain": gain_mode,
        "Active Counters": "Alternating" if continuous_rw else "Counter 0",
        "Thresholds (keV)": ",".join(f"{t:.6E}" for t in thresholds_keV),
        "DACs": "; ".join([_DEFAULT_DACS[4:]] * n_chips), "bpc File": "", "DAC File": "",
        "Gap Fill Mode": "None", "Flat Field File": "None", "Dead Time File": "Dummy (C:\\<NUL>\\)",
        "Acquisition Type (Normal, Th_scan, Config)": "Normal",
        "Frames in Acquisition (Number)": str(frames_in_acquisition),
        "Frames per Trigger (Number)": str(frames_per_trigger),
        "Trigger Start (Positive, Negative, Internal)": _TRIGGER_NAMES.get(trigger_start, "Internal"),
        "Trigger Stop (Positive, Negative, Internal)": _TRIGGER_NAMES.get(trigger_stop, "Internal"),
        "Sensor Bias (V)": "120 V", "Sensor Polarity (Positive, Negative)": "Positive",
        "Temperature (C)": "Board Temp 40.00 Deg C", "Humidity (%)": "Board Humidity 10.0",
        "Medipix Clock (MHz)": "120MHz", "Readout System": "Merlin Quad", "Software Version": software_version,
    }
    return AcquisitionHeader(fields)


def format_acquisition_header(header: AcquisitionHeader) -> bytes:
    """Encode ``header`` as the 2048-byte, CRLF, space-padded HDR block."""
    lines = ["HDR,\t"] + [f"{k}:\t{v}" for k, v in header.fields.items()] + ["End\t"]
    text = "\r\n".join(lines).encode("latin-1")
    if len(text) > HDR_BYTES:
        raise MerlinHeaderError(f"acquisition header of {len(text)} bytes exceeds {HDR_BYTES}")
    return text + b" " * (HDR_BYTES - len(text))
