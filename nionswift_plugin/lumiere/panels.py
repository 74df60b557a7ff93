"""Lumière's experiment panels (Window menu). Thin: each calls one workflow."""
from __future__ import annotations

import typing

from detectors.interfaces import ScanFrame
from drift_eels.spectrum_image import acquire_spectrum_image
from lumiere.sinks import Sink
from lumiere.tasks import TaskControl
from nionswift_plugin.lumiere.workflow_panel import Field, WorkflowHandler


def _instrument() -> typing.Any:
    import nionswift_plugin.lumiere as plugin

    devices = plugin.devices()
    if devices is None:
        raise RuntimeError("the Lumière instrument is not registered (plug-in not running)")
    return devices.instrument


class SpectrumImageHandler(WorkflowHandler):
    """A plain EELS spectrum image of a region (no drift correction)."""

    title = "Lumière SI"
    fields = (
        Field("size_px", "SI size", 32, int, "px"),
        Field("fov_nm", "Field of view", 128.0, float, "nm"),
        Field("center_y_nm", "Centre y", 0.0, float, "nm"),
        Field("center_x_nm", "Centre x", 0.0, float, "nm"),
        Field("exposure_ms", "Exposure", 5.0, float, "ms"),
    )

    def check_parameters(self, p: dict[str, typing.Any]) -> None:
        if not 1 <= p["size_px"] <= 1024:
            raise ValueError(f"SI size = {p['size_px']} px outside 1–1024 px")
        max_fov = _instrument().config["scan"]["max_fov_nm"]
        if not 0 < p["fov_nm"] <= max_fov:
            raise ValueError(f"field of view = {p['fov_nm']} nm outside (0, {max_fov}] nm")
        if not 0 < p["exposure_ms"] <= 60_000:
            raise ValueError(f"exposure = {p['exposure_ms']} ms outside (0, 60000] ms")

    def run_workflow(self, p: dict[str, typing.Any], sink: Sink, task: TaskControl) -> str:
        instrument = _instrument()
        frame = ScanFrame((p["size_px"], p["size_px"]), p["fov_nm"], (p["center_y_nm"], p["center_x_nm"]),
                          dwell_s=p["exposure_ms"] / 1000)
        si, _ = acquire_spectrum_image(instrument.spectrum_imager, frame, p["exposure_ms"] / 1000, sink, task=task)
        return f"{si.shape[0]}×{si.shape[1]} SI, {si.shape[2]} channels."


PANELS: dict[str, type[WorkflowHandler]] = {
    "lumiere-si-panel": SpectrumImageHandler,
}
