"""``lumiere eegs wavelength-scan|power-scan ...``: EEGS scans on the site's instrument.

On the simulated instrument (the default) the probe is parked 7.5 nm outside the edge of the
specimen's first gold particle unless ``--probe-nm Y X`` says otherwise; the output says where
(not the particle's resonance: that is what the scan measures). On a real instrument
``--probe-nm Y X`` is required (nothing is read from the simulation). The specimen drifts: every
``--reimage-every`` points the region around the probe is re-imaged (HAADF) and the probe kept at
the same place relative to the particle (:mod:`eegs.tracking`; the ``eegs_drift`` result logs the
drift and the probe's offset, nm, per point).
Writes ``OUT/eegs_wavelength_scan.hspy`` or ``OUT/eegs_power_scan.hspy`` (HyperSpy: map, power
log, laser-off reference, analysis) and PNG plots ``<same name>_map.png`` / ``_spectrum.png`` of
the map and the EEGS spectrum with its fitted resonance. Existing files are kept (numbered
names, :mod:`lumiere.outputs`) unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from detectors.common.errors import DeviceError, describe_error
from detectors.instrument import build_instrument
from eegs import (EEGSDevices, PowerScan, PowerScanParameters, WavelengthScan,
                  WavelengthScanParameters, analyse_scan, write_analysis)
from eegs.tracking import DRIFT_LOG_COLUMNS
from lumiere.cli import EXIT_DEVICE
from lumiere.cli_checks import finite_float, non_negative_float, non_negative_int, positive_float, positive_int
from lumiere.outputs import WORKFLOW_STEMS, RunFiles, add_overwrite_argument, new_run_files
from lumiere.sinks import HDF5Sink
from lumiere.tasks import TaskControl, TextProgressBar

_DEFAULTS = WavelengthScanParameters(600.0, 700.0, 4.0)
#: the default dose per point: 100 × 0.1 s at 200 pA on the simulator (a FEG's probe current in
#: EEGS/EELS of particles is typically 10–500 pA). The Cramér–Rao bound on |β| at |β| = 0.003 is
#: ±15.6 % per point for 10 × 0.1 s at 20 pA, ∝ 1/√dose, so ±1.6 % here: the 5 % target holds
#: with > 3σ margin (benchmarks/bench_eegs_accuracy.py).
DEFAULT_SPECTRA = 100
DEFAULT_BEAM_CURRENT_PA = 200.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="eegs_command", metavar="SCAN", required=True)
    wl = sub.add_parser("wavelength-scan", help="scan the laser wavelength, record EELS spectra",
                        description="Wavelength scan: at each λ wait until the laser holds, record "
                        "spectra, log the power; laser-off reference at the end; analysis.")
    wl.add_argument("--start", type=positive_float, default=600.0, help="first wavelength, nm (default 600)")
    wl.add_argument("--stop", type=positive_float, default=700.0, help="last wavelength, nm (default 700)")
    wl.add_argument("--step", type=positive_float, default=4.0, help="wavelength step, nm (default 4)")
    ps = sub.add_parser("power-scan", help="scan the attenuator at a fixed wavelength",
                        description="Power scan at a fixed wavelength over attenuator angles.")
    ps.add_argument("--wavelength", type=positive_float, default=590.0, help="wavelength, nm (default 590)")
    ps.add_argument("--angles", type=str, default="0:120:10",
                    help="attenuator angles START:STOP:STEP in integer degrees (default 0:120:10)")
    for p in (wl, ps):
        p.add_argument("--out", required=True, help="output directory (created if missing)")
        add_overwrite_argument(p)
        p.add_argument("--config", default=None, help="site configuration TOML (default: simulated instrument)")
        p.add_argument("--spectra", type=positive_int, default=DEFAULT_SPECTRA,
                       help=f"spectra per point (default {DEFAULT_SPECTRA}: 10 s per point, |β| ±1.6 %% at "
                       "|β| = 0.003 with 200 pA)")
        p.add_argument("--exposure-ms", type=positive_float, default=100.0, help="exposure per spectrum, ms (default 100)")
        p.add_argument("--current-A", type=non_negative_float, default=6.0, help="pump diode current, A (default 6)")
        p.add_argument("--reimage-every", type=non_negative_int, default=_DEFAULTS.reimage_every,
                       help="re-image the region around the probe every N points and keep the probe "
                       f"beside the particle (drift tracking; 0 = off; default {_DEFAULTS.reimage_every})")
        p.add_argument("--reimage-fov-nm", type=positive_float, default=_DEFAULTS.reimage_fov_nm,
                       help="side of the re-imaged region centred on the probe, nm; it must show the "
                       f"particle's edge (default {_DEFAULTS.reimage_fov_nm:g})")
        p.add_argument("--beam-current-pA", type=positive_float, default=DEFAULT_BEAM_CURRENT_PA,
                       help=f"simulator: beam current, pA (default {DEFAULT_BEAM_CURRENT_PA:g}; a real "
                       "instrument's current is set on the microscope)")
        p.add_argument("--probe-on-particle", action="store_true",
                       help="simulator: park the probe 7.5 nm outside a particle's edge (the default)")
        p.add_argument("--particle", type=non_negative_int, default=0, help="simulator: which particle (default 0)")
        p.add_argument("--distance-nm", type=finite_float, default=7.5,
                       help="simulator: probe distance outside the particle's radius, nm (default 7.5)")
        p.add_argument("--probe-nm", type=finite_float, nargs=2, metavar=("Y", "X"), default=None,
                       help="park the probe at this microscope position, nm (required on a real instrument)")
        p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def place_probe(instrument, args: argparse.Namespace) -> str:
    """Park the probe through the scan generator: at ``--probe-nm``, or on a fully simulated
    instrument next to a simulated particle; a real instrument without ``--probe-nm`` refuses."""
    if instrument.fully_simulated:
        instrument.world.beam.current_pA = args.beam_current_pA
    if args.probe_nm is not None:
        instrument.set_probe_position_nm(*args.probe_nm)
        return f"probe at ({args.probe_nm[0]:.1f}, {args.probe_nm[1]:.1f}) nm"
    if not instrument.fully_simulated:
        real = ", ".join(d for d, sim in instrument.simulated.items() if not sim)
        raise ValueError(f"on a real instrument (real: {real}) give --probe-nm Y X: where to park the "
                         "probe, microscope frame nm")
    from detectors.simulation.setup import eegs_probe_target_nm
    y, x = eegs_probe_target_nm(instrument.world, args.particle, args.distance_nm)
    instrument.set_probe_position_nm(y, x)
    return (f"simulator: {args.beam_current_pA:g} pA, probe parked {args.distance_nm:g} nm outside the "
            f"edge of particle {args.particle} at ({y:.1f}, {x:.1f}) nm; the specimen drifts during the scan")


def _angles(text: str) -> tuple[int, ...]:
    try:
        start, stop, step = (int(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--angles {text!r}: expected START:STOP:STEP in integer degrees") from None
    if step <= 0:
        raise ValueError(f"--angles step {step}° must be > 0°")
    if stop < start:
        raise ValueError(f"--angles {text!r} gives no angle: STOP {stop}° is below START {start}°")
    return tuple(range(start, stop + 1, step))


def scan_parameters(args: argparse.Namespace) -> WavelengthScanParameters | PowerScanParameters:
    """The scan's parameters from the command line (they check themselves: finite, signs, counts)."""
    common = dict(spectra_per_point=args.spectra, exposure_s=args.exposure_ms / 1000.0,
                  diode_current_A=args.current_A, reimage_every=args.reimage_every,
                  reimage_fov_nm=args.reimage_fov_nm)
    if args.eegs_command == "wavelength-scan":
        return WavelengthScanParameters(args.start, args.stop, args.step, **common)
    return PowerScanParameters(args.wavelength, angles_deg=_angles(args.angles), **common)


