"""The simulated laser system as the simulated world uses it, and the site configuration."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.laser.config import LaserConfig, SimulationConfig
from detectors.laser.credo import TunableLaser
from detectors.common.simbase import Fault
from detectors.laser.bench import connect_bench
from detectors.laser.simulated import DEVICES, SimulatedLaserBench, SimulatedLaserSystem
from detectors.simulation.clock import SimClock
from detectors.simulation.state import LaserState


def make_system(seed=0, config=None, **state):
    return SimulatedLaserSystem(LaserState(**state), SimClock(), np.random.default_rng(seed), config)


def test_world_constructor_contract_and_shared_state():
    state = LaserState(wavelength_nm=600.0)
    clock = SimClock()
    system = SimulatedLaserSystem(state, clock, np.random.default_rng(1), LaserConfig())
    assert system.state is state and system.clock is clock
    assert state.wavelength_nm == pytest.approx(600.0, abs=0.01)
    assert not state.illuminating and state.duty_cycle == 1.0
    assert set(system.instruments()) == set(DEVICES)
    with SimulatedLaserBench(system, serial="tcp", timeout_s=2.0) as bench:
        assert isinstance(bench.laser, TunableLaser)
        bench.set_wavelength_nm(581.6)
        bench.pump.set_diode(True)
        bench.pump.set_current_A(6.0)
        bench.pump.set_shutter(True)
        bench.blanker.set_timing(800.0, 250.0, 10_000.0)
        bench.blanker.set_gating(True)
    # the record the simulated microscope reads
    system.update()
    assert state.wavelength_nm == pytest.approx(581.6, abs=0.01)
    assert state.photon_energy_eV == pytest.approx(2.132, abs=1e-3)
    assert state.illuminating and state.power_uW > 100.0
    assert state.duty_cycle == pytest.approx(2.5e-3)


def test_wavelength_changes_during_a_move_on_the_shared_clock():
    system = make_system(wavelength_nm=580.0)
    with SimulatedLaserBench(system, timeout_s=2.0) as bench:
        bench.laser.set_wavelength_nm(600.0, wait=False)
        assert not bench.laser.is_holding()
        system.clock.advance(0.1)
        mid = system.update().wavelength_nm
        assert 580.0 <= mid < 600.0
        system.clock.advance(30.0)
        assert bench.laser.is_holding()
        assert system.update().wavelength_nm == pytest.approx(600.0, abs=0.01)


def test_noise_is_reproducible_with_the_generator():
    def readings(seed):
        system = make_system(seed)
        with SimulatedLaserBench(system, timeout_s=2.0) as bench:
            bench.pump.set_diode(True)
            bench.pump.set_current_A(6.0)
            bench.pump.set_shutter(True)
            return [bench.meter_in.read_power_uW() for _ in range(5)]

    a, b, c = readings(3), readings(3), readings(4)
    assert a == b and a != c
    assert np.std(a) > 0 and np.std(a) < 0.01 * np.mean(a)


def test_settle_jitter_from_the_generator():
    cfg = LaserConfig(simulation=SimulationConfig(settle_base_s=0.25, settle_jitter_s=0.5))
    system = make_system(5, cfg)
    with SimulatedLaserBench(system, timeout_s=2.0) as bench:
        settles = [bench.laser.set_wavelength_nm(wl) for wl in (585.0, 590.0, 586.0, 595.0)]
    assert min(settles) >= 0.25 and len(set(round(s, 3) for s in settles)) > 1


def test_clear_faults():
    system = make_system()
    for inst in system.instruments().values():
        inst.fault = Fault.NO_REPLY
    system.clear_faults()
    assert all(i.fault is Fault.NONE for i in system.instruments().values())


def test_config_from_dict_validates():
    cfg = LaserConfig.from_dict({"credo": {"max_wavelength_nm": 700.0},
                                 "pump": {"max_current_A": 5.0},
                                 "blanker": {"host": "192.168.1.10", "port": 8080}})
    assert cfg.credo.max_wavelength_nm == 700.0 and cfg.pump.max_current_A == 5.0
    assert cfg.blanker.port == 8080
    with pytest.raises(ValueError, match="unknown key"):
        LaserConfig.from_dict({"pump": {"max_curent_A": 5.0}})
    with pytest.raises(ValueError, match="unknown laser config sections"):
        LaserConfig.from_dict({"lazer": {}})
    with pytest.raises(ValueError):
        LaserConfig.from_dict({"pump": {"max_current_A": 1.0, "safe_current_A": 2.0}})


def test_bench_rejects_unknown_serial_mode():
    with pytest.raises(ValueError, match="pty"):
        SimulatedLaserBench(serial="usb")


def test_connect_bench_from_config_ports():
    """The hardware path: serial ports and host:port from the config, here the simulator's ptys."""
    system = make_system(8)
    sim = SimulatedLaserBench(system, timeout_s=2.0)
    with sim:
        for transport in sim.transports.values():   # leave each port to the new drivers alone
            transport.close()
        s = sim.servers
        cfg = LaserConfig.from_dict({
            "credo": {"port": s["laser"].port}, "pump": {"port": s["pump"].port},
            "meter": {"port_in": s["meter_in"].port, "port_out": s["meter_out"].port},
            "attenuator": {"port": s["attenuator"].port},
            "blanker": {"host": s["blanker"].host, "port": s["blanker"].port},
        })
        bench = connect_bench(cfg, sleep=system.clock.sleep, monotonic=system.clock.now_s)
        bench.set_wavelength_nm(590.0)
        assert bench.laser.wavelength_nm() == pytest.approx(590.0, abs=0.01)
        assert bench.blanker.timing().rate_Hz == pytest.approx(10_000.0)
        bench.close()
    with pytest.raises(ValueError, match="no serial port for credo.port"):
        connect_bench(LaserConfig())


def test_scaled_clock_bench_works():
    """With a scaled (non-virtual) clock the drivers really wait, in simulated seconds."""
    system = SimulatedLaserSystem(LaserState(), SimClock(speed=1000.0), np.random.default_rng(9))
    with SimulatedLaserBench(system, timeout_s=2.0) as bench:
        bench.set_wavelength_nm(595.0)
        assert bench.laser.is_holding()
        assert bench.laser.wavelength_nm() == pytest.approx(595.0, abs=0.01)


def test_config_from_the_site_laser_section():
    from detectors.config import load_config

    site = load_config(None)["laser"]
    cfg = LaserConfig.from_site_section(site)
    assert (cfg.credo.min_wavelength_nm, cfg.credo.max_wavelength_nm) == (
        site["wavelength_min_nm"], site["wavelength_max_nm"])
    assert cfg.pump.max_current_A == site["max_diode_current_A"]
    assert cfg.lock.max_power_uW == site["max_power_uW"]
    cfg = LaserConfig.from_site_section({"backend": "serial", "wavelength_max_nm": 700.0,
                                         "credo": {"port": "/dev/ttyUSB0"}})
    assert cfg.credo.max_wavelength_nm == 700.0 and cfg.credo.port == "/dev/ttyUSB0"
    with pytest.raises(ValueError, match="unknown key"):
        LaserConfig.from_site_section({"wavelenght_max_nm": 700.0})
