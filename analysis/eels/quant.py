"""Quantified EELS maps: areal densities (atoms/nm²) and atomic ratios with uncertainty maps.

The standard ratio method (Egerton, *EELS in the Electron Microscope*, 3rd ed., §4.5):

    n = I_edge(β, Δ) / (I_low(β, Δ) · σ(β, Δ))        (atoms per unit area)
    n_a / n_b = I_a(β, Δ) σ_b(β, Δ) / (I_b(β, Δ) σ_a(β, Δ))   (same Δ for both edges)

``I_edge`` is the background-subtracted edge signal integrated over the window [E_edge,
E_edge + Δ] (:func:`~analysis.eels.maps.elemental_map`), ``I_low`` the low-loss intensity (zero
loss and plasmons) integrated up to Δ through the same collection aperture β — or, lacking a
low-loss SI, the incident electrons per pixel (beam current × dwell / e; exact only in the limit
t/λ → 0 with every electron inside β) — and σ(β, Δ) the partial cross section of the window.

Cross sections (say which in the result: :attr:`CrossSection.source`):

* **exspy hydrogenic GOS** (Egerton's SIGMAK/SIGMAL) for K and L edges (``"O K"``, ``"Sc L2,3"``,
  …): :func:`hydrogenic_cross_section` integrates exspy's dσ/dE(β) for the beam energy, the
  convergence and the collection semi-angles over the window (exspy is imported when called; no
  GOS file is downloaded). Known bias: the hydrogenic model has no white lines, which hold a
  sizeable part of the near-edge intensity of L2,3 edges of 3d metals: σ(Δ) of short windows is
  underestimated there; prefer Δ ≥ 50 eV.
* **k-factor on a standard** for edges the hydrogenic model does not cover (M4,5 of rare earths,
  e.g. ``"Dy M4,5"``): :func:`k_factor_cross_section` measures σ_x(β, Δ) on a region of known
  composition against an edge with a hydrogenic σ (e.g. Dy M4,5 against O K on Dy2O3, O/Dy = 3/2);
  its statistical uncertainty is carried as :attr:`CrossSection.rel_uncertainty` (a systematic
  for every map quantified with it).

Uncertainties (1 σ, per pixel): Poisson counts of the signal window and the background fit
propagated through the power-law extrapolation (:func:`~analysis.eels.background.background_variance`),
plus the Poisson error of ``I_low``. Not included in the maps: the cross sections' model error
and the k-factor's statistical error (both common to all pixels: :attr:`QuantMap.systematic_rel`),
plural scattering beyond what the ratio with ``I_low(Δ)`` corrects, and channel correlations
between edges. The plural part is a bias, not noise: edge electrons that also lost a plasmon are
partly pushed out of the window Δ while ``I_low(Δ)`` keeps the plasmons, so areal densities read
low by ≈ 3 / 10 / 15 / 20 % at t/λ 0.1 / 0.3 / 0.5 / 0.7 with Δ = 50 eV (on the simulator, whose
plural scattering is the Poisson convolution with its low-loss:
``detectors.simulation.cross_sections.ratio_method_plural_factor``); in ratios of edges with the
same Δ it largely cancels (Dy M4,5 / Sc L2,3: +5 % at t/λ 0.63). Prefer thin regions or a larger Δ
(Δ = 100 eV: −7 / −11 % at t/λ 0.3 / 0.5).
"""
from __future__ import annotations

import typing

import numpy as np

from .axis import check_energy_axis, integrate
from .edges import lookup_edge
from .maps import FIT_FRACTIONS, ElementalMap, elemental_map

__all__ = ["CrossSection", "QuantMap", "quantify", "edge_group_name", "parse_edge_list", "given_cross_section",
           "hydrogenic_cross_section", "k_factor_cross_section",
           "lowloss_intensity", "quant_windows", "areal_density", "atomic_ratio", "NM2_PER_BARN"]

