"""What the instrument owns (clock, energy calibration, probe position, metadata) on simulated and
mixed sites; the all-real site is tested in tests/workflows/test_real_site.py."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.calibration import EnergyCalibration, WallClock
from detectors.config import ConfigError, validate
from detectors.instrument import build_instrument
from detectors.scan import SimulatedScanGenerator, SimulatedScanUnit
from detectors.simulation.devices import SimulatedProbeShift
from detectors.simulation.setup import configure_simulation, eegs_probe_target_nm
from detectors.simulation.world import SimulatedWorld


@pytest.fixture(scope="module")
def scan_unit():
    """A scan unit on 127.0.0.1 (the simulator has a world of its own): the one real device."""
    unit = SimulatedScanUnit(SimulatedScanGenerator(SimulatedWorld(1), SimulatedProbeShift()))
    with unit.server:  # served without a driver of its own: the instrument's driver owns the unit
        yield unit


def test_a_simulated_instrument_shares_its_calibration_and_clock_with_the_world():
    config = validate({"spectrometer": {"energy_offset_eV": -10.0, "dispersion_eV_per_channel": 0.02,
                                        "channels": 512}})
    with build_instrument(config) as inst:
        assert inst.fully_simulated and inst.clock is inst.world.clock
        assert inst.world.spectrometer is inst.spectrometer  # the world follows the instrument's
        axis = inst.energy_axis_eV()
        assert axis.size == 512 and axis[0] == pytest.approx(-10.0) and axis[1] - axis[0] == pytest.approx(0.02)
        assert inst.eels_camera.acquire_spectra(1, 0.01).shape == (1, 512)
        configure_simulation(inst.world, drift_nm_per_min=None)  # the simulator's core-loss set-up
        np.testing.assert_allclose(inst.eels_camera.energy_axis_eV(), 350.0 + np.arange(512))
        meta = inst.metadata()
        assert meta["simulated"] is True and meta["clock"] == "simulated, virtual"
        assert meta["spectrometer"] == {"energy_offset_eV": 350.0, "dispersion_eV_per_channel": 1.0, "channels": 512}
        assert meta["beam_current_pA"] == pytest.approx(200.0)


def test_one_real_device_puts_the_instrument_on_the_wall_clock_and_the_world_in_real_time(scan_unit):
    scan_world = scan_unit.simulator.generator.world
    config = validate({"scan": {"backend": "tcp", "port": scan_unit.port}})  # world clock "virtual"
    with build_instrument(config) as inst:
        assert isinstance(inst.clock, WallClock) and not inst.fully_simulated
        assert inst.world is not None and inst.world.clock.speed == 1.0  # simulated camera, laser …
        meta = inst.metadata()
        assert meta["simulated"] is False and meta["clock"] == "wall"
        assert meta["devices"]["scan"] == {"backend": "tcp", "simulated": False}
        assert meta["devices"]["eels_camera"] == {"backend": "simulated", "simulated": True}
        inst.set_probe_position_nm(3.0, 4.0)  # through the real (tcp) scan unit, not the world
        assert (scan_world.beam.probe_y_nm, scan_world.beam.probe_x_nm) == pytest.approx((3.0, 4.0))
        assert (inst.world.beam.probe_y_nm, inst.world.beam.probe_x_nm) == (0.0, 0.0)


def test_the_eegs_probe_needs_the_option_unless_every_device_is_simulated(scan_unit, tmp_path, capsys):
    from lumiere import cli

    site = tmp_path / "site.toml"
    site.write_text(f'[scan]\nbackend = "tcp"\nport = {scan_unit.port}\n', encoding="utf-8")
    code = cli.main(["eegs", "wavelength-scan", "--out", str(tmp_path), "--config", str(site), "--no-plots"])
    assert code == 1
    assert "on a real instrument (real: scan) give --probe-nm Y X" in capsys.readouterr().err


def test_setup_helpers_check_their_arguments(scan_unit):
    world = scan_unit.simulator.generator.world
    p = world.specimen.particles[0]
    assert eegs_probe_target_nm(world, 0, 5.0) == pytest.approx((p.y_nm, p.x_nm + p.radius_nm + 5.0))
    with pytest.raises(ValueError, match=r"particle 99 outside 0–"):
        eegs_probe_target_nm(world, 99)
    with pytest.raises(ValueError, match=r"current_pA = -1.0 pA is not allowed; expected a finite number > 0 pA"):
        configure_simulation(world, current_pA=-1.0)


def test_energy_calibration_refuses_bad_values():
    cal = EnergyCalibration()
    with pytest.raises(ValueError, match=r"dispersion 0 eV/channel must be > 0"):
        cal.set(dispersion_eV_per_channel=0)
    with pytest.raises(ValueError, match=r"channels 2.5 must be an integer ≥ 1"):
        cal.set(channels=2.5)
    assert cal.as_dict() == {"energy_offset_eV": -20.0, "dispersion_eV_per_channel": 0.1, "channels": 1024}
    with pytest.raises(ConfigError, match=r"spectrometer.channels = 0 is not allowed"):
        validate({"spectrometer": {"channels": 0}})