def run(args: argparse.Namespace) -> int:
    params = scan_parameters(args)  # before the instrument is built
    stem = WORKFLOW_STEMS[args.eegs_command]
    files = new_run_files(args.out, stem, plots=(f"{stem}_map.png", f"{stem}_spectrum.png"),
                          overwrite=args.overwrite)
    instrument = build_instrument(args.config)
    try:
        devices = EEGSDevices.from_instrument(instrument)
        # the scans check the instrument's limits when built, before any command (the probe too)
        scan = WavelengthScan(devices, params) if isinstance(params, WavelengthScanParameters) \
            else PowerScan(devices, params)
        where = place_probe(instrument, args)
        print(where, file=sys.stdout)
        sink = HDF5Sink(files.data, overwrite=args.overwrite)
        task = TaskControl(TextProgressBar(args.eegs_command))
        try:
            result = scan.run(sink, task)
        except DeviceError as e:  # every device's errors (Merlin, laser bench, shutter …): one line
            kept = (f"what was acquired is in {files.data} (marked failed)" if sink.holds_data()
                    else "nothing was acquired")
            print(f"\nlumiere eegs: {describe_error(e)}; {kept}", file=sys.stderr)
            return EXIT_DEVICE
        analysis = analyse_scan(result)
        write_analysis(sink, analysis, scan.name)
    finally:
        instrument.close()
    tracked = f", {scan.name}_drift" if result.drift_log is not None else ""
    print(f"wrote {files.data} (results {scan.name}, {scan.name}_power, {scan.name}_laser_off, "
          f"{scan.name}_analysis{tracked})")
    if result.drift_log is not None and np.isfinite(result.drift_log).any():
        col = {c: i for i, c in enumerate(DRIFT_LOG_COLUMNS)}
        last = result.drift_log[np.isfinite(result.drift_log[:, 0])][-1]
        print(f"drift tracking: the specimen drifted {np.hypot(last[col['drift_dy_nm']], last[col['drift_dx_nm']]):.1f} nm; "
              f"the probe stayed within {np.nanmax(result.drift_log[:, col['offset_nm']]):.2f} nm of its place "
              "beside the particle (images of the region around it)")
    s = analysis.summary()
    if analysis.resonance is not None:
        print(f"resonance: {s['resonance_centre_eV']:.4f} ± {s['resonance_centre_err_eV']:.4f} eV "
              f"({s['resonance_centre_nm']:.1f} nm), FWHM {s['resonance_fwhm_eV'] * 1e3:.1f} ± "
              f"{s['resonance_fwhm_err_eV'] * 1e3:.1f} meV, Q = {s['resonance_q']:.1f}")
    elif analysis.resonance_error:
        print(f"no resonance fit: {analysis.resonance_error}")
    if np.isfinite(analysis.beta_abs).any():
        print(f"|β| from {np.nanmin(analysis.beta_abs):.4f} to {np.nanmax(analysis.beta_abs):.4f}")
    if not args.no_plots:
        for path in _plots(files, stem, result, analysis):
            print(f"wrote {path}")
    return 0