NM2_PER_BARN = 1e-10  # 1 barn = 1e-28 m² = 1e-10 nm²
#: default integration window Δ, eV (one Δ for every edge, so I_low cancels in ratios)
DEFAULT_WINDOW_eV = 50.0


class CrossSection(typing.NamedTuple):
    """Partial cross section σ(β, Δ) of one edge, nm² per atom, for ``window_eV``."""

    edge: str
    window_eV: tuple[float, float]
    sigma_nm2: float
    source: str                 #: "exspy hydrogenic GOS (…)", "k-factor on … against …"
    rel_uncertainty: float = 0.0  #: statistical (k-factor) relative 1-σ; 0 for a computed σ


class QuantMap(typing.NamedTuple):
    """A quantified map and its 1-σ uncertainty map (same shape)."""

    value: np.ndarray
    uncertainty: np.ndarray
    units: str                  #: "atoms/nm^2" or "" (ratio)
    systematic_rel: float       #: relative error common to all pixels (cross sections), not in ``uncertainty``
    description: str


def quant_windows(edge: str, window_eV: float = DEFAULT_WINDOW_eV) -> tuple[tuple[float, float], tuple[float, float]]:
    """(background fit, signal) windows of an edge for quantification: [0.93, 0.98]·E_edge and
    [E_edge, E_edge + Δ].

    Examples
    --------
    >>> quant_windows("O K")[1]
    (532.0, 582.0)
    """
    if not window_eV > 0:
        raise ValueError(f"integration window Δ must be > 0 eV, got {window_eV}")
    onset = lookup_edge(edge).onset_eV
    return ((FIT_FRACTIONS[0] * onset, FIT_FRACTIONS[1] * onset), (onset, onset + float(window_eV)))


def hydrogenic_cross_section(edge: str, beam_energy_kV: float, convergence_mrad: float,
                             collection_mrad: float, window_eV: float | tuple[float, float] = DEFAULT_WINDOW_eV,
                             ) -> CrossSection:
    """σ(β, Δ) of a K or L edge from exspy's hydrogenic GOS, nm² per atom.

    Parameters
    ----------
    edge : "O K", "Sc L2,3", … (the whole L2,3 group: exspy's hydrogenic L edge is L2,3)
    beam_energy_kV, convergence_mrad, collection_mrad : the instrument (semi-angles)
    window_eV : Δ (window [E_edge, E_edge + Δ]) or an explicit (lo, hi) window

    Raises
    ------
    ValueError
        An edge the hydrogenic model does not cover (not K or L), or bad angles / window.
    ImportError
        exspy is not installed (``pip install exspy``).

    Examples
    --------
    >>> cs = hydrogenic_cross_section("O K", 100, 10, 25)
    >>> round(cs.sigma_nm2 * 1e7, 3)
    1.419
    """
    info = lookup_edge(edge)
    if info.shell[0] not in "KL":
        raise ValueError(f"exspy's hydrogenic GOS covers K and L edges only, not {info.name}; "
                         "use k_factor_cross_section() on a standard")
    for name, v, hi in (("beam_energy_kV", beam_energy_kV, 1000), ("convergence_mrad", convergence_mrad, 200),
                        ("collection_mrad", collection_mrad, 500)):
        if not 0 < float(v) <= hi:
            raise ValueError(f"{name} = {v!r} must be in (0, {hi}]")
    if isinstance(window_eV, tuple):
        lo, hi_e = float(window_eV[0]), float(window_eV[1])
    else:  # a width Δ from the onset
        lo, hi_e = info.onset_eV, info.onset_eV + float(window_eV)
    if not info.onset_eV <= lo < hi_e:
        raise ValueError(f"window [{lo:g}, {hi_e:g}] eV must start at or above the onset "
                         f"{info.onset_eV:g} eV of {info.name} and have lo < hi")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hyperspy's deprecation chatter on import
        from exspy.components import EELSCLEdge

    subshell = "K" if info.shell[0] == "K" else "L3"
    comp = EELSCLEdge(f"{info.element}_{subshell}", GOS="hydrogenic")
    comp.set_microscope_parameters(E0=float(beam_energy_kV), alpha=float(convergence_mrad),
                                   beta=float(collection_mrad), energy_scale=0.01)
    # our onset table (EELS convention) positions the edge, as the simulator and the maps do
    comp.onset_energy.value = info.onset_eV
    step = 0.01
    e = np.arange(lo, hi_e, step) + step / 2
    sigma = float(comp.function(e).sum() * step) * NM2_PER_BARN
    src = (f"exspy hydrogenic GOS, E0 = {beam_energy_kV:g} kV, alpha = {convergence_mrad:g} mrad, "
           f"beta = {collection_mrad:g} mrad")
    return CrossSection(info.name, (lo, hi_e), sigma, src)


