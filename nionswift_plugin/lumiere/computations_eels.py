"""EELS computations on spectrum images: summed spectrum, power-law background, elemental map
with uncertainty and SNR, relative thickness t/λ, ZLP alignment.

Thin wrappers around :mod:`analysis.eels`; each is a Swift registered computation (execute on a
worker thread, commit on the UI thread), so it recomputes by itself when its SI changes (a live
or drift-corrected acquisition writing into the data item) or when one of its graphics moves.

Computation ids and inputs (``api.library.create_computation(id, inputs=…, outputs=…)``):

``lumiere.eels.si_sum``
    ``si`` (SI data item), optional ``region`` (rectangle on the SI) → ``spectrum`` (eV).
``lumiere.eels.background``
    ``data`` (spectrum or SI), ``edge`` (e.g. ``"Sc L2,3"``), optional ``fit_interval`` and
    ``signal_interval`` (intervals on the spectrum; default windows from the edge's tabulated
    onset) → ``background``, ``subtracted`` over [fit start, signal end] (eV).
``lumiere.eels.elemental_map``
    ``si``, ``edge``, optional ``fit_interval``, ``signal_interval``, ``method``
    (``"two-area"`` | ``"lsq"``) → ``map`` (counts), ``uncertainty`` (1σ), ``snr``.
``lumiere.eels.thickness``
    ``si`` (low loss, whole ZLP), optional ``zlp_interval`` → ``thickness`` (t/λ).
``lumiere.eels.align_zlp``
    ``si``, optional ``window`` (interval around the ZLP) → ``aligned`` (SI, ZLP at 0 eV),
    ``zlp_shift`` (eV map of the measured ZLP positions).

The ``attach_*`` functions build the whole arrangement (output data items, default graphics,
layers) from a script or a menu item; they return the created Facade objects.
"""
from __future__ import annotations

import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from analysis import eels
from nionswift_plugin.lumiere.computations_common import (InputError, energy_axis_eV, guarded,
                                                          interval_eV, interval_position, nav_xdata,
                                                          rect_slices, require_si, spectrum_xdata,
                                                          xdata_of)

__all__ = ["COMPUTATIONS", "attach_elemental_map", "attach_thickness_map", "attach_zlp_alignment",
           "attach_si_sum", "windows_for"]


def windows_for(edge: str, xdata: DataAndMetadata.DataAndMetadata, fit_interval: typing.Any = None,
                signal_interval: typing.Any = None) -> tuple[eels.Edge, tuple[float, float], tuple[float, float]]:
    """The edge (looked up by name) and the (fit, signal) windows in eV: from the interval
    graphics when given, else the defaults of :func:`analysis.eels.default_windows` (the signal
    window cut at the end of the axis). Checks the edge lies inside the energy range."""
    if not isinstance(edge, str) or not edge.strip():
        raise InputError("no edge given; enter a name like 'Sc L2,3' or 'O K'")
    info = eels.lookup_edge(edge)
    e = energy_axis_eV(xdata)
    d = e[1] - e[0]
    lo, hi = e[0] - d / 2, e[-1] + d / 2
    if not lo <= info.onset_eV <= hi:
        raise InputError(f"edge {info.name} (onset {info.onset_eV:g} eV) is outside the energy range "
                         f"[{lo:g}, {hi:g}] eV of the spectra")
    fit_w, sig_w = eels.default_windows(info.onset_eV)
    # a default signal window that runs past the axis is cut at its end (Dy M4,5 on 350–1373 eV)
    sig_w = (sig_w[0], min(sig_w[1], hi))
    if fit_interval is not None:
        fit_w = interval_eV(fit_interval, xdata, "pre-edge (fit)")
    if signal_interval is not None:
        sig_w = interval_eV(signal_interval, xdata, "signal")
    return info, fit_w, sig_w


