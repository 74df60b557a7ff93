"""Panel status lines for bad inputs and device faults: one line naming the value or the device."""
from __future__ import annotations

import time

from nion.swift.test import TestContext

from detectors.common import checks
from detectors.common.simbase import Fault
from nionswift_plugin.lumiere.panels import EEGSWavelengthScanHandler, SpectrumImageHandler
import pytest

import pathlib as _pathlib
import sys as _sys

_sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))  # panel_driving beside this file
from panel_driving import run_until_idle  # noqa: E402

pytestmark = pytest.mark.swift


def test_si_panel_refuses_non_finite_fields_and_sizes_beyond_memory(swift, monkeypatch):
    test_setup = TestContext.TestSetup()  # noqa: F841 - keep alive: it owns the event loop
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = SpectrumImageHandler(document_controller)
        for name, text in (("fov_nm", "inf"), ("exposure_ms", "nan"), ("center_y_nm", "-inf")):
            handler.models[name].value = text
            handler.start_clicked()
            assert not handler.running.value
            assert handler.status.value.startswith("Not started: ") and f"{text!r}" in handler.status.value
            assert "finite" in handler.status.value and "\n" not in handler.status.value
            handler.models[name].value = "5"
        # a machine with 256 MiB free: a 256 × 256 px SI (256 MiB of float32 spectra) does not fit
        monkeypatch.setattr(checks, "available_memory_bytes", lambda: 256 << 20)
        handler.models["size_px"].value = "256"
        handler.start_clicked()
        assert not handler.running.value and handler.sink is None, "nothing created"
        assert handler.status.value.startswith("Not started: SI size = 256 px is not allowed: it needs 256.0 MiB")


def test_eegs_panel_names_the_laser_that_answers_garbage(swift):
    test_setup = TestContext.TestSetup()  # noqa: F841
    instrument = swift.devices.instrument
    world = instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -8.0, 0.01
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = EEGSWavelengthScanHandler(document_controller)
        for name, value in (("start_nm", "630"), ("stop_nm", "640"), ("step_nm", "10"),
                            ("spectra_per_point", "1"), ("exposure_ms", "5")):
            handler.models[name].value = value
        instrument.laser_bench  # connected before the fault is switched on
        instrument.laser_system.laser.fault = Fault.GARBLED
        try:
            handler.start_clicked()
            run_until_idle(handler, document_controller, timeout_s=120.0)
        finally:
            instrument.laser_system.clear_faults()
        status = handler.status.value
        assert status.startswith("Error: laser on serial port "), status
        assert "\n" not in status and "Traceback" not in status
        assert not world.laser.shutter_open, "the shutter is closed after the fault"
