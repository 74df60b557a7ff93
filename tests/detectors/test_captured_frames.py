"""Recorded real-hardware bytes and the public Orsay clients' parsers, against our drivers and simulators.

Sources (public GitHub, read at the commits below; a few bytes/lines transcribed as literals):
- OL = OrsayDev/OrsayLaser @ f87eb569be7373c70804f54c1fd6be67bd6d7435
- NS = OrsayDev/NSLumiere @ acbabe1 (latest stored snapshot)
Each test names the file and line it transcribes. Where a client's parser is the evidence, it is
re-stated in the test (a few lines) and applied to our simulator's bytes, so a layout change that
the real client could not read fails here.
"""
from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from detectors.cl import SimulatedCLSpectrometer
from detectors.common.guarded_server import TcpServer
from detectors.laser import credo
from detectors.laser.attenuator import arduino_to_int
from detectors.laser.calibration import WavelengthCalibration
from detectors.laser.config import CredoConfig
from detectors.laser.simulated import SimulatedLaserBench
from detectors.simulation.world import SimulatedWorld
from detectors.vg_lumiere import SimulatedVGColumn
from detectors.vg_lumiere.apertures import CMD_MOVE_ABSOLUTE, encode_frame
from detectors.vg_lumiere.vacuum import PA_PER_TORR

# -- Sirah Credo -----------------------------------------------------------------------------------
#: OL Examples/Laser/calib_raw.dat, lines 1, 8, 12, 23 (serial-port monitor, IRP_MJ_READ of 13 bytes
#: after the 0x5B read separately): nominal λ (nm) -> the 13 recorded bytes
RECORDED_STATUS = {
    540: "00 c1 02 1f ee 14 00 1e 00 00 00 00 5d",
    575: "00 c1 02 8f d6 13 00 1e 00 00 00 00 5d",
    595: "00 c1 02 14 32 13 00 1e 00 00 00 00 5d",
    650: "00 c1 02 b0 5b 11 00 1e 00 00 00 00 5d",
}
#: OL Examples/Laser/calib_10-03-2021.py, x and y arrays: the same positions, with λ + 0.9 nm
RECORDED_POSITION = {540: 1_371_679, 575: 1_300_111, 595: 1_258_004, 650: 1_137_584}
#: OL Examples/Laser/calib_raw.dat line 3: a read that returned only 9 of the bytes
RECORDED_PARTIAL = "00 c1 02 51 9f 14 00 1e 00"


def _frame(nominal_nm: int) -> bytes:
    # Orsay's client asserts data[0] == 91 (OL SirahCredoServer/laser.py get_hardware_wl)
    return b"\x5b" + bytes.fromhex(RECORDED_STATUS[nominal_nm])


@pytest.mark.parametrize("nominal_nm", sorted(RECORDED_STATUS))
def test_driver_decodes_recorded_credo_status(nominal_nm):
    status = credo.decode_status(_frame(nominal_nm))
    assert status.error_code == 0 and status.holding
    assert status.position_steps == RECORDED_POSITION[nominal_nm]
    assert status.reply_code == 0xC1 and status.tail == bytes([0x1E, 0, 0, 0, 0])
    calibration = WavelengthCalibration(CredoConfig().position_coefficients)
    wavelength = calibration.to_wavelength(status.position_steps)
    assert wavelength == pytest.approx(nominal_nm + 0.9, abs=0.002)  # Orsay's calibration: λ + 0.9 nm


def test_recorded_frame_arriving_in_pieces_is_read_whole():
    assert bytes.fromhex(RECORDED_PARTIAL) == bytes.fromhex(RECORDED_STATUS[540]).replace(
        bytes.fromhex("1f ee"), bytes.fromhex("51 9f"))[:9]  # same layout, cut by the monitor

    class RecordedLaser:
        """Replays the recorded 540 nm frame in two pieces, as the port monitor saw it."""
        requests: list[bytes] = []

        def greeting(self) -> bytes:
            return b""

        def receive(self, data: bytes) -> bytes:
            self.requests.append(data)
            return _frame(540)

    with TcpServer(RecordedLaser()) as server, server.connect(timeout_s=1.0) as transport:
        laser = credo.SirahCredo(transport)  # auto-prompt off, then a status query
        assert laser.wavelength_nm() == pytest.approx(540.9, abs=0.002)
        assert laser.is_holding()
    assert RecordedLaser.requests[0] == bytes([60, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 76, 62])  # OL laser.py


