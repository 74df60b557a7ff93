"""How Lumière results look in Swift: each result is shown so that it reads without touching the
display settings.

Pure functions (numpy + ``nion.data``) decide the view of a sink result — :func:`result_view`
returns a :class:`View`: the data to show, image or line plot, named layers, display limits, the
energy window, a caption — and :func:`apply_view` sets it on a Swift display item (UI thread).

Rules (issue 15):

- a table (last axis named ``"column"`` with ``metadata["columns"]``) is never shown as a bar
  chart: it becomes a line plot, one named layer per plotted column against a uniform x axis
  (its time/λ column, else its first axis); the whole table is kept in the metadata
  (``lumiere.table``) — :func:`table_from_xdata` reads it back;
- a λ (or power) × energy-loss map keeps its data (nm × eV) and shows its spectra, labelled by
  wavelength, on the sideband window with the ZLP off scale; its "(sideband window)" copy is the
  map as an image (rows repeated for a readable aspect) with display limits from the gain
  sidebands (the ZLP saturates, the sidebands do not); an EELS spectrum with photon energies in
  its metadata opens on the sideband window with the ZLP off scale;
- an SI (y, x, E) shows the total counts over the whole energy axis (Swift's slice = all
  channels) and gets a summed spectrum beside it;
- axes carry units (Swift draws "(units)" under a line plot; the quantity is in the title and
  the caption), intensities their units (counts, µW, nm, 1/µW).

Workflows describe their results with optional metadata (documented in :mod:`lumiere.sinks`):
``metadata["display"] = {"plot": [column, ...], "x": column, "x_values": [...], "x_name": ...,
"x_units": ..., "labels": {column: text}, "layers": [row label, ...], "intensity": "counts",
"photon_energy_eV": [low, high], "caption": text}``.
"""
from __future__ import annotations

import dataclasses
import functools
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from analysis.sidebands import HC_EV_NM
from lumiere.sinks import Axis

#: most line-plot layers Swift draws (LinePlotCanvasItem.MAX_LAYER_COUNT)
MAX_LAYERS = 16
#: widest 2-D result shown as an image (width / height); flatter ones are shown as curves
MAX_ASPECT = 16
#: sideband orders kept in the energy window of EEGS displays (gain and loss side)
SIDEBAND_ORDERS = 3
#: stroke colours of line-plot layers, in order (Swift's own palette, readable on white)
LAYER_COLORS = ("#1E90FF", "#F00", "#228B22", "#9400D3", "#FF8C00", "#008B8B", "#8B4513", "#000")
#: column-name suffix -> units (longest first)
_SUFFIX_UNITS = (("_per_uW", "1/µW"), ("_uW", "µW"), ("_nm", "nm"), ("_eV", "eV"), ("_s", "s"))
_QUANTITY = {"nm": "Wavelength", "eV": "Energy", "s": "Time", "µW": "Power"}
#: samples of a line plot of uneven x (Swift draws each sample as a step: about one per pixel)
_GRID_POINTS = 512


@dataclasses.dataclass
class View:
    """How one result is shown. ``xdata`` is what the Swift data item holds."""

    xdata: DataAndMetadata.DataAndMetadata
    kind: str  #: "image" or "line_plot"
    layers: list[str] = dataclasses.field(default_factory=list)  #: line plot: label of each layer
    layer_rows: list[int] | None = None  #: line plot: data row of each layer (default 0, 1, …)
    display_limits: tuple[float, float] | None = None  #: image: (low, high) in data units
    y_range: tuple[float, float] | None = None  #: line plot: (y_min, y_max)
    channels: tuple[int, int] | None = None  #: line plot: (left, right) channel shown
    slice_channels: tuple[int, int] | None = None  #: SI: (centre, width) of Swift's energy slice
    caption: str = ""


def column_units(column: str) -> str:
    """Units of a table column from its name's suffix (``power_uW`` -> ``µW``), else ''."""
    for suffix, units in _SUFFIX_UNITS:
        if column.endswith(suffix):
            return units
    return ""


