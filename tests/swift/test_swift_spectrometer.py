"""The EELS spectrometer from Swift, driven as a user does: the "EELS Spectrometer" panel's fields
and buttons, the "Spectrometer" row of the workflow panels; the Swift camera's energy calibration
follows (a frame acquired through the Swift camera device)."""
from __future__ import annotations

import pathlib as _pathlib
import sys as _sys

import numpy as np
import pytest
from nion.swift.test import TestContext
from nion.ui import Declarative

from analysis.sidebands import photon_energy_eV
from nionswift_plugin.lumiere.panels import DriftCorrectedSIHandler, EEGSWavelengthScanHandler, SpectrumImageHandler
from nionswift_plugin.lumiere.spectrometer_panel import SpectrometerHandler, window_text

_sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))  # panel_driving beside this file
from panel_driving import one_frame  # noqa: E402

pytestmark = pytest.mark.swift

DAC_STEP_EV = 1 / 4.095  # the drift tube's DAC step (detectors/eels_spectrometer)


@pytest.fixture
def instrument(swift):
    """The session's instrument with the spectrometer at the low-loss default, and back after."""
    inst = swift.devices.instrument
    inst.eels_spectrometer.set_window(-20.0, 0.1)
    yield inst
    inst.eels_spectrometer.set_window(-20.0, 0.1)


@pytest.fixture
def document_controller():
    test_setup = TestContext.TestSetup()  # noqa: F841 - keep alive: it owns the event loop
    with TestContext.create_memory_context() as context:
        yield context.create_document_controller()


def camera_energy_axis(swift) -> np.ndarray:
    """The energy axis of a frame acquired now through Swift's camera (its summed spectrum)."""
    camera = swift.camera
    params = camera.get_current_frame_parameters()
    params.exposure_ms = 5
    params.binning = 1
    params.processing = "sum_project"
    camera.set_current_frame_parameters(params)
    _, spectrum = one_frame(camera)
    cal = spectrum.dimensional_calibrations[-1]
    assert cal.units == "eV"
    return cal.offset + cal.scale * np.arange(spectrum.data.shape[-1])


def panel_widgets(document_controller, handler) -> list[tuple[str, object]]:
    """Build the handler's widgets as Swift does (every binding and event must resolve) and return
    its labels and push buttons, (text, widget) in the panel's order."""
    widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, handler)
    found = []

    def walk(w) -> None:
        if type(w).__name__ in ("PushButtonWidget", "LabelWidget"):
            found.append((w.text, w))
        for child in getattr(w, "_contained_widgets", []) or []:
            walk(child)

    walk(widget.content_widget)
    return found


def click(widgets: list[tuple[str, object]], text: str) -> None:
    """Click the push button labelled ``text`` as a user does (its ``on_clicked``, what Qt calls)."""
    [button] = [w for t, w in widgets if t == text and type(w).__name__ == "PushButtonWidget"]
    assert button.enabled, f"{text} is disabled"
    button.on_clicked()


def test_the_panel_sets_offset_and_dispersion_and_the_camera_follows(swift, instrument, document_controller):
    handler = SpectrometerHandler(document_controller)
    widgets = panel_widgets(document_controller, handler)
    texts = [t for t, _ in widgets]
    for text in ("Energy offset (eV)", "Dispersion (eV/channel)", "Apply", "Spectrometer", "Low loss", "Core loss",
                 "EEGS", "−20.0 … 82.3 eV, 0.100 eV/ch"):
        assert text in texts, texts
    cal = instrument.spectrometer
    assert handler.spectrometer_window.value == "−20.0 … 82.3 eV, 0.100 eV/ch"
    assert handler.models["energy_offset_eV"].value == "-20.00" and handler.models["dispersion_eV_per_channel"].value == "0.1"
    handler.models["energy_offset_eV"].value = "-10"
    handler.models["dispersion_eV_per_channel"].value = "0.05"
    click(widgets, "Apply")
    assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == pytest.approx((-10.0, 0.05))
    assert handler.spectrometer_window.value == "−10.0 … 41.2 eV, 0.050 eV/ch" == window_text(cal)
    document_controller.periodic()
    [window_label] = [w for t, w in widgets if t == "−20.0 … 82.3 eV, 0.100 eV/ch"]
    assert window_label.text == "−10.0 … 41.2 eV, 0.050 eV/ch"  # what the user sees
    assert handler.status.value.startswith("Spectrometer: offset and dispersion: −10.0 … 41.2 eV, 0.050 eV/ch")
    axis = camera_energy_axis(swift)
    np.testing.assert_allclose(axis, cal.energy_axis_eV())
    # refused values: named in the status, the spectrometer and the camera unchanged
    handler.models["dispersion_eV_per_channel"].value = "0.3"
    click(widgets, "Apply")
    assert "Spectrometer not changed (offset and dispersion): dispersion 0.3 eV/channel is not one of the presets " \
           "at 100 kV" in handler.status.value
    handler.models["dispersion_eV_per_channel"].value = "0.05"
    handler.models["energy_offset_eV"].value = "2000"
    click(widgets, "Apply")
    assert "2000.0 eV outside the allowed range -10.0–990.0 eV" in handler.status.value
    handler.models["energy_offset_eV"].value = "abc"
    click(widgets, "Apply")
    assert handler.status.value == "Spectrometer not changed: Energy offset = 'abc' is not a number"
    assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == pytest.approx((-10.0, 0.05))
    # a change from elsewhere (a script through the stem_controller) shows in the window
    assert swift.stem_controller.SetVal("EELS_MagneticShift_Offset", 0.0)
    document_controller.periodic()
    assert handler.spectrometer_window.value == window_text(cal) and window_text(cal).startswith("0.0 … 51.")
    handler.close()


