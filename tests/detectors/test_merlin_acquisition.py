"""Real client against the simulated Merlin over TCP on 127.0.0.1: settings, codes, acquisitions."""
from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from analysis.kernels import ENCODING_R12, ENCODING_U16, CorrectionMaps, correct_and_bin, correct_and_bin_encoded
from detectors.merlin.control import MerlinControl
from detectors.merlin.errors import MerlinBusy, MerlinTimeout, MerlinUnknownCommand, MerlinValueOutOfRange
from detectors.merlin.frame_sources import PatternSource, SyntheticEelsSource
from detectors.merlin.mibfile import open_mib
from detectors.merlin.receiver import MerlinDataClient
from detectors.merlin.settings import MerlinSettings, TriggerSource
from detectors.merlin.simulator import MerlinSimulator

FAST = dict(acquisition_time_ms=0.5, acquisition_period_ms=0.5)


class _Depths:
    """Frame source whose range follows the simulator's current counter depth (all bits exercised)."""

    def __init__(self) -> None:
        self.sim: MerlinSimulator | None = None

    def __call__(self, n: int, exposure_s: float) -> np.ndarray:
        assert self.sim is not None
        return PatternSource((256, 1024), self.sim.frame_format().max_count)(n, exposure_s)


@pytest.fixture(scope="module")
def rig():
    source = _Depths()
    with MerlinSimulator(frame_source=source, record_frames=True) as sim:
        source.sim = sim
        with MerlinControl("127.0.0.1", sim.control_port, timeout_s=5) as control, \
                MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=5) as data:
            yield sim, control, data


def wait_idle(control: MerlinControl) -> None:
    for _ in range(10_000):
        if control.detector_status() == 0:
            return
    raise AssertionError("simulator never returned to idle")


def acquire(control, data, settings, **kwargs):
    wait_idle(control)
    data.connect()                 # the data connection must exist when the HDR is sent
    control.apply(settings)
    control.start_acquisition()
    return data.receive(**kwargs)


@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True], ids=["binary", "raw"])
def test_acquisitions_decode_bit_exactly_at_every_depth(rig, depth, raw):
    sim, control, data = rig
    result = acquire(control, data, MerlinSettings(counter_depth=depth, raw=raw, num_frames=6, **FAST))
    assert result.complete and result.n_received == 6 and result.dropped == 0 and result.out_of_order == 0
    assert result.acquisition_header.counter_depth == depth and result.acquisition_header.frames_in_acquisition == 6
    assert result.first_frame_header.pixel_type == ("R64" if raw else {1: "U08", 6: "U08", 12: "U16", 24: "U32"}[depth])
    assert result.frames.shape == (6, 256, 1024)
    np.testing.assert_array_equal(result.frames, np.stack(sim.recorded_frames))
    assert result.frames.max() >= 0.99 * ((1 << depth) - 1)     # the top bits are exercised


