"""Quantified EELS maps in Swift: areal densities (atoms/nm²) of two edges, their atomic ratio,
and a 1-σ uncertainty map of each (ratio method, :mod:`analysis.eels.quant`).

Computation id and inputs (``api.library.create_computation(id, inputs=…, outputs=…)``):

``lumiere.eels.quantify``
    ``si`` (core-loss SI), ``edges`` (``"Dy M4,5, Sc L2,3"`` or ``"Dy_M5,Sc_L3"``: a, b),
    optional ``lowloss`` (low-loss SI of the same pixels: I_low(Δ)), ``sigmas`` (given σ, e.g.
    ``"Dy M4,5=2.4e-7"``: nm² per atom, for edges exspy's hydrogenic GOS do not cover),
    ``window_eV`` (Δ, default 50) → ``density_a``, ``uncertainty_a``, ``density_b``,
    ``uncertainty_b`` (atoms/nm²), ``ratio`` (n_a / n_b), ``ratio_uncertainty``.

Beam energy and angles: the instrument record in the SI's metadata
(:func:`lumiere.metadata.beam_energy_and_angles`), else the site file of this Swift (``LUMIERE_CONFIG``; default: the simulated instrument). Without a
low-loss SI the incident electrons per pixel (``beam_current_pA`` × ``exposure_s`` of the SI's
metadata) stand for I_low; with neither, only the ratio is computed.
"""
from __future__ import annotations

import os
import typing

import numpy as np
from nion.data import DataAndMetadata

from analysis.eels import quant
from lumiere.metadata import beam_energy_and_angles, incident_electrons
from nionswift_plugin.lumiere.computations_common import InputError, energy_axis_eV, guarded, nav_xdata, require_si

__all__ = ["COMPUTATIONS", "MENU_ITEMS", "attach_quantification", "parse_sigmas"]

OUTPUTS = ("density_a", "uncertainty_a", "density_b", "uncertainty_b", "ratio", "ratio_uncertainty")


def parse_sigmas(text: str, window_eV: float) -> dict[str, quant.CrossSection]:
    """``"Dy M4,5=2.4e-7; La M4,5=3e-7"`` → given cross sections (nm² per atom) for the window Δ."""
    out: dict[str, quant.CrossSection] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        try:
            cs = quant.given_cross_section(part, window_eV, "given in Swift")
        except ValueError as e:
            raise InputError(str(e)) from None
        out[cs.edge] = cs
    return out


def _edge_pair(text: str) -> tuple[str, str]:
    edges = quant.parse_edge_list(text or "")
    if len(edges) != 2:
        raise InputError(f"give two edges a, b (ratio a/b), e.g. 'Dy M4,5, Sc L2,3'; got {text!r}")
    return edges[0], edges[1]


def _instrument(meta: dict) -> tuple[float, float, float]:
    return beam_energy_and_angles(meta, os.environ.get("LUMIERE_CONFIG") or None)