def k_factor_cross_section(edge_map: ElementalMap, reference_map: ElementalMap, reference: CrossSection,
                           atoms_ratio: float, region: np.ndarray | None = None, *,
                           standard: str = "standard") -> CrossSection:
    """σ_x(β, Δ) of ``edge_map``'s edge measured on a region of known composition.

    σ_x = σ_ref · (I_x / I_ref) / (n_x / n_ref), with I summed over ``region`` (a boolean mask
    of the maps' shape; default every pixel) and ``atoms_ratio`` = n_x / n_ref of the standard
    (Dy2O3 against O K: n_Dy / n_O = 2/3). The relative statistical error of I_x / I_ref (Poisson
    and background fits, summed over the region) is returned as ``rel_uncertainty``; add the
    reference σ's model error to it as a systematic.

    Examples
    --------
    >>> from analysis.eels.maps import elemental_map
    >>> e = np.arange(480.0, 1380.0, 1.0)
    >>> spec = 1e13 * e ** -3.0 + 3e3 * (e >= 532) * (e / 532) ** -3 + 1e3 * (e >= 1295) * (e / 1295) ** -3
    >>> o = elemental_map(spec[None], e, "O K", signal_window_eV=(532.0, 582.0))
    >>> dy = elemental_map(spec[None], e, "Dy M4,5", signal_window_eV=(1295.0, 1345.0))
    >>> ref = CrossSection("O K", (532.0, 582.0), 1e-7, "test")
    >>> cs = k_factor_cross_section(dy, o, ref, 2 / 3, standard="Dy2O3")
    >>> round(cs.sigma_nm2 / 1e-7 * (2 / 3) / (float(dy.signal[0]) / float(o.signal[0])), 6)
    1.0
    """
    if not atoms_ratio > 0:
        raise ValueError(f"atoms_ratio (n_x / n_ref of the standard) must be > 0, got {atoms_ratio}")
    if tuple(reference.window_eV) != tuple(reference_map.signal_window_eV):
        raise ValueError(f"reference cross section window {reference.window_eV} eV differs from the "
                         f"reference map's signal window {reference_map.signal_window_eV} eV")
    mask = np.ones(np.shape(edge_map.signal), bool) if region is None else np.asarray(region, bool)
    if mask.shape != np.shape(edge_map.signal) or not mask.any():
        raise ValueError(f"region must be a non-empty boolean mask of shape {np.shape(edge_map.signal)}")
    ix, vx = float(np.nansum(edge_map.signal[mask])), float(np.nansum(edge_map.uncertainty[mask] ** 2))
    ir, vr = float(np.nansum(reference_map.signal[mask])), float(np.nansum(reference_map.uncertainty[mask] ** 2))
    if not (ix > 0 and ir > 0):
        raise ValueError(f"no edge signal on the standard region: I({edge_map.edge.name}) = {ix:.4g}, "
                         f"I({reference_map.edge.name}) = {ir:.4g} counts")
    sigma = reference.sigma_nm2 * ix / ir / atoms_ratio
    rel = float(np.sqrt(vx / ix ** 2 + vr / ir ** 2 + reference.rel_uncertainty ** 2))
    src = (f"k-factor on {standard} ({int(mask.sum())} px) against {reference.edge} "
           f"(n_x/n_ref = {atoms_ratio:.4g}; {reference.source})")
    window = (float(edge_map.signal_window_eV[0]), float(edge_map.signal_window_eV[1]))
    return CrossSection(edge_map.edge.name, window, sigma, src, rel)


