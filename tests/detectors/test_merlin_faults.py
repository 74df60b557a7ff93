"""Injected faults end in typed errors within the configured timeout, keeping the frames received so far."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from detectors.merlin.control import MerlinControl
from detectors.merlin.errors import (MerlinConnectionLost, MerlinError, MerlinFrameTooLarge, MerlinHeaderError,
                                     MerlinProtocolError, MerlinTimeout)
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.receiver import AcquisitionResult, MerlinDataClient
from detectors.merlin.settings import MerlinSettings
from detectors.merlin.simulator import MerlinSimulator, SimulatorFaults

N_FRAMES = 12


def run(faults: SimulatorFaults, n_frames: int = N_FRAMES, idle_timeout_s: float = 10.0,
        total_timeout_s: float | None = None, batch_frames: int = 4, **settings):
    """Acquire from a simulator with ``faults``; returns (error or None, result, recorded frames)."""
    sim = MerlinSimulator(frame_source=PatternSource((256, 1024), 4095), faults=faults, record_frames=True)
    with sim, MerlinControl("127.0.0.1", sim.control_port, timeout_s=2) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port, idle_timeout_s=idle_timeout_s,
                             batch_frames=batch_frames) as data:
        control.apply(MerlinSettings(counter_depth=12, num_frames=n_frames, acquisition_time_ms=0.5,
                                     acquisition_period_ms=0.5, **settings))
        control.start_acquisition()
        try:
            result = data.receive(total_timeout_s=total_timeout_s)
            return None, result, sim.recorded_frames
        except MerlinError as error:
            assert isinstance(error.partial, AcquisitionResult)
            return error, error.partial, sim.recorded_frames
        finally:
            control.stop_acquisition()


def assert_kept(result: AcquisitionResult, recorded, n_expected: int) -> None:
    assert result.n_received == n_expected
    assert result.received[:n_expected].all() and not result.received[n_expected:].any()
    np.testing.assert_array_equal(result.frames[:n_expected], np.stack(recorded[:n_expected]))


def test_disconnect_mid_acquisition():
    error, result, recorded = run(SimulatorFaults(disconnect_after_frames=5))
    assert isinstance(error, MerlinConnectionLost) and "closed" in str(error)
    assert_kept(result, recorded, 5)


def test_truncated_frame():
    error, result, recorded = run(SimulatorFaults(truncate_frame=7))
    assert isinstance(error, MerlinConnectionLost)
    assert_kept(result, recorded, 6)


def test_corrupt_frame_header():
    error, result, recorded = run(SimulatorFaults(corrupt_header_frame=6))
    assert isinstance(error, MerlinHeaderError) and "#@!?%&" in str(error)
    assert_kept(result, recorded, 5)


def test_corrupt_acquisition_header():
    error, result, _ = run(SimulatorFaults(corrupt_acquisition_header=True))
    assert isinstance(error, MerlinHeaderError) and "XYZ" in str(error)
    assert result.n_received == 0


@pytest.mark.parametrize("bad_frame", [1, 4])
def test_huge_length_field_is_rejected_without_allocating(bad_frame):
    tracemalloc.start()
    try:
        error, result, recorded = run(SimulatorFaults(huge_length_frame=bad_frame))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, MerlinFrameTooLarge) and "9999999999" in str(error)
    assert peak < 200 << 20      # frames + simulator encoding buffers, nowhere near 10 GB
    if bad_frame > 1:
        assert_kept(result, recorded, bad_frame - 1)


def test_absurd_frame_count_in_header_is_rejected_before_allocating():
    error, result, _ = run(SimulatorFaults(), n_frames=40_000_000_000)
    assert isinstance(error, MerlinFrameTooLarge) and "40000000000 frames" in str(error)


def test_silent_server_times_out_with_frames_kept():
    error, result, recorded = run(SimulatorFaults(stall_after_frames=3), idle_timeout_s=0.3)
    assert isinstance(error, MerlinTimeout) and "0.3 s" in str(error)
    assert_kept(result, recorded, 3)


def test_slow_link_hits_the_overall_deadline():
    error, result, _ = run(SimulatorFaults(link_bytes_per_s=400_000), total_timeout_s=0.5, idle_timeout_s=5.0)
    assert isinstance(error, MerlinTimeout) and "deadline" in str(error)
    assert result.n_received <= 1


def test_trickling_server_is_cut_off_by_the_default_deadline():
    # 8 kB/s arrive in 4 kB pieces every 0.5 s: never silent for the 1 s idle timeout, but one 512 kB frame
    # would take a minute; no total_timeout_s given, the per-message deadline (= idle timeout) ends it
    start = time.monotonic()
    error, result, _ = run(SimulatorFaults(link_bytes_per_s=8192), idle_timeout_s=1.0)
    assert isinstance(error, MerlinTimeout) and "deadline per message of 1.0 s exceeded" in str(error)
    assert time.monotonic() - start < 4.0 and result.n_received == 0


def test_silent_control_channel_times_out():
    with MerlinSimulator(faults=SimulatorFaults(silent_control=True)) as sim, \
            MerlinControl("127.0.0.1", sim.control_port, timeout_s=0.3) as control:
        with pytest.raises(MerlinTimeout, match="GET,COUNTERDEPTH"):
            control.get("COUNTERDEPTH")


def test_dropped_frames_are_counted_and_left_as_holes():
    error, result, recorded = run(SimulatorFaults(drop_frames=frozenset({3, 8, 9})))
    assert error is None
    assert result.dropped == 3 and result.n_received == N_FRAMES - 3 and not result.complete
    assert np.flatnonzero(~result.received).tolist() == [2, 7, 8]
    np.testing.assert_array_equal(result.received_frames(), np.stack(recorded)[result.received])


def test_out_of_order_frames_are_counted_and_placed_by_sequence_number():
    error, result, recorded = run(SimulatorFaults(swap_frames=frozenset({4, 10})))
    assert error is None and result.complete
    assert result.out_of_order == 2 and result.dropped == 0
    np.testing.assert_array_equal(result.frames, np.stack(recorded))


def test_connection_refused_is_typed():
    with MerlinSimulator() as sim:
        port = sim.data_port
    with pytest.raises(MerlinConnectionLost, match=str(port)):
        MerlinDataClient("127.0.0.1", port).connect()


def test_errors_form_one_hierarchy():
    assert issubclass(MerlinFrameTooLarge, MerlinProtocolError) and issubclass(MerlinHeaderError, MerlinProtocolError)
    assert issubclass(MerlinTimeout, TimeoutError) and issubclass(MerlinConnectionLost, ConnectionError)