def _plots(files: RunFiles, stem: str, result, analysis) -> list[pathlib.Path]:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    paths = []
    e = result.energy_eV
    hw_max = float(np.nanmax(analysis.photon_energy_eV))
    sel = (e > -2.5 * hw_max) & (e < 2.5 * hw_max)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    v = result.axis_values
    extent = (e[sel][0], e[sel][-1], v[0], v[-1]) if v.size > 1 else None
    axes[0].imshow(np.log10(np.clip(result.spectra[:, sel], 1, None)), aspect="auto", origin="lower",
                   cmap="magma", extent=extent)
    axes[0].set_title("EEGS map, log10 counts")
    if result.laser_off_spectrum is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            on = result.spectra[:, sel] / np.nansum(result.spectra, axis=1, keepdims=True)
            off = result.laser_off_spectrum[sel] / np.nansum(result.laser_off_spectrum)
        diff = on - off[None, :]
        lim = np.nanpercentile(np.abs(diff[:, e[sel] < -0.5 * hw_max]), 99.5) or 1.0
        axes[1].imshow(diff, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=extent)
        axes[1].set_title("laser on − laser off (fraction of counts); gain at −ħω")
    for ax in axes:
        ax.set_xlabel("energy loss (eV)")
        ax.set_ylabel(f"{result.axis.name} ({result.axis.units})")
    paths.append(files.plot(f"{stem}_map.png"))
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    x = analysis.photon_energy_eV if analysis.resonance is not None else analysis.axis_values
    ax.errorbar(x, analysis.gain_per_uW, analysis.gain_err_per_uW, fmt="o", ms=3, label="gain / power")
    if analysis.resonance is not None:
        from analysis.sidebands import lorentzian
        r = analysis.resonance
        xx = np.linspace(np.nanmin(x), np.nanmax(x), 400)
        ax.plot(xx, lorentzian(xx, r.centre_eV, r.fwhm_eV, r.amplitude, r.offset),
                label=f"Lorentzian {r.centre_eV:.3f} eV, FWHM {r.fwhm_eV * 1e3:.0f} meV, Q {r.q_factor:.0f}")
        ax.set_xlabel("photon energy (eV)")
    else:
        ax.set_xlabel(f"{result.axis.name} ({result.axis.units})")
    ax.set_ylabel("gain (order 1) per ZLP count per µW")
    ax.legend(fontsize=8)
    paths.append(files.plot(f"{stem}_spectrum.png"))
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths
