"""The scan generator: our TCP protocol against its simulator on 127.0.0.1 (faults included),
simulated vs TCP backends, output-line edge timelines and pixel orders."""
from __future__ import annotations

import time
import zlib

import numpy as np
import pytest

from detectors.common.errors import BadReply, ChecksumError, ConnectionLost, DeviceTimeout
from detectors.common.simbase import Fault
from detectors.common.transport import LineChannel, SocketTransport
from detectors.config import ConfigError, validate
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.scan import (OutputLine, ScanGenerator, ScanGeneratorError, SimulatedScanGenerator,
                            SimulatedScanUnit, edge_timeline)
from detectors.simulation.world import SimulatedWorld

FRAME = ScanFrame((12, 16), 64.0, (5.0, -3.0), 0.3, 1e-5, 4)


def _generator(seed: int = 4) -> SimulatedScanGenerator:
    return SimulatedScanGenerator(SimulatedWorld(seed))


@pytest.fixture
def unit():
    with SimulatedScanUnit(_generator(), timeout_s=0.5) as u:
        yield u


def _wait_free(unit: SimulatedScanUnit) -> None:
    """The server notices a closed driver within its poll period; wait (bounded) for the release."""
    for _ in range(200):
        if unit.simulator.owner is None:
            return
        time.sleep(0.01)
    raise AssertionError(f"unit still owned by {unit.simulator.owner}")


def test_protocol_round_trip_and_state_reset_when_the_owner_leaves(unit):
    driver = unit.driver
    assert isinstance(driver, ScanGenerator) and driver.identity == "LUMIERE,SCANGEN,1,4,HAADF:ADF"
    start = driver.frame
    driver.configure(FRAME)
    driver.set_channels(["ADF", "HAADF"])
    driver.set_output_line(OutputLine(2, "line-active", "low", 1.5, 0.0))
    driver.set_probe_position_nm(12.5, -7.25)
    assert driver._read_frame() == FRAME, "floats travel exactly"
    assert driver._read_channels() == ("ADF", "HAADF")
    assert driver._read_line_settings(2) == OutputLine(2, "line-active", "low", 1.5, 0.0)
    assert driver.probe_position_nm() == (12.5, -7.25)
    driver.park()
    assert driver.probe_position_nm() == FRAME.center_nm
    driver.close()
    _wait_free(unit)
    other = unit.connect()
    try:
        assert other.frame == start and other.channels() == ("HAADF",), "the unit was reset"
        assert other.output_lines()[1] == OutputLine(2)
    finally:
        other.close()


def test_simulated_and_tcp_backends_give_identical_frames_and_blocks():
    direct = _generator(9)
    with SimulatedScanUnit(_generator(9)) as u:
        for order in (None, np.random.default_rng(2).permutation(192)[:48]):
            for g in (direct, u.driver):
                g.configure(FRAME)
                g.set_channels(["HAADF", "ADF"])
                g.set_pixel_order(order)
            a, b = direct.acquire_frame(), u.driver.acquire_frame()
            for name in ("HAADF", "ADF"):
                np.testing.assert_array_equal(a.images[name], b.images[name])
            assert a.images["HAADF"].sum() > 0 and a.t0_s == b.t0_s
            for field in ("order", "y_nm", "x_nm", "t_s"):
                np.testing.assert_array_equal(getattr(a.visits, field), getattr(b.visits, field))
            c, d = direct.acquire_block(10, 20), u.driver.acquire_block(10, 20)
            np.testing.assert_array_equal(c.values["ADF"], d.values["ADF"])
            np.testing.assert_array_equal(c.visits.order, d.visits.order)


def test_faults_raise_typed_errors_naming_what_was_expected(unit):
    driver, sim = unit.driver, unit.simulator
    driver.configure(ScanFrame((4, 4), 16.0, dwell_s=1e-6))
    sim.fault = Fault.NO_REPLY
    with pytest.raises(DeviceTimeout, match=r"'PROBE\?'.*expected PROBE <y_nm> <x_nm>"):
        driver.probe_position_nm()
    sim.fault = Fault.GARBLED
    with pytest.raises(BadReply, match="expected OK to 'PARK'"):
        driver.park()
    sim.fault = Fault.BAD_CHECKSUM
    with pytest.raises(ChecksumError, match="'SCAN' data: CRC32"):
        driver.acquire_frame()
    sim.fault = Fault.NONE
    assert driver.acquire_frame().images["HAADF"].shape == (4, 4), "recovers once the fault is gone"
    sim.fault = Fault.GARBLED
    with pytest.raises(BadReply, match=r"expected LUMIERE,SCANGEN,<version>,<outputs>,<channels> to '\*IDN\?'"):
        unit.connect()
    sim.fault = Fault.DISCONNECT
    with pytest.raises((ConnectionLost, DeviceTimeout)):
        driver.park()