def test_simulator_status_frame_is_the_recorded_layout():
    with SimulatedLaserBench(serial="tcp", timeout_s=2.0, seed=0) as bench:
        bench.laser.set_wavelength_nm(540.9)
        transport = bench.laser.transport
        transport.reset_input()
        transport.write(credo.encode_request(credo.CMD_STATUS))
        assert transport.read_exact(14, 2.0) == _frame(540)  # byte for byte


# -- servo attenuator (Arduino firmware) ------------------------------------------------------------
def test_servo_simulator_speaks_the_firmware():
    # OL Examples/Servo_Motor/servo_serial_arduino.txt: setup() writes 0 and println("Ready");
    # loop() answers msg == "?POS" with println(pos); "POS:" + toInt(), clamped to 0-180
    sim = SimulatedLaserBench(serial="tcp", timeout_s=2.0, seed=0)
    with sim as bench:
        t = sim.transports["attenuator"]
        assert bench.attenuator.ready                        # the driver saw "Ready" on opening
        bench.attenuator.set_angle_deg(90)

        def exchange(line: bytes) -> bytes:
            t.reset_input()
            t.write(line)
            try:
                return t.read_until(b"\n", 0.2)
            except Exception:  # noqa: BLE001 - silence is the expected answer here
                return b""

        assert exchange(b"?POS\n") == b"90\r\n"
        assert exchange(b"?pos\n") == b"" and exchange(b"?POS \n") == b""  # exact match only
        assert exchange(b"POS:abc\n") == b"" and exchange(b"?POS\n") == b"0\r\n"
        exchange(b"POS:200\n")
        assert exchange(b"?POS\n") == b"180\r\n"
        exchange(b"POS: -7\n")
        assert exchange(b"?POS\n") == b"0\r\n"
        exchange(b"POS:45\n")
        # opening the port again resets the board: servo back to 0, "Ready" printed again
        with sim.servers["attenuator"].connect(timeout_s=1.0) as again:
            assert again.read_until(b"\n", 1.0) == b"Ready\r\n"
            again.write(b"?POS\n")
            assert again.read_until(b"\n", 1.0) == b"0\r\n"
    assert [arduino_to_int(s) for s in ("12", " -3", "+7x", "abc", "", "4.9")] == [12, -3, 7, 0, 0, 4]


# -- pump supply -----------------------------------------------------------------------------------
def test_pump_gate_answers_what_orsays_gui_compares():
    # OL nionswift_plugin/laser_mod/gain_inst.py: ?G compared with 'OPEN', ?D with 'ON';
    # OL SirahCredoServer/virtualInstruments/power_supply_vi.py: G:1 -> b'OPEN\n', G:0 -> b'CLOSED\n'
    sim = SimulatedLaserBench(serial="tcp", timeout_s=2.0, seed=0)
    with sim as bench:
        t = sim.transports["pump"]
        replies = []
        for line in (b"?G\n", b"G:1\n", b"?G\n", b"G:0\n", b"?G\n", b"?SHT\n", b"D:1\n", b"?D\n"):
            t.write(line)
            replies.append(t.read_until(b"\n", 1.0))
        assert [r for q, r in zip(range(8), replies) if q in (0, 2, 4, 5, 7)] == [
            b"CLOSED\n", b"OPEN\n", b"CLOSED\n", b"CLOSED\n", b"ON\n"]
        bench.pump.set_gate(True)
        assert bench.pump.gate_on()


# -- Thorlabs PM100 --------------------------------------------------------------------------------
def test_pm100_answers_orsays_hardware_example():
    # OL Examples/Pw/hello_hardware.py: *IDN?, CONF:POW, SENS:POW:RANG:AUTO?, READ?,
    # 'SENS:CORR:WAV  540' (two spaces), SENS:CORR:WAV?
    sim = SimulatedLaserBench(serial="tcp", timeout_s=2.0, seed=0)
    with sim as bench:
        t = sim.transports["meter_in"]

        def query(line: bytes) -> bytes:
            t.write(line + b"\n")
            return t.read_until(b"\n", 1.0).strip()

        assert query(b"*IDN?").startswith(b"Thorlabs")
        t.write(b"CONF:POW\n")
        assert query(b"SENS:POW:RANG:AUTO?") == b"1"
        assert float(query(b"READ?")) >= 0.0
        t.write(b"SENS:CORR:WAV  540\n")
        assert float(query(b"SENS:CORR:WAV?")) == 540.0
        assert query(b"SYST:ERR?") == b'0,"No error"'
        assert bench.meter_in.auto_range()


