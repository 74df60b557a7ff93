"""``.mib``/``.hdr`` files: exact round trips, sizes as the detector writes them, third-party readers."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.merlin.encodings import FrameFormat
from detectors.merlin.errors import MerlinProtocolError
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.mibfile import MibWriter, open_mib, read_mib, write_mib

pytestmark = pytest.mark.slow


def pattern(fmt: FrameFormat, n: int) -> np.ndarray:
    frames = PatternSource(fmt.image_shape, fmt.max_count)(n, 0.001).astype(fmt.count_dtype)
    if fmt.layout == "2x2G":
        frames[:, 256:258] = 0
        frames[:, :, 256:258] = 0
    return frames


@pytest.mark.parametrize("layout, n_chips", [("1x1", 1), ("2x2", 4), ("2x2G", 4), ("Nx1", 4)])
@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True], ids=["binary", "raw"])
def test_mib_round_trip_is_bit_exact(tmp_path, layout, n_chips, depth, raw):
    fmt = FrameFormat(depth, raw, layout, n_chips)
    frames = pattern(fmt, 3)
    path = write_mib(tmp_path / "run.mib", frames, fmt, exposure_s=0.0025)
    assert path.stat().st_size == 3 * (256 + 128 * n_chips + fmt.pixel_bytes)
    decoded, mib = read_mib(path)
    np.testing.assert_array_equal(decoded, frames)
    assert mib.frame_format == fmt and mib.n_frames == 3
    assert mib.frame_header(2).sequence == 3 and mib.frame_header(0).shutter_ns == 2_500_000
    assert mib.acquisition_header.frames_in_acquisition == 3 and mib.acquisition_header.counter_depth == depth


def test_single_chip_12_bit_file_size_matches_real_data(tmp_path):
    fmt = FrameFormat(12, False, "1x1", 1)
    path = write_mib(tmp_path / "Single_9_Frame_12.mib", pattern(fmt, 9), fmt)
    assert path.stat().st_size == 1_183_104          # 9 x (384 + 131072), as the real file


def test_partial_reads_into_preallocated_buffers(tmp_path):
    fmt = FrameFormat(6, True, "Nx1", 4)
    frames = pattern(fmt, 5)
    mib = open_mib(write_mib(tmp_path / "a.mib", frames, fmt))
    out = np.empty((2, 256, 1024), np.uint8)
    assert mib.read(2, 4, out=out) is out
    np.testing.assert_array_equal(out, frames[2:4])
    with pytest.raises(IndexError):
        mib.read(4, 9)


def test_truncated_file_is_a_typed_error(tmp_path):
    fmt = FrameFormat(12, False, "Nx1", 4)
    path = write_mib(tmp_path / "a.mib", pattern(fmt, 2), fmt)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(MerlinProtocolError, match="not a multiple"):
        open_mib(path)
    (tmp_path / "empty.mib").write_bytes(b"")
    with pytest.raises(MerlinProtocolError, match="too short"):
        open_mib(tmp_path / "empty.mib")


def test_writer_appends_frames_one_by_one(tmp_path):
    fmt = FrameFormat(24, False, "Nx1", 4)
    frames = pattern(fmt, 4)
    with MibWriter(tmp_path / "w.mib", fmt) as writer:
        for image in frames:
            writer.append(image)
    np.testing.assert_array_equal(read_mib(tmp_path / "w.mib")[0], frames)


@pytest.mark.parametrize("depth, layout, n_chips", [(12, "Nx1", 4), (6, "Nx1", 4), (1, "1x1", 1), (24, "2x2", 4)])
def test_rosettasciio_opens_written_mib(tmp_path, depth, layout, n_chips):
    from rsciio.quantumdetector import file_reader

    fmt = FrameFormat(depth, False, layout, n_chips)
    frames = pattern(fmt, 4)
    path = write_mib(tmp_path / "eels.mib", frames, fmt)
    signal = file_reader(str(path))[0]
    # rosettasciio flips y for display (np.flip(axis=-2)); the file itself is in detector row order
    np.testing.assert_array_equal(np.asarray(signal["data"]), frames[:, ::-1, :])


@pytest.mark.parametrize("depth, raw", [(6, True), (12, True), (12, False)])
def test_libertem_reads_written_quad_files_including_raw_order(tmp_path, depth, raw):
    from libertem.api import Context
    from libertem.executor.inline import InlineJobExecutor
    from libertem.udf.raw import PickUDF

    fmt = FrameFormat(depth, raw, "2x2", 4)
    frames = pattern(fmt, 4)
    path = write_mib(tmp_path / "quad.mib", frames, fmt)
    ctx = Context(executor=InlineJobExecutor())
    dataset = ctx.load("mib", path=str(path.with_suffix(".hdr")), nav_shape=(2, 2))
    picked = ctx.run_udf(dataset=dataset, udf=PickUDF(), roi=np.ones((2, 2), bool))["intensity"].raw_data
    np.testing.assert_array_equal(np.asarray(picked).reshape(frames.shape), frames)
