"""The training panel's logic (TrainingController) and handler, headless (no Qt)."""
from __future__ import annotations

from detectors.instrument import build_instrument
from nionswift_plugin.lumiere.training_panel import TrainingController, TrainingHandler
from lumiere.training import SCENARIOS
import pytest

pytestmark = pytest.mark.swift


def test_start_check_on_a_registered_simulated_instrument():
    instrument = build_instrument()
    try:
        c = TrainingController(lambda: instrument)
        assert "Start a scenario first" in c.check("2.0")
        c.select(list(SCENARIOS).index("cl-emission"))
        assert "CL" in c.goal_text()
        assert c.start(seed=0).startswith("Started")
        truth = c.session.truth["peak_nm"]
        assert c.check(f"{truth:.1f}").startswith("PASS")
        assert c.check(f"{truth + 40:.1f}").startswith("FAIL")
        assert "expected a wavelength" in c.check("red")
        assert c.run_scripted_trainee().startswith("Scripted trainee finished")
        assert c.check("").startswith("PASS")  # the last result
        c.stop()
        assert not instrument._closed  # the registered instrument stays open
    finally:
        instrument.close()


def test_start_explains_why_not_on_real_hardware():
    class Real:
        world = None

    assert "real instrument" in TrainingController(lambda: Real()).start()
    assert "not registered" in TrainingController(lambda: None).start()


def test_handler_binds_the_controller():
    instrument = build_instrument()
    try:
        h = TrainingHandler(None, instrument=lambda: instrument)
        h.scenario_index.value = list(SCENARIOS).index("eegs-resonance")
        assert "plasmon resonance" in h.goal.value
        h.start_clicked()
        assert h.report.value.startswith("Started")
        t = h.controller.session.truth["resonance_eV"]
        h.answer.value = f"{t:.3f}"
        h.check_clicked()
        assert h.report.value.startswith("PASS")
        h.controller.stop()
    finally:
        instrument.close()


def test_panel_widget_builds_in_a_headless_swift_document():
    import time

    from nion.swift.test import TestContext
    from nion.ui import Declarative

    _setup = TestContext.TestSetup()  # noqa: F841 - keeps the event loop alive
    instrument = build_instrument()
    try:
        with TestContext.create_memory_context() as context:
            dc = context.create_document_controller()
            handler = TrainingHandler(dc, instrument=lambda: instrument)
            widget = Declarative.DeclarativeWidget(dc.ui, dc.event_loop, handler)
            handler.scenario_index.value = list(SCENARIOS).index("cl-emission")
            handler.start_clicked()
            handler.auto_clicked()  # scripted trainee in a thread, report queued to the UI thread
            deadline = time.monotonic() + 60
            while "finished" not in handler.report.value and time.monotonic() < deadline:
                dc.periodic()
                time.sleep(0.01)
            assert "finished" in handler.report.value, handler.report.value
            handler.check_clicked()
            assert handler.report.value.startswith("PASS")
            widget.close()
    finally:
        instrument.close()


def test_merlin_scenario_on_a_registered_instrument_needs_a_merlin():
    from detectors.config import validate
    instrument = build_instrument()
    try:
        c = TrainingController(lambda: instrument)
        c.select(list(SCENARIOS).index("merlin-tune"))
        assert "merlin-simulated" in c.start()
    finally:
        instrument.close()
    instrument = build_instrument(validate({"eels_camera": {"backend": "merlin-simulated"}}))
    try:
        c = TrainingController(lambda: instrument)
        c.select(list(SCENARIOS).index("merlin-tune"))
        assert c.start(seed=1).startswith("Started")
        assert instrument.eels_camera.simulator.frame_source is c.session.extras["merlin_defects"]
        assert c.run_scripted_trainee().startswith("Scripted trainee finished")
        assert c.check("").startswith("PASS")
        c.stop()
    finally:
        instrument.close()