# -- HV deflector box ------------------------------------------------------------------------------
def test_hv_box_takes_orsays_unterminated_second_command():
    # OL SirahCredoServer/hv.py set_voltage(v, 'b'): 'HV+ ' + veff + '\n' + 'HV- ' + veff (no '\n');
    # get_voltage parses the '+<n>%' and '-<n>%' of HV:MON?
    sim = SimulatedLaserBench(serial="tcp", timeout_s=2.0, seed=0)
    with sim:
        t = sim.transports["blanker"]
        t.write(b"HV+ 42\nHV- 42")
        deadline = time.monotonic() + 2.0  # the packet's end ends the second command
        while sim.system.physics.hv_percent != [42, 42] and time.monotonic() < deadline:
            time.sleep(0.005)
        t.write(b"HV:MON?\n")
        data = t.read_until(b"\n", 1.0)
        i1 = data.find(b"+"); i2 = data.find(b"%", i1)
        i3 = data.find(b"-"); i4 = data.find(b"%", i3)
        assert (int(data[i1 + 1:i2]), int(data[i3 + 1:i4])) == (42, 42)


# -- VG column units ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(2)


@pytest.fixture
def vg(world):
    with SimulatedVGColumn(world, serial="tcp", timeout_s=2.0) as column:
        yield column


#: NS nionswift_plugin/aux_files/config/diafs_settings.json: every saved motor position, microsteps
SAVED_APERTURES = {1: (121578, 89544, 73581, 57376), 2: (81739, 84288, 84874, 82330),
                   3: (128480, 66635, 82346, 98541), 4: (57044, 51917, 49808, 49500)}


def test_saved_aperture_positions_are_reached_with_nslumieres_frames(vg):
    t = vg.transports["apertures"]
    for motor, positions in SAVED_APERTURES.items():
        for value in positions:
            # NS nionswift_plugin/diaf/diaf.py set_val: [motor, 20, 4 bytes LE of value]
            message = bytes([motor, 20]) + bytes(int(value) >> (8 * j) & 0xFF for j in range(4))
            assert message == encode_frame(motor, CMD_MOVE_ABSOLUTE, value)
            t.reset_input()
            t.write(message)
            assert struct.unpack("<BBi", t.read_exact(6, 2.0)) == (motor, CMD_MOVE_ABSOLUTE, value)
    assert vg.physics.aperture_steps == {1: 57376, 2: 82330, 3: 98541, 4: 49500}


def test_lens_supply_reply_reads_with_nslumieres_query(vg):
    # NS nionswift_plugin/lenses/lens_ps.py query: read(7) echo, read_until(',') current,
    # read_until(',') voltage, readline() for the rest (so the line must end with '\n')
    t = vg.transports["lenses"]
    t.reset_input()
    t.write(b">1,2,1\r")
    assert t.read_exact(7, 1.0) == b">1,2,1\r"
    current = float(t.read_until(b",", 1.0)[:-1])
    voltage = float(t.read_until(b",", 1.0)[:-1])
    assert t.read_until(b"\n", 1.0).endswith(b"\r\n")
    assert current == pytest.approx(vg.physics.lens_currents_A[1], abs=1e-4)
    assert voltage == pytest.approx(vg.physics.lens_voltage_V(1), abs=1e-3)


def test_gun_gauge_reply_reads_with_nslumieres_parser(vg):
    # NS nionswift_plugin/IVG/gun.py query: value = read(15); sig = float(value[0:6]);
    # ex = int(value[-5:-1]); vide = sig * 10**ex, shown in Torr (NS IVG/ivg_inst.py)
    for pressure_Pa in (3e-8, 1.5e-6, 7.77e-9):
        vg.physics.gun_pressure_Pa = pressure_Pa
        t = vg.transports["gun_gauge"]
        t.reset_input()
        t.write(b"GDAT? 1\n")
        value = t.read_exact(15, 1.0).decode()
        vide_torr = float(value[0:6]) * 10 ** int(value[-5:-1])
        assert vide_torr == pytest.approx(pressure_Pa / PA_PER_TORR, rel=1e-3)
        assert vg.column.gun_gauge.pressure_Pa() == pytest.approx(pressure_Pa, rel=1e-5)


