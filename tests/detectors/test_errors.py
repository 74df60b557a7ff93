"""One error hierarchy: every device error is a DeviceError naming its device; input checks."""
from __future__ import annotations

import math
import socket
import threading

import numpy as np
import pytest

from detectors.common import checks
from detectors.common.checks import (array_bytes, available_memory_bytes, check_finite, check_int, check_memory,
                                     check_positive)
from detectors.common.errors import (BadReply, ConnectionLost, DeviceError, DeviceTimeout, InstrumentError,
                                     LimitError, ParameterError, describe_error)
from detectors.config import ConfigError, validate
from detectors.merlin.control import MerlinControl
from detectors.merlin.errors import (MerlinBusy, MerlinCommandError, MerlinConnectionLost, MerlinError,
                                     MerlinFrameTooLarge, MerlinHeaderError, MerlinProtocolError, MerlinTimeout)
from detectors.scan.generator import ScanGeneratorError
from detectors.vg_lumiere.errors import InterlockTripped, SubsystemTimeout
from eegs.devices import ShutterError


@pytest.mark.parametrize("cls, kind, also", [
    (MerlinError, "Merlin", ()),
    (MerlinProtocolError, "Merlin", (BadReply,)),
    (MerlinHeaderError, "Merlin", (MerlinProtocolError, BadReply)),
    (MerlinFrameTooLarge, "Merlin", (MerlinProtocolError,)),
    (MerlinTimeout, "Merlin", (DeviceTimeout, TimeoutError)),
    (MerlinConnectionLost, "Merlin", (ConnectionLost, ConnectionError)),
    (MerlinBusy, "Merlin", (MerlinCommandError, InstrumentError)),
    (ScanGeneratorError, "scan generator", (InstrumentError,)),
    (SubsystemTimeout, "VG column", (DeviceTimeout,)),
    (InterlockTripped, "VG column", ()),
    (ShutterError, "laser shutter", (RuntimeError,)),
    (BadReply, "instrument", ()),
])
def test_every_device_error_is_a_device_error_that_names_its_device(cls, kind, also):
    assert issubclass(cls, DeviceError)
    for base in also:  # the relations callers rely on are kept
        assert issubclass(cls, base)
    assert cls.device_kind == kind
    if cls is MerlinBusy:
        error = cls("Merlin refused 'SET,X,1': detector busy (code 1)", code=1, command="SET,X,1")
    elif cls is SubsystemTimeout:
        error = cls("lens power supply", "timed out")
    elif cls is InterlockTripped:
        error = cls([], "objective too hot")
    else:
        error = cls("something broke")
    line = describe_error(error)
    assert line.startswith(kind) or kind in line
    assert "\n" not in line


def test_a_driver_names_the_device_with_its_address():
    error = MerlinProtocolError("bad prefix", device="Merlin at 127.0.0.1:6341")
    assert error.device == "Merlin at 127.0.0.1:6341" and error.device_named
    assert describe_error(error) == "Merlin at 127.0.0.1:6341: bad prefix"
    # a message that already names the device is not prefixed twice
    assert describe_error(MerlinError("the Merlin stayed busy")) == "the Merlin stayed busy"


def test_describe_error_of_inputs_memory_and_bugs():
    assert describe_error(ParameterError("fov_nm = inf nm is not allowed")) == "fov_nm = inf nm is not allowed"
    assert describe_error(LimitError("wavelength 900.0 nm outside 532.0–800.0 nm")).startswith("wavelength 900.0")
    assert describe_error(KeyError("unknown 'x'")) == "unknown 'x'"
    assert describe_error(MemoryError()).startswith("out of memory")
    assert describe_error(ZeroDivisionError("division by zero")) == "internal error: ZeroDivisionError: division by zero"
    assert describe_error(ValueError("two\nlines")) == "two; lines"