class Quantify:
    """Areal densities of edges a and b, the ratio a/b, and their uncertainty maps."""

    label = "Lumière Quantified Maps"
    inputs = {"si": {"label": "Spectrum image"}, "edges": {"label": "Edges a, b"},
              "lowloss": {"label": "Low-loss SI (optional)"}, "sigmas": {"label": "Given σ (EDGE=nm²; …)"},
              "window_eV": {"label": "Window Δ (eV)"}}
    outputs = {name: {"label": name.replace("_", " ")} for name in OUTPUTS}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("Quantified maps")
    def execute(self, si: typing.Any, edges: str = "", lowloss: typing.Any = None, sigmas: str = "",
                window_eV: float = quant.DEFAULT_WINDOW_eV, **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        a, b = _edge_pair(edges)
        window = float(window_eV or quant.DEFAULT_WINDOW_eV)
        meta = dict(xdata.metadata.get("lumiere", {}))
        kv, alpha, beta = _instrument(meta)
        low: np.ndarray | float | None = None
        if lowloss is not None:
            lx = require_si(lowloss)
            if lx.data_shape[:2] != xdata.data_shape[:2]:
                raise InputError(f"the low-loss SI has {lx.data_shape[:2]} pixels, the SI {xdata.data_shape[:2]}")
            low = quant.lowloss_intensity(np.asarray(lx.data), energy_axis_eV(lx), window)
        else:
            low = incident_electrons(meta)
        maps, cs, _ = quant.quantify(np.asarray(xdata.data), energy_axis_eV(xdata), [a, b], beam_energy_kV=kv,
                                     convergence_mrad=alpha, collection_mrad=beta, lowloss=low,
                                     cross_sections=parse_sigmas(sigmas, window), window_eV=window)
        info = {"cross_sections": {k: {"sigma_nm2": c.sigma_nm2, "window_eV": list(c.window_eV), "source": c.source,
                                       "rel_uncertainty": c.rel_uncertainty} for k, c in cs.items()},
                "I_low": "low-loss SI" if lowloss is not None else ("dose" if low is not None else "none")}
        out = {}
        for key, edge in (("a", a), ("b", b)):
            if edge in maps:
                m = maps[edge]
                extra = {**info, "edge": edge, "systematic_rel": m.systematic_rel}
                out[f"density_{key}"] = nav_xdata(m.value, xdata, units="atoms/nm^2", metadata=extra)
                out[f"uncertainty_{key}"] = nav_xdata(m.uncertainty, xdata, units="atoms/nm^2", metadata=extra)
        r = maps[f"{a}/{b}"]
        extra = {**info, "ratio": f"{a}/{b}", "systematic_rel": r.systematic_rel}
        out["ratio"] = nav_xdata(r.value, xdata, metadata=extra)
        out["ratio_uncertainty"] = nav_xdata(r.uncertainty, xdata, metadata=extra)
        self._out = out

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


COMPUTATIONS: dict[str, type] = {"lumiere.eels.quantify": Quantify}


def attach_quantification(api: typing.Any, si: typing.Any, edges: str, *, lowloss: typing.Any = None,
                          sigmas: str = "", window_eV: float = quant.DEFAULT_WINDOW_eV,
                          window: typing.Any = None) -> dict[str, typing.Any]:
    """Quantified maps of ``si`` for two ``edges`` (a, b): creates the six output data items and the
    computation (recomputes when the SI changes). Returns the Facade objects by output name plus
    ``computation``."""
    xdata = require_si(si)
    a, b = _edge_pair(edges)
    for edge in (a, b):
        e = energy_axis_eV(xdata)
        lo, hi = quant.quant_windows(edge, window_eV)[1]
        if lo < e[0] or hi > e[-1]:
            raise InputError(f"{edge}: window [{lo:g}, {hi:g}] eV is outside the SI's [{e[0]:g}, {e[-1]:g}] eV")
    titles = {"density_a": f"{a} areal density (atoms/nm^2)", "uncertainty_a": f"{a} areal density 1σ (atoms/nm^2)",
              "density_b": f"{b} areal density (atoms/nm^2)", "uncertainty_b": f"{b} areal density 1σ (atoms/nm^2)",
              "ratio": f"{a.split()[0]}/{b.split()[0]} atomic ratio", "ratio_uncertainty": f"{a.split()[0]}/{b.split()[0]} ratio 1σ"}
    out = {name: api.library.create_data_item(f"{si.title} {title}") for name, title in titles.items()}
    inputs = {"si": si, "edges": f"{a}; {b}", "sigmas": sigmas, "window_eV": float(window_eV)}
    if lowloss is not None:
        inputs["lowloss"] = lowloss
    computation = api.library.create_computation("lumiere.eels.quantify", inputs=inputs, outputs=out)
    if window is not None:
        window.display_data_item(out["ratio"])
    return {**out, "computation": computation}


def _quantify_action(api: typing.Any, window: typing.Any) -> typing.Any:
    """Menu: ask for the edges (and σ of edges without a hydrogenic GOS) and attach the maps."""
    si = window.target_data_item
    if si is None:
        raise InputError("select a spectrum image first")
    require_si(si)

    def accepted(text: str) -> None:
        from nionswift_plugin.lumiere.menus import _report

        edges, _, sigmas = text.partition("|")
        try:
            attach_quantification(api, si, edges, sigmas=sigmas.strip(), window=window)
        except (InputError, ValueError) as e:
            _report(window, f"Lumière: {e}")

    window.show_get_string_message_box(
        "Lumière quantified maps – edges a, b | given σ (e.g. 'Dy M4,5, Sc L2,3 | Dy M4,5=2.4e-7'):",
        "Dy M4,5, Sc L2,3 | Dy M4,5=2.4e-7", accepted)
    return None


MENU_ITEMS = [("Quantified Maps (atoms/nm², ratio)…", _quantify_action)]
