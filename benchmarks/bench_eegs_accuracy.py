"""EEGS accuracy under the default drift: |β| per wavelength and the resonance, against the
simulator's hidden truth, for the estimators of ``eegs.analysis`` in one run.

The scan is ``lumiere eegs wavelength-scan``'s default (600–700 nm in 4 nm steps, 100 × 0.1 s per
point at 200 pA, probe 7.5 nm outside particle 0, drift tracking every 2 points, default drift);
options override the dose and the tracking. The truth of a point is the exposure-mean |β|² of
the world at the probe's true position and time (:class:`detectors.simulation.truth.EEGSTruth`).
Compared, on the same spectra: ``both+end`` (the former estimator: symmetric fit, the reference
at the end), ``gain+pooled`` (the default: gain-side fit, all interleaved references summed),
``both+nearest``. Also printed: the probe's true distance from the particle over the scan, the
Cramér–Rao bound on |β| at 0.003 for this dose (noise-free reference), the resonance centre /
FWHM without and with the particle-loss drift monitor, and what the true |β|²/P curve gives.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from analysis import sidebands as model
from detectors.instrument import build_instrument
from detectors.simulation.truth import EEGSTruth
from eegs import EEGSDevices, WavelengthScan, analyse_scan
from lumiere import cli_eegs
from lumiere.sinks import MemorySink


def cli_defaults(*extra: str) -> argparse.Namespace:
    """``lumiere eegs wavelength-scan``'s arguments (defaults unless ``extra`` says otherwise)."""
    parser = argparse.ArgumentParser()
    cli_eegs.add_arguments(parser)
    return parser.parse_args(["wavelength-scan", "--out", "unused", *extra])


def scan(args: argparse.Namespace):
    """The scan of ``args`` on the simulated instrument (``--config``, default: the simulator's
    defaults): (result, truth, laser-off spectrum fraction, electrons per second)."""
    params = cli_eegs.scan_parameters(args)
    with build_instrument(args.config) as instrument:
        devices = EEGSDevices.from_instrument(instrument)
        wavelength_scan = WavelengthScan(devices, params)
        cli_eegs.place_probe(instrument, args)
        truth = EEGSTruth(instrument.world, devices.camera, args.particle)
        result = wavelength_scan.run(MemorySink())
        world = instrument.world
        y, x = instrument.probe_position_nm()
        off = world.eels_fraction(world.composition(np.array([y]), np.array([x]), 0.0))[0]
        electrons = float(world.electrons(1.0))
    return result, truth, off, electrons


def cramer_rao(energy_eV, off, electrons, hw, beta=0.003) -> float:
    """σ(|β|)/|β| at weak coupling for ``electrons`` per spectrum, gain side, reference known."""
    e = energy_eV
    copy = lambda s: np.interp(e + s, e, off, left=0.0, right=0.0)  # noqa: E731
    mu = electrons * ((1 - 2 * beta ** 2) * off + beta ** 2 * (copy(hw) + copy(-hw)))
    d = electrons * (copy(hw) + copy(-hw) - 2 * off)
    sel = e < hw / 2
    info = np.sum(d[sel] ** 2 / mu[sel]) - np.sum(d[sel]) ** 2 / np.sum(mu[sel])  # scale free
    return 0.5 / np.sqrt(info) / beta ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 nm steps (smoke run)")
    parser.add_argument("cli", nargs=argparse.REMAINDER,
                        help="options of lumiere eegs wavelength-scan, e.g. --spectra 10 --beam-current-pA 20 "
                        "--reimage-every 0 (after --)")
    a = parser.parse_args()
    extra = [v for v in a.cli if v != "--"] + (["--step", "8"] if a.quick else [])
    args = cli_defaults(*extra)
    wall = time.perf_counter()
    result, truth, off, electrons = scan(args)
    wall = time.perf_counter() - wall
    expected, distance = truth.per_point(result.point_time_s)
    centre_eV, fwhm_eV = truth.resonance()
    hw = model.photon_energy_eV(result.wavelength_nm)
    end_only = dataclasses.replace(result, reference_spectra=None, reference_time_s=None)
    runs = {"both+end": analyse_scan(end_only, side="both"), "gain+pooled": analyse_scan(result),
            "both+nearest": analyse_scan(result, side="both")}
    print(f"{args.beam_current_pA:g} pA, {args.spectra} × {args.exposure_ms:g} ms per point, re-image every "
          f"{args.reimage_every}: scan {result.point_time_s[-1] - result.point_time_s[0]:.0f} s simulated, "
          f"{wall:.1f} s wall; probe-particle distance {distance.min():.2f}–{distance.max():.2f} nm")
    print("|β| error per wavelength, % (truth ≥ 0.003 marked *)")
    print("   λ nm   truth   " + "  ".join(f"{k:>12s}" for k in runs))
    for i, wl in enumerate(result.wavelength_nm):
        errs = "  ".join(f"{100 * (a.beta_abs[i] / expected[i] - 1):+12.1f}" for a in runs.values())
        print(f"{wl:7.1f} {expected[i]:.5f}{'*' if expected[i] >= 0.003 else ' '} {errs}")
    strong = expected >= 0.003
    for k, a in runs.items():
        err = a.beta_abs[strong] / expected[strong] - 1
        print(f"{k:>12s}: max |error| {100 * np.abs(err).max():5.1f} %, median {100 * np.median(err):+5.1f} %")
    crb = cramer_rao(result.energy_eV, off, electrons * args.spectra * args.exposure_ms / 1000, hw[-1])
    print(f"Cramér–Rao σ(|β|)/|β| at |β| = 0.003, {result.wavelength_nm[-1]:.0f} nm: {100 * crb:.1f} %")
    power = result.power_uW - result.laser_off_power_uW
    truth_fit = model.fit_lorentzian(hw, expected ** 2 / power)
    monitored = analyse_scan(result, drift_monitor=True)
    for name, fit in (("true |β|²/P", truth_fit), ("gain/µW", runs["gain+pooled"].resonance),
                      ("gain/µW, drift monitor", monitored.resonance)):
        print(f"resonance from {name:>22s}: centre {100 * (fit.centre_eV / centre_eV - 1):+.3f} %, "
              f"FWHM {100 * (fit.fwhm_eV / fwhm_eV - 1):+.1f} %  (targets 0.1 %, 2 %)")


if __name__ == "__main__":
    main()
