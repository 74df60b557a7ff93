"""The workflows' scan and spectrum imager on the configured scan unit and EELS camera.

``[scan] backend = "tcp-simulated"`` and ``[eels_camera] backend = "merlin-simulated"``: our scan
protocol and the Merlin protocol on 127.0.0.1, the same world behind them. Results are compared
with the all-simulated instrument of the same seed.
"""
from __future__ import annotations

import numpy as np
import pytest

from detectors.config import validate
from detectors.instrument import build_instrument
from detectors.interfaces import Aborted, ScanFrame
from detectors.scan.adapters import GeneratorScan, SynchronizedSpectrumImager
from detectors.simulation.devices import SimulatedSpectrumImager

FRAME = ScanFrame((8, 8), 256.0, (60.0, 130.0), dwell_s=1e-3)


@pytest.fixture
def protocols():
    instrument = build_instrument(validate({"scan": {"backend": "tcp-simulated"},
                                            "eels_camera": {"backend": "merlin-simulated"}}))
    yield instrument
    instrument.close()


@pytest.fixture
def simulated():
    instrument = build_instrument(None)
    yield instrument
    instrument.close()


def test_the_configured_devices_are_used(protocols, simulated):
    assert isinstance(protocols.scan, GeneratorScan) and isinstance(simulated.scan, GeneratorScan)
    assert isinstance(protocols.spectrum_imager, SynchronizedSpectrumImager)
    assert protocols.spectrum_imager.generator is protocols.scan_generator
    assert isinstance(simulated.spectrum_imager, SimulatedSpectrumImager)


def test_survey_through_the_scan_protocol_equals_the_simulated_one(protocols, simulated):
    frame = ScanFrame((32, 32), 256.0, (60.0, 130.0), dwell_s=2e-5)
    np.testing.assert_array_equal(protocols.scan.acquire_frame(frame), simulated.scan.acquire_frame(frame))
    protocols.scan.set_probe_position_nm(10.0, -20.0)
    assert protocols.scan.probe_position_nm() == pytest.approx((10.0, -20.0))


def test_raster_si_through_both_protocols_sees_the_specimen(protocols, simulated):
    rows = []
    si, haadf = protocols.spectrum_imager.acquire_spectrum_image(FRAME, 1e-3, rows_done=rows.append)
    ref, haadf_ref = simulated.spectrum_imager.acquire_spectrum_image(FRAME, 1e-3)
    assert si.shape == ref.shape == (8, 8, protocols.world.spectrometer.channels)
    assert rows[-1] == 8 and rows == sorted(rows)
    # same positions, independent noise: the specimen's contrast agrees pixel by pixel
    assert np.corrcoef(haadf.ravel(), haadf_ref.ravel())[0, 1] > 0.9
    assert np.corrcoef(si.sum(axis=2).ravel(), ref.sum(axis=2).ravel())[0, 1] > 0.9
    assert abs(si.sum() / ref.sum() - 1) < 0.05
    # the probe is parked at the frame centre afterwards
    assert protocols.scan.probe_position_nm() == pytest.approx(FRAME.center_nm)


def test_pixel_order_returns_visits_in_order_and_abort_parks(protocols):
    order = np.array([63, 0, 9, 27, 36, 5])
    spectra, haadf = protocols.spectrum_imager.acquire_spectrum_image(FRAME, 1e-3, pixel_order=order)
    assert spectra.shape == (6, protocols.world.spectrometer.channels) and haadf.shape == (6,)
    assert (spectra.sum(axis=1) > 0).all() and (haadf > 0).all()
    with pytest.raises(ValueError, match="pixel index 64"):
        protocols.spectrum_imager.acquire_spectrum_image(FRAME, 1e-3, pixel_order=np.array([1, 64]))
    calls, rows = [], []
    big = ScanFrame((16, 16), 256.0, (-40.0, 20.0), dwell_s=1e-3)  # 0.1 s sections of 6 rows: three of them
    with pytest.raises(Aborted, match="after 96 of 256 visits"):
        protocols.spectrum_imager.acquire_spectrum_image(big, 1e-3, rows_done=rows.append,
                                                         abort=lambda: calls.append(1) or len(calls) > 1)
    assert rows == [6]
    assert protocols.scan.probe_position_nm() == pytest.approx(big.center_nm)


def test_section_sizes_shared_by_the_spectrum_imagers():
    import doctest

    import detectors.interfaces

    result = doctest.testmod(detectors.interfaces)
    assert result.attempted > 0 and result.failed == 0
