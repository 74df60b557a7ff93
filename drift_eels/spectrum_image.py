"""Plain acquisitions the drift-corrected SI builds on: a HAADF survey, a sectioned EELS SI, and
its cathodoluminescence twin (a sectioned CL SI).

Both write calibrated results to a sink as they are acquired, report progress, stop safely on
abort (the scan is left stopped, what was acquired stays in the sink) and validate their inputs
before anything moves.
"""
from __future__ import annotations

import dataclasses
import typing

import numpy as np

from analysis.decomposition.live import LIVE_METHODS
from detectors.interfaces import ScanDevice, ScanFrame, SpectrumImager
from drift_eels.parameters import check_si_memory
from drift_eels.live_decomposition import LiveDecompositionWriter
from lumiere.sinks import Axis, Sink, mark_stopped
from lumiere.tasks import TaskControl


def image_axes(frame: ScanFrame) -> list[Axis]:
    """(y, x) axes of a scan frame in nm, origin at the frame's top-left pixel centre relative to
    the frame centre (so the centre of the image is 0 nm)."""
    p = frame.pixel_size_nm
    h, w = frame.size_px
    return [Axis("y", "nm", p, -(h / 2 - 0.5) * p, navigate=True),
            Axis("x", "nm", p, -(w / 2 - 0.5) * p, navigate=True)]


def energy_axis(energy_eV: np.ndarray) -> Axis:
    """Energy-loss axis in eV from channel centres (must be linear)."""
    if energy_eV.size < 2:
        raise ValueError("an energy axis needs at least two channels")
    return Axis("Energy loss", "eV", float(energy_eV[1] - energy_eV[0]), float(energy_eV[0]))


def frame_metadata(frame: ScanFrame, survey: ScanFrame | None = None) -> dict:
    """A result's ``scan``: the frame in the microscope frame (the survey's too), pairs in the
    order ``axes_order`` = "(y, x)"; with ``survey`` also ``in_survey`` (:func:`survey_region`)."""
    meta: dict = {"scan": {"axes_order": "(y, x)", "size_px": list(frame.size_px), "fov_nm": frame.fov_nm,
                           "center_nm": list(frame.center_nm), "rotation_rad": frame.rotation_rad,
                           "dwell_s": frame.dwell_s, "pixel_size_nm": frame.pixel_size_nm}}
    if survey is not None:
        meta["in_survey"] = survey_region(frame, survey)
    return meta


def survey_region(frame: ScanFrame, survey: ScanFrame) -> dict:
    """Where ``frame`` lies on the HAADF survey: ``region_px`` = [top, left, height, width] in
    survey pixels (rows = y first), ``center_px`` = [y, x], and the survey's own geometry.

    Examples
    --------
    >>> survey_region(ScanFrame((16, 16), 32.0, (4.0, -8.0)), ScanFrame((256, 256), 512.0))["region_px"]
    [122.0, 116.0, 16.0, 16.0]
    """
    from drift_eels.parameters import region_around

    h, w = frame.size_px
    top, left, height, width = region_around(survey, frame.center_nm,
                                             (h * frame.pixel_size_nm, w * frame.pixel_size_nm))
    return {"axes_order": "(y, x)", "region_px": [top, left, height, width],
            "center_px": [top + height / 2, left + width / 2], "survey_size_px": list(survey.size_px),
            "survey_fov_nm": survey.fov_nm, "survey_center_nm": list(survey.center_nm),
            "survey_rotation_rad": survey.rotation_rad}


def acquire_survey(scan: ScanDevice, frame: ScanFrame, sink: Sink, *, name: str = "haadf_survey",
                   task: TaskControl | None = None, metadata: dict | None = None) -> np.ndarray:
    """Acquire one HAADF frame and write it to ``sink`` as ``name`` (y, x in nm)."""
    task = task or TaskControl()
    task.check_abort()
    sink.create(name, frame.size_px, [dataclasses.replace(a, navigate=False) for a in image_axes(frame)],
                metadata={**frame_metadata(frame), **(metadata or {})}, title="HAADF survey")
    image = scan.acquire_frame(frame)
    sink.write(name, slice(None), image)
    sink.finish(name)
    task.progress(1.0, "survey done")
    return image


