"""EEGS wavelength and power scans on the simulated instrument, through the real laser drivers.

The truth is the simulated specimen: a particle's resonance (centre, FWHM) and the world's |β|.
Drift is switched off where the truth assumes a fixed impact parameter.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.config import validate
from detectors.instrument import build_instrument
from eegs import (EEGSDevices, PowerScan, PowerScanParameters, WavelengthScan,
                  WavelengthScanParameters, analyse_scan, write_analysis)
from lumiere.sinks import CompositeSink, HDF5Sink, MemorySink, read_hdf5_result
from lumiere.tasks import TaskControl

NO_DRIFT = {"world": {"drift": {"rate_nm_per_min": [0.0, 0.0], "random_walk_nm_per_sqrt_min": 0.0}}}


def _at_particle_edge(instrument, index=0, distance_nm=5.0):
    p = instrument.world.specimen.particles[index]
    instrument.scan.set_probe_position_nm(p.y_nm, p.x_nm + p.radius_nm + distance_nm)
    return p


def test_wavelength_scan_recovers_the_particle_resonance():
    with build_instrument(validate(NO_DRIFT)) as instrument:
        particle = _at_particle_edge(instrument)
        assert 600 < particle.resonance_nm < 700
        devices = EEGSDevices.from_instrument(instrument)
        step_nm = 4.0
        scan = WavelengthScan(devices, WavelengthScanParameters(
            560.0, 760.0, step_nm, spectra_per_point=20, exposure_s=0.5))
        sink = MemorySink()
        result = scan.run(sink)
        analysis = analyse_scan(result)
        assert not instrument.world.laser.shutter_open
    fit = analysis.resonance
    assert fit is not None
    assert abs(analysis.resonance_centre_nm - particle.resonance_nm) <= step_nm
    assert fit.fwhm_eV == pytest.approx(particle.resonance_fwhm_eV, rel=0.10)
    assert fit.q_factor == pytest.approx(particle.quality_factor, rel=0.12)
    # |β| per spectrum peaks near the resonance times the laser's power curve: finite everywhere
    assert np.all(np.isfinite(analysis.beta_abs)) and np.nanmax(analysis.beta_abs) < 0.2
    write_analysis(sink, analysis, "eegs")
    table = sink.results["eegs_analysis"]
    assert table.finished and table.metadata["resonance_fwhm_eV"] == pytest.approx(fit.fwhm_eV)


def test_scan_grows_live_and_reads_back_from_hdf5(tmp_path):
    with build_instrument() as instrument:
        _at_particle_edge(instrument, distance_nm=7.5)
        devices = EEGSDevices.from_instrument(instrument)
        memory = MemorySink()
        path = tmp_path / "eegs.h5"
        sink = CompositeSink(HDF5Sink(path), memory)
        filled = []

        def progress(fraction, message):
            data = memory.results["eegs"].data
            filled.append(int(np.all(np.isfinite(data), axis=1).sum()))

        params = WavelengthScanParameters(590.0, 610.0, 2.5, spectra_per_point=4, exposure_s=0.05)
        result = WavelengthScan(devices, params).run(sink, TaskControl(progress))
    n = 9
    assert filled[:n] == list(range(1, n + 1))          # one row more at every wavelength
    assert memory.results["eegs"].writes == n and memory.results["eegs_power"].writes == n
    data, axes, meta = read_hdf5_result(path, "eegs")
    assert data.shape == (n, 1024) and np.all(np.isfinite(data))
    np.testing.assert_allclose(data, result.spectra, rtol=1e-6)
    assert (axes[0].name, axes[0].units, axes[0].offset, axes[0].scale) == ("Wavelength", "nm", 590.0, 2.5)
    assert (axes[1].units, axes[1].offset, axes[1].scale) == ("eV", -20.0, pytest.approx(0.1))
    assert meta["finished"] and meta["workflow"] == "wavelength scan"
    assert list(meta["laser"]["wavelength_range_nm"]) == [532.0, 800.0]
    assert meta["blanker"]["duty_cycle"] == 1.0 and "rate_Hz" in meta["blanker"]
    assert meta["camera"]["exposure_s"] == 0.05 and meta["camera"]["spectra_per_point"] == 4
    assert meta["microscope"]["high_tension_V"] == 100_000.0
    assert len(meta["microscope"]["probe_position_nm"]) == 2
    assert meta["laser_off_power_uW"] < 0.05
    power, p_axes, p_meta = read_hdf5_result(path, "eegs_power")
    assert power.shape == (n, 4)
    assert json.loads(p_meta["columns"]) == ["wavelength_nm", "power_uW", "power_out_uW", "settle_s"]
    np.testing.assert_allclose(power[:, 0], np.arange(590.0, 610.1, 2.5))
    assert np.all(power[:, 1] > 10) and np.all(power[:, 2] < power[:, 1]) and np.all(power[:, 3] > 0)
    off, _, off_meta = read_hdf5_result(path, "eegs_laser_off")
    assert off.shape == (1024,) and off_meta["finished"] and off_meta["laser_off_power_uW"] < 0.05
    # the laser-off reference has no gain peak; the scan's spectra do
    e = result.energy_eV
    gain = (e > -2.3) & (e < -1.9)
    assert data[:, gain].sum(1).min() > 1.5 * off[gain].sum()


def test_downward_scan_and_thread():
    with build_instrument() as instrument:
        _at_particle_edge(instrument)
        scan = WavelengthScan(EEGSDevices.from_instrument(instrument),
                              WavelengthScanParameters(620.0, 600.0, 5.0, spectra_per_point=2, exposure_s=0.05))
        sink = MemorySink()
        scan.start(sink)
        result = scan.join(timeout_s=60)
        np.testing.assert_allclose(result.wavelength_nm, [620, 615, 610, 605, 600])
        assert sink.results["eegs"].axes[0].scale == -5.0
        assert not instrument.laser_bench.pump.shutter_open()


def test_power_scan_gain_is_linear_in_power():
    with build_instrument(validate(NO_DRIFT)) as instrument:
        _at_particle_edge(instrument)
        devices = EEGSDevices.from_instrument(instrument)
        scan = PowerScan(devices, PowerScanParameters(590.0, angles_deg=tuple(range(0, 121, 20)),
                                                      spectra_per_point=10, exposure_s=0.2))
        sink = MemorySink()
        result = scan.run(sink)
        analysis = analyse_scan(result)
    assert sink.results["eegs_power"].axes[0].units == "°"
    assert np.all(np.diff(result.power_uW) < 0)              # more angle, less light
    assert analysis.resonance is None
    # weak coupling: gain ∝ P, so gain / P is constant and |β|² ∝ P
    g = analysis.gain_per_uW
    assert np.std(g) / np.mean(g) < 0.1
    b2 = analysis.beta_abs ** 2 / (result.power_uW - result.laser_off_power_uW)
    assert np.std(b2) / np.mean(b2) < 0.1


def test_power_scan_on_set_points_uses_the_power_lock():
    with build_instrument() as instrument:
        _at_particle_edge(instrument)
        scan = PowerScan(EEGSDevices.from_instrument(instrument),
                         PowerScanParameters(585.0, setpoints_uW=(40.0, 80.0, 120.0, 160.0),
                                             spectra_per_point=2, exposure_s=0.05))
        sink = MemorySink()
        result = scan.run(sink)
    axis = sink.results["eegs_power"].axes[0]
    assert (axis.name, axis.units, axis.offset, axis.scale) == ("Laser power", "µW", 40.0, 40.0)
    assert all(r.locked for r in scan.lock_results)
    np.testing.assert_allclose(result.power_uW, [40, 80, 120, 160], rtol=0.04)
