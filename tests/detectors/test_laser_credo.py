"""Sirah Credo dye laser: frame codec, calibration, driver against the simulated laser."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.laser import credo
from detectors.laser.calibration import WavelengthCalibration
from detectors.laser.config import CredoConfig, LaserConfig
from detectors.common.errors import (BadReply, ChecksumError, ConnectionLost, DeviceTimeout,
                                    InstrumentError, LimitError)
from detectors.common.simbase import Fault
from detectors.laser.simulated import SimulatedLaserBench, SimulatedLaserSystem
from detectors.simulation.clock import SimClock
from detectors.simulation.state import LaserState


@pytest.fixture(params=["pty", "tcp"])
def rig(request):
    sim = SimulatedLaserBench(serial=request.param, timeout_s=2.0, seed=1)
    with sim as bench:
        yield sim, bench


def test_request_frame_layout_and_checksum():
    frame = credo.encode_request(credo.CMD_STATUS)
    assert frame == bytes([60, 23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 83, 62])
    move = credo.encode_move(1_249_262)
    assert len(move) == 13 and move[0] == 0x3C and move[-1] == 0x3E
    assert move[1] == 7 and move[2] == 1
    assert int.from_bytes(move[3:7], "little") == 1_249_262
    assert move[11] == sum(move[:11]) % 256
    assert credo.decode_request(move) == (7, move[2:11])
    bad = move[:11] + bytes([(move[11] + 1) % 256]) + move[12:]
    with pytest.raises(ChecksumError):
        credo.decode_request(bad)


def test_status_frame_roundtrip_and_errors():
    # the old codec required a sum checksum in byte 12 and a command echo in byte 2; the real
    # laser sends neither (see test_captured_frames.py), so only the delimiters/length are checked
    status = credo.CredoStatus(0, credo.MOTION_MOVING, 1_000_000)
    frame = credo.encode_status(status)
    assert len(frame) == 14 and frame[0] == 0x5B and frame[2] == 0xC1
    assert frame[8:13] == bytes([0x1E, 0, 0, 0, 0])
    assert credo.decode_status(frame) == status and not status.holding
    assert credo.decode_status(frame[:12] + b"\x07" + frame[13:]).position_steps == 1_000_000
    with pytest.raises(BadReply):
        credo.decode_status(b"\x00" + frame[1:])
    with pytest.raises(BadReply):
        credo.decode_status(frame[:13])


def test_calibration_is_orsays_polynomial_and_round_trips():
    cal = WavelengthCalibration(CredoConfig().position_coefficients)
    # Orsay's _wl_to_pos (OrsayLaser SirahCredoServer/laser.py) at a few wavelengths
    for wl in (532.0, 590.0, 650.0, 750.9):
        orsay = round(-1.13903735e-9 * wl**5 + 2.49169408e-6 * wl**4 - 2.08761563e-3 * wl**3
                      - 2.78629338e-1 * wl**2 - 9.62421214e2 * wl + 2.14359461e6)
        assert cal.to_position(wl) == orsay
    for wl in np.linspace(532.0, 800.0, 37):
        assert cal.to_wavelength(cal.to_position(wl)) == pytest.approx(wl, abs=0.01)


def test_calibration_of_any_order_from_the_site_section():
    cfg = LaserConfig.from_site_section({"credo": {"position_coefficients": [2.0e6, -1000.0]}})
    assert cfg.credo.position_coefficients == (2.0e6, -1000.0)
    cal = WavelengthCalibration(cfg.credo.position_coefficients)
    assert cal.to_position(600.0) == 1_400_000 and cal.to_wavelength(1_400_000) == pytest.approx(600.0)
    with pytest.raises(ValueError, match="not monotonic"):
        CredoConfig(position_coefficients=(0.0, 0.0, 1.0), min_wavelength_nm=-10.0, max_wavelength_nm=10.0)
    with pytest.raises(ValueError, match="at least two"):
        CredoConfig(position_coefficients=(1.0,))


def test_set_and_read_wavelength(rig):
    sim, bench = rig
    settle_s = bench.laser.set_wavelength_nm(590.0)
    assert settle_s >= 0.25                      # simulated settle latency (0.25 s + jitter)
    assert bench.laser.wavelength_nm() == pytest.approx(590.0, abs=0.01)
    assert bench.laser.is_holding()
    assert sim.system.state.wavelength_nm == pytest.approx(590.0, abs=0.01)


def test_busy_then_hold(rig):
    sim, bench = rig
    bench.laser.set_wavelength_nm(560.0, wait=False)
    status = bench.laser.status()
    assert status.motion == credo.MOTION_MOVING and not bench.laser.is_holding()
    elapsed = bench.laser.wait_until_holding()
    assert elapsed > 0 and bench.laser.is_holding()
    assert bench.laser.wavelength_nm() == pytest.approx(560.0, abs=0.01)


def test_wait_can_be_aborted(rig):
    _, bench = rig
    bench.laser.set_wavelength_nm(700.0, wait=False)
    assert bench.laser.wait_until_holding(abort=lambda: True) == 0.0
    assert not bench.laser.is_holding()


@pytest.mark.parametrize("wavelength", [850.0, 531.9, 800.01, float("nan")])
def test_out_of_range_refused_before_sending(rig, wavelength):
    sim, bench = rig
    before = list(sim.transports["laser"].written)
    received = sim.servers["laser"].bytes_received
    with pytest.raises(LimitError, match="outside the allowed range 532.0–800.0 nm"):
        bench.laser.set_wavelength_nm(wavelength)
    assert sim.transports["laser"].written == before
    assert sim.servers["laser"].bytes_received == received


def test_error_message_names_value_and_limit(rig):
    _, bench = rig
    with pytest.raises(ValueError) as info:
        bench.laser.set_wavelength_nm(850.0)
    assert str(info.value) == "wavelength 850.0 nm outside the allowed range 532.0–800.0 nm"


def test_configurable_range():
    cfg = LaserConfig(credo=CredoConfig(min_wavelength_nm=570.0, max_wavelength_nm=600.0))
    system = SimulatedLaserSystem(LaserState(wavelength_nm=580.0), SimClock(),
                                  np.random.default_rng(0), cfg)
    with SimulatedLaserBench(system, timeout_s=2.0) as bench:
        assert bench.laser.wavelength_range_nm == (570.0, 600.0)
        with pytest.raises(LimitError, match="570.0–600.0 nm"):
            bench.laser.set_wavelength_nm(620.0)
        bench.laser.set_wavelength_nm(599.0)
    with pytest.raises(ValueError):
        CredoConfig(min_wavelength_nm=700.0, max_wavelength_nm=600.0)


@pytest.mark.parametrize("fault, error", [(Fault.GARBLED, BadReply),
                                          (Fault.BAD_CHECKSUM, BadReply),
                                          (Fault.NO_REPLY, DeviceTimeout),
                                          (Fault.DISCONNECT, ConnectionLost)])
def test_faults_raise_typed_errors(rig, fault, error):
    sim, bench = rig
    sim.system.laser.fault = fault
    with pytest.raises(error):
        bench.laser.wavelength_nm()
    if fault is not Fault.DISCONNECT:
        sim.system.laser.fault = Fault.NONE
        assert bench.laser.wavelength_nm() == pytest.approx(580.0, abs=0.01)  # recovers


def test_instrument_error_code_is_raised(rig):
    sim, bench = rig
    # a corrupted request (checksum off by one) makes the laser answer with error code 1
    frame = bytearray(credo.encode_request(credo.CMD_STATUS))
    frame[11] ^= 0x01
    bench.laser.transport.write(bytes(frame))
    with pytest.raises(InstrumentError, match="error code 1"):
        bench.laser._read_status()


def test_settle_time_follows_simulated_clock(rig):
    sim, bench = rig
    t0 = sim.system.clock.now_s()
    settle = bench.laser.set_wavelength_nm(620.0)
    assert sim.system.clock.now_s() - t0 == pytest.approx(settle, abs=0.06)


@settings(max_examples=200, deadline=None)
@given(error=st.integers(0, 255), code=st.integers(0, 255), motion=st.integers(0, 255),
       position=st.integers(0, 2**32 - 1), tail=st.binary(min_size=5, max_size=5),
       flip=st.sampled_from([0, 13]), bit=st.integers(0, 7))
def test_status_codec_roundtrip_and_delimiter_errors(error, code, motion, position, tail, flip, bit):
    status = credo.CredoStatus(error, motion, position, code, tail)
    frame = credo.encode_status(status)
    assert credo.decode_status(frame) == status
    corrupted = bytearray(frame)
    corrupted[flip] ^= 1 << bit
    with pytest.raises(BadReply):
        credo.decode_status(bytes(corrupted))


@settings(max_examples=200, deadline=None)
@given(wavelength=st.floats(532.0, 800.0))
def test_calibration_round_trip_property(wavelength):
    cal = WavelengthCalibration(CredoConfig().position_coefficients)
    assert cal.to_wavelength(cal.to_position(wavelength)) == pytest.approx(wavelength, abs=0.01)
