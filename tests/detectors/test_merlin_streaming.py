"""Live reduction from the socket buffer: receive_spectra against decoded frames + correct_and_bin."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.kernels import CorrectionMaps, correct_and_bin
from detectors.merlin.control import MerlinControl
from detectors.merlin.encodings import FrameFormat
from detectors.merlin.errors import MerlinUnsupportedFormat
from detectors.merlin.frame_sources import PatternSource
from detectors.merlin.receiver import MerlinDataClient
from detectors.merlin.settings import MerlinSettings
from detectors.merlin.simulator import MerlinSimulator, SimulatorFaults
from detectors.merlin.streaming import kernel_encoding, receive_spectra


def _maps() -> CorrectionMaps:
    rng = np.random.default_rng(3)
    return CorrectionMaps.build((256, 1024), (rng.random((256, 1024)) * 2).astype(np.float32),
                                (1 + 0.05 * rng.standard_normal((256, 1024))).astype(np.float32),
                                rng.random((256, 1024)) < 0.001)


@pytest.mark.parametrize("depth", [1, 6, 12, 24])
@pytest.mark.parametrize("raw", [False, True], ids=["binary", "raw"])
def test_receive_spectra_equals_correct_and_bin_of_the_sent_frames(depth, raw):
    maps = _maps()
    source = PatternSource((256, 1024), (1 << depth) - 1)
    faults = SimulatorFaults(drop_frames=frozenset({5}))
    with MerlinSimulator(frame_source=source, record_frames=True, faults=faults) as sim, \
            MerlinControl("127.0.0.1", sim.control_port) as control, \
            MerlinDataClient("127.0.0.1", sim.data_port, batch_frames=4) as data:
        control.apply(MerlinSettings(counter_depth=depth, raw=raw, num_frames=11, acquisition_time_ms=0.5,
                                     acquisition_period_ms=0.5))
        data.connect()
        control.start_acquisition()
        spectra = np.full((11, 1024), -1.0, np.float32)
        result = receive_spectra(data, spectra, maps)
    expected = correct_and_bin(np.stack(sim.recorded_frames), maps=maps)
    assert result.dropped == 1 and not result.received[4] and result.frames is None
    np.testing.assert_allclose(spectra[result.received], expected[result.received], rtol=1e-5, atol=1e-3)
    assert (spectra[4] == -1).all()           # the dropped frame's row is left untouched


def test_raw_quad_cannot_be_binned_in_place():
    with pytest.raises(MerlinUnsupportedFormat, match="2x2"):
        kernel_encoding(FrameFormat(12, True, "2x2", 4))