def column_label(column: str) -> str:
    """``measured_dy_nm`` -> ``measured dy``: the quantity without its unit suffix."""
    for suffix, _ in _SUFFIX_UNITS:
        if column.endswith(suffix):
            column = column[: -len(suffix)]
            break
    return column.replace("_", " ")


def axis_label(axis: Axis) -> str:
    """"Energy loss (eV)", "Wavelength (nm)", "Time (s)": quantity and unit of an axis."""
    name = axis.name if axis.name not in ("", "column") else _QUANTITY.get(axis.units, "index")
    return f"{name[:1].upper()}{name[1:]} ({axis.units})" if axis.units else name


def is_table(axes: typing.Sequence[Axis], metadata: typing.Mapping[str, typing.Any]) -> bool:
    return len(axes) == 2 and axes[-1].name == "column" and "columns" in metadata


def _uniform_axis(values: np.ndarray, name: str, units: str) -> Axis | None:
    """A calibrated axis through ``values`` if they are evenly spaced (to 10 % of a step), else
    None: Swift's line plots need a uniform x calibration."""
    v = np.asarray(values, float)
    if v.size == 0 or not np.isfinite(v).all():
        return None
    if v.size == 1:
        return Axis(name, units, 1.0, float(v[0]))
    step = (v[-1] - v[0]) / (v.size - 1)
    if step <= 0 or np.abs(np.diff(v) - step).max() > 0.1 * step:
        return None
    return Axis(name, units, float(step), float(v[0]))


def table_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict, rows_done: int) -> View:
    """A table as a line plot: the plotted columns as named layers (rows of a 2-D array) over
    the x column (if evenly spaced) or the table's first axis; the table itself in metadata."""
    columns = [str(c) for c in metadata["columns"]]
    hint = dict(metadata.get("display") or {})
    n = max(0, min(int(rows_done), data.shape[0]))
    table = np.asarray(data[:n], float)
    x_col = hint.get("x")
    x_axis = None
    x_values: np.ndarray | None = None  # uneven x: the plot is the polyline through the points
    if x_col in columns:
        name, units = column_label(x_col).capitalize(), column_units(x_col)
        x_axis = _uniform_axis(table[:, columns.index(x_col)], name, units)
        xv = table[:, columns.index(x_col)]
        if x_axis is None and n >= 2 and np.isfinite(xv).all() and (np.diff(xv) > 0).all():
            x_values = xv
            grid_step = (xv[-1] - xv[0]) / (_GRID_POINTS - 1)
            x_axis = Axis(name, units, float(grid_step), float(xv[0]))
    elif hint.get("x_values") is not None:
        x_axis = _uniform_axis(np.asarray(hint["x_values"], float)[:n], str(hint.get("x_name", "")),
                               str(hint.get("x_units", "")))
    if x_axis is None:
        x_axis = dataclasses.replace(axes[0], navigate=False)
    plot = [c for c in hint.get("plot", ()) if c in columns]
    if not plot:  # the columns sharing the most common unit, besides x
        candidates = [c for c in columns if c != x_col]
        candidate_units = [column_units(c) for c in candidates]
        common = max(set(candidate_units), key=candidate_units.count) if candidate_units else ""
        plot = [c for c, u in zip(candidates, candidate_units) if u == common]
    labels = [str(hint.get("labels", {}).get(c, column_label(c))) for c in plot]
    rows = table[:, [columns.index(c) for c in plot]].T if n else np.zeros((len(plot), 1))
    if x_values is not None:
        # Swift's line plots need a uniform x axis: sample the straight segments joining the
        # measured points (what a plot draws between them) on a fine uniform grid (Swift draws a
        # sample as a step: with 16 per segment the drift plot was a visible staircase)
        grid = x_axis.values(_GRID_POINTS)
        rows = np.array([np.interp(grid, x_values, r) for r in rows])
    units = hint.get("intensity", column_units(plot[0]) if plot else "")
    meta = {**metadata, "table": {"columns": columns, "rows": table.tolist()}}
    xdata = DataAndMetadata.new_data_and_metadata(
        np.ascontiguousarray(rows, dtype=np.float32),
        intensity_calibration=Calibration.Calibration(units=units),
        dimensional_calibrations=[Calibration.Calibration(), Calibration.Calibration(x_axis.offset, x_axis.scale,
                                                                                      x_axis.units)],
        metadata={"lumiere": meta}, data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 2))
    joined = "; uneven x: the measured points joined by straight lines" if x_values is not None else ""
    caption = f"{', '.join(labels)} ({units}) vs {axis_label(x_axis)}{joined}; full table in metadata lumiere.table"
    return View(xdata, "line_plot", labels, caption=caption)


