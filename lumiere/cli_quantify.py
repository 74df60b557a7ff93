"""``lumiere quantify IN.hspy --out OUT.hspy --edges Sc_L3,Dy_M5 [--standard Dy_M5/O_K=0.6667@Y0:Y1,X0:X1]``.

Quantifies an EELS SI of one of our HDF5 files (ratio method, :mod:`analysis.eels.quant`): areal
densities (atoms/nm²) of every edge when the incident dose is known (the SI's
``beam_current_pA`` × ``exposure_s``) or a low-loss SI is given (``--lowloss NAME``), atomic ratio
maps, and an uncertainty map of each. Beam energy and angles come from the file's
``Acquisition_instrument`` (as exspy reads them), else from ``--config``. σ of K/L edges: exspy's
hydrogenic GOS; of other edges: ``--sigma EDGE=VALUE_nm2`` or a k-factor measured on a region of
known composition (``--standard``). An existing ``OUT`` is never replaced: the maps go to the first
free numbered name (``OUT_001.hspy``, :mod:`lumiere.outputs`) unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lumiere.outputs import add_overwrite_argument

    parser.add_argument("input", help="HDF5 file with an EELS SI (e.g. from lumiere si / demo)")
    parser.add_argument("--out", required=True, metavar="OUT.hspy",
                        help="output file; if it exists, OUT_001.hspy … is used unless --overwrite")
    add_overwrite_argument(parser)
    parser.add_argument("--edges", required=True,
                        help="comma-separated edges, HyperSpy or our names: Sc_L3,Dy_M5 or 'Sc L2,3,Dy M4,5'")
    parser.add_argument("--si", default="si", help="name of the SI result in the file (default si)")
    parser.add_argument("--lowloss", default=None, help="name of a low-loss SI result (same pixels) for I_low")
    parser.add_argument("--window-eV", type=float, default=50.0, help="integration window Δ, eV (default 50)")
    parser.add_argument("--sigma", action="append", default=[], metavar="EDGE=NM2",
                        help="given cross section σ(β, Δ) of an edge, nm² per atom (e.g. Dy_M5=2.4e-7)")
    parser.add_argument("--standard", action="append", default=[], metavar="EDGE/REF=RATIO@Y0:Y1,X0:X1",
                        help="k-factor of EDGE against REF on pixel rows Y0:Y1, columns X0:X1 of known "
                             "n_EDGE/n_REF = RATIO (Dy2O3: Dy_M5/O_K=0.6667@...)")
    parser.add_argument("--config", default=None, help="site file for beam energy and angles if the SI lacks them")


def _read(path: str, name: str) -> tuple:
    from lumiere.sinks import read_hdf5_result

    try:
        return read_hdf5_result(path, name)
    except KeyError:
        import h5py

        with h5py.File(path, "r") as f:
            names = sorted(f["Experiments"])
        raise ValueError(f"{path}: no result {name!r}; the file has {names}") from None


def _standard(item: str) -> tuple[str, str, float, tuple[int, int, int, int]]:
    try:
        head, region = item.split("@")
        pair, ratio = head.split("=")
        edge, ref = pair.split("/")
        (y0, y1), (x0, x1) = [tuple(int(v) for v in r.split(":")) for r in region.split(",")]
        return edge, ref, float(ratio), (y0, y1, x0, x1)
    except ValueError:
        raise ValueError(f"--standard {item!r}: expected EDGE/REF=RATIO@Y0:Y1,X0:X1, "
                         "e.g. Dy_M5/O_K=0.6667@4:10,2:12") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from analysis.eels import quant as q
    from lumiere.metadata import beam_energy_and_angles, incident_electrons
    from lumiere.outputs import new_file
    from lumiere.sinks import HDF5Sink

    si, axes, meta = _read(args.input, args.si)
    if si.ndim != 3:
        raise ValueError(f"{args.input}: result {args.si!r} has shape {si.shape}; expected (y, x, energy)")
    energy = axes[-1].values(si.shape[-1])
    edges = q.parse_edge_list(args.edges)
    kv, alpha, beta = beam_energy_and_angles(meta, args.config)
    lowloss = None
    if args.lowloss:
        ll, ll_axes, _ = _read(args.input, args.lowloss)
        lowloss = q.lowloss_intensity(ll, ll_axes[-1].values(ll.shape[-1]), args.window_eV)
    else:
        lowloss = incident_electrons(meta)
    given: dict[str, q.CrossSection] = {}
    for item in args.sigma:
        try:
            cs_given = q.given_cross_section(item, args.window_eV, "given (--sigma)")
        except ValueError as e:
            raise ValueError(f"--sigma: {e}") from None
        given[cs_given.edge] = cs_given
    for item in args.standard:
        edge, ref, ratio, (y0, y1, x0, x1) = _standard(item)
        mask = np.zeros(si.shape[:2], bool)
        mask[y0:y1, x0:x1] = True
        maps = {}
        for name in (q.edge_group_name(edge), q.edge_group_name(ref)):
            fit, sig = q.quant_windows(name, args.window_eV)
            maps[name] = q.elemental_map(si, energy, name, pre_edge=fit, signal_window_eV=sig)
        ref_cs = given.get(q.edge_group_name(ref)) or q.hydrogenic_cross_section(q.edge_group_name(ref), kv, alpha, beta,
                                                                                  args.window_eV)
        given[q.edge_group_name(edge)] = q.k_factor_cross_section(
            maps[q.edge_group_name(edge)], maps[q.edge_group_name(ref)], ref_cs, ratio, mask,
            standard=f"pixels [{y0}:{y1}, {x0}:{x1}]")
    try:
        import exspy  # noqa: F401 - σ of K/L edges comes from its hydrogenic GOS
    except ImportError:
        if any(name not in given for name in edges):
            raise ValueError("exspy is not installed: σ of K/L edges needs its hydrogenic GOS "
                             "(pip install exspy), or give every edge's σ with --sigma") from None
    results, cs, _ = q.quantify(si, energy, edges, beam_energy_kV=kv, convergence_mrad=alpha, collection_mrad=beta,
                                lowloss=lowloss, cross_sections=given, window_eV=args.window_eV)
    out = new_file(args.out, overwrite=args.overwrite)
    sink = HDF5Sink(out, overwrite=args.overwrite)
    image_axes = [a.__class__(a.name, a.units, a.scale, a.offset, False) for a in axes[:2]]
    for key, m in results.items():
        base = key.replace(" ", "_").replace(",", "").replace("/", "_over_")
        kind = "areal_density_" if m.units else "ratio_"
        info = {"units": m.units or "1",
                "quantity": f"Areal density ({m.units})" if m.units else f"{key.split()[0]}/{key.split('/')[1].split()[0]} atomic ratio", "description": m.description, "systematic_rel": m.systematic_rel,
                "cross_sections": {k: {"sigma_nm2": c.sigma_nm2, "window_eV": list(c.window_eV), "source": c.source,
                                       "rel_uncertainty": c.rel_uncertainty} for k, c in cs.items()}}
        for suffix, data in (("", m.value), ("_uncertainty", m.uncertainty)):
            name = kind + base + suffix
            sink.create(name, data.shape, image_axes, metadata=info,
                        title=f"{key} {'areal density' if m.units else 'atomic ratio'}{suffix.replace('_', ' ')}"
                              f"{' (' + m.units + ')' if m.units else ''}")
            sink.write(name, slice(None), data.astype(np.float32))
            sink.finish(name)
        print(f"{key}: median {np.nanmedian(m.value):.4g} {m.units}".rstrip(), file=sys.stdout)
    for k, c in cs.items():
        print(f"  sigma({k}, {c.window_eV[0]:g}-{c.window_eV[1]:g} eV) = {c.sigma_nm2:.4g} nm2 [{c.source}]")
    print(f"wrote {out}")
    return 0
