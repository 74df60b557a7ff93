"""Panel "Merlin settings": counter depth, thresholds, continuous read/write, exposure.

Values are validated against the detector's own ranges before anything is sent; applying writes
them to the Merlin through its control port (the next acquisition uses them) and the exposure to
Swift's camera settings. The current values are read back from the detector.
"""
from __future__ import annotations

import dataclasses
import typing

from nion.instrumentation import HardwareSource
from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from detectors.common.errors import describe_error
from detectors.merlin.camera import MerlinEELSCamera
from detectors.merlin.errors import MerlinError
from detectors.merlin.settings import MerlinSettings
from nionswift_plugin.lumiere.workflow_panel import Field, FieldModels, field_widget, text_area

PANEL_ID = "lumiere-merlin-panel"
FIELDS = (
    Field("counter_depth", "Counter depth", 12, int, "bit", choices=("1", "6", "12", "24")),
    Field("threshold0_keV", "Threshold 0", 10.0, float, "keV"),
    Field("threshold1_keV", "Threshold 1", 0.0, float, "keV"),
    Field("continuous_rw", "Continuous read/write", False, bool),
    Field("exposure_ms", "Exposure", 1.0, float, "ms"),
)


def _merlin() -> MerlinEELSCamera | None:
    import nionswift_plugin.lumiere as plugin

    devices = plugin.devices()
    camera = devices.instrument.eels_camera if devices else None
    return camera if isinstance(camera, MerlinEELSCamera) else None


class MerlinSettingsHandler(Declarative.Handler):
    def __init__(self, document_controller: typing.Any) -> None:
        super().__init__()
        self.document_controller = document_controller
        self.field_models = FieldModels(self, FIELDS)  # counter depth: combo box; continuous r/w: check box
        self.models = self.field_models.models
        self.status = Model.PropertyModel("")
        u = Declarative.DeclarativeUI()
        self.ui_view = u.create_column(*(field_widget(u, f) for f in FIELDS), u.create_row(
            u.create_push_button(text="Read from detector", on_clicked="read_clicked"),
            u.create_push_button(text="Apply", on_clicked="apply_clicked"), u.create_stretch(), spacing=8),
            text_area(u, "status.value"), u.create_stretch(), spacing=6, margin=8)
        self.read_clicked()

    def read_clicked(self, widget: typing.Any = None) -> None:
        camera = _merlin()
        if camera is None:
            self.status.value = "No Merlin on this instrument (site file: eels_camera.backend)."
            return
        try:
            s = camera.read_settings()
        except MerlinError as e:
            self.status.value = f"Could not read the Merlin: {describe_error(e)}"
            return
        values = {"counter_depth": s.counter_depth, "threshold0_keV": s.thresholds_keV[0],
                  "threshold1_keV": s.thresholds_keV[1], "continuous_rw": bool(s.continuous_rw),
                  "exposure_ms": s.acquisition_time_ms}
        for name, value in values.items():
            self.models[name].value = str(value)
        self.status.value = "Read from the detector."

    def apply_clicked(self, widget: typing.Any = None) -> None:
        camera = _merlin()
        if camera is None:
            self.status.value = "No Merlin on this instrument (site file: eels_camera.backend)."
            return
        try:
            p = self.field_models.parse(FIELDS)  # counter depth one of 1, 6, 12, 24; the switch on/off
            for key in ("threshold0_keV", "threshold1_keV"):
                if not 0.0 <= p[key] <= 999.99:
                    raise ValueError(f"{key} = {p[key]} keV outside 0–999.99 keV")
            if not 0.1 <= p["exposure_ms"] <= 60_000:
                raise ValueError(f"Exposure = {p['exposure_ms']} ms outside 0.1–60000 ms")
        except ValueError as e:
            self.status.value = f"Not applied: {e}"
            return
        settings = dataclasses.replace(camera.settings, counter_depth=p["counter_depth"],
                                       thresholds_keV=(p["threshold0_keV"], p["threshold1_keV"]),
                                       continuous_rw=bool(p["continuous_rw"]),
                                       acquisition_time_ms=p["exposure_ms"], acquisition_period_ms=p["exposure_ms"])
        try:
            camera.apply_settings(settings)
        except MerlinError as e:
            self.status.value = f"The Merlin refused: {describe_error(e)}"
            return
        hardware_source = HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id(
            "lumiere_eels_camera")
        if hardware_source is not None:
            params = hardware_source.get_current_frame_parameters()
            params.exposure_ms = p["exposure_ms"]
            hardware_source.set_current_frame_parameters(params)
        self.status.value = (f"Applied: {settings.counter_depth}-bit, thresholds {settings.thresholds_keV} keV, "
                             f"exposure {settings.acquisition_time_ms} ms.")


class MerlinSettingsPanel(Panel.Panel):
    def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
        super().__init__(document_controller, panel_id, "Merlin settings")
        self.handler = MerlinSettingsHandler(document_controller)
        self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)

    def close(self) -> None:
        self.handler.field_models.close()
        super().close()


def register() -> None:
    Workspace.WorkspaceManager().register_panel(MerlinSettingsPanel, PANEL_ID, "Merlin settings",
                                                ["left", "right"], "right", {})


def unregister() -> None:
    Workspace.WorkspaceManager().unregister_panel(PANEL_ID)
