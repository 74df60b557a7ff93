"""Drift alignment of an image sequence as a Swift registered computation.

Computation ``lumiere.drift.align_sequence``
    inputs: ``sequence`` (frames × y × x, calibrated in nm, e.g. a HAADF series), optional
    ``region`` (rectangle on the sequence: only that part is registered, e.g. a feature away
    from a changing area), optional ``reference`` (frame index, default 0).
    outputs: ``aligned_sum`` (the frames placed on the reference frame's grid, sub-pixel, and
    summed; y, x in nm), ``drift_y`` and ``drift_x`` (drift of every frame relative to the
    reference, nm in the microscope frame, versus frame index; shown as two layers of one plot).

Science: :func:`analysis.registration.measure_shift` (convention: a frame equals the reference
translated by (dy, dx) px), :func:`analysis.drift.pixels_to_nm` (scan rotation from the
metadata, else 0) and :class:`analysis.accumulate.AlignedAccumulator`; :func:`align_sequence`
is the whole recipe, callable without Swift.
"""
from __future__ import annotations

import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from analysis.accumulate import AlignedAccumulator
from analysis.drift import pixels_to_nm
from analysis.registration import measure_shift
from nionswift_plugin.lumiere.computations_common import (InputError, guarded, rect_slices,
                                                          require_image_sequence)

__all__ = ["COMPUTATIONS", "MENU_ITEMS", "AlignSequence", "align_sequence", "attach_sequence_alignment"]

MIN_REGION_PX = 8


