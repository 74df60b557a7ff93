"""EEGS map: |β| at every probe position of a line across a particle's near field."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.config import validate
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from eegs import EEGSDevices, EEGSMap, EEGSMapParameters, analyse_map, write_map_analysis
from lumiere.sinks import MemorySink
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl

CONFIG = {"world": {"drift": {"rate_nm_per_min": [0.0, 0.0], "random_walk_nm_per_sqrt_min": 0.0}},
          "laser": {"simulation": {"power_drift_rel": 0.0}}}


def test_map_follows_the_near_field_decay():
    with build_instrument(validate(CONFIG)) as instrument:
        world = instrument.world
        p = world.specimen.particles[0]
        frame = ScanFrame(size_px=(2, 10), fov_nm=60.0, center_nm=(p.y_nm, p.x_nm + p.radius_nm + 24))
        devices = EEGSDevices.from_instrument(instrument)
        sink = MemorySink()
        result = EEGSMap(devices, EEGSMapParameters(frame, 600.0, spectra_per_point=4, exposure_s=0.1)).run(sink)
        assert not world.laser.shutter_open
        analysis = analyse_map(result)
        devices.pump.set_shutter(True)  # the truth: the world's |β| with the light on
        ys, xs = frame.positions_nm()
        truth = world.beta(world.composition(ys.ravel(), xs.ravel(), world.clock.now_s())).reshape(ys.shape)
    assert sink.results["eegs_map"].data.shape == (2, 10, 1024) and sink.results["eegs_map"].writes == 2
    assert [a.units for a in sink.results["eegs_map"].axes] == ["nm", "nm", "eV"]
    assert sink.results["eegs_map_laser_off"].finished and np.isfinite(result.power_uW).all()
    strong = truth > 0.01
    assert strong.sum() >= 8
    np.testing.assert_allclose(analysis.beta_abs[strong], truth[strong], rtol=0.05)
    # gain ∝ |β|² / P: falls off away from the particle like the truth
    g = analysis.gain_per_uW[strong]
    ratio = g / truth[strong] ** 2
    assert np.std(ratio) / np.mean(ratio) < 0.1
    write_map_analysis(sink, analysis, frame)
    assert sink.results["eegs_map_beta"].finished


def test_map_abort_closes_the_shutter():
    with build_instrument() as instrument:
        frame = ScanFrame(size_px=(4, 4), fov_nm=40.0)
        devices = EEGSDevices.from_instrument(instrument)
        task = TaskControl()
        task.add_listener(lambda f, m: task.abort())
        sink = MemorySink()
        with pytest.raises(Aborted):
            EEGSMap(devices, EEGSMapParameters(frame, 590.0, spectra_per_point=1, exposure_s=0.01)).run(sink, task)
        assert not devices.pump.shutter_open() and not instrument.world.laser.shutter_open
        data = sink.results["eegs_map"].data
        assert np.isfinite(data[0]).all() and np.isnan(data[1:]).all() and sink.results["eegs_map"].finished
