"""Merlin framing, headers and pixel encodings: exact round trips and fuzzed parsers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.merlin.encodings import FrameFormat, decode_pixels_into, encode_pixels
from detectors.merlin.errors import (MerlinError, MerlinFrameTooLarge, MerlinHeaderError, MerlinProtocolError,
                                     MerlinUnsupportedFormat)
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.framing import encode_message, parse_prefix
from detectors.merlin.headers import (HDR_BYTES, FrameHeader, format_acquisition_header, format_frame_header,
                                      make_acquisition_header, parse_acquisition_header, parse_frame_header)
from detectors.merlin.mibfile import frame_header_for

LAYOUTS = [("1x1", 1), ("2x2", 4), ("2x2G", 4), ("Nx1", 4)]


def test_framing_length_counts_the_comma_as_in_the_manual():
    assert encode_message("SET,NUMFRAMESTOACQUIRE,1") == b"MPX,0000000025,SET,NUMFRAMESTOACQUIRE,1"
    assert parse_prefix(b"MPX,0000000025,") == 24


def test_single_chip_u16_frame_is_131471_bytes_on_the_wire():
    fmt = FrameFormat(12, False, "1x1", 1)
    header = format_frame_header(frame_header_for(fmt, 1, 0.001))
    message = encode_message(header + encode_pixels(np.zeros((256, 256), np.uint16), fmt))
    assert len(header) == 384 and message[:15] == b"MPX,0000131457," and len(message) == 131471


@pytest.mark.parametrize("prefix, error", [
    (b"MPY,0000000025,", MerlinProtocolError), (b"MPX,00000000x5,", MerlinProtocolError),
    (b"MPX,0000000025;", MerlinProtocolError), (b"MPX,0000000000,", MerlinProtocolError),
    (b"MPX,9999999999,", MerlinFrameTooLarge)])
def test_bad_prefixes_raise_typed_errors_naming_the_value(prefix, error):
    with pytest.raises(error) as info:
        parse_prefix(prefix)
    assert isinstance(info.value, MerlinError)


def test_huge_length_is_rejected_against_the_configured_maximum():
    with pytest.raises(MerlinFrameTooLarge, match="1000001"):
        parse_prefix(b"MPX,0001000001,", max_body_bytes=999_999)
    assert parse_prefix(b"MPX,0001000000,", max_body_bytes=999_999) == 999_999


@pytest.mark.parametrize("layout, n_chips", LAYOUTS)
@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True], ids=["binary", "raw"])
def test_pixel_codec_round_trips_bit_exactly(layout, n_chips, depth, raw):
    fmt = FrameFormat(depth, raw, layout, n_chips)
    images = PatternSource(fmt.image_shape, fmt.max_count)(2, 0.001)
    if layout == "2x2G":
        images[:, 256:258, :] = 0
        images[:, :, 256:258] = 0
    for image in images:
        data = encode_pixels(image, fmt)
        assert len(data) == fmt.pixel_bytes
        out = np.full(fmt.image_shape, 7, fmt.count_dtype)
        decode_pixels_into(data, fmt, out)
        np.testing.assert_array_equal(out, image)


def test_binary_is_big_endian_and_raw_words_are_lsb_first():
    fmt16 = FrameFormat(12, False, "1x1", 1)
    image = np.zeros((256, 256), np.uint16)
    image[0, 0] = 0x0ABC
    assert encode_pixels(image, fmt16)[:2] == b"\x0a\xbc"
    raw6 = FrameFormat(6, True, "1x1", 1)
    image[0, :8] = np.arange(1, 9)
    assert encode_pixels(image, raw6)[:8] == bytes([8, 7, 6, 5, 4, 3, 2, 1])
    raw1 = FrameFormat(1, True, "1x1", 1)
    bits = np.zeros((256, 256), np.uint8)
    bits[0, 0] = 1          # bit 0 of the big-endian word = last byte, lowest bit
    assert encode_pixels(bits, raw1)[:8] == b"\x00" * 7 + b"\x01"


def test_raw_header_dimensions_are_in_raw_order():
    assert FrameFormat(12, True, "2x2", 4).header_shape == (256, 1024)
    assert FrameFormat(12, False, "2x2G", 4).header_shape == (514, 514)
    assert FrameFormat(24, True, "Nx1", 4).header_shape == (256, 2048)
    assert FrameFormat(12, False, "Nx1", 4).image_shape == (256, 1024)


@pytest.mark.parametrize("layout, n_chips", LAYOUTS)
@pytest.mark.parametrize("raw", [False, True])
def test_frame_header_round_trip(layout, n_chips, raw):
    fmt = FrameFormat(6, raw, layout, n_chips)
    header = frame_header_for(fmt, 123456, 0.000555, thresholds_keV=(120.0, 511.0, 0, 0, 0, 0, 0, 0))
    data = format_frame_header(header)
    assert len(data) == 256 + 128 * n_chips and data.endswith(b"\x00")
    parsed = parse_frame_header(data)
    assert (parsed.sequence, parsed.n_chips, parsed.layout, parsed.pixel_type) == (123456, n_chips, layout,
                                                                                  fmt.pixel_type)
    assert parsed.counter_depth == 6 and parsed.shutter_ns == 555000 and parsed.thresholds_keV[1] == 511.0
    assert FrameFormat.from_header(parsed) == fmt


def test_parses_a_real_single_chip_header_and_an_old_raw_header():
    real = (b"MQ1,000001,00384,01,0256,0256,U08,   1x1,01,2020-05-18 16:51:49.971626,0.000555,0,0,0,"
            b"1.200000E+2,5.110000E+2,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
            b"3RX,175,511,000,000,000,000,000,000,125,255,125,125,100,100,082,100,087,030,128,004,255,129,128,"
            b"176,168,511,511,MQ1A,2020-05-18T14:51:49.971626178Z,555000ns,6,")
    header = parse_frame_header(real + b"\x00" * (384 - len(real)))
    assert header.counter_depth == 6 and header.thresholds_keV[:2] == (120.0, 511.0) and len(header.dacs) == 1
    old = b"MQ1,000007,00384,01,0256,0256,R64,   1x1,01,2020-01-01 00:00:00.0,0.001000,0,0,0,,MQ1A,x,1000000ns,6,"
    header = parse_frame_header(old + b" " * (384 - len(old)))
    assert header.sequence == 7 and header.pixel_type == "R64" and header.thresholds_keV == ()


def test_raw_without_counter_depth_is_an_unsupported_format():
    text = b"MQ1,000001,00384,01,0256,0256,R64,   1x1,01,t,0.001000,0,0,0"
    with pytest.raises(MerlinUnsupportedFormat, match="R64"):
        FrameFormat.from_header(parse_frame_header(text + b"\x00" * (384 - len(text))))


def test_acquisition_header_round_trip_is_2048_crlf_bytes():
    header = make_acquisition_header(counter_depth=12, layout="Nx1", n_chips=4, frames_in_acquisition=20000,
                                     frames_per_trigger=256, trigger_start=5)
    data = format_acquisition_header(header)
    assert len(data) == HDR_BYTES and data.startswith(b"HDR,\t\r\n") and b"\r\nEnd\t" in data
    parsed = parse_acquisition_header(data)
    assert (parsed.frames_in_acquisition, parsed.frames_per_trigger, parsed.counter_depth, parsed.layout) == \
        (20000, 256, 12, "Nx1")


def test_acquisition_header_errors_name_the_problem():
    with pytest.raises(MerlinHeaderError, match="HDR"):
        parse_acquisition_header(b"XYZ,\t\r\nEnd\t")
    with pytest.raises(MerlinHeaderError, match="End"):
        parse_acquisition_header(b"HDR,\t\r\nCounter Depth (number):\t12\r\n")
    with pytest.raises(MerlinHeaderError, match="'x12'"):
        parse_acquisition_header(b"HDR,\t\r\nCounter Depth (number):\tx12\r\nEnd\t").counter_depth


# ---- fuzzing: parsers raise only typed errors (10 500 examples in total) ------------------------------
_VALID_HEADER = format_frame_header(frame_header_for(FrameFormat(12, True, "Nx1", 4), 42, 0.001))


def _fuzz(max_examples: int) -> settings:
    # the counts are the full tier's; the fast profile (tests/conftest.py) runs a tenth of hypothesis' default 100
    scaled = max(10, round(max_examples * settings.default.max_examples / 100))
    return settings(max_examples=scaled, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _parse_completely(data: bytes) -> None:
    try:
        FrameFormat.from_header(parse_frame_header(data))
    except MerlinError:
        pass


@_fuzz(4000)
@given(st.binary(max_size=800))
def test_fuzz_frame_header_random_bytes(data):
    _parse_completely(b"MQ1," + data if data[:1] == b"\x00" else data)


@_fuzz(3500)
@given(st.lists(st.tuples(st.integers(0, len(_VALID_HEADER) - 1), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_frame_header_mutations(mutations):
    data = bytearray(_VALID_HEADER)
    for position, value in mutations:
        data[position] = value
    _parse_completely(bytes(data))


@_fuzz(1500)
@given(st.binary(min_size=15, max_size=15))
def test_fuzz_mpx_prefix(data):
    try:
        assert parse_prefix(data, 1 << 20) <= 1 << 20
    except MerlinProtocolError:
        pass


@_fuzz(1500)
@given(st.text(max_size=300).map(lambda s: "HDR,\t\r\n" + s))
def test_fuzz_acquisition_header(text):
    try:
        header = parse_acquisition_header(text.encode("latin-1", "replace"))
        for attribute in ("frames_in_acquisition", "frames_per_trigger", "counter_depth", "layout"):
            getattr(header, attribute)
    except MerlinHeaderError:
        pass


def test_frame_header_dataclass_defaults_offset_from_chip_count():
    header = FrameHeader(sequence=1, n_chips=4, width=1024, height=256, pixel_type="U16", layout="Nx1")
    assert header.data_offset == 768


@_fuzz(1000)
@given(st.text(max_size=60))
def test_fuzz_simulator_command_handler_always_answers_with_a_code(body):
    reply = _SIMULATOR.handle_command(body)
    assert reply.rsplit(",", 1)[-1] in {"0", "1", "2", "3"}


_SIMULATOR = None


def setup_module() -> None:
    global _SIMULATOR
    from detectors.merlin.simulator import MerlinSimulator
    _SIMULATOR = MerlinSimulator()        # not started: only its command handler is exercised


def teardown_module() -> None:
    _SIMULATOR.stop()