def test_default_synthetic_source_is_deterministic_and_decodes_exactly():
    with MerlinSimulator(seed=11) as sim, MerlinControl("127.0.0.1", sim.control_port) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port) as data:
        result = acquire(control, data, MerlinSettings(counter_depth=12, num_frames=3, acquisition_time_ms=2.0))
    expected = np.clip(SyntheticEelsSource(11)(3, 0.002), 0, 4095)
    np.testing.assert_array_equal(result.frames, expected)
    assert result.frames.sum(axis=1).argmax(axis=1).tolist() == [1024 // 5] * 3   # zero-loss peak column


def test_settings_round_trip(rig):
    _, control, _ = rig
    wait_idle(control)
    settings = MerlinSettings(counter_depth=6, continuous_rw=True, num_frames=20000, num_frames_per_trigger=256,
                              acquisition_time_ms=0.4167, acquisition_period_ms=0.5,
                              trigger_start=TriggerSource.SOFT, trigger_stop=TriggerSource.RISING_LVDS, raw=True,
                              thresholds_keV=(12.5, 300.0), file_enable=False, file_directory="/data/x",
                              file_name="run_7")
    control.apply(settings)
    assert control.read_settings() == settings
    control.set_counter_depth(12)
    control.set_threshold_keV(3, 42.25)
    control.set_trigger_start(TriggerSource.INTERNAL)
    assert control.get_int("COUNTERDEPTH") == 12 and control.get_float("THRESHOLD3") == 42.25
    assert (control.get_int("IMAGEX"), control.get_int("IMAGEY")) == (1024, 256)
    control.apply(MerlinSettings(**FAST))


def test_response_codes_become_typed_errors(rig):
    _, control, data = rig
    wait_idle(control)
    with pytest.raises(MerlinValueOutOfRange, match="COUNTERDEPTH,7"):
        control.set("COUNTERDEPTH", 7)
    with pytest.raises(MerlinValueOutOfRange):
        control.set("ACQUISITIONTIME", "fast")
    with pytest.raises(MerlinUnknownCommand, match="NOSUCHTHING"):
        control.get("NOSUCHTHING")
    with pytest.raises(MerlinUnknownCommand):
        control.cmd("SELFDESTRUCT")
    with pytest.raises(MerlinUnknownCommand):
        control.set("DETECTORSTATUS", 0)
    control.apply(MerlinSettings(num_frames=2, num_frames_per_trigger=2, trigger_start=TriggerSource.SOFT, **FAST))
    control.start_acquisition()               # armed, waiting for SOFTTRIGGER: busy
    with pytest.raises(MerlinBusy) as info:
        control.set("COUNTERDEPTH", 6)
    assert info.value.code == 1
    with pytest.raises(MerlinBusy):
        control.start_acquisition()
    control.soft_trigger()
    assert data.receive().complete
    wait_idle(control)             # the last frame is out before the detector reports idle
    control.set("TRIGGERSTART", 0)


def test_libertem_live_grammar_and_manual_lengths_on_a_raw_socket(rig):
    sim, control, _ = rig
    wait_idle(control)
    with MerlinControl("127.0.0.1", sim.control_port, append_dummy_value=True) as dummy:
        dummy.set("NUMFRAMESTOACQUIRE", 23)
        assert dummy.get("NUMFRAMESTOACQUIRE") == "23"
    # the simulator serves 2 control sessions: wait until it has closed the dummy's, or (on a loaded
    # machine) the raw socket below is refused
    for _ in range(500):
        if sim._control.active_connections <= 1:
            break
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.1", sim.control_port), timeout=5) as sock:
        # two pipelined requests in one segment; replies must be length-framed as in the manual
        sock.sendall(b"MPX,0000000025,SET,NUMFRAMESTOACQUIRE,1MPX,0000000023,GET,NUMFRAMESTOACQUIRE")
        expected = b"MPX,0000000025,SET,NUMFRAMESTOACQUIRE,0MPX,0000000027,GET,NUMFRAMESTOACQUIRE,1,0"
        received = b""
        while len(received) < len(expected):
            chunk = sock.recv(4096)
            assert chunk, f"the simulator closed the connection after {received!r}"  # not a busy loop
            received += chunk
    assert received == expected


def test_soft_trigger_bursts_and_frames_per_trigger(rig):
    sim, control, data = rig
    wait_idle(control)
    control.apply(MerlinSettings(counter_depth=12, num_frames=6, num_frames_per_trigger=3,
                                 trigger_start=TriggerSource.SOFT, **FAST))
    control.start_acquisition()
    control.soft_trigger()
    control.soft_trigger()
    result = data.receive()
    assert result.complete and result.acquisition_header.frames_per_trigger == 3
    np.testing.assert_array_equal(result.frames, np.stack(sim.recorded_frames))
    wait_idle(control)             # the last frame is out before the detector reports idle
    control.set("TRIGGERSTART", 0)


def test_continuous_run_until_stop(rig):
    sim, control, data = rig
    wait_idle(control)
    control.apply(MerlinSettings(counter_depth=6, num_frames=0, **FAST))
    control.start_acquisition()
    result = data.receive(n_frames=8)
    control.stop_acquisition()
    wait_idle(control)
    assert result.complete and result.acquisition_header.frames_in_acquisition == 0
    np.testing.assert_array_equal(result.frames, np.stack(sim.recorded_frames[:8]))
    data.drain()                     # frames sent after our 8 are stale: discard them, keep the connection
    result = acquire(control, data, MerlinSettings(counter_depth=6, num_frames=2, **FAST))
    assert result.complete


def test_file_saving_writes_a_mib_identical_to_the_stream(rig, tmp_path):
    sim, control, data = rig
    result = acquire(control, data, MerlinSettings(counter_depth=12, num_frames=5, file_enable=True,
                                                   file_directory=str(tmp_path), file_name="saved", **FAST))
    wait_idle(control)
    control.set("FILEENABLE", 0)
    mib = open_mib(tmp_path / "saved.mib")
    assert mib.n_frames == 5 and mib.acquisition_header.frames_in_acquisition == 5
    np.testing.assert_array_equal(mib.read(), result.frames)


@pytest.mark.parametrize("raw, encoding", [(False, ENCODING_U16), (True, ENCODING_R12)])
def test_streaming_fused_kernel_matches_stored_frames(rig, raw, encoding):
    _, control, data = rig
    rng = np.random.default_rng(0)
    maps = CorrectionMaps.build((256, 1024), (rng.random((256, 1024)) * 2).astype(np.float32),
                                (1 + 0.05 * rng.standard_normal((256, 1024))).astype(np.float32),
                                rng.random((256, 1024)) < 0.001)
    spectra = np.zeros((40, 1024), np.float32)

    def on_batch(batch):
        out = np.empty((len(batch.messages), 1024), np.float32)
        correct_and_bin_encoded(batch.messages, batch.pixel_offset, encoding, (256, 1024), maps=maps, out=out)
        spectra[batch.sequence_numbers - 1] = out

    result = acquire(control, data, MerlinSettings(counter_depth=12, raw=raw, num_frames=40, **FAST),
                     on_batch=on_batch)
    np.testing.assert_allclose(spectra, correct_and_bin(result.frames, maps=maps), rtol=1e-5)


def test_status_stop_while_armed_and_reset(rig):
    sim, control, data = rig
    wait_idle(control)
    control.apply(MerlinSettings(num_frames=3, trigger_start=TriggerSource.SOFT, **FAST))
    data.connect()
    control.start_acquisition()
    assert control.detector_status() == 1                      # armed, waiting for the soft trigger
    control.stop_acquisition()
    wait_idle(control)
    control.set("COUNTERDEPTH", 24)
    control.cmd("RESET")
    assert control.get_int("COUNTERDEPTH") == 12 and control.get_int("TRIGGERSTART") == 0
    data.close()                                                # the HDR of the stopped run is stale
    control.apply(MerlinSettings(**FAST))


def test_frame_source_with_wrong_shape_is_reported_not_hidden():
    with MerlinSimulator(frame_source=lambda n, exposure_s: np.zeros((n, 10, 10))) as sim, \
            MerlinControl("127.0.0.1", sim.control_port) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=0.5) as data:
        control.apply(MerlinSettings(num_frames=2, **FAST))
        control.start_acquisition()
        with pytest.raises(MerlinTimeout):
            data.receive()                  # HDR arrives, frames never do
        wait_idle(control)
    assert "frame_source returned (2, 10, 10)" in str(sim.errors[0])


def test_triggered_acquisition_samples_the_frame_source_only_after_each_trigger():
    calls: list[int] = []

    def source(n_frames: int, exposure_s: float) -> np.ndarray:
        calls.append(n_frames)
        return np.full((n_frames, 256, 1024), len(calls), np.uint32)

    with MerlinSimulator(frame_source=source) as sim, MerlinControl("127.0.0.1", sim.control_port) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port) as data:
        control.apply(MerlinSettings(num_frames=4, num_frames_per_trigger=2, trigger_start=TriggerSource.SOFT,
                                     **FAST))
        data.connect()
        control.start_acquisition()
        assert calls == []                      # armed: no frame exists before the trigger
        control.soft_trigger()
        control.soft_trigger()
        result = data.receive()
    assert calls == [2, 2] and result.frames[:, 0, 0].tolist() == [1, 1, 2, 2]
