"""Thorlabs PM100 power meters (SCPI) against the simulated bench; transmission from two meters."""
from __future__ import annotations

import pytest

from detectors.common.errors import BadReply, DeviceTimeout, InstrumentError, LimitError
from detectors.laser.power_meter import PowerMeter, _scpi_key, read_transmission
from detectors.common.simbase import Fault
from detectors.laser.simulated import SimulatedLaserBench


@pytest.fixture(params=["pty", "tcp"])
def rig(request):
    sim = SimulatedLaserBench(serial=request.param, timeout_s=2.0, seed=3)
    with sim as bench:
        bench.set_wavelength_nm(582.0)
        yield sim, bench


def light_on(bench, current_A=6.0):
    bench.pump.set_diode(True)
    bench.pump.set_current_A(current_A)
    bench.pump.set_shutter(True)


def test_scpi_short_and_long_forms():
    assert _scpi_key("SENSE:AVERAGE:COUNT") == "AVER:COUN"
    assert _scpi_key("SENS:CORR:WAV?") == "CORR:WAV?"
    assert _scpi_key("sense:correction:wavelength") == "CORR:WAV"
    assert _scpi_key("*IDN?") == "*IDN?"


def test_dark_then_light(rig):
    sim, bench = rig
    assert isinstance(bench.meter_in, PowerMeter)
    assert "PM100" in bench.meter_in.identify()
    assert abs(bench.meter_in.read_power_uW()) < 0.05          # shutter closed: dark level
    light_on(bench)
    p = bench.meter_in.read_power_uW()
    expected = sim.system.update().power_uW / sim.system.config.simulation.specimen_fraction
    assert p == pytest.approx(expected, rel=0.03)
    assert bench.meter_in.fetch_power_uW() == pytest.approx(p, rel=1e-5)
    bench.meter_in.check_error()


def test_transmission_of_the_column(rig):
    sim, bench = rig
    light_on(bench)
    p_in, p_out, t = read_transmission(bench.meter_in, bench.meter_out)
    assert t == pytest.approx(sim.system.config.simulation.column_transmission, rel=0.03)
    assert bench.transmission()[2] == pytest.approx(t, rel=0.03)


def test_power_follows_dye_tuning_curve(rig):
    _, bench = rig
    light_on(bench)
    readings = {}
    for wl in (565.0, 582.0, 600.0):
        bench.set_wavelength_nm(wl)
        readings[wl] = bench.meter_in.read_power_uW()
    assert readings[582.0] > readings[565.0] and readings[582.0] > readings[600.0]


def test_wavelength_correction_only_sent_on_change(rig):
    sim, bench = rig
    meter = bench.meter_in
    assert meter.wavelength_nm() == pytest.approx(582.0)
    assert not meter.set_wavelength_nm(582.05)                   # within 0.1 nm: nothing sent
    assert meter.set_wavelength_nm(582.2)
    assert meter.wavelength_nm() == pytest.approx(582.2)
    assert meter.set_wavelength_nm(582.2, force=True)
    # a wrong correction scales the reading by true/set wavelength
    light_on(bench)
    right = meter.read_power_uW()
    meter.set_wavelength_nm(2 * 291.1 + 100.0)
    assert meter.read_power_uW() == pytest.approx(right * 582.0 / 682.2, rel=0.03)


def test_limits_refused_before_sending(rig):
    sim, bench = rig
    before = list(sim.transports["meter_in"].written)
    with pytest.raises(LimitError, match="power meter wavelength 1200.0 nm outside the allowed range 400.0–1100.0 nm"):
        bench.meter_in.set_wavelength_nm(1200.0)
    with pytest.raises(LimitError, match="averaging count 0"):
        bench.meter_in.set_averaging(0)
    with pytest.raises(LimitError):
        bench.meter_in.set_averaging(2.5)
    assert sim.transports["meter_in"].written == before
    bench.meter_in.set_averaging(100)
    assert bench.meter_in.averaging() == 100


def test_faults_and_error_queue(rig):
    sim, bench = rig
    sim.system.meter_out.fault = Fault.GARBLED
    with pytest.raises(BadReply):
        bench.meter_out.read_power_uW()
    sim.system.meter_out.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout):
        bench.meter_out.read_power_uW()
    sim.system.meter_out.fault = Fault.NONE
    bench.meter_out.channel.send("SENS:BOGUS 3")
    with pytest.raises(InstrumentError, match="-113"):
        bench.meter_out.check_error()
    bench.meter_out.check_error()
