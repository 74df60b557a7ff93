"""Lumière's experiment panels (Window menu). Thin: each calls one workflow."""
from __future__ import annotations

import typing

from detectors.interfaces import ScanFrame
from drift_eels.parameters import SI_CUBES, SPARSE_SI_CUBES, DriftSIParameters, check_si_memory, region_around
from detectors.simulation.setup import drift_si_targets_nm
from drift_eels.sparse_si import PATTERNS, acquire_sparse_spectrum_image
from drift_eels.spectrum_image import acquire_spectrum_image, acquire_survey
from drift_eels.workflow import DriftCorrectedSI
from eegs.analysis import analyse_scan, write_analysis
from eegs.devices import EEGSDevices
from eegs.scans import WavelengthScan, WavelengthScanParameters
from lumiere.sinks import Axis, Sink
from lumiere.tasks import TaskControl
from nionswift_plugin.lumiere import displays
from nionswift_plugin.lumiere.workflow_panel import Field, WorkflowHandler


def _instrument() -> typing.Any:
    import nionswift_plugin.lumiere as plugin

    devices = plugin.devices()
    if devices is None:
        raise RuntimeError("the Lumière instrument is not registered (plug-in not running)")
    return devices.instrument


class SpectrumImageHandler(WorkflowHandler):
    """An EELS spectrum image of a region (no drift correction): a full raster, or sparse
    (Sampling < 1: a random or line-hopping subset of the pixels, then the low-rank
    reconstruction); optionally a live PCA or NMF (loadings and score maps updated after every
    section)."""

    title = "Lumière SI"
    fields = (
        Field("size_px", "SI size", 32, int, "px"),
        Field("fov_nm", "Field of view", 128.0, float, "nm"),
        Field("center_y_nm", "Centre y", 0.0, float, "nm"),
        Field("center_x_nm", "Centre x", 0.0, float, "nm"),
        Field("exposure_ms", "Exposure", 5.0, float, "ms"),
        Field("sampling", "Sampling (fraction of pixels)", 1.0, float),
        Field("pattern", "Pattern", "random", str, choices=PATTERNS),
        Field("live_components", "Live components", 3, int),
        Field("live_method", "Live decomposition", "PCA", str, choices=("PCA", "NMF")),
    )

    def check_parameters(self, p: dict[str, typing.Any]) -> None:
        if not 1 <= p["size_px"] <= 1024:
            raise ValueError(f"SI size = {p['size_px']} px outside 1–1024 px")
        config = _instrument().config
        max_fov = config["scan"]["max_fov_nm"]
        if not 0 < p["fov_nm"] <= max_fov:
            raise ValueError(f"field of view = {p['fov_nm']} nm outside (0, {max_fov}] nm")
        if not 0 < p["exposure_ms"] <= 60_000:
            raise ValueError(f"exposure = {p['exposure_ms']} ms outside (0, 60000] ms")
        if not 0 < p["sampling"] <= 1:
            raise ValueError(f"sampling = {p['sampling']} outside (0, 1] (1 = full raster)")
        if not 0 <= p["live_components"] <= 32:
            raise ValueError(f"live {p['live_method']} components = {p['live_components']} outside 0–32 (0 = off)")
        if p["sampling"] < 1:
            visits = round(p["sampling"] * p["size_px"] ** 2)
            if visits < max(3, p["live_components"]):
                raise ValueError(f"sampling = {p['sampling']} of {p['size_px']}×{p['size_px']} px visits {visits} "
                                 f"pixels; at least {max(3, p['live_components'])} are needed")
        check_si_memory(f"SI size = {p['size_px']} px", (p["size_px"], p["size_px"]),
                        _instrument().spectrum_imager.energy_axis_eV().size,
                        SI_CUBES if p["sampling"] >= 1 else SPARSE_SI_CUBES)

    def run_workflow(self, p: dict[str, typing.Any], sink: Sink, task: TaskControl) -> str:
        instrument = _instrument()
        frame = ScanFrame((p["size_px"], p["size_px"]), p["fov_nm"], (p["center_y_nm"], p["center_x_nm"]),
                          dwell_s=p["exposure_ms"] / 1000)
        exposure_s, k, method = p["exposure_ms"] / 1000, p["live_components"], p["live_method"]
        live = f"; live {method} of {k} components" if k else ""
        if p["sampling"] >= 1:
            si, _ = acquire_spectrum_image(instrument.spectrum_imager, frame, exposure_s, sink, task=task,
                                           live_components=k, live_method=method.lower(),
                                           metadata=instrument.metadata())  # HyperSpy TEM (lumiere/metadata.py)
            return f"{si.shape[0]}×{si.shape[1]} SI, {si.shape[2]} channels{live}."
        result = acquire_sparse_spectrum_image(instrument.spectrum_imager, frame, exposure_s, sink,
                                               pattern=p["pattern"], fraction=p["sampling"], task=task,
                                               live_components=k, live_method=method.lower(),
                                               metadata=instrument.metadata())
        h, w, n = result.si.shape
        fraction = result.pattern.fraction
        return (f"sparse {h}×{w} SI ({p['pattern']}), {n} channels: {result.visits_done} of {h * w} pixels "
                f"visited ({100 * fraction:.0f} %), dose reduced {1 / fraction:.1f}×; low-rank "
                f"reconstruction{live}.")


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
        Field("reimage_every", "Re-image every N points", 1, int),
    )

    def _scan(self, p: dict[str, typing.Any]) -> WavelengthScan:
        params = WavelengthScanParameters(p["start_nm"], p["stop_nm"], p["step_nm"], p["spectra_per_point"],
                                          p["exposure_ms"] / 1000, p["diode_current_A"],
                                          reimage_every=p["reimage_every"])
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
        text = displays.resonance_text(summary)
        self.set_result_text(text)
        write_gain_plot(sink, analysis, summary, text)
        if "resonance_centre_nm" in summary:
            return (f"Resonance at {summary['resonance_centre_nm']:.1f} nm "
                    f"({summary['resonance_centre_eV']:.3f} eV), FWHM {1000 * summary['resonance_fwhm_eV']:.0f} meV, "
                    f"Q = {summary['resonance_q']:.1f}.")
        return f"No resonance fitted: {summary.get('resonance_error', 'too few points')}."