def test_unit_refusals_and_host_side_validation(unit):
    driver, sim = unit.driver, unit.simulator
    with pytest.raises(ScanGeneratorError, match=r"refused 'FRAME\?': 4 busy: owned by 127\.0\.0\.1:\d+"):
        unit.connect()
    driver.configure(ScanFrame((16, 16), 64.0))
    driver.set_pixel_order([200, 3])
    with pytest.raises(ValueError, match="pixel index 200 outside"):
        driver.configure(ScanFrame((8, 8), 32.0))
    sent = len(sim.requests)
    for bad, message in [(OutputLine(5, "flyback"), "output index 5 outside 1–4"),
                         (OutputLine(1, "laser"), "source 'laser' is not one of"),
                         (OutputLine(1, "flyback", delay_us=-1.0), "delay_us -1.0 outside"),
                         (OutputLine(1, "flyback", width_us=float("nan")), "width_us nan outside")]:
        with pytest.raises(ValueError, match=message):
            driver.set_output_line(bad)
    with pytest.raises(ValueError, match="must not repeat"):
        driver.set_pixel_order([1, 1])
    with pytest.raises(ValueError, match="channels"):
        driver.set_channels(["BF"])
    assert len(sim.requests) == sent, "nothing refused on the host reaches the unit"
    driver.close()
    _wait_free(unit)
    channel = LineChannel(SocketTransport("127.0.0.1", unit.port, timeout_s=0.5))
    try:
        channel.query("FRAME 16 16 64.0 0 0 0 1e-6 0")
        channel.transport.write(b"ORDER 2 " + b"%08x" % zlib.crc32(b"\xc8\0\0\0\3\0\0\0") + b"\n"
                                + b"\xc8\0\0\0\3\0\0\0")
        assert channel.read_line() == "OK"
        # the unit holds an order that an 8x8 frame cannot take
        assert channel.query("FRAME 8 8 32.0 0 0 0 1e-6 0").startswith("ERR 2 pixel index 200 outside")
        assert channel.query("FRAME 0 16 64.0 0 0 0 1e-6 0").startswith("ERR 2 scan size_px must be positive")
        assert channel.query("JUMP 1 2").startswith("ERR 1 unknown command 'JUMP'")
    finally:
        channel.transport.close()


def test_output_line_timelines_follow_the_frame_geometry():
    h, w, fb, dwell = 6, 10, 3, 2e-6
    frame = ScanFrame((h, w), 40.0, dwell_s=dwell, flyback_px=fb)
    period = (w + fb) * dwell
    line = edge_timeline(OutputLine(1, "line-active"), frame)
    assert line.rising_s.size == h and not line.idle_high
    np.testing.assert_allclose(np.diff(line.rising_s), period)
    np.testing.assert_allclose(line.falling_s - line.rising_s, w * dwell)
    blank = edge_timeline(OutputLine(2, "beam-blank-between-visits"), frame)
    np.testing.assert_allclose(blank.rising_s, np.arange(h) * period + w * dwell)
    np.testing.assert_allclose(blank.falling_s, (np.arange(h) + 1) * period), "high during each flyback"
    inverted = edge_timeline(OutputLine(2, "flyback", "low", delay_us=1.0), frame)
    assert inverted.idle_high
    np.testing.assert_allclose(inverted.falling_s, blank.rising_s + 1e-6)
    frame_active = edge_timeline(OutputLine(3, "frame-active"), frame)
    np.testing.assert_allclose(frame_active.falling_s, [(h - 1) * period + w * dwell])
    assert edge_timeline(OutputLine(4, "pixel-clock"), frame).rising_s.size == h * w
    merged = edge_timeline(OutputLine(4, "line-active", width_us=30.0), frame)  # one-shot > period
    assert merged.rising_s.size == 1 and merged.falling_s[0] == pytest.approx((h - 1) * period + 30e-6)
    high = edge_timeline(OutputLine(1, "high", "low"), frame)
    assert high.rising_s.size == 0 and not high.idle_high
    assert not edge_timeline(OutputLine(1, "off", "low"), frame).idle_high, "undriven reads low"
    # with a pixel order: no lines, a blank pulse at every jump, back-to-back visits
    order = np.array([0, 1, 2, 17, 30, 31, 5])
    blank = edge_timeline(OutputLine(2, "beam-blank-between-visits", width_us=0.5), frame, order)
    np.testing.assert_allclose(blank.rising_s, np.array([3, 4, 6]) * dwell)
    np.testing.assert_allclose(blank.falling_s, np.array([3, 4, 6]) * dwell + 0.5e-6)
    assert edge_timeline(OutputLine(2, "beam-blank-between-visits"), frame, order).rising_s.size == 0
    np.testing.assert_allclose(edge_timeline(OutputLine(3, "line-active"), frame, order).falling_s, [7 * dwell])
    g = _generator()
    g.configure(frame)
    g.set_output_line(OutputLine(2, "line-active"))
    g.set_pixel_order(order)
    np.testing.assert_allclose(g.edge_timeline()[2].falling_s, [7 * dwell])


