"""The VG column and the CL spectrometer inside the simulated instrument (lazy, closed with it)."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame


def test_column_and_cl_start_on_first_use_and_close_with_the_instrument():
    instrument = build_instrument()
    assert not instrument.column_connected and not instrument.cl_connected
    column, cl = instrument.column, instrument.cl
    assert instrument.column is column and instrument.cl is cl
    assert column.get("EHT") == instrument.world.beam.high_tension_V
    instrument.close()
    assert column.servers == {} and cl.server is None
    with pytest.raises(RuntimeError, match="closed"):
        instrument.column


def test_column_probe_shift_moves_the_scan_and_the_cl_camera():
    with build_instrument() as instrument:
        instrument.column.set("CSH.x", 30.0)
        instrument.column.set("CSH.y", -10.0)
        assert instrument.probe_shift.get_shift_nm() == pytest.approx((-10.0, 30.0))
        frame = ScanFrame((4, 4), 40.0, (0.0, 0.0), 0.0, dwell_s=1e-3)
        y0, x0 = frame.positions_nm()
        y, x = instrument.probe_shift.apply(frame).positions_nm()
        assert np.allclose(x - x0, 30.0) and np.allclose(y - y0, -10.0)
        assert instrument.cl.camera.probe_shift is instrument.probe_shift
