"""Panel "CL spectrometer": grating, centre wavelength, slit, exit mirror; Apply; status.

Every value is checked against the spectrometer's configured ranges before anything is sent (a
bad value is refused with a message naming it). Applying turns the turret if needed (≈15 s on the
instrument), moves to the centre wavelength, sets the entrance slit and the exit mirror, then
re-reads the camera's wavelength axis, on a worker thread so Swift stays responsive; the status
line says what was done or why not. Live spectra with their nm axis are the "lumiere_cl_camera"
camera's own (stock camera panel).
"""
from __future__ import annotations

import threading
import typing

from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from detectors.common.errors import describe_error
from nionswift_plugin.lumiere.cl_camera_device import CLBackend
from nionswift_plugin.lumiere.workflow_panel import Field

PANEL_ID = "lumiere-cl-panel"
FIELDS = (
    Field("grating", "Grating (turret position)", 2, int),
    Field("center_nm", "Centre wavelength", 550.0, float, "nm"),
    Field("slit_um", "Entrance slit", 100.0, float, "µm"),
    Field("exit_mirror", "Exit mirror (FRONT = camera)", "FRONT", str),
)


def _plugin_backend() -> CLBackend | None:
    import nionswift_plugin.lumiere as plugin

    devices = plugin.devices()
    return devices.cl_camera.backend if devices is not None and devices.cl_camera is not None else None


class CLSpectrometerHandler(Declarative.Handler):
    """Declarative handler; ``backend`` defaults to the registered CL camera's."""

    def __init__(self, document_controller: typing.Any, backend: CLBackend | None = None) -> None:
        super().__init__()
        self.document_controller = document_controller
        self._backend = backend
        self.models = {f.name: Model.PropertyModel(str(f.default)) for f in FIELDS}
        for f in FIELDS:
            setattr(self, f"field_{f.name}", self.models[f.name])
        self.status = Model.PropertyModel("")
        #: the worker thread of the last Apply (tests join it)
        self.worker: threading.Thread | None = None
        u = Declarative.DeclarativeUI()
        rows = [u.create_row(u.create_label(text=f.label + (f" ({f.units})" if f.units else "")), u.create_stretch(),
                             u.create_line_edit(text=f"@binding(field_{f.name}.value)", width=80), spacing=8)
                for f in FIELDS]
        self.ui_view = u.create_column(*rows, u.create_row(
            u.create_push_button(text="Read", on_clicked="read_clicked"),
            u.create_push_button(text="Apply", on_clicked="apply_clicked"), u.create_stretch(), spacing=8),
            u.create_label(text="@binding(status.value)", word_wrap=True), u.create_stretch(), spacing=6, margin=8)
        self.read_clicked()

    @property
    def backend(self) -> CLBackend | None:
        return self._backend or _plugin_backend()

    def _set_status(self, text: str) -> None:
        self.status.value = text

    def read_clicked(self, widget: typing.Any = None) -> None:
        backend = self.backend
        if backend is None:
            self._set_status("No CL spectrometer on this instrument.")
            return
        try:
            s = backend.status()
        except Exception as e:  # noqa: BLE001 - a device error goes to the status line
            self._set_status(f"Could not read the spectrometer: {describe_error(e)}")
            return
        for name in ("grating", "center_nm", "slit_um", "exit_mirror"):
            self.models[name].value = str(s[name])
        self._set_status(self._describe(backend, s))

    @staticmethod
    def _describe(backend: CLBackend, s: typing.Mapping[str, typing.Any]) -> str:
        c = backend.calibration()
        first, last = c.offset_nm, c.offset_nm + c.scale_nm * 1023
        return (f"Grating {s['grating']} ({s['grating_text']}), centre {s['center_nm']:.3f} nm, slit "
                f"{s['slit_um']:g} µm, exit mirror {s['exit_mirror']}; camera {first:.1f}–{last:.1f} nm "
                f"({c.scale_nm:.4f} nm/px).")

    def apply_clicked(self, widget: typing.Any = None) -> None:
        """Validate now (refusal in the status), then move the spectrometer on a worker thread."""
        backend = self.backend
        if backend is None:
            self._set_status("No CL spectrometer on this instrument.")
            return
        if self.worker is not None and self.worker.is_alive():
            self._set_status("Not applied: the spectrometer is still moving (previous Apply).")
            return
        try:
            values = backend.check(*(self.models[n].value for n in ("grating", "center_nm", "slit_um", "exit_mirror")))
        except ValueError as e:
            self._set_status(f"Not applied: {e}")
            return
        self._set_status("Moving the spectrometer…")

        def work() -> None:
            try:
                backend.apply(*values)
                self._set_status("Applied. " + self._describe(backend, backend.status()))
            except Exception as e:  # noqa: BLE001 - the device's refusal goes to the status line
                self._set_status(f"Spectrometer error: {describe_error(e)}")

        self.worker = threading.Thread(target=work, name="cl-spectrometer-apply", daemon=True)
        self.worker.start()


class CLSpectrometerPanel(Panel.Panel):
    def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
        super().__init__(document_controller, panel_id, "CL spectrometer")
        self.handler = CLSpectrometerHandler(document_controller)
        self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)


def register() -> None:
    Workspace.WorkspaceManager().register_panel(CLSpectrometerPanel, PANEL_ID, "CL spectrometer",
                                                ["left", "right"], "right", {})


def unregister() -> None:
    Workspace.WorkspaceManager().unregister_panel(PANEL_ID)