def table_from_xdata(xdata: DataAndMetadata.DataAndMetadata) -> tuple[list[str], np.ndarray] | None:
    """(columns, rows) of a table shown by :func:`table_view` (None for any other data)."""
    table = (xdata.metadata or {}).get("lumiere", {}).get("table")
    if not table:
        return None
    return list(table["columns"]), np.asarray(table["rows"], float).reshape(-1, len(table["columns"]))


def photon_energies_eV(axes: typing.Sequence[Axis], metadata: typing.Mapping[str, typing.Any],
                       shape: tuple[int, ...]) -> np.ndarray | None:
    """Photon energies (eV) of an EEGS result: from the display hint, a λ axis in nm, or the
    fixed wavelength of a power scan; None if it is not an EEGS result."""
    hint = (metadata.get("display") or {}).get("photon_energy_eV")
    if hint:
        return np.asarray(hint, float)
    if len(axes) == 2 and axes[0].units == "nm" and axes[-1].units == "eV":
        return HC_EV_NM / axes[0].values(shape[0])
    wl = (metadata.get("parameters") or {}).get("wavelength_nm")
    if axes[-1].units == "eV" and isinstance(wl, (int, float)) and wl > 0:
        return np.array([HC_EV_NM / wl])
    return None


def sideband_window_eV(photon_eV: np.ndarray, orders: int = SIDEBAND_ORDERS) -> tuple[float, float]:
    """Energy-loss window holding ``orders`` gain and loss sidebands of every photon energy."""
    w = (orders + 0.5) * float(np.nanmax(photon_eV))
    return -w, w


def sideband_mask(energy_eV: np.ndarray, photon_eV: np.ndarray, orders: int = SIDEBAND_ORDERS, *,
                  loss_side: bool = False) -> np.ndarray:
    """Channels of the gain sidebands: energy gain up to ``orders`` photon energies, more than
    half the smallest photon energy away from the ZLP. The gain side only: the loss side sits on
    the ZLP's tail and the inelastic background (≈1000 counts on the simulator, more than an
    off-resonance first sideband), gain peaks on a clean background are the EEGS signal.
    ``loss_side``: both sides (a line plot, where a high background does not hide a peak)."""
    lo, hi = sideband_window_eV(photon_eV, orders)
    e = np.asarray(energy_eV, float)
    away = np.abs(e) > 0.5 * float(np.nanmin(photon_eV))
    return away & (e >= lo) & ((e <= hi) if loss_side else (e < 0))


def sideband_limits(values: np.ndarray, energy_eV: np.ndarray, photon_eV: np.ndarray, *,
                    loss_side: bool = False) -> tuple[float, float]:
    """(low, high) intensity limits showing the sidebands: high = 1.1 × the largest value of the
    gain sidebands (the ZLP saturates, so may the loss side on the ZLP's tail), low = the 1st
    percentile of the window (noise floor)."""
    v = np.asarray(values, float).reshape(-1, np.asarray(energy_eV).size)
    lo_e, hi_e = sideband_window_eV(photon_eV)
    e = np.asarray(energy_eV, float)
    window = v[:, (e >= lo_e) & (e <= hi_e)]
    region = v[:, sideband_mask(e, photon_eV, loss_side=loss_side)]
    if region.size == 0 or not np.isfinite(region).any():
        region = v
    high = 1.1 * float(np.nanmax(region))
    low = float(np.nanpercentile(window, 1)) if window.size else float(np.nanmin(v))
    if not high > low:
        high = low + 1.0
    return low, high