class SISum:
    """Sum of the SI's spectra (all pixels, or the pixels inside a rectangle)."""

    label = "Lumière SI Sum Spectrum"
    inputs = {"si": {"label": "Spectrum image"}, "region": {"label": "Region"}}
    outputs = {"spectrum": {"label": "Summed spectrum"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._xdata: DataAndMetadata.DataAndMetadata | None = None

    @guarded("SI sum")
    def execute(self, si: typing.Any, region: typing.Any = None, **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        ys, xs = rect_slices(region, xdata.data_shape[:2]) if region is not None else (slice(None), slice(None))
        data = np.asarray(xdata.data)[ys, xs]
        cal = xdata.dimensional_calibrations[-1]
        self._xdata = spectrum_xdata(data.sum(axis=(0, 1), dtype=np.float64), cal.offset, cal.scale,
                                     metadata={"pixels": int(data.shape[0] * data.shape[1])})

    def commit(self) -> None:
        if self._xdata is not None:
            self.computation.set_referenced_xdata("spectrum", self._xdata)


def _background_counts(p: eels.PowerLaw, e: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Background counts of channels ``k`` (each the integral of A·E^−r over the channel)."""
    d = e[1] - e[0]
    out = np.empty(np.shape(p.A) + (k.size,))
    for j, kk in enumerate(k):
        out[..., j] = eels.powerlaw_integral(p.A, p.r, e[kk] - d / 2, e[kk] + d / 2)
    return out


class Background:
    """Power-law background (two-area fit in the pre-edge window) extrapolated under the edge,
    and the background-subtracted data, of a spectrum or of every spectrum of an SI."""

    label = "Lumière EELS Background"
    inputs = {"data": {"label": "Spectrum or SI"}, "edge": {"label": "Edge"},
              "fit_interval": {"label": "Pre-edge (fit)"}, "signal_interval": {"label": "Signal"}}
    outputs = {"background": {"label": "Background"}, "subtracted": {"label": "Subtracted"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("Background")
    def execute(self, data: typing.Any, edge: str = "", fit_interval: typing.Any = None,
                signal_interval: typing.Any = None, **kwargs: typing.Any) -> None:
        xdata = xdata_of(data, "spectrum or spectrum image")
        if not (xdata.datum_dimension_count == 1 and len(xdata.data_shape) in (1, 3)):
            require_si(data)  # raises with a message naming what the data is
        if xdata.dimensional_calibrations[-1].units != "eV":
            raise InputError("the spectral axis is not in eV")
        info, fit_w, sig_w = windows_for(edge, xdata, fit_interval, signal_interval)
        e = energy_axis_eV(xdata)
        values = np.asarray(xdata.data)
        p = eels.fit_powerlaw_two_area(values, e, fit_w)
        k = np.flatnonzero((e >= fit_w[0]) & (e <= sig_w[1]))
        if k.size < 2:
            raise InputError(f"the windows {fit_w} … {sig_w} eV hold fewer than 2 channels")
        bg = _background_counts(p, e, k)
        sub = values[..., k].astype(np.float64) - bg
        cal = xdata.dimensional_calibrations[-1]
        meta = {"edge": info.name, "fit_window_eV": list(fit_w), "signal_window_eV": list(sig_w),
                "background": "power law, two-area"}
        offset = float(e[k[0]])
        out = {}
        for name, arr in (("background", bg), ("subtracted", sub)):
            if values.ndim == 1:
                out[name] = spectrum_xdata(arr, offset, cal.scale, metadata=meta)
            else:
                cals = list(xdata.dimensional_calibrations[:-1]) + [Calibration.Calibration(offset, cal.scale, "eV")]
                out[name] = DataAndMetadata.new_data_and_metadata(
                    arr.astype(np.float32), intensity_calibration=Calibration.Calibration(units="counts"),
                    dimensional_calibrations=cals, metadata={"lumiere": meta},
                    data_descriptor=DataAndMetadata.DataDescriptor(False, 2, 1))
        self._out = out

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


class ElementalMap:
    """Background-subtracted edge signal per pixel with its Poisson uncertainty and SNR."""

    label = "Lumière Elemental Map"
    inputs = {"si": {"label": "Spectrum image"}, "edge": {"label": "Edge"},
              "fit_interval": {"label": "Pre-edge (fit)"}, "signal_interval": {"label": "Signal"},
              "method": {"label": "Background fit (two-area | lsq)"}}
    outputs = {"map": {"label": "Map"}, "uncertainty": {"label": "Uncertainty"}, "snr": {"label": "SNR"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("Elemental map")
    def execute(self, si: typing.Any, edge: str = "", fit_interval: typing.Any = None,
                signal_interval: typing.Any = None, method: str = "two-area", **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        info, fit_w, sig_w = windows_for(edge, xdata, fit_interval, signal_interval)
        m = eels.elemental_map(np.asarray(xdata.data), energy_axis_eV(xdata), info.name, pre_edge=fit_w,
                               signal_window_eV=sig_w, method=method or "two-area")
        meta = {"edge": info.name, "onset_eV": info.onset_eV, "fit_window_eV": list(m.fit_window_eV),
                "signal_window_eV": list(m.signal_window_eV), "method": method or "two-area",
                "median_snr": float(np.nanmedian(m.snr)) if np.isfinite(m.snr).any() else None}
        self._out = {"map": nav_xdata(m.signal, xdata, units="counts", metadata=meta),
                     "uncertainty": nav_xdata(m.uncertainty, xdata, units="counts", metadata=meta),
                     "snr": nav_xdata(np.nan_to_num(m.snr), xdata, metadata=meta)}

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


class Thickness:
    """Relative thickness t/λ = ln(I_total / I_ZLP) of every spectrum (log-ratio)."""

    label = "Lumière Thickness Map t/λ"
    inputs = {"si": {"label": "Low-loss spectrum image"}, "zlp_interval": {"label": "ZLP window"}}
    outputs = {"thickness": {"label": "t/λ"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._xdata: DataAndMetadata.DataAndMetadata | None = None

    @guarded("Thickness map")
    def execute(self, si: typing.Any, zlp_interval: typing.Any = None, **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        e = energy_axis_eV(xdata)
        if not e[0] <= 0.0 <= e[-1]:
            raise InputError(f"the energy axis [{e[0]:g}, {e[-1]:g}] eV does not contain the zero-loss "
                             "peak (0 eV); a low-loss SI is needed")
        window = interval_eV(zlp_interval, xdata, "ZLP") if zlp_interval is not None else None
        t = eels.thickness_map(np.asarray(xdata.data), e, zlp_window_eV=window)
        self._xdata = nav_xdata(t, xdata, units="t/λ",
                                metadata={"zlp_window_eV": list(window) if window else "auto"})

    def commit(self) -> None:
        if self._xdata is not None:
            self.computation.set_referenced_xdata("thickness", self._xdata)


class AlignZLP:
    """Every spectrum shifted (sub-channel) so that its ZLP sits at 0 eV, and the map of the
    measured ZLP positions."""

    label = "Lumière Align ZLP"
    inputs = {"si": {"label": "Spectrum image"}, "window": {"label": "ZLP search window"}}
    outputs = {"aligned": {"label": "Aligned SI"}, "zlp_shift": {"label": "ZLP position (eV)"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("ZLP alignment")
    def execute(self, si: typing.Any, window: typing.Any = None, **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        e = energy_axis_eV(xdata)
        w = interval_eV(window, xdata, "ZLP search") if window is not None else (-2.0, 2.0)
        aligned, zlp = eels.align_zlp(np.asarray(xdata.data), e, window_eV=w)
        meta = {"zlp_window_eV": list(w), "method": "parabola"}
        self._out = {
            "aligned": DataAndMetadata.new_data_and_metadata(
                aligned.astype(np.float32), intensity_calibration=xdata.intensity_calibration,
                dimensional_calibrations=xdata.dimensional_calibrations, metadata={"lumiere": meta},
                data_descriptor=xdata.data_descriptor),
            "zlp_shift": nav_xdata(zlp, xdata, units="eV", metadata=meta)}

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


COMPUTATIONS: dict[str, type] = {
    "lumiere.eels.si_sum": SISum,
    "lumiere.eels.background": Background,
    "lumiere.eels.elemental_map": ElementalMap,
    "lumiere.eels.thickness": Thickness,
    "lumiere.eels.align_zlp": AlignZLP,
}


# -- attaching (scripts, menu items) ----------------------------------------------------------------
def _new_item(library: typing.Any, title: str) -> typing.Any:
    return library.create_data_item(title)


def attach_si_sum(api: typing.Any, si: typing.Any, region: typing.Any = None) -> dict[str, typing.Any]:
    """Summed spectrum of ``si`` (optionally inside a rectangle graphic on it), kept up to date."""
    library = api.library
    spectrum = _new_item(library, f"{si.title} (Lumière sum)")
    inputs = {"si": si} | ({"region": region} if region is not None else {})
    computation = library.create_computation("lumiere.eels.si_sum", inputs=inputs, outputs={"spectrum": spectrum})
    return {"spectrum": spectrum, "computation": computation}


def attach_elemental_map(api: typing.Any, si: typing.Any, edge: str, *, method: str = "two-area",
                         window: typing.Any = None) -> dict[str, typing.Any]:
    """Elemental map of ``edge`` (by name) for the SI data item ``si``.

    Creates the summed spectrum (a live computation of the SI) with two interval graphics at the
    edge's default windows — pre-edge (fit) and signal — which the user can drag; the power-law
    background and the subtracted spectrum as layers on it; and the map, its uncertainty and SNR.
    Everything recomputes when the SI or an interval changes. Returns the Facade objects
    (``spectrum``, ``fit_interval``, ``signal_interval``, ``background``, ``subtracted``, ``map``,
    ``uncertainty``, ``snr``, ``computation``, ``background_computation``).
    """
    xdata = require_si(si)
    info, fit_w, sig_w = windows_for(edge, xdata)  # raises InputError for an unknown edge / range
    library = api.library
    made = attach_si_sum(api, si)
    spectrum = made["spectrum"]
    fit_interval = spectrum.add_interval_region(interval_position(xdata, fit_w[0]), interval_position(xdata, fit_w[1]))
    fit_interval.label = f"{info.name} pre-edge (fit)"
    signal_interval = spectrum.add_interval_region(interval_position(xdata, sig_w[0]), interval_position(xdata, sig_w[1]))
    signal_interval.label = f"{info.name} signal"
    name = f"{si.title} {info.name}"
    out = {"map": _new_item(library, f"{name} map (counts)"),
           "uncertainty": _new_item(library, f"{name} uncertainty (1σ counts)"),
           "snr": _new_item(library, f"{name} SNR")}
    computation = library.create_computation(
        "lumiere.eels.elemental_map",
        inputs={"si": si, "edge": info.name, "fit_interval": fit_interval, "signal_interval": signal_interval,
                "method": method}, outputs=out)
    background = _new_item(library, f"{name} background")
    subtracted = _new_item(library, f"{name} background-subtracted")
    background_computation = library.create_computation(
        "lumiere.eels.background",
        inputs={"data": spectrum, "edge": info.name, "fit_interval": fit_interval, "signal_interval": signal_interval},
        outputs={"background": background, "subtracted": subtracted})
    _add_layers(spectrum, [(background, "Background", "rgba(255, 0, 0, 0.4)"),
                           (subtracted, "Signal", "rgba(0, 160, 0, 0.5)")])
    made.update(out, fit_interval=fit_interval, signal_interval=signal_interval, background=background,
                subtracted=subtracted, computation=computation, background_computation=background_computation,
                sum_computation=made["computation"])
    if window is not None:
        window.display_data_item(spectrum)
        window.display_data_item(out["map"])
    return made


def _add_layers(spectrum: typing.Any, layers: list[tuple[typing.Any, str, str]]) -> None:
    """Show extra data items as layers of the spectrum's display (like nion's Fit Background)."""
    display_item = spectrum.display._display_item
    display_item._set_display_layer_properties(0, label="Data", fill_color="#1E90FF")
    for data_item, label, colour in layers:
        display_item.append_display_data_channel_for_data_item(data_item._data_item)
        index = len(display_item.display_layers) - 1
        display_item._set_display_layer_properties(index, label=label, fill_color=colour)
    display_item.set_display_property("legend_position", "top-right")


def attach_thickness_map(api: typing.Any, si: typing.Any, *, window: typing.Any = None) -> dict[str, typing.Any]:
    """t/λ map of a low-loss SI (automatic ZLP window per spectrum)."""
    require_si(si)
    thickness = _new_item(api.library, f"{si.title} t/λ (Lumière)")
    computation = api.library.create_computation("lumiere.eels.thickness", inputs={"si": si},
                                                 outputs={"thickness": thickness})
    if window is not None:
        window.display_data_item(thickness)
    return {"thickness": thickness, "computation": computation}


def attach_zlp_alignment(api: typing.Any, si: typing.Any, *, window: typing.Any = None) -> dict[str, typing.Any]:
    """ZLP-aligned copy of the SI and the map of ZLP positions (search window ±2 eV)."""
    require_si(si)
    aligned = _new_item(api.library, f"{si.title} ZLP-aligned (Lumière)")
    shift = _new_item(api.library, f"{si.title} ZLP position (eV)")
    computation = api.library.create_computation("lumiere.eels.align_zlp", inputs={"si": si},
                                                 outputs={"aligned": aligned, "zlp_shift": shift})
    if window is not None:
        window.display_data_item(aligned)
    return {"aligned": aligned, "zlp_shift": shift, "computation": computation}
