"""Panel "CL spectrometer": grating, centre wavelength, slit, exit mirror; Apply; acquire a CL
spectrum or a CL spectrum image; status.

Every value is checked against the spectrometer's configured ranges before anything is sent (a
bad value is refused with a message naming it). Applying turns the turret if needed (≈15 s on the
instrument), moves to the centre wavelength, sets the entrance slit and the exit mirror, then
re-reads the camera's wavelength axis, on a worker thread so Swift stays responsive; the status
line says what was done or why not. Live spectra with their nm axis are the "lumiere_cl_camera"
camera's own (stock camera panel); "Acquire spectrum" and "Acquire SI" take one spectrum at the
parked probe or a spectrum image of the given region into data items (nm axes) on a worker thread.
"""
from __future__ import annotations

import threading
import typing

import numpy as np
from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from detectors.common.errors import describe_error
from lumiere.sinks import Axis
from nionswift_plugin.lumiere.cl_camera_device import CLBackend
from nionswift_plugin.lumiere.workflow_panel import Field, FieldModels, field_widget, text_area

PANEL_ID = "lumiere-cl-panel"
FIELDS = (
    Field("grating", "Grating (turret position)", 2, int),
    Field("center_nm", "Centre wavelength", 550.0, float, "nm"),
    Field("slit_um", "Entrance slit", 100.0, float, "µm"),
    Field("exit_mirror", "Exit mirror (FRONT = camera)", "FRONT", str, choices=("FRONT", "SIDE")),
)
ACQUIRE_FIELDS = (
    Field("exposure_ms", "Spectrum exposure", 100.0, float, "ms"),
    Field("si_size_px", "SI size", 16, int, "px"),
    Field("si_fov_nm", "SI field of view", 128.0, float, "nm"),
    Field("si_center_y_nm", "SI centre y", 0.0, float, "nm"),
    Field("si_center_x_nm", "SI centre x", 0.0, float, "nm"),
    Field("si_dwell_ms", "SI dwell", 10.0, float, "ms"),
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
        self.field_models = FieldModels(self, FIELDS + ACQUIRE_FIELDS)  # the exit mirror: a combo box
        self.models = self.field_models.models
        self.status = Model.PropertyModel("")
        #: the worker thread of the last Apply or acquisition (tests join it)
        self.worker: threading.Thread | None = None
        #: where acquisitions go (data items); made on the first acquisition
        self.sink: typing.Any = None
        u = Declarative.DeclarativeUI()
        self.ui_view = u.create_column(
            *(field_widget(u, f) for f in FIELDS),
            u.create_row(u.create_push_button(text="Read", on_clicked="read_clicked"),
                         u.create_push_button(text="Apply", on_clicked="apply_clicked"), u.create_stretch(), spacing=8),
            *(field_widget(u, f) for f in ACQUIRE_FIELDS),
            u.create_row(u.create_push_button(text="Acquire spectrum", on_clicked="acquire_spectrum_clicked"),
                         u.create_push_button(text="Acquire SI", on_clicked="acquire_si_clicked"),
                         u.create_stretch(), spacing=8),
            text_area(u, "status.value", 64), u.create_stretch(), spacing=6, margin=8)
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


    # -- acquisition -------------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def _start(self, what: str, work: typing.Callable[[typing.Any], str]) -> None:
        """Run ``work(sink)`` on a worker thread; its returned text (or its error) goes to the status."""
        if self._busy():
            self._set_status("Not started: the spectrometer is busy (previous Apply or acquisition).")
            return
        if self.sink is None:
            from nionswift_plugin.lumiere.swift_sink import SwiftDataItemSink

            self.sink = SwiftDataItemSink(self.document_controller, title_prefix="CL: ")
        sink = self.sink
        self._set_status(f"Acquiring {what}…")

        def run() -> None:
            try:
                text = work(sink)
            except Exception as e:  # noqa: BLE001 - the device's error goes to the status line
                text = f"CL {what} failed: {e}"
            self._set_status(text)

        self.worker = threading.Thread(target=run, name=f"cl-acquire-{what}", daemon=True)
        self.worker.start()

    def acquire_spectrum_clicked(self, widget: typing.Any = None) -> None:
        """One spectrum at the parked probe, counts vs wavelength (nm)."""
        backend = self.backend
        if backend is None:
            self._set_status("No CL spectrometer on this instrument.")
            return
        try:
            exposure_s = self.field_models.parse(ACQUIRE_FIELDS)["exposure_ms"] / 1000
            if not 0 < exposure_s <= 600:
                raise ValueError(f"Spectrum exposure = {1000 * exposure_s:g} ms outside (0, 600000] ms")
        except ValueError as e:
            self._set_status(f"Not acquired: {e}")
            return

        def work(sink: typing.Any) -> str:
            spectrum = backend.frame(exposure_s)[0]
            c = backend.calibration()
            sink.create("cl_spectrum", spectrum.shape, [Axis("Wavelength", "nm", float(c.scale_nm), float(c.offset_nm))],
                        metadata={**backend.metadata(), "exposure_s": exposure_s},
                        title=f"CL spectrum ({1000 * exposure_s:g} ms)")
            sink.write("cl_spectrum", slice(None), spectrum.astype(np.float32))
            sink.finish("cl_spectrum")
            return f"CL spectrum acquired: {exposure_s * 1000:g} ms, peak {float(np.max(spectrum)):.0f} counts."

        self._start("spectrum", work)

    def acquire_si_clicked(self, widget: typing.Any = None) -> None:
        """A CL spectrum image of the region (y, x, λ in nm); the image shows the total counts."""
        from detectors.interfaces import ScanFrame
        from drift_eels.spectrum_image import acquire_cl_spectrum_image

        backend = self.backend
        if backend is None:
            self._set_status("No CL spectrometer on this instrument.")
            return
        try:
            p = self.field_models.parse(ACQUIRE_FIELDS)
            if not 1 <= p["si_size_px"] <= 256:
                raise ValueError(f"SI size = {p['si_size_px']} px outside 1–256 px")
            if not 0 < p["si_dwell_ms"] <= 10_000:
                raise ValueError(f"SI dwell = {p['si_dwell_ms']} ms outside (0, 10000] ms")
            frame = ScanFrame((p["si_size_px"], p["si_size_px"]), p["si_fov_nm"],
                              (p["si_center_y_nm"], p["si_center_x_nm"]), dwell_s=p["si_dwell_ms"] / 1000)
        except ValueError as e:
            self._set_status(f"Not acquired: {e}")
            return

        def work(sink: typing.Any) -> str:
            si = acquire_cl_spectrum_image(backend.cl, frame, sink, metadata=backend.metadata())
            return f"CL SI acquired: {si.shape[0]}×{si.shape[1]} px, {si.shape[2]} channels."

        self._start("SI", work)


class CLSpectrometerPanel(Panel.Panel):
    def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
        super().__init__(document_controller, panel_id, "CL spectrometer")
        self.handler = CLSpectrometerHandler(document_controller)
        self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)

    def close(self) -> None:
        self.handler.field_models.close()
        super().close()


def register() -> None:
    Workspace.WorkspaceManager().register_panel(CLSpectrometerPanel, PANEL_ID, "CL spectrometer",
                                                ["left", "right"], "right", {})


def unregister() -> None:
    Workspace.WorkspaceManager().unregister_panel(PANEL_ID)
