"""|β| with the default drift (issue 17 part 1): the gain-side fit and interleaved laser-off
references recover the simulator's hidden |β| at the probe's true position at the time.

Before: the one reference at the end of the scan saw the probe ~1.5 nm closer to the particle,
its plasmon loss at +ħω was taken for loss sideband and |β| came out 13-36 % low at 624-672 nm.
The beam current is raised to 1 nA: at the default 20 pA the Poisson limit (Cramér-Rao) on |β|
at 0.003 is ±15 % per point, so no estimator can hold 5 % per wavelength there."""
from __future__ import annotations

import dataclasses

import numpy as np

from detectors.config import validate
from detectors.instrument import build_instrument
from eegs import EEGSDevices, WavelengthScan, WavelengthScanParameters, analyse_scan
from lumiere.sinks import MemorySink


def test_beta_is_unbiased_under_drift_with_interleaved_references():
    with build_instrument(validate({"beam": {"current_pA": 1000.0}})) as instrument:
        world = instrument.world
        p = world.specimen.particles[0]
        instrument.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + 7.5)
        devices = EEGSDevices.from_instrument(instrument)
        camera, acquire = devices.camera, devices.camera.acquire_spectra
        truth: list[tuple[float, float]] = []  # (time s, mean |β|² over the exposure) with light

        def recording_acquire(n, exposure_s):
            t0 = world.clock.now_s()
            y, x = world.beam.probe_y_nm, world.beam.probe_x_nm
            out = acquire(n, exposure_s)
            if world.laser.illuminating:
                times = t0 + exposure_s * (np.arange(n) + 0.5)
                beta = world.beta(world.composition(np.full(n, y), np.full(n, x), times))
                truth.append((t0, float(np.mean(beta ** 2))))
            return out

        camera.acquire_spectra = recording_acquire
        params = WavelengthScanParameters(600.0, 700.0, 4.0, spectra_per_point=10, exposure_s=0.1,
                                          reference_every=5)
        result = WavelengthScan(devices, params).run(MemorySink())
    assert result.reference_spectra.shape == (7, result.energy_eV.size)   # 6 interleaved + end
    assert np.all(np.diff(result.reference_time_s) > 0)
    t = np.array([a for a, _ in truth])
    b2 = np.array([b for _, b in truth])
    # every point's chunks lie between its start and the next point's start
    edges = np.concatenate([result.point_time_s - 0.6, [np.inf]])
    expected = np.sqrt(np.array([b2[(t >= edges[i]) & (t < edges[i + 1])].mean()
                                 for i in range(result.point_time_s.size)]))
    analysis = analyse_scan(result)
    err = analysis.beta_abs / expected - 1
    strong = expected >= 0.003
    assert strong.sum() >= 20
    assert np.abs(err[strong]).max() < 0.08, np.round(err, 3)
    assert abs(np.median(err[strong])) < 0.02
    near = (result.wavelength_nm >= 624) & (result.wavelength_nm <= 672)   # formerly -13..-36 %
    assert abs(err[near].mean()) < 0.03
    # the probe came ~1.2 nm closer: the gain rose ~14 % over the scan, which skews the line
    # (centre 0.18 % low in energy); the particle's own loss as a monitor takes that out
    centre = p.resonance_eV
    assert analysis.resonance.centre_eV / centre - 1 < -0.001
    monitored = analyse_scan(result, drift_monitor=True)
    assert abs(monitored.resonance.centre_eV / centre - 1) < 0.001
    assert monitored.loss_monitor[-1] / monitored.loss_monitor[0] > 1.1
    np.testing.assert_array_equal(monitored.beta_abs, analysis.beta_abs)
    # the old estimator (both sides, the end reference) on the same data: still biased low
    old = analyse_scan(dataclasses.replace(result, reference_spectra=None, reference_time_s=None), side="both")
    assert (old.beta_abs[near] / expected[near] - 1).mean() < -0.10

