"""Every module imports without the POSIX-only standard modules (as on Windows), and the simulated
serial instruments have a socket path where pseudo-terminals do not exist."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

#: standard modules that exist only on POSIX systems (absent on Windows)
POSIX_ONLY = ("tty", "termios", "fcntl", "pty", "resource", "grp", "pwd")
PACKAGES = ("analysis", "detectors", "lumiere", "eegs", "drift_eels", "nionswift_plugin.lumiere")

SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys, traceback
    for name in {posix!r}:
        sys.modules[name] = None  # "import tty" now raises ImportError, as on Windows
    names, failed = [], []
    def walk_error(name):
        failed.append((name, traceback.format_exc(limit=3)))
    for package in {packages!r}:
        try:
            module = importlib.import_module(package)
        except Exception:
            failed.append((package, traceback.format_exc(limit=3)))
            continue
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".", onerror=walk_error)]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append((name, traceback.format_exc(limit=3)))
    print("MODULES", len(names))
    for name, tb in failed:
        print("FAILED", name, tb)
""")


def test_every_module_imports_without_posix_only_modules():
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(posix=POSIX_ONLY, packages=PACKAGES)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert not failed, proc.stdout[-4000:]
    n_modules = int(proc.stdout.split("MODULES", 1)[1].split()[0])
    assert n_modules > 100, f"only {n_modules} modules walked: {proc.stdout[-2000:]}"


def test_pty_server_refuses_clearly_where_ptys_do_not_exist(monkeypatch):
    from detectors.common import guarded_server

    monkeypatch.setattr(guarded_server, "PTY_AVAILABLE", False)
    with pytest.raises(OSError, match="pseudo-terminals do not exist.*serial='tcp'"):
        guarded_server.PtyServer(_Echo())
    with pytest.raises(ValueError, match="'usb' is not one of"):
        guarded_server.serial_server(_Echo(), "usb")


def test_serial_driver_reaches_a_socket_served_simulator_through_a_pyserial_url():
    """What a Windows machine does with a simulated serial instrument: the server on 127.0.0.1,
    the real SerialTransport on ``socket://127.0.0.1:PORT``."""
    from detectors.common.transport import SerialTransport
    from detectors.common.guarded_server import serial_address, serial_server

    server = serial_server(_Echo(), "tcp").start()
    try:
        address = serial_address(server)
        assert address.startswith("socket://127.0.0.1:")
        with SerialTransport(address, baudrate=9600, timeout_s=2.0) as port:
            port.write(b"*IDN?\r")
            assert port.read_until(b"\r") == b"ECHO *IDN?\r"
    finally:
        server.stop()


class _Echo:
    """A byte handler answering each ``\\r``-terminated line with ``ECHO <line>``."""

    def __init__(self) -> None:
        self._rx = b""

    def greeting(self) -> bytes:
        return b""

    def receive(self, data: bytes) -> bytes:
        self._rx += data
        out = b""
        while b"\r" in self._rx:
            line, self._rx = self._rx.split(b"\r", 1)
            out += b"ECHO " + line + b"\r"
        return out
