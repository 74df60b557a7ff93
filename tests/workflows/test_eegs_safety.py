"""EEGS safety: the shutter closes after abort, exception, lost connection; limits are checked
before any byte is sent; every error names the value and the limit. Real drivers over pty/TCP,
faults injected with the simulators' ``fault`` switches."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from detectors.instrument import build_instrument
from detectors.common.errors import ConnectionLost, DeviceError, DeviceTimeout, LimitError
from detectors.common.simbase import Fault
from eegs import (EEGSDevices, PowerLockTask, PowerMonitor, PowerScan, PowerScanParameters,
                  ShutterError, WavelengthScan, WavelengthScanParameters)
from lumiere.sinks import MemorySink
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl

pytestmark = pytest.mark.slow

PARAMS = WavelengthScanParameters(580.0, 620.0, 2.0, spectra_per_point=2, exposure_s=0.05)


@pytest.fixture
def instrument():
    inst = build_instrument()
    yield inst
    inst.close()


@pytest.fixture(scope="module")
def shared_instrument():
    """For tests that must not change anything (limit checks)."""
    inst = build_instrument()
    yield inst
    inst.close()


def _shutter_closed(instrument) -> bool:
    """Both what the pump supply reports (over its wire) and what the specimen sees."""
    return (not instrument.laser_bench.pump.shutter_open()) and not instrument.world.laser.shutter_open


def _after_points(k, action):
    """A progress listener that runs ``action`` once, when ``k`` points are done (the scans
    report progress once per point)."""
    calls = []

    def listener(fraction, message):
        calls.append(message)
        if len(calls) == k:
            action()
    return listener


def _scan_with(instrument, listener, sink=None):
    sink = sink or MemorySink()
    scan = WavelengthScan(EEGSDevices.from_instrument(instrument), PARAMS)
    opened = []
    task = TaskControl(lambda f, m: opened.append(instrument.world.laser.shutter_open))
    task.add_listener(listener)
    return scan, sink, task, opened


def test_abort_closes_the_shutter_and_keeps_what_was_acquired(instrument):
    task_box = []
    scan, sink, task, opened = _scan_with(instrument, _after_points(3, lambda: task_box[0].abort("stop")))
    task_box.append(task)
    with pytest.raises(Aborted):
        scan.run(sink, task)
    assert opened[0] is True and _shutter_closed(instrument)
    result = sink.results["eegs"]
    assert result.finished and sink.results["eegs_power"].finished
    rows = np.all(np.isfinite(result.data), axis=1)
    assert rows[:3].all() and not rows[3:].any()
    assert result.metadata["aborted"] is True and result.metadata["points_done"] == 3
    assert scan.result.aborted and scan.result.points_done == 3


def test_exception_mid_scan_closes_the_shutter(instrument):
    class FailingSink(MemorySink):
        def write(self, name, index, data):
            if name == "eegs" and index == 4:
                raise OSError("disk full")
            super().write(name, index, data)

    scan, sink, task, _ = _scan_with(instrument, lambda f, m: None, FailingSink())
    with pytest.raises(OSError, match="disk full"):
        scan.run(sink, task)
    assert _shutter_closed(instrument)
    assert sink.results["eegs"].finished and np.isfinite(sink["eegs"][:4]).all()
    assert "disk full" in sink.results["eegs"].metadata["error"]


@pytest.mark.parametrize("device, fault, error", [
    ("meter_in", Fault.DISCONNECT, (ConnectionLost, DeviceTimeout)),
    ("laser", Fault.NO_REPLY, DeviceTimeout),
    ("laser", Fault.BAD_CHECKSUM, DeviceError),
])
def test_lost_connection_closes_the_shutter(instrument, device, fault, error):
    system = instrument.laser_system

    def inject():
        setattr(getattr(system, device), "fault", fault)

    scan, sink, task, _ = _scan_with(instrument, _after_points(2, inject))
    with pytest.raises(error):
        scan.run(sink, task)
    assert _shutter_closed(instrument)
    assert sink.results["eegs"].finished and np.isfinite(sink["eegs"][:2]).all()


def test_lost_pump_connection_is_reported_as_such(instrument):
    system = instrument.laser_system
    scan, sink, task, _ = _scan_with(instrument, _after_points(
        2, lambda: (setattr(system.pump, "fault", Fault.DISCONNECT),
                    setattr(system.meter_in, "fault", Fault.DISCONNECT))))
    with pytest.raises(ShutterError) as info:
        scan.run(sink, task)
    text = str(info.value)
    assert "pump supply" in text and "SHUTTER STATE UNKNOWN" in text and "by hand" in text
    assert isinstance(info.value.__cause__, DeviceError)
    assert sink.results["eegs"].finished
    # closing the instrument still leaves the simulated bench dark
    instrument.close()
    assert not instrument.world.laser.shutter_open


def test_abort_from_another_thread(instrument):
    scan = WavelengthScan(EEGSDevices.from_instrument(instrument),
                          WavelengthScanParameters(560.0, 760.0, 1.0, spectra_per_point=2, exposure_s=0.05))
    started = threading.Event()
    task = TaskControl(lambda f, m: started.set())
    scan.start(MemorySink(), task)
    assert started.wait(30)
    task.abort("user")
    with pytest.raises(Aborted):
        scan.join(timeout_s=30)
    assert _shutter_closed(instrument)


def _bytes_sent(instrument):
    instrument.laser_bench  # connect (drivers initialise on connection)
    return {name: len(t.written) for name, t in instrument.simulator("laser").transports.items()}


@pytest.mark.parametrize("make, words", [
    (lambda d: WavelengthScan(d, WavelengthScanParameters(700.0, 850.0, 10.0)),
     ["wavelength 810.0 nm", "532.0–800.0 nm"]),
    (lambda d: WavelengthScan(d, WavelengthScanParameters(600.0, 610.0, 5.0, diode_current_A=9.5)),
     ["diode current 9.5 A", "0.0–8.0 A"]),
    (lambda d: WavelengthScan(d, WavelengthScanParameters(600.0, 610.0, 5.0, exposure_s=120.0)),
     ["exposure 120.0 s", "60.0 s"]),
    (lambda d: WavelengthScan(d, WavelengthScanParameters(600.0, 610.0, 5.0, attenuator_angle_deg=200)),
     ["attenuator angle 200", "0.0–180.0 °"]),
    (lambda d: PowerScan(d, PowerScanParameters(590.0, setpoints_uW=(100.0, 9000.0))),
     ["power set point 9000.0 µW", "5000.0 µW"]),
    (lambda d: PowerScan(d, PowerScanParameters(520.0, angles_deg=(0, 10))),
     ["wavelength 520.0 nm", "532.0–800.0 nm"]),
    (lambda d: PowerLockTask(d, 6000.0), ["power set point 6000.0 µW", "5000.0 µW"]),
    (lambda d: PowerLockTask(d, 100.0, diode_current_A=12.0), ["diode current 12.0 A", "8.0 A"]),
])
def test_limits_are_refused_before_any_command(shared_instrument, make, words):
    instrument = shared_instrument
    devices = EEGSDevices.from_instrument(instrument)
    before = _bytes_sent(instrument)
    state = dict(vars(instrument.world.laser))
    with pytest.raises(LimitError) as info:
        make(devices)
    for word in words:
        assert word in str(info.value)
    assert _bytes_sent(instrument) == before
    assert dict(vars(instrument.world.laser)) == state


def test_power_monitor_and_lock_stop_on_abort_with_the_shutter_closed(instrument):
    devices = EEGSDevices.from_instrument(instrument)
    task = TaskControl()
    lock = PowerLockTask(devices, 50.0, wavelength_nm=590.0, diode_current_A=6.0, interval_s=0.2)
    task.add_listener(lambda f, m: task.abort() if len(lock.rows) >= 20 else None)
    sink = MemorySink()
    rows = lock.run(sink, task)
    assert rows.shape == (20, 5) and rows[-1, 4] == 1.0
    assert rows[-1, 1] == pytest.approx(50.0, rel=0.02)
    assert _shutter_closed(instrument) and sink.results["power_lock"].finished
    # the monitor reads the dark meters now; it logs until aborted
    devices.pump.set_shutter(True)
    task = TaskControl()
    monitor = PowerMonitor(devices, interval_s=1.0)
    task.add_listener(lambda f, m: task.abort() if len(monitor.rows) >= 5 else None)
    rows = monitor.run(sink, task)
    assert rows.shape == (5, 4) and np.all(np.diff(rows[:, 0]) > 0.99)
    assert rows[:, 1].min() > 10 and _shutter_closed(instrument)
    log = sink.results["power_monitor"]
    assert log.finished and log.metadata["readings"] == 5 and np.isnan(log.data[5]).all()


def test_power_lock_with_a_dead_meter_closes_the_shutter(instrument):
    devices = EEGSDevices.from_instrument(instrument)
    task = TaskControl()
    lock = PowerLockTask(devices, 50.0, wavelength_nm=590.0, diode_current_A=6.0, interval_s=0.2)
    task.add_listener(lambda f, m: setattr(instrument.laser_system.meter_in, "fault", Fault.NO_REPLY)
                      if len(lock.rows) >= 3 else None)
    with pytest.raises(DeviceTimeout):
        lock.run(MemorySink(), task)
    assert _shutter_closed(instrument)


def test_instrument_close_shuts_the_shutter_and_stops_the_servers():
    before = threading.active_count()
    instrument = build_instrument()
    bench = instrument.laser_bench
    bench.pump.set_diode(True)
    bench.pump.set_current_A(6.0)
    bench.pump.set_shutter(True)
    assert instrument.world.laser.illuminating and threading.active_count() > before
    instrument.close()
    instrument.close()
    assert not instrument.world.laser.shutter_open
    assert threading.active_count() == before