def _channel(axis: Axis, value: float, size: int) -> int:
    return int(np.clip(round((value - axis.offset) / axis.scale), 0, size - 1)) if axis.scale else 0


def energy_map_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict, rows_done: int,
                    photon_eV: np.ndarray) -> View:
    """A λ × energy-loss map as a calibrated image (nm × eV) with limits from the sidebands."""
    n = max(1, min(int(rows_done), data.shape[0]))
    energy = axes[1].values(data.shape[1])
    limits = sideband_limits(data[:n], energy, photon_eV)
    xdata = DataAndMetadata.new_data_and_metadata(
        data, intensity_calibration=Calibration.Calibration(units="counts"),
        dimensional_calibrations=[Calibration.Calibration(a.offset, a.scale, a.units) for a in axes],
        metadata={"lumiere": dict(metadata)}, data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 2))
    caption = (f"{axis_label(axes[0])} × {axis_label(axes[1])}; display limits {limits[0]:.3g}–{limits[1]:.3g} "
               "counts from the gain sidebands (the ZLP saturates)")
    return View(xdata, "image", display_limits=limits, caption=caption)


def sideband_window_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict, rows_done: int,
                         photon_eV: np.ndarray, max_aspect: float = 3.0) -> View:
    """The map cropped to the sideband window (the full map is a thin strip of 1000+ channels),
    each row repeated so that the image is at most ``max_aspect`` times wider than high: Swift
    shows square pixels, and 7 wavelengths × 145 channels would be a 7-pixel-high line. The λ
    calibration is divided accordingly, so every λ still sits at its value (a block centre)."""
    lo, hi = sideband_window_eV(photon_eV)
    e_axis, row_axis = axes[1], axes[0]
    a, b = _channel(e_axis, lo, data.shape[1]), _channel(e_axis, hi, data.shape[1]) + 1
    repeat = max(1, int((b - a) // (max_aspect * data.shape[0])))
    cropped = np.ascontiguousarray(np.repeat(data[:, a:b], repeat, axis=0))
    step = row_axis.scale / repeat
    axes_c = [dataclasses.replace(row_axis, scale=step, offset=row_axis.offset - (repeat - 1) / 2 * step),
              dataclasses.replace(e_axis, offset=e_axis.offset + a * e_axis.scale)]
    view = energy_map_view(cropped, axes_c, {**metadata, "cropped_channels": [a, b], "rows_repeated": repeat},
                           rows_done * repeat, photon_eV)
    shown = f", each {row_axis.units or 'row'} row shown {repeat}× for a readable aspect" if repeat > 1 else ""
    view.caption = f"channels {a}–{b - 1} of the map{shown}: " + view.caption
    return view


def map_spectra_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict, rows_done: int,
                     photon_eV: np.ndarray, max_layers: int = 8) -> View:
    """A λ (or power) × energy-loss map's own item: the whole map (nm × eV, what computations
    read), shown as a line plot of up to ``max_layers`` of its spectra (evenly spread over the
    rows acquired, each labelled by its scan value: "630 nm") on the sideband window, ZLP off
    scale. Not an image: a map of a few rows × 1000+ channels is a line of pixels in Swift, and
    nion.ui's thumbnail of so flat an image divides by zero (PyQtProxy.rescale)."""
    n = max(1, min(int(rows_done), data.shape[0]))
    rows = np.unique(np.linspace(0, n - 1, min(n, max_layers)).round().astype(int))
    lo, hi = sideband_window_eV(photon_eV)
    e_axis = axes[1]
    a, b = _channel(e_axis, lo, data.shape[1]), _channel(e_axis, hi, data.shape[1]) + 1
    values = axes[0].values(data.shape[0])
    labels = [f"{values[r]:.4g} {axes[0].units}".strip() for r in rows]
    low, high = sideband_limits(data[rows][:, a:b], e_axis.values(data.shape[1])[a:b], photon_eV, loss_side=True)
    xdata = DataAndMetadata.new_data_and_metadata(
        data, intensity_calibration=Calibration.Calibration(units="counts"),
        dimensional_calibrations=[Calibration.Calibration(a_.offset, a_.scale, a_.units) for a_ in axes],
        metadata={"lumiere": dict(metadata)}, data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 2))
    caption = (f"{axis_label(axes[0])} × {axis_label(e_axis)} map; shown: counts vs {axis_label(e_axis)} at "
               f"{', '.join(labels)}, {lo:.1f}…{hi:.1f} eV; ZLP off scale (peak {float(np.nanmax(data[:n])):.3g} "
               "counts); the map as an image: the \"(sideband window)\" item")
    return View(xdata, "line_plot", labels, layer_rows=rows.tolist(), channels=(a, b),
                y_range=(min(0.0, low), high), caption=caption)