def lowloss_intensity(lowloss_si: np.ndarray, energy_axis_eV: np.ndarray, upper_eV: float) -> np.ndarray:
    """I_low(β, Δ): counts of low-loss spectra (zero loss included) from the start of the axis
    up to ``upper_eV`` (= Δ), per pixel. The axis must start below the zero-loss peak.

    Examples
    --------
    >>> e = np.arange(-10.0, 100.0, 1.0)
    >>> float(lowloss_intensity(np.ones((1, e.size)), e, 50.0)[0])
    60.5
    """
    lowloss_si = np.asarray(lowloss_si)
    e, d = check_energy_axis(energy_axis_eV, lowloss_si.shape[-1])
    if not e[0] - d / 2 < -1.0:
        raise ValueError(f"low-loss axis starts at {e[0] - d / 2:g} eV; it must include the zero-loss "
                         "peak (start below -1 eV)")
    if not 0 < upper_eV <= e[-1] + d / 2:
        raise ValueError(f"upper_eV = {upper_eV} must be in (0, {e[-1] + d / 2:g}] eV (the axis end)")
    return integrate(lowloss_si, e, (e[0] - d / 2, float(upper_eV)))


def _check_window(edge_map: ElementalMap, cs: CrossSection) -> None:
    if edge_map.edge.name != cs.edge:
        raise ValueError(f"cross section is for {cs.edge}, the map for {edge_map.edge.name}")
    if not np.allclose(edge_map.signal_window_eV, cs.window_eV, atol=1e-6):
        raise ValueError(f"{cs.edge}: map signal window {edge_map.signal_window_eV} eV differs from the "
                         f"cross section's window {cs.window_eV} eV (σ(β, Δ) must be for the same window)")


def areal_density(edge_map: ElementalMap, cross_section: CrossSection,
                  lowloss: np.ndarray | float) -> QuantMap:
    """Areal density n = I_edge / (I_low σ), atoms/nm², and its 1-σ uncertainty per pixel.

    Parameters
    ----------
    edge_map : from :func:`~analysis.eels.maps.elemental_map` with the window of ``cross_section``
    cross_section : σ(β, Δ) for that window
    lowloss : I_low(β, Δ) per pixel (:func:`lowloss_intensity`) or the incident electrons per
        pixel (scalar or map) when no low-loss SI exists (see the module notes)

    Notes
    -----
    Var n = Var I_edge / (I_low σ)² + n² Var I_low / I_low², Var I_low = I_low (Poisson).

    Examples
    --------
    >>> e = np.arange(480.0, 700.0, 1.0)
    >>> spec = 1e13 * e ** -3.0 + 2e3 * (e >= 532) * (e / 532) ** -3
    >>> m = elemental_map(spec[None], e, "O K", signal_window_eV=(532.0, 582.0))
    >>> cs = CrossSection("O K", (532.0, 582.0), float(m.signal[0]) / 1e9 / 40.0, "test")
    >>> round(float(areal_density(m, cs, 1e9).value[0]), 6)
    40.0
    """
    _check_window(edge_map, cross_section)
    low = np.broadcast_to(np.asarray(lowloss, np.float64), np.shape(edge_map.signal))
    if np.any(low <= 0):
        raise ValueError("lowloss intensity must be > 0 counts in every pixel")
    denom = low * cross_section.sigma_nm2
    n = edge_map.signal / denom
    var = (edge_map.uncertainty / denom) ** 2 + n * n / low
    return QuantMap(n, np.sqrt(var), "atoms/nm^2", cross_section.rel_uncertainty,
                    f"{cross_section.edge} areal density, sigma = {cross_section.sigma_nm2:.4g} nm2 "
                    f"over {cross_section.window_eV} eV ({cross_section.source})")