def test_pfeiffer_reply_reads_with_nslumieres_parser(vg):
    # NS nionswift_plugin/IVG/airlock.py query: write '0010074002=?106\r'; read(10); data = read(4);
    # ex = read(2); read(4); value = int(data)/1000 * 10**(int(ex)-20), shown in mBar
    vg.physics.column_pressure_Pa = 2.5e-5
    t = vg.transports["column_gauge"]
    t.reset_input()
    t.write(b"0010074002=?106\r")
    t.read_exact(10, 1.0)
    data, ex = t.read_exact(4, 1.0), t.read_exact(2, 1.0)
    t.read_exact(4, 1.0)
    assert int(data) / 1000.0 * 10 ** (int(ex) - 20) == pytest.approx(2.5e-5 / 100.0, rel=1e-3)  # hPa = mbar


# -- Acton / SpectraPro ----------------------------------------------------------------------------
def test_acton_replies_read_with_nslumieres_parsers(world):
    # NS nionswift_plugin/OptSpec/spec.py (USB: no echo) and spec_vi.py (grating names)
    with SimulatedCLSpectrometer(world, serial="tcp", timeout_s=1.0) as cl:
        t = cl.transport

        def lines_until_ok(request: bytes) -> list[bytes]:
            t.reset_input()
            t.write(request)
            out = [t.read_until(b"\n", 2.0)]
            while out[-1][-4:-2] != b"ok":
                out.append(t.read_until(b"\n", 2.0))
            return out

        assert float(lines_until_ok(b"?NM\r")[0].split(b"nm")[0].decode()) == 550.0
        assert int(lines_until_ok(b"?GRATING\r")[0].split(b"ok")[0].decode()) - 1 == 1
        listing = [line for line in lines_until_ok(b"?GRATINGS\r") if b"g/mm" in line]
        assert [float(line[4:8].decode()) for line in listing] == [600.0, 300.0, 150.0]  # gratingLPMM
        assert [line[4:-3].decode() for line in listing] == [                              # gratingNames
            "600 g/mm BLZ=  300NM", "300 g/mm BLZ=  500NM", "150 g/mm BLZ=  500NM"]
        assert lines_until_ok(b"EXIT-MIRROR ?MIRROR\r")[0][1:6].decode() == "front"
        assert float(lines_until_ok(b"SIDE-ENT-SLIT ?MICRONS\r")[0].split(b"um")[0].decode()) == 100.0
        # set_wavelength: format(value, '.3f') + ' <goto>\r', then lines until one holds b'ok'
        done = lines_until_ok(b"575.000 <goto>\r")
        assert b"ok" in done[-1] and done[-1].endswith(b" ok\r\n")  # manual: 20 6F 6B 0D 0A
        assert cl.spectrometer.wavelength_nm() == pytest.approx(575.0)


def test_calibration_polynomial_reproduces_the_recorded_positions():
    # OL Examples/Laser/calib_10-03-2021.py: 35 positions recorded 540-750 nm, fitted with λ + 0.9
    x = np.array([1371679, 1361620, 1351505, 1341337, 1331113, 1320834, 1310500, 1300111, 1289668,
                  1279168, 1268614, 1258004, 1247338, 1236617, 1225840, 1215007, 1204117, 1193171,
                  1182168, 1171108, 1159991, 1148816, 1137584, 1126293, 1114944, 1103537, 1092070,
                  1068957, 1045602, 1022003, 998154, 974052, 949691, 925067, 900174])
    y = np.r_[np.arange(540, 675, 5), np.arange(680, 760, 10)] + 0.9
    cal = WavelengthCalibration(CredoConfig().position_coefficients)
    assert max(abs(cal.to_position(w) - p) for w, p in zip(y, x)) <= 1            # steps
    assert max(abs(cal.to_wavelength(p) - w) for w, p in zip(y, x)) < 0.0005      # nm