def spectrum_view(data: np.ndarray, axis: Axis, metadata: dict, photon_eV: np.ndarray | None) -> View:
    """A 1-D spectrum; with photon energies, opened on the sideband window, ZLP off scale."""
    units = (metadata.get("display") or {}).get("intensity") or ("counts" if axis.units in ("eV", "nm") else "")
    xdata = DataAndMetadata.new_data_and_metadata(
        data, intensity_calibration=Calibration.Calibration(units=units),
        dimensional_calibrations=[Calibration.Calibration(axis.offset, axis.scale, axis.units)],
        metadata={"lumiere": dict(metadata)})
    if photon_eV is None or axis.units != "eV":
        return View(xdata, "line_plot", caption=f"{units or 'values'} vs {axis_label(axis)}")
    lo, hi = sideband_window_eV(photon_eV)
    channels = (_channel(axis, lo, data.size), _channel(axis, hi, data.size) + 1)
    low, high = sideband_limits(data, axis.values(data.size), photon_eV, loss_side=True)
    caption = (f"counts vs {axis_label(axis)}, shown {lo:.1f}…{hi:.1f} eV (±{SIDEBAND_ORDERS} sidebands); ZLP "
               f"off scale (peak {np.nanmax(data):.3g} counts)")
    return View(xdata, "line_plot", channels=channels, y_range=(min(0.0, low), high), caption=caption)