def align_sequence(frames: np.ndarray, pixel_size_nm: float, *, rotation_rad: float = 0.0, reference: int = 0,
                   region: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Register every frame on ``frames[reference]`` and sum them on its grid.

    Returns
    -------
    aligned_sum : (ny, nx) float64, the bilinear-splatted sum (:class:`AlignedAccumulator`)
    shifts_px : (n, 2) (dy, dx) of every frame (frame = reference translated by (dy, dx))
    drift_nm : (n, 2) the same shifts in the microscope frame, nm
    """
    frames = np.asarray(frames)
    ys, xs = region if region is not None else (slice(None), slice(None))
    ref = frames[reference][ys, xs]
    acc = AlignedAccumulator(frames.shape[1:])
    shifts = np.zeros((frames.shape[0], 2))
    drift = np.zeros((frames.shape[0], 2))
    for k, frame in enumerate(frames):
        r = measure_shift(ref, frame[ys, xs]) if k != reference else None
        dy, dx = (r.dy, r.dx) if r is not None else (0.0, 0.0)
        shifts[k] = dy, dx
        drift[k] = pixels_to_nm(dy, dx, pixel_size_nm, rotation_rad)
        acc.add(frame.astype(np.float64), dy, dx)
    return acc.sum, shifts, drift


class AlignSequence:
    """Aligned sum and drift plot (nm) of an image sequence."""

    label = "Lumière Align Image Sequence (drift)"
    inputs = {"sequence": {"label": "Image sequence"}, "region": {"label": "Registration region"},
              "reference": {"label": "Reference frame"}}
    outputs = {"aligned_sum": {"label": "Aligned sum"}, "drift_y": {"label": "Drift y (nm)"},
               "drift_x": {"label": "Drift x (nm)"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("Sequence alignment")
    def execute(self, sequence: typing.Any, region: typing.Any = None, reference: int = 0,
                **kwargs: typing.Any) -> None:
        xdata = require_image_sequence(sequence)
        n, ny, nx = xdata.data_shape
        cal_y, cal_x = xdata.dimensional_calibrations[1:]
        if cal_y.units != "nm" or cal_x.units != "nm":
            raise InputError(f"the frames are calibrated in {cal_y.units or 'no units'!r}, not nm; the drift "
                             "in nm needs the scan's pixel size")
        if abs(cal_y.scale - cal_x.scale) > 1e-6 * abs(cal_x.scale):
            raise InputError(f"non-square pixels ({cal_y.scale:g} × {cal_x.scale:g} nm) are not supported")
        reference = int(reference or 0)
        if not 0 <= reference < n:
            raise InputError(f"reference frame {reference} is outside 0–{n - 1}")
        slices = rect_slices(region, (ny, nx)) if region is not None else None
        if slices is not None:
            h, w = slices[0].stop - slices[0].start, slices[1].stop - slices[1].start
            if min(h, w) < MIN_REGION_PX:
                raise InputError(f"the registration region is {h}×{w} px; at least {MIN_REGION_PX}×{MIN_REGION_PX} px "
                                 "are needed")
        meta = dict((xdata.metadata or {}).get("lumiere", {}))
        rotation = float(meta.get("scan", {}).get("rotation_rad", 0.0)) if isinstance(meta.get("scan"), dict) else 0.0
        total, shifts, drift = align_sequence(np.asarray(xdata.data), abs(cal_x.scale), rotation_rad=rotation,
                                              reference=reference, region=slices)
        info = {"reference": reference, "shifts_px": shifts.tolist(), "rotation_rad": rotation,
                "convention": "frame = reference translated by (dy, dx)"}
        seq_cal = xdata.dimensional_calibrations[0]
        frame_cal = Calibration.Calibration(seq_cal.offset, seq_cal.scale, seq_cal.units) if seq_cal.units else \
            Calibration.Calibration(0.0, 1.0, "frame")
        self._out = {"aligned_sum": DataAndMetadata.new_data_and_metadata(
            total.astype(np.float32), intensity_calibration=xdata.intensity_calibration,
            dimensional_calibrations=[cal_y, cal_x], metadata={"lumiere": info})}
        for k, name in enumerate(("drift_y", "drift_x")):
            self._out[name] = DataAndMetadata.new_data_and_metadata(
                drift[:, k].astype(np.float32), intensity_calibration=Calibration.Calibration(units="nm"),
                dimensional_calibrations=[frame_cal], metadata={"lumiere": info})

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


COMPUTATIONS: dict[str, type] = {"lumiere.drift.align_sequence": AlignSequence}


def attach_sequence_alignment(api: typing.Any, sequence: typing.Any, region: typing.Any = None, *,
                              window: typing.Any = None) -> dict[str, typing.Any]:
    """Attach ``lumiere.drift.align_sequence`` to an image-sequence data item (optionally with a
    registration rectangle on it); drift y and x are two layers of one line plot."""
    require_image_sequence(sequence)
    library = api.library
    out = {"aligned_sum": library.create_data_item(f"{sequence.title} aligned sum"),
           "drift_y": library.create_data_item(f"{sequence.title} drift (nm)"),
           "drift_x": library.create_data_item(f"{sequence.title} drift x (nm)")}
    inputs: dict[str, typing.Any] = {"sequence": sequence}
    if region is not None:
        inputs["region"] = region
    computation = library.create_computation("lumiere.drift.align_sequence", inputs=inputs, outputs=out)
    display_item = out["drift_y"].display._display_item
    display_item.append_display_data_channel_for_data_item(out["drift_x"]._data_item)
    display_item._set_display_layer_properties(0, label="drift y", fill_color=None, stroke_color="#1E90FF")
    display_item._set_display_layer_properties(1, label="drift x", fill_color=None, stroke_color="#F80")
    display_item.set_display_property("legend_position", "top-right")
    if window is not None:
        window.display_data_item(out["aligned_sum"])
    return {**out, "computation": computation}


def _menu_action(api: typing.Any, window: typing.Any) -> typing.Any:
    sequence = window.target_data_item
    if sequence is None:
        raise InputError("select an image sequence first")
    display = window.target_display
    rects = [g for g in (display.selected_graphics if display else []) if g.graphic_type == "rect-graphic"]
    return attach_sequence_alignment(api, sequence, rects[0] if rects else None, window=window)


MENU_ITEMS = [("Align Image Sequence (drift, selected rectangle)", _menu_action)]