def test_the_panel_presets_and_the_camera_follows(swift, instrument, document_controller):
    handler = SpectrometerHandler(document_controller)
    widgets = panel_widgets(document_controller, handler)
    cal = instrument.spectrometer
    assert handler.models["edges"].value == "Sc L2,3; Dy M4,5; O K"
    click(widgets, "Core loss")
    assert cal.dispersion_eV_per_channel == 1.0
    assert cal.energy_offset_eV == pytest.approx(365.5, abs=DAC_STEP_EV / 2)  # 372 … 1382 eV centred
    assert handler.status.value.startswith(f"Spectrometer: core loss for Sc L2,3, Dy M4,5, O K: {window_text(cal)}")
    assert handler.models["dispersion_eV_per_channel"].value == "1"  # the fields follow the preset
    np.testing.assert_allclose(camera_energy_axis(swift), cal.energy_axis_eV())
    click(widgets, "EEGS")  # 590 nm (2.101 eV), ±2 orders: ±5.25 eV
    assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == pytest.approx((-10.0, 0.05))
    assert "EEGS for ±2 orders of 2.101 eV" in handler.status.value
    handler.models["eegs_orders"].value = "60"
    click(widgets, "EEGS")
    assert "Spectrometer not changed (EEGS): orders = 60 is not allowed; expected an integer 1–50" in handler.status.value
    handler.models["edges"].value = "Sc L2,3; Xx K"
    click(widgets, "Core loss")
    assert "Spectrometer not changed (core loss): unknown edge 'Xx K'" in handler.status.value
    click(widgets, "Low loss")
    assert handler.spectrometer_window.value == "−20.0 … 82.3 eV, 0.100 eV/ch"
    np.testing.assert_allclose(camera_energy_axis(swift), cal.energy_axis_eV())
    handler.close()


def test_every_workflow_panel_has_the_row_and_its_presets_use_the_panels_values(swift, instrument,
                                                                               document_controller):
    cal = instrument.spectrometer
    drift = DriftCorrectedSIHandler(document_controller)
    widgets = panel_widgets(document_controller, drift)
    texts = [t for t, _ in widgets]
    assert texts.index("Spectrometer") < texts.index("Start")  # the row sits above Start
    assert {"Low loss", "Core loss", "EEGS", "−20.0 … 82.3 eV, 0.100 eV/ch"} <= set(texts)
    assert drift.spectrometer_window.value == "−20.0 … 82.3 eV, 0.100 eV/ch"
    with pytest.raises(ValueError, match="outside the energy range"):  # low loss: the SI cannot start
        drift.check_parameters(drift.parameters())
    click(widgets, "Core loss")  # the panel's edges: Sc L2,3; Dy M4,5
    assert cal.dispersion_eV_per_channel == 1.0
    assert drift.status.value.startswith("Spectrometer: core loss for Sc L2,3, Dy M4,5:")
    drift.check_parameters(drift.parameters())  # the edges' windows are in the energy range now
    eegs = EEGSWavelengthScanHandler(document_controller)
    click(panel_widgets(document_controller, eegs), "EEGS")  # the panel's 600–700 nm: 600 nm reaches furthest
    half = 2.5 * photon_energy_eV(600.0)
    axis = cal.energy_axis_eV()
    assert axis[0] <= -half and axis[-1] >= half and cal.dispersion_eV_per_channel == 0.05
    document_controller.periodic()  # the other panels' windows follow on the UI thread
    assert drift.spectrometer_window.value == eegs.spectrometer_window.value == window_text(cal)
    si = SpectrumImageHandler(document_controller)
    si_widgets = panel_widgets(document_controller, si)
    si.running.value = True  # a run in progress: the presets are refused (the buttons are disabled too)
    si.spectrometer_low_loss_clicked()
    assert si.status.value == "Spectrometer not changed: a run is in progress (abort it first)."
    assert cal.dispersion_eV_per_channel == 0.05
    si.running.value = False
    click(si_widgets, "Low loss")
    assert (cal.energy_offset_eV, cal.dispersion_eV_per_channel) == pytest.approx((-20.0, 0.1))
    for handler in (drift, eegs, si):
        handler.close()