def si_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict) -> View:
    """An SI (y, x, E): Swift's image of an SI is its energy slice; make it all channels (the
    total counts) instead of the first channel."""
    xdata = DataAndMetadata.new_data_and_metadata(
        data, intensity_calibration=Calibration.Calibration(units="counts"),
        dimensional_calibrations=[Calibration.Calibration(a.offset, a.scale, a.units) for a in axes],
        metadata={"lumiere": dict(metadata)}, data_descriptor=DataAndMetadata.DataDescriptor(False, 2, 1))
    n = data.shape[-1]
    return View(xdata, "image", slice_channels=(n // 2, n),
                caption=f"image: total counts over {axis_label(axes[-1])} (all {n} channels); pick a pixel "
                        "for its spectrum")


def summed_spectrum(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict) -> View:
    """The sum of every spectrum of an SI (counts vs energy)."""
    total = np.nansum(np.asarray(data, float).reshape(-1, data.shape[-1]), axis=0).astype(np.float32)
    view = spectrum_view(total, axes[-1], {**metadata, "summed_pixels": int(np.prod(data.shape[:-1]))}, None)
    view.caption = f"sum of {np.prod(data.shape[:-1])} spectra; " + view.caption
    return view


def result_view(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict | None = None,
                rows_done: int | None = None) -> View:
    """The view of a sink result (see the module docstring). ``rows_done`` counts the rows of
    the first axis written so far (tables and maps grow row by row); default all."""
    from nionswift_plugin.lumiere.swift_sink import xdata_from_result

    metadata = dict(metadata or {})
    rows = data.shape[0] if rows_done is None or not data.ndim else rows_done
    if is_table(axes, metadata):
        return table_view(data, axes, metadata, rows)
    photon = photon_energies_eV(axes, metadata, data.shape) if axes and axes[-1].units == "eV" else None
    if data.ndim == 2 and axes[0].navigate and axes[1].units == "eV" and photon is not None:
        return map_spectra_view(data, axes, metadata, rows, photon)
    if data.ndim == 1:
        return spectrum_view(data, axes[0], metadata, photon)
    if data.ndim == 3 and axes[0].navigate and axes[1].navigate and not axes[2].navigate:
        return si_view(data, axes, metadata)
    xdata = xdata_from_result(data, axes, metadata)
    hint = metadata.get("display") or {}
    layers = [str(s) for s in hint.get("layers", ())]
    if not layers and data.ndim == 2 and axes[0].navigate and 1 <= data.shape[0] <= MAX_LAYERS and axes[1].units:
        # a few curves on one axis (PCA/NMF components): all of them, not Swift's first row
        layers = [f"{axes[0].name or 'row'} {i + 1}" for i in range(data.shape[0])]
    flat = data.ndim == 2 and 1 <= data.shape[0] <= MAX_LAYERS and data.shape[1] > MAX_ASPECT * data.shape[0]
    if not layers and flat:
        # a few rows × many columns is a line of pixels as an image (and nion.ui's thumbnail of
        # it divides by zero): its rows as curves instead
        layers = [f"{axes[0].name or 'row'} {i + 1}" for i in range(data.shape[0])]
    if layers and data.ndim == 2 and len(layers) == data.shape[0]:
        xdata = DataAndMetadata.new_data_and_metadata(
            data, intensity_calibration=Calibration.Calibration(units=hint.get("intensity", "")),
            dimensional_calibrations=xdata.dimensional_calibrations, metadata=xdata.metadata,
            data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 2))
        return View(xdata, "line_plot", layers, caption=hint.get("caption", ""))
    kind = "line_plot" if xdata.datum_dimension_count == 1 else "image"
    return View(xdata, kind, caption=hint.get("caption", ""))


def gain_plot(photon_eV: np.ndarray, gain: np.ndarray, fit: typing.Any, points: int = 256) -> tuple[np.ndarray, Axis]:
    """Gain vs photon energy on a uniform ħω grid (Swift line plots need one): row 0 the measured
    gain, linearly interpolated between the measured points (the straight segments a plot draws
    between them; outside the measured range NaN), row 1 the Lorentzian fit ``fit`` (a
    :class:`analysis.sidebands.LorentzianFit` or None -> NaN)."""
    from analysis.sidebands import lorentzian

    x = np.asarray(photon_eV, float)
    y = np.asarray(gain, float)
    ok = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[ok])
    xs, ys = x[ok][order], y[ok][order]
    if xs.size < 2:
        raise ValueError(f"a gain plot needs at least 2 measured points, got {xs.size}")
    grid = np.linspace(xs[0], xs[-1], points)
    out = np.full((2, points), np.nan)
    out[0] = np.interp(grid, xs, ys)
    if fit is not None:
        out[1] = lorentzian(grid, fit.centre_eV, fit.fwhm_eV, fit.amplitude, fit.offset)
    return out, Axis("Photon energy", "eV", float(grid[1] - grid[0]), float(grid[0]))


