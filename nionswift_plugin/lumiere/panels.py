"""Lumière's experiment panels (Window menu). Thin: each calls one workflow."""
from __future__ import annotations

import typing

from detectors.interfaces import ScanFrame
from drift_eels.spectrum_image import acquire_spectrum_image
from eegs.analysis import analyse_scan, write_analysis
from eegs.devices import EEGSDevices
from eegs.scans import WavelengthScan, WavelengthScanParameters
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


class EEGSWavelengthScanHandler(WorkflowHandler):
    """EEGS wavelength scan at the parked probe: the λ × energy-loss map grows live, then the
    resonance fit. Place the probe first (Swift's probe graphic on the HAADF image)."""

    title = "EEGS"
    fields = (
        Field("start_nm", "Start λ", 600.0, float, "nm"),
        Field("stop_nm", "Stop λ", 700.0, float, "nm"),
        Field("step_nm", "Step", 5.0, float, "nm"),
        Field("spectra_per_point", "Spectra per λ", 10, int),
        Field("exposure_ms", "Exposure", 50.0, float, "ms"),
        Field("diode_current_A", "Pump diode current", 6.0, float, "A"),
    )

    def _scan(self, p: dict[str, typing.Any]) -> WavelengthScan:
        params = WavelengthScanParameters(p["start_nm"], p["stop_nm"], p["step_nm"], p["spectra_per_point"],
                                          p["exposure_ms"] / 1000, p["diode_current_A"])
        return WavelengthScan(EEGSDevices.from_instrument(_instrument()), params)

    def check_parameters(self, p: dict[str, typing.Any]) -> None:
        scan = self._scan(p)
        scan.params.wavelengths_nm()
        scan.validate()  # every limit, before any command is sent

    def run_workflow(self, p: dict[str, typing.Any], sink: Sink, task: TaskControl) -> str:
        scan = self._scan(p)
        result = scan.run(sink, task.subtask(0.0, 0.95))
        analysis = analyse_scan(result)
        write_analysis(sink, analysis)
        task.progress(1.0, "analysed")
        summary = analysis.summary()
        if "resonance_centre_nm" in summary:
            return (f"Resonance at {summary['resonance_centre_nm']:.1f} nm "
                    f"({summary['resonance_centre_eV']:.3f} eV), FWHM {1000 * summary['resonance_fwhm_eV']:.0f} meV, "
                    f"Q = {summary['resonance_q']:.1f}.")
        return f"No resonance fitted: {summary.get('resonance_error', 'too few points')}."


PANELS: dict[str, type[WorkflowHandler]] = {
    "lumiere-si-panel": SpectrumImageHandler,
    "lumiere-eegs-panel": EEGSWavelengthScanHandler,
}