def test_pixel_order_frames_and_blocks():
    g = _generator()
    g.configure(FRAME)
    order = np.random.default_rng(3).permutation(192)[:50]
    g.set_pixel_order(order)
    data = g.acquire_frame()
    image = data.images["HAADF"].ravel()
    assert (image[np.setdiff1d(np.arange(192), order)] == 0).all() and (image[order] > 0).mean() > 0.8
    y, x = FRAME.positions_nm()
    np.testing.assert_array_equal(data.visits.y_nm, y.ravel()[order])
    np.testing.assert_allclose(np.diff(data.visits.t_s), FRAME.dwell_s)
    blocks = [g.acquire_block(s, 10) for s in range(0, 50, 10)]
    np.testing.assert_array_equal(np.concatenate([b.visits.order for b in blocks]), order)
    with pytest.raises(ValueError, match="visits 45…54 outside the 50 visits"):
        g.acquire_block(45, 10)
    with pytest.raises(ValueError, match="pixel index 192 outside"):
        g.set_pixel_order([0, 192])
    g.set_pixel_order([100])
    with pytest.raises(ValueError, match="pixel index 100 outside"):
        g.configure(ScanFrame((8, 8), 32.0))
    assert g.frame == FRAME, "a refused frame changes nothing"


def test_site_config_builds_the_tcp_backend_with_its_output_lines():
    u = SimulatedScanUnit(_generator())
    with u.server:  # served without a driver of its own: the instrument's driver owns the unit
        site = validate({"scan": {"backend": "tcp", "port": u.port, "timeout_s": 1.0,
                                  "outputs": [{"index": 1, "source": "beam-blank-between-visits"},
                                              {"index": 2, "source": "frame-active", "delay_us": 20.0}]}})
        instrument = build_instrument(site)
        try:
            assert instrument.scan_generator.identity.startswith("LUMIERE,SCANGEN")
            assert u.simulator.generator.output_lines()[1] == OutputLine(2, "frame-active", delay_us=20.0)
        finally:
            instrument.close()
    with pytest.raises(ConfigError, match=r"\[\[scan.outputs\]\].*polarity 'up'"):
        validate({"scan": {"outputs": [{"index": 1, "source": "flyback", "polarity": "up"}]}})
    with pytest.raises(ConfigError, match="scan.backend"):
        validate({"scan": {"backend": "orsay"}})


def test_driver_serialises_commands_from_two_threads(unit):
    import threading

    driver = unit.driver
    driver.configure(ScanFrame((32, 32), 64.0, dwell_s=1e-6))
    errors = []

    def spot_mode():
        try:
            for i in range(30):
                driver.set_probe_position_nm(float(i), 0.0)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=spot_mode)
    thread.start()
    frames = [driver.acquire_frame() for _ in range(5)]
    thread.join()
    assert errors == [] and all(f.images["HAADF"].shape == (32, 32) for f in frames)
    assert driver.probe_position_nm() == (29.0, 0.0)
