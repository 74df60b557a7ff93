"""|β| per spectrum: the J_ℓ² fit on simulated spectra recovers the simulator's coupling."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.config import validate
from detectors.instrument import build_instrument
from eegs import EEGSDevices, close_shutter, fit_beta_spectra

# a brighter simulated laser (20 mW at the dye's peak) so that |β| reaches 1 near a particle,
# no drift and no power drift so the truth is fixed during an exposure
CONFIG = {"world": {"drift": {"rate_nm_per_min": [0.0, 0.0], "random_walk_nm_per_sqrt_min": 0.0}},
          "laser": {"max_power_uW": 50_000.0,
                    "simulation": {"peak_power_uW": 20_000.0, "power_drift_rel": 0.0}}}
TARGETS = (0.05, 0.1, 0.2, 0.5, 1.0)


def test_beta_fit_recovers_the_simulated_coupling():
    with build_instrument(validate(CONFIG)) as instrument:
        world = instrument.world
        devices = EEGSDevices.from_instrument(instrument)
        devices.set_wavelength_nm(582.0)
        devices.laser_on(6.0)
        particle = world.specimen.particles[2]           # resonance near the dye's peak
        y0, x0 = particle.y_nm + particle.radius_nm, particle.x_nm

        def truth(b_nm):
            comp = world.composition(np.array([y0 + b_nm]), np.array([x0]), world.clock.now_s())
            return float(world.beta(comp)[0])

        beta_surface = truth(0.0)
        assert beta_surface > 1.2
        spectra, references, expected = [], [], []
        for target in TARGETS:
            b = particle.decay_length_nm * np.log(beta_surface / target)
            instrument.scan.set_probe_position_nm(y0 + b, x0)
            devices.pump.set_shutter(True)
            expected.append(truth(b))
            spectra.append(instrument.eels_camera.acquire_spectra(1, 0.1)[0])
            close_shutter(devices.pump)
            references.append(instrument.eels_camera.acquire_spectra(1, 0.1)[0])
        hw = world.laser.photon_energy_eV
        energy = instrument.eels_camera.energy_axis_eV()
    expected = np.array(expected)
    assert expected.min() < 0.06 and expected.max() > 0.95
    for spectrum, reference, beta in zip(spectra, references, expected):
        fitted, err = fit_beta_spectra(energy, spectrum[None], reference, hw)
        assert fitted[0] == pytest.approx(beta, rel=0.05), (beta, fitted[0], err[0])
        assert np.isfinite(err[0]) and err[0] < 0.05 * beta
