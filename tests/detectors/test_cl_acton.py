"""Acton/Princeton command layer against its simulator through the real transports."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.cl import CLConfig, Grating, SimulatedCLSpectrometer
from detectors.common.errors import BadReply, ConnectionLost, DeviceTimeout, InstrumentError, LimitError
from detectors.common.simbase import Fault
from detectors.simulation.world import SimulatedWorld


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(1)  # built once: the specimen takes a second or two


@pytest.fixture(params=["pty", "tcp"])
def cl(request, world):
    with SimulatedCLSpectrometer(world, serial=request.param, timeout_s=0.3) as sim:
        yield sim


def test_queries_and_wire_format(cl):
    s = cl.spectrometer
    assert s.wavelength_nm() == pytest.approx(550.0)
    assert s.grating_index() == 2
    assert s.gratings() == [Grating(600, 300), Grating(300, 500), Grating(150, 500)]
    s.check_gratings()
    assert s.slit_um() == pytest.approx(100.0)
    assert s.slit_um("exit") == pytest.approx(100.0)
    assert s.exit_mirror() == "FRONT"
    assert cl.transport.written[:2] == [b"?NM\r", b"?GRATING\r"]


def test_moves_take_time_on_the_world_clock(cl):
    s, clock = cl.spectrometer, cl.world.clock
    t0 = clock.now_s()
    assert s.goto_nm(650.0) == pytest.approx(650.0)
    assert b"650.000 GOTO\r" in cl.transport.written
    assert clock.now_s() - t0 == pytest.approx(100.0 / 200.0 + 0.2)
    t1 = clock.now_s()
    s.set_grating(3)
    assert s.grating_index() == 3
    assert clock.now_s() - t1 == pytest.approx(15.0)
    assert s.wavelength_nm() == pytest.approx(650.0)  # the turret keeps the wavelength


def test_slits_and_mirror(cl):
    s = cl.spectrometer
    s.set_slit_um(250)
    s.set_slit_um(40, "exit")
    assert (s.slit_um(), s.slit_um("exit")) == (250.0, 40.0)
    assert cl.state.slits_um == {"entrance": 250.0, "exit": 40.0}
    assert b"SIDE-ENT-SLIT 250 MICRONS\r" in cl.transport.written
    s.set_exit_mirror("side")
    assert s.exit_mirror() == "SIDE"
    # the Orsay client's form with a trailing delay is understood too
    s.command("EXIT-MIRROR FRONT 400 MS")
    assert s.exit_mirror() == "FRONT"


@pytest.mark.parametrize("call", [
    lambda s: s.goto_nm(-5.0), lambda s: s.goto_nm(1500.0), lambda s: s.goto_nm(float("nan")),
    lambda s: s.set_slit_um(5.0), lambda s: s.set_slit_um(3500.0), lambda s: s.set_grating(4),
    lambda s: s.set_grating(0), lambda s: s.set_grating(1.5)])
def test_out_of_range_refused_before_sending(cl, call):
    before = list(cl.transport.written)
    with pytest.raises(LimitError, match="outside the allowed range"):
        call(cl.spectrometer)
    assert cl.transport.written == before


def test_instrument_refusal_is_an_error(cl):
    s = cl.spectrometer
    with pytest.raises(InstrumentError, match="refused 'FOO'"):
        s.command("FOO")
    with pytest.raises(InstrumentError):
        s.command("7000.000 GOTO")  # beyond the 300 l/mm grating's reach (6434 nm)
    with pytest.raises(ValueError):
        s.set_exit_mirror("BACK")
    assert s.wavelength_nm() == pytest.approx(550.0)


def test_garbage_timeout_and_disconnect(cl):
    s = cl.spectrometer
    cl.simulator.fault = Fault.GARBLED
    with pytest.raises(BadReply):
        s.wavelength_nm()
    cl.simulator.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        s.grating_index()
    cl.clear_faults()
    assert s.grating_index() == 2
    cl.simulator.fault = Fault.DISCONNECT
    with pytest.raises((ConnectionLost, DeviceTimeout)):
        s.wavelength_nm()


def test_driver_calibration_matches_the_optics(cl):
    s = cl.spectrometer
    for index in (1, 2, 3):
        s.set_grating(index)
        s.goto_nm(500.0 + 30 * index)
        np.testing.assert_allclose(s.pixel_wavelengths_nm(), cl.camera.wavelengths_nm(), atol=1e-3)
        cal = s.linear_calibration()
        assert cal.scale_nm == pytest.approx(cl.config.geometry.nm_per_pixel(cl.config.grating(index), 500.0 + 30 * index), rel=0.02)


def test_configured_gratings_checked_against_instrument(world):
    cfg = CLConfig(gratings=(Grating(1200, 500), Grating(300, 500), Grating(150, 500)))
    with SimulatedCLSpectrometer(world, timeout_s=0.3) as sim:
        sim.spectrometer.config = cfg
        with pytest.raises(InstrumentError, match="differ from the configuration"):
            sim.spectrometer.check_gratings()


def test_config_from_dict():
    cfg = CLConfig.from_dict({"gratings": [[600, 300], [150, 500]], "geometry": {"focal_length_mm": 320},
                              "initial_grating": 1})
    assert cfg.grating(2) == Grating(150, 500)
    assert cfg.geometry.focal_length_mm == 320
    with pytest.raises(ValueError, match="unknown key"):
        CLConfig.from_dict({"focal_mm": 3})


@pytest.mark.parametrize("serial", ["pty", "tcp"])
def test_driver_works_with_the_rs232_echo(world, serial):
    # the manual: every character is echoed on RS-232 (not over USB); the driver drops the echo
    with SimulatedCLSpectrometer(world, {"simulated_echo": True}, serial=serial, timeout_s=0.3) as sim:
        s = sim.spectrometer
        assert s.wavelength_nm() == pytest.approx(550.0)
        assert s.gratings() == [Grating(600, 300), Grating(300, 500), Grating(150, 500)]
        assert s.goto_nm(600.0) == pytest.approx(600.0)
        assert s.exit_mirror() == "FRONT" and s.slit_um() == pytest.approx(100.0)
        sim.transport.reset_input()
        sim.transport.write(b"?GRATING\r")
        assert sim.transport.read_until(b"\n", 0.3) == b"?GRATING\r2  ok\r\n"  # echo, then reply
        with pytest.raises(InstrumentError):
            s.command("FLY-TO-THE-MOON")


def test_old_acton_goto_form_is_accepted_as_nslumiere_sends_it(cl):
    # NSLumiere OptSpec/spec.py set_wavelength sends format(value, '.3f') + ' <goto>\r' and reads
    # lines until one holds b'ok'; the manual: "<GOTO> Same as GOTO"
    lines = cl.spectrometer.command("612.500 <goto>", 5.0)
    assert lines == [] and cl.spectrometer.wavelength_nm() == pytest.approx(612.5)