def resonance_text(summary: typing.Mapping[str, typing.Any]) -> str:
    """"Resonance 1.907 ± 0.004 eV (650.1 nm), FWHM 148 ± 9 meV, Q = 12.9 ± 0.8" from
    :meth:`eegs.analysis.EEGSAnalysis.summary`, or why there is none."""
    if "resonance_centre_eV" not in summary:
        return f"No resonance fitted: {summary.get('resonance_error', 'too few points')}."
    s = summary
    return (f"Resonance {s['resonance_centre_eV']:.3f} ± {s['resonance_centre_err_eV']:.3f} eV "
            f"({s['resonance_centre_nm']:.1f} nm), FWHM {1000 * s['resonance_fwhm_eV']:.0f} ± "
            f"{1000 * s['resonance_fwhm_err_eV']:.0f} meV, Q = {s['resonance_q']:.1f} ± {s['resonance_q_err']:.1f}")


def _set_layers(display_item: typing.Any, labels: typing.Sequence[str], rows: typing.Sequence[int] | None) -> None:
    """One line-plot layer per label (data row ``rows[i]``, default i), each its own colour, no fill."""
    rows = list(rows) if rows is not None else list(range(len(labels)))
    if [(layer.label, layer.data_row) for layer in display_item.display_layers] == list(zip(labels, rows)):
        return
    while len(display_item.display_layers) > max(1, len(labels)):
        display_item.remove_display_layer(len(display_item.display_layers) - 1)
    channel = display_item.display_data_channels[0]
    for i, (label, row) in enumerate(zip(labels, rows)):
        properties = dict(data_row=int(row), label=label, stroke_color=LAYER_COLORS[i % len(LAYER_COLORS)],
                          fill_color=None, stroke_width=2)
        if i < len(display_item.display_layers):
            display_item._set_display_layer_properties(i, **properties)
        else:
            display_item.add_display_layer_for_display_data_channel(channel, **properties)
    display_item.set_display_property("legend_position", "top-right")


def apply_view(display_item: typing.Any, view: View, *, first: bool, applied: dict | None = None) -> None:
    """Set ``view`` on a Swift display item (UI thread). ``first``: the item is new (the display
    type is set once); layers follow the view's labels, limits and windows are set on every
    update of a growing result — unless the user changed them since: ``applied`` (kept by the
    caller per item) remembers what was set, and a setting found different is left to the user."""
    if display_item is None:
        return
    applied = {} if applied is None else applied
    if first:
        display_item.display_type = view.kind
    if view.kind == "line_plot" and view.layers:
        _set_layers(display_item, view.layers, view.layer_rows)
    channel = display_item.display_data_channels[0] if display_item.display_data_channels else None
    if channel is not None:
        _set_ours(applied, "display_limits", view.display_limits, channel.display_limits,
                  lambda v: setattr(channel, "display_limits", v))
        _set_ours(applied, "slice", view.slice_channels, (channel.slice_center, channel.slice_width),
                  lambda v: _set_slice(channel, v))
    for key, value in (("left_channel", view.channels[0] if view.channels else None),
                       ("right_channel", view.channels[1] if view.channels else None),
                       ("y_min", view.y_range[0] if view.y_range else None),
                       ("y_max", view.y_range[1] if view.y_range else None)):
        _set_ours(applied, key, value, display_item.get_display_property(key),
                  functools.partial(display_item.set_display_property, key))


def _set_slice(channel: typing.Any, value: tuple[int, int]) -> None:
    channel.slice_center, channel.slice_width = value


def _set_ours(applied: dict, key: str, value: typing.Any, current: typing.Any,
              put: typing.Callable[[typing.Any], None]) -> None:
    """Set ``value`` unless there is none or the user has taken the setting over (``current``
    differs from what was set last time: theirs from now on)."""
    if value is None or applied.get(key) is _USER:
        return
    if key in applied and _differs(current, applied[key]):
        applied[key] = _USER
        return
    put(value)
    applied[key] = value


_USER = object()  # marks a display setting the user took over


def _differs(current: typing.Any, ours: typing.Any) -> bool:
    try:
        return not np.allclose(np.asarray(current, float), np.asarray(ours, float))
    except (TypeError, ValueError):
        return current != ours