def write_gain_plot(sink: Sink, analysis: typing.Any, summary: dict, text: str, name: str = "eegs_gain") -> None:
    """Result ``name``: gain per µW vs photon energy (measured, interpolated on a uniform ħω grid)
    and the Lorentzian fit, as a two-layer line plot titled with the fit values; nothing when
    fewer than two points have a gain."""
    try:
        plot, axis = displays.gain_plot(analysis.photon_energy_eV, analysis.gain_per_uW, analysis.resonance)
    except ValueError:
        return
    layers = ["measured gain", "Lorentzian fit" if analysis.resonance is not None else "no fit"]
    sink.create(name, plot.shape, [Axis("layer", "", navigate=True), axis], dtype="float64",
                metadata={**summary, "display": {"layers": layers, "intensity": "1/µW", "caption": text},
                          "measured_photon_energy_eV": [float(v) for v in analysis.photon_energy_eV],
                          "measured_gain_per_uW": [float(v) for v in analysis.gain_per_uW],
                          "measured_gain_err_per_uW": [float(v) for v in analysis.gain_err_per_uW]},
                title=f"EEGS gain (1/µW) vs photon energy (eV) — {text}")
    sink.write(name, slice(None), plot)
    sink.finish(name)


class DriftCorrectedSIHandler(WorkflowHandler):
    """Drift-corrected EELS SI: a HAADF survey, then N short sequences with drift measured on the
    reference region, the scan re-centred and the sequences summed; summed SI, HAADF, drift log
    (nm) and elemental maps update after every sequence. Regions are given in nm (microscope
    frame); on the simulator they default to a DyScO3 grain and the particle next to it."""

    title = "Drift-corrected SI"
    fields = (
        Field("size_px", "SI size", 64, int, "px"),
        Field("n_sequences", "Sequences", 8, int),
        Field("dwell_ms", "Dwell", 2.0, float, "ms"),
        Field("si_center_y_nm", "SI centre y", 0.0, float, "nm"),
        Field("si_center_x_nm", "SI centre x", 0.0, float, "nm"),
        Field("si_fov_nm", "SI field of view", 128.0, float, "nm"),
        Field("ref_center_y_nm", "Drift reference centre y", 0.0, float, "nm"),
        Field("ref_center_x_nm", "Drift reference centre x", 0.0, float, "nm"),
        Field("ref_size_nm", "Drift reference size", 96.0, float, "nm"),
        Field("edges", "Edges (; separated)", "Sc L2,3; Dy M4,5", str),
    )
    survey = ScanFrame(size_px=(256, 256), fov_nm=512.0, dwell_s=4e-6)

    def __init__(self, document_controller: typing.Any) -> None:
        super().__init__(document_controller)
        instrument = _instrument()
        if instrument is not None and instrument.fully_simulated:  # targets on the simulated specimen
            for (y, x), prefix in zip(drift_si_targets_nm(instrument.world), ("si", "ref")):
                self.models[f"{prefix}_center_y_nm"].value = f"{float(y):.1f}"
                self.models[f"{prefix}_center_x_nm"].value = f"{float(x):.1f}"

    def _parameters(self, p: dict[str, typing.Any]) -> DriftSIParameters:
        edges = tuple(e.strip() for e in p["edges"].split(";") if e.strip())
        return DriftSIParameters(
            self.survey, region_around(self.survey, (p["si_center_y_nm"], p["si_center_x_nm"]), p["si_fov_nm"]),
            region_around(self.survey, (p["ref_center_y_nm"], p["ref_center_x_nm"]), p["ref_size_nm"]),
            si_shape_px=(p["size_px"], p["size_px"]), dwell_s=p["dwell_ms"] / 1000, n_sequences=p["n_sequences"],
            edges=edges)

    def check_parameters(self, p: dict[str, typing.Any]) -> None:
        self._parameters(p).plan(_instrument().spectrum_imager.energy_axis_eV())

    def run_workflow(self, p: dict[str, typing.Any], sink: Sink, task: TaskControl) -> str:
        instrument = _instrument()
        acquire_survey(instrument.scan, self.survey, sink, task=task.subtask(0.0, 0.05))
        workflow = DriftCorrectedSI.from_instrument(instrument, self._parameters(p), sink,
                                                    task=task.subtask(0.05, 0.95))
        result = workflow.run()
        log = result.drift_log()
        drift = f", drift {log[-1, 3]:.1f} nm since the first reference" if log.size else ""
        return f"{result.sequences_done} sequences summed{drift}."


PANELS: dict[str, type[WorkflowHandler]] = {
    "lumiere-si-panel": SpectrumImageHandler,
    "lumiere-eegs-panel": EEGSWavelengthScanHandler,
    "lumiere-drift-si-panel": DriftCorrectedSIHandler,
}