class _GarbageServer:
    """One TCP server on 127.0.0.1 answering every read with garbage."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5.0)
            try:
                while conn.recv(4096):
                    conn.sendall(b"GARBAGE\xff not a reply at all, only noise\r\n")
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def garbage():
    server = _GarbageServer()
    yield server
    server.close()


def test_merlin_control_names_itself_in_a_protocol_error(garbage):
    with MerlinControl("127.0.0.1", garbage.port, timeout_s=1.0) as control:
        with pytest.raises(MerlinProtocolError) as info:
            control.get("DETECTORSTATUS")
    assert info.value.device == f"Merlin at 127.0.0.1:{garbage.port}"
    assert describe_error(info.value).startswith(f"Merlin at 127.0.0.1:{garbage.port}: ")


def test_scan_generator_names_itself_in_a_bad_reply(garbage):
    from detectors.scan.tcp import TcpScanGenerator

    with pytest.raises(BadReply) as info:
        TcpScanGenerator.connect("127.0.0.1", garbage.port, timeout_s=1.0)
    assert info.value.device == f"scan generator at 127.0.0.1:{garbage.port}"


def test_cl_spectrometer_names_itself_and_its_port(garbage):
    from detectors.cl.connect import connect_cl_spectrometer

    port = f"socket://127.0.0.1:{garbage.port}"
    with pytest.raises(DeviceError) as info:
        connect_cl_spectrometer({"port": port, "timeout_s": 0.5})
    assert info.value.device == f"CL spectrometer on serial port {port}"
    assert describe_error(info.value).startswith(f"CL spectrometer on serial port {port}: ")


@pytest.mark.parametrize("check, args, words", [
    (check_finite, ("fov_nm", math.inf, "nm"), ["fov_nm = inf nm", "finite"]),
    (check_positive, ("dwell_s", -1.0, "s"), ["dwell_s = -1.0 s", "> 0 s"]),
    (check_positive, ("dwell_s", math.nan, "s"), ["dwell_s = nan s"]),
    (check_positive, ("exposure_s", "abc", "s"), ["exposure_s = 'abc'", "not a number"]),
    (check_int, ("spectra_per_point", 2.5, 1), ["spectra_per_point = 2.5", "integer ≥ 1"]),
    (check_int, ("spectra_per_point", True, 1), ["spectra_per_point = True"]),
])
def test_checks_name_the_parameter_the_value_and_what_is_allowed(check, args, words):
    with pytest.raises(ParameterError) as info:
        check(*args)
    for word in words:
        assert word in str(info.value)


def test_memory_is_estimated_from_shapes_and_dtypes_without_overflow():
    assert array_bytes((100_000, 100_000, 1024), np.float32) == 100_000 ** 2 * 1024 * 4  # 37 TiB, Python ints
    have = available_memory_bytes()
    assert have is not None and have > 0  # Linux: /proc/meminfo; Windows: GlobalMemoryStatusEx
    assert check_memory("size = 8", [("cube", (8, 8, 1024), np.float32)], available_bytes=1 << 30) == 8 * 8 * 4096
    with pytest.raises(ParameterError) as info:
        check_memory("size = 1024", [("SI cube", (1024, 1024, 1024), np.float32)], available_bytes=1 << 30)
    assert "size = 1024" in str(info.value) and "4.0 GiB" in str(info.value) and "1.0 GiB available" in str(info.value)


def test_site_files_refuse_non_finite_numbers_anywhere():
    for raw, words in (({"scan": {"timeout_s": math.inf}}, "scan.timeout_s = inf"),
                       ({"world": {"drift": {"rate_nm_per_min": [0.0, math.nan]}}}, "rate_nm_per_min[1] = nan"),
                       ({"laser": {"credo": {"timeout_s": -math.inf}}}, "laser.credo.timeout_s = -inf")):
        with pytest.raises(ConfigError, match="must be finite") as info:
            validate(raw, "site.toml")
        assert words in str(info.value)


def test_workflow_parameters_check_themselves():
    from detectors.interfaces import ScanFrame
    from eegs.maps import EEGSMapParameters
    from eegs.scans import PowerScanParameters, WavelengthScanParameters

    with pytest.raises(ParameterError, match="step_nm = inf nm"):
        WavelengthScanParameters(600.0, 700.0, math.inf)
    with pytest.raises(ParameterError, match="exposure_s = nan s"):
        WavelengthScanParameters(600.0, 700.0, 5.0, exposure_s=math.nan)
    with pytest.raises(ParameterError, match="give exactly one"):
        PowerScanParameters(590.0)
    with pytest.raises(ParameterError, match="setpoints_uW = inf"):
        PowerScanParameters(590.0, setpoints_uW=(10.0, math.inf))
    with pytest.raises(ParameterError, match="spectra_per_point = 0"):
        EEGSMapParameters(ScanFrame((4, 4), 10.0), 590.0, spectra_per_point=0)
    with pytest.raises(ValueError, match="fov_nm must be a finite number"):
        ScanFrame((4, 4), math.inf)
    with pytest.raises(ValueError, match="center_nm"):
        ScanFrame((4, 4), 10.0, (math.nan, 0.0))


def test_memory_check_uses_the_machine(monkeypatch):
    """The planned SI is compared with what the machine reports (here: a machine with 256 MiB free)."""
    from drift_eels.parameters import SPARSE_SI_CUBES, check_si_memory

    monkeypatch.setattr(checks, "available_memory_bytes", lambda: 256 << 20)
    assert check_si_memory("size = 32", (32, 32), 1024) == 32 * 32 * 1024 * 4
    with pytest.raises(ParameterError, match="size = 256 is not allowed: it needs 512.0 MiB"):
        check_si_memory("size = 256", (256, 256), 1024, SPARSE_SI_CUBES)