def atomic_ratio(map_a: ElementalMap, cs_a: CrossSection, map_b: ElementalMap, cs_b: CrossSection, *,
                 min_snr_b: float = 3.0) -> QuantMap:
    """Atomic ratio n_a / n_b = I_a σ_b / (I_b σ_a) per pixel (I_low cancels: same Δ), NaN where
    edge b's signal is below ``min_snr_b`` standard deviations (no b there: no ratio).

    Notes
    -----
    Var r = (σ_b / (I_b σ_a))² Var I_a + (r / I_b)² Var I_b (the two windows' counts taken as
    independent). The cross sections' relative errors add to ``systematic_rel``.

    Examples
    --------
    >>> from analysis.eels.edges import lookup_edge
    >>> fake = lambda s, name, w: ElementalMap(np.array([s]), np.array([1.0]), np.array([s]), None, None,
    ...                                       lookup_edge(name), None, w)
    >>> a = fake(300.0, "Dy M4,5", (1295.0, 1345.0)); b = fake(200.0, "Sc L2,3", (402.0, 452.0))
    >>> r = atomic_ratio(a, CrossSection("Dy M4,5", (1295.0, 1345.0), 3.0, "t"), b,
    ...                  CrossSection("Sc L2,3", (402.0, 452.0), 2.0, "t"))
    >>> float(r.value[0])
    1.0
    """
    _check_window(map_a, cs_a)
    _check_window(map_b, cs_b)
    wa, wb = np.diff(cs_a.window_eV)[0], np.diff(cs_b.window_eV)[0]
    if not np.isclose(wa, wb):
        raise ValueError(f"ratio needs the same window width Δ for both edges (I_low cancels only then): "
                         f"{cs_a.edge} {wa:g} eV, {cs_b.edge} {wb:g} eV")
    ia, ib = map_a.signal, map_b.signal
    ok = ib > min_snr_b * map_b.uncertainty
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = cs_b.sigma_nm2 / cs_a.sigma_nm2
        r = np.where(ok, ia * scale / ib, np.nan)
        var = (scale / ib) ** 2 * map_a.uncertainty ** 2 + (r / ib) ** 2 * map_b.uncertainty ** 2
    sys_rel = float(np.hypot(cs_a.rel_uncertainty, cs_b.rel_uncertainty))
    return QuantMap(r, np.where(ok, np.sqrt(var), np.nan), "", sys_rel,
                    f"{cs_a.edge.split()[0]}/{cs_b.edge.split()[0]} atomic ratio ({cs_a.source}; {cs_b.source})")


def edge_group_name(name: str) -> str:
    """Our edge group for a HyperSpy-style ``Element_subshell`` (or our own) name: ``"Sc_L3"`` →
    ``"Sc L2,3"``, ``"Dy_M5"`` → ``"Dy M4,5"``, ``"O_K"`` → ``"O K"`` (quantification integrates
    the whole L2,3 / M4,5 group, as exspy's hydrogenic L edge does).

    Examples
    --------
    >>> edge_group_name("Dy_M5"), edge_group_name("O K")
    ('Dy M4,5', 'O K')
    """
    el, _, sub = name.strip().replace("_", " ", 1).partition(" ")
    group = {"L2": "L2,3", "L3": "L2,3", "M4": "M4,5", "M5": "M4,5"}.get(sub.strip().upper(), sub)
    return lookup_edge(f"{el} {group}").name