def acquire_spectrum_image(imager: SpectrumImager, frame: ScanFrame, exposure_s: float, sink: Sink, *,
                           name: str = "si", task: TaskControl | None = None, rows_per_section: int = 4,
                           metadata: dict | None = None, live_components: int = 0, live_method: str = "pca",
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Acquire an EELS spectrum image in sections of ``rows_per_section`` scan rows.

    Results: ``name`` (y, x, energy loss) counts and ``name + "_haadf"`` (y, x), calibrated in
    nm and eV. With ``live_components = k > 0`` also ``<live_method>_loadings`` (k, eV) and
    ``<live_method>_scores`` (k, y, x; nm), a streaming PCA or online NMF (``live_method``
    "pca" | "nmf") updated after every section
    (:class:`~drift_eels.live_decomposition.LiveDecompositionWriter`). Raises
    :class:`~detectors.interfaces.Aborted` after writing every completed section if the task is aborted;
    an aborted or failed run is recorded on every result (:func:`lumiere.sinks.mark_stopped`).
    """
    task = task or TaskControl()
    check_si_inputs(exposure_s, rows_per_section, live_components, live_method)
    h, w = frame.size_px
    energy = imager.energy_axis_eV()
    check_si_memory(f"size_px = {tuple(frame.size_px)}", frame.size_px, energy.size)  # before any write
    meta = {**frame_metadata(frame), "exposure_s": exposure_s, **(metadata or {})}
    create_si_results(sink, name, frame, energy, meta)
    live = live_writer(sink, live_components, live_method, frame, energy)
    names = [name, name + "_haadf", *(live.names if live is not None else ())]
    si = np.full((h, w, energy.size), np.nan, np.float32)
    haadf = np.full((h, w), np.nan, np.float32)
    try:
        for top in range(0, h, rows_per_section):
            task.check_abort()
            rows = min(rows_per_section, h - top)
            section = frame.subframe(top, 0, rows, w)
            part, part_haadf = imager.acquire_spectrum_image(section, exposure_s)
            si[top:top + rows] = part
            haadf[top:top + rows] = part_haadf
            sink.write(name, np.s_[top:top + rows], part)
            sink.write(name + "_haadf", np.s_[top:top + rows], part_haadf)
            if live is not None:
                live.update(si.reshape(h * w, -1), np.arange(top * w, (top + rows) * w))
            task.progress((top + rows) / h, f"SI row {top + rows}/{h}")
    except BaseException as exc:
        mark_stopped(sink, names, exc)
        raise
    finally:
        for result in names:
            sink.finish(result)
    return si, haadf


def check_si_inputs(exposure_s: float, rows_per_section: int, live_components: int, live_method: str) -> None:
    """ValueError naming the bad value of an SI's exposure, section size or live decomposition."""
    if not 0 < exposure_s <= 60:
        raise ValueError(f"exposure {exposure_s!r} s outside (0, 60] s")
    if rows_per_section < 1:
        raise ValueError(f"rows_per_section must be ≥ 1, got {rows_per_section}")
    if live_method not in LIVE_METHODS:
        raise ValueError(f"live decomposition method = {live_method!r}; it must be one of {LIVE_METHODS}")
    if not 0 <= live_components <= 32:
        raise ValueError(f"live {live_method.upper()} components = {live_components}; it must be 0 (off) to 32")


def create_si_results(sink: Sink, name: str, frame: ScanFrame, energy: np.ndarray, metadata: dict) -> None:
    """Announce ``name`` (y, x, energy loss) and ``name + "_haadf"`` (y, x), calibrated."""
    h, w = frame.size_px
    axes = image_axes(frame)
    sink.create(name, (h, w, energy.size), axes + [energy_axis(energy)], metadata=metadata,
                title="EELS spectrum image", signal_type="EELS")
    sink.create(name + "_haadf", (h, w), [dataclasses.replace(a, navigate=False) for a in axes],
                metadata=metadata, title="HAADF (simultaneous)")


def live_writer(sink: Sink, live_components: int, live_method: str, frame: ScanFrame, energy: np.ndarray,
                metadata: dict | None = None) -> LiveDecompositionWriter | None:
    """The live PCA / NMF results of an SI (None when ``live_components`` is 0)."""
    if not live_components:
        return None
    return LiveDecompositionWriter(sink, live_components, frame.size_px, image_axes(frame), energy_axis(energy),
                                   energy.size, method=live_method, metadata=metadata)


def acquire_cl_spectrum_image(cl: typing.Any, frame: ScanFrame, sink: Sink, *, name: str = "cl_si",
                              task: TaskControl | None = None, rows_per_section: int = 4,
                              metadata: dict | None = None) -> np.ndarray:
    """Acquire a CL spectrum image in sections of ``rows_per_section`` scan rows.

    ``cl`` is a CL spectrometer with ``.spectrometer.linear_calibration()`` (wavelength axis,
    nm; see :mod:`detectors.cl`) and ``.camera.acquire_spectrum_image(frame)`` (one spectrum per
    pixel with the frame's dwell as exposure). Result ``name``: (y, x, λ) counts in nm, nm, nm;
    aborting keeps every completed section (:class:`~detectors.interfaces.Aborted` is raised).
    """
    task = task or TaskControl()
    if rows_per_section < 1:
        raise ValueError(f"rows_per_section must be ≥ 1, got {rows_per_section}")
    calibration = cl.spectrometer.linear_calibration()
    h, w = frame.size_px
    first = cl.camera.acquire_spectrum_image(frame.subframe(0, 0, 1, w))  # also fixes the pixel count
    axes = image_axes(frame) + [Axis("Wavelength", "nm", float(calibration.scale_nm), float(calibration.offset_nm))]
    meta = {**frame_metadata(frame), "exposure_s": frame.dwell_s,
            "wavelength_calibration_max_error_px": float(calibration.max_error_px), **(metadata or {})}
    sink.create(name, (h, w, first.shape[-1]), axes, metadata=meta, title="CL spectrum image")
    si = np.full((h, w, first.shape[-1]), np.nan, np.float32)
    si[0] = first[0]
    sink.write(name, np.s_[0:1], first)
    try:
        for top in range(1, h, rows_per_section):
            task.check_abort()
            rows = min(rows_per_section, h - top)
            part = cl.camera.acquire_spectrum_image(frame.subframe(top, 0, rows, w))
            si[top:top + rows] = part
            sink.write(name, np.s_[top:top + rows], part)
            task.progress((top + rows) / h, f"CL SI row {top + rows}/{h}")
    except BaseException as exc:
        mark_stopped(sink, [name], exc)
        raise
    finally:
        sink.finish(name)
    task.progress(1.0, "CL SI done")
    return si