def given_cross_section(text: str, window_eV: float = DEFAULT_WINDOW_eV, source: str = "given") -> CrossSection:
    """A cross section the user gives as ``"EDGE=VALUE"`` (VALUE: σ(β, Δ) in nm² per atom).

    Examples
    --------
    >>> given_cross_section("Dy_M5=2.4e-7").edge, given_cross_section("Dy_M5=2.4e-7").sigma_nm2
    ('Dy M4,5', 2.4e-07)
    """
    edge, sep, value = str(text).partition("=")
    try:
        sigma = float(value)
    except ValueError:
        sigma = -1.0
    if not sep or not sigma > 0:
        raise ValueError(f"cross section {str(text).strip()!r}: expected EDGE=VALUE with VALUE > 0 in nm² per "
                         "atom, e.g. Dy_M5=2.4e-7")
    name = edge_group_name(edge)
    return CrossSection(name, quant_windows(name, window_eV)[1], sigma, source)


def parse_edge_list(text: str) -> list[str]:
    """Edge groups from a comma/semicolon-separated list in HyperSpy or our spelling.

    Examples
    --------
    >>> parse_edge_list("Sc_L3,Dy_M5"), parse_edge_list("Dy M4,5; Sc L2,3")
    (['Sc L2,3', 'Dy M4,5'], ['Dy M4,5', 'Sc L2,3'])
    """
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    out: list[str] = []
    for p in parts:  # "Sc L2,3" splits into "Sc L2" + "3": rejoin digit-only pieces
        if p.isdigit() and out:
            out[-1] += "," + p
        else:
            out.append(p)
    return [edge_group_name(p) for p in out]


def quantify(si: np.ndarray, energy_axis_eV: np.ndarray, edges: typing.Sequence[str], *,
             beam_energy_kV: float, convergence_mrad: float, collection_mrad: float,
             lowloss: np.ndarray | float | None = None, cross_sections: dict[str, CrossSection] | None = None,
             ratios: typing.Sequence[tuple[str, str]] | None = None, window_eV: float = DEFAULT_WINDOW_eV,
             ) -> tuple[dict[str, QuantMap], dict[str, CrossSection], dict[str, ElementalMap]]:
    """Areal-density and ratio maps of an SI for ``edges``, one window width Δ for all.

    σ of each edge: ``cross_sections[edge]`` if given (e.g. a k-factor), else exspy's hydrogenic
    GOS (K, L edges). Areal densities need ``lowloss`` (I_low per pixel or the incident electrons);
    without it only ratios are returned. ``ratios`` defaults to (edges[0], edges[1]).

    Returns (maps, cross sections, elemental maps); map keys ``"<edge>"`` (atoms/nm²) and
    ``"<a>/<b>"`` (ratio).
    """
    names = [edge_group_name(e) for e in edges]
    if not names:
        raise ValueError("give at least one edge, e.g. ['Sc L2,3', 'Dy M4,5']")
    given = {edge_group_name(k): v for k, v in (cross_sections or {}).items()}
    cs, emaps, out = {}, {}, {}
    for name in names:
        fit, sig = quant_windows(name, window_eV)
        emaps[name] = elemental_map(si, energy_axis_eV, name, pre_edge=fit, signal_window_eV=sig)
        cs[name] = given.get(name) or hydrogenic_cross_section(name, beam_energy_kV, convergence_mrad,
                                                               collection_mrad, window_eV)
        if lowloss is not None:
            out[name] = areal_density(emaps[name], cs[name], lowloss)
    pairs = ratios if ratios is not None else ([(names[0], names[1])] if len(names) > 1 else [])
    for a, b in pairs:
        a, b = edge_group_name(a), edge_group_name(b)
        if a not in emaps or b not in emaps:
            raise ValueError(f"ratio {a}/{b}: both edges must be among the quantified edges {names}")
        out[f"{a}/{b}"] = atomic_ratio(emaps[a], cs[a], emaps[b], cs[b])
    return out, cs, emaps
