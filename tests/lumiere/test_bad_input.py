"""The bad-input matrix of the ``lumiere`` CLI and the site file (issue 16, the error parts).

Every case runs the real CLI — in a subprocess (``python -m lumiere.cli``) for the cases that used
to hang or exhaust memory and for device faults, in-process (``lumiere.cli.main``) for the others —
and checks: non-zero exit status, exactly one clean line on stderr naming the bad value (or the
device), no traceback, a quick end, and nothing written when an input is refused. The table of
cases with what each ends in is ``docs/reliability.md``.
"""
from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest

from lumiere.cli import EXIT_DEVICE, EXIT_INPUT, EXIT_USAGE, main

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: wall-clock bounds: a refused input must not hang (the old `--fov-nm inf` looped forever);
#: generous because the subprocess imports numpy/numba/h5py on a shared 2-core machine
SUBPROCESS_TIMEOUT_S = 90.0
IN_PROCESS_LIMIT_S = 30.0

# (id, argv after "lumiere", words the one line must contain, exit status)
# "{out}" is replaced by an output directory that must stay empty/absent.
ARGPARSE_CASES = [
    ("si-fov-inf", ["si", "--out", "{out}", "--fov-nm", "inf"], ["--fov-nm", "'inf'"], EXIT_USAGE),
    ("si-fov-nan", ["si", "--out", "{out}", "--fov-nm", "nan"], ["--fov-nm", "'nan'"], EXIT_USAGE),
    ("si-fov-negative", ["si", "--out", "{out}", "--fov-nm", "-5"], ["--fov-nm", "'-5'", "> 0"], EXIT_USAGE),
    ("si-fov-zero", ["si", "--out", "{out}", "--fov-nm", "0"], ["--fov-nm", "'0'"], EXIT_USAGE),
    ("si-size-zero", ["si", "--out", "{out}", "--size", "0"], ["--size", "'0'", "integer ≥ 1"], EXIT_USAGE),
    ("si-size-negative", ["si", "--out", "{out}", "--size", "-3"], ["--size", "'-3'"], EXIT_USAGE),
    ("si-size-fraction", ["si", "--out", "{out}", "--size", "2.5"], ["--size", "'2.5'"], EXIT_USAGE),
    ("si-size-word", ["si", "--out", "{out}", "--size", "big"], ["--size", "'big'"], EXIT_USAGE),
    ("si-exposure-inf", ["si", "--out", "{out}", "--exposure-ms", "inf"], ["--exposure-ms", "'inf'"], EXIT_USAGE),
    ("si-exposure-zero", ["si", "--out", "{out}", "--exposure-ms", "0"], ["--exposure-ms", "'0'"], EXIT_USAGE),
    ("si-exposure-nan", ["si", "--out", "{out}", "--exposure-ms", "nan"], ["--exposure-ms", "'nan'"], EXIT_USAGE),
    ("si-center-inf", ["si", "--out", "{out}", "--center-nm", "inf", "0"], ["--center-nm", "'inf'"], EXIT_USAGE),
    ("si-center-nan", ["si", "--out", "{out}", "--center-nm", "0", "nan"], ["--center-nm", "'nan'"], EXIT_USAGE),
    ("si-sampling-nan", ["si", "--out", "{out}", "--sampling", "nan"], ["--sampling", "'nan'"], EXIT_USAGE),
    ("si-sampling-inf", ["si", "--out", "{out}", "--sampling", "inf"], ["--sampling", "'inf'"], EXIT_USAGE),
    ("si-seed-negative", ["si", "--out", "{out}", "--seed", "-1"], ["--seed", "'-1'"], EXIT_USAGE),
    ("si-live-pca-negative", ["si", "--out", "{out}", "--live-pca", "-2"], ["--live-pca", "'-2'"], EXIT_USAGE),
    ("demo-size-zero", ["demo", "--out", "{out}", "--si-size", "0"], ["--si-size", "'0'"], EXIT_USAGE),
    ("demo-exposure-negative", ["demo", "--out", "{out}", "--exposure-ms", "-1"], ["--exposure-ms", "'-1'"],
     EXIT_USAGE),
    ("drift-size-zero", ["drift-si", "--out", "{out}", "--size", "0"], ["--size", "'0'"], EXIT_USAGE),
    ("drift-sequences-zero", ["drift-si", "--out", "{out}", "--sequences", "0"], ["--sequences", "'0'"],
     EXIT_USAGE),
    ("drift-dwell-inf", ["drift-si", "--out", "{out}", "--dwell-ms", "inf"], ["--dwell-ms", "'inf'"], EXIT_USAGE),
    ("drift-rate-nan", ["drift-si", "--out", "{out}", "--drift-nm-per-min", "nan"], ["--drift-nm-per-min", "'nan'"],
     EXIT_USAGE),
    ("drift-walk-negative", ["drift-si", "--out", "{out}", "--random-walk", "-1"], ["--random-walk", "'-1'"],
     EXIT_USAGE),
    ("drift-current-zero", ["drift-si", "--out", "{out}", "--current-pA", "0"], ["--current-pA", "'0'"], EXIT_USAGE),
    ("drift-fov-inf", ["drift-si", "--out", "{out}", "--si-fov-nm", "inf"], ["--si-fov-nm", "'inf'"], EXIT_USAGE),
    ("drift-center-nan", ["drift-si", "--out", "{out}", "--si-center-nm", "nan", "0"], ["--si-center-nm", "'nan'"],
     EXIT_USAGE),
    ("drift-ref-size-negative", ["drift-si", "--out", "{out}", "--ref-size-nm", "-96"], ["--ref-size-nm", "'-96'"],
     EXIT_USAGE),
    ("drift-ref-dwell-inf", ["drift-si", "--out", "{out}", "--ref-dwell-us", "inf"], ["--ref-dwell-us", "'inf'"],
     EXIT_USAGE),
    ("eegs-start-inf", ["eegs", "wavelength-scan", "--out", "{out}", "--start", "inf"], ["--start", "'inf'"],
     EXIT_USAGE),
    ("eegs-stop-nan", ["eegs", "wavelength-scan", "--out", "{out}", "--stop", "nan"], ["--stop", "'nan'"],
     EXIT_USAGE),
    ("eegs-step-zero", ["eegs", "wavelength-scan", "--out", "{out}", "--step", "0"], ["--step", "'0'"], EXIT_USAGE),
    ("eegs-spectra-zero", ["eegs", "wavelength-scan", "--out", "{out}", "--spectra", "0"], ["--spectra", "'0'"],
     EXIT_USAGE),
    ("eegs-exposure-nan", ["eegs", "wavelength-scan", "--out", "{out}", "--exposure-ms", "nan"],
     ["--exposure-ms", "'nan'"], EXIT_USAGE),
    ("eegs-current-negative", ["eegs", "wavelength-scan", "--out", "{out}", "--current-A", "-1"],
     ["--current-A", "'-1'"], EXIT_USAGE),
    ("eegs-wavelength-inf", ["eegs", "power-scan", "--out", "{out}", "--wavelength", "inf"], ["--wavelength", "'inf'"],
     EXIT_USAGE),
    ("eegs-probe-inf", ["eegs", "wavelength-scan", "--out", "{out}", "--probe-nm", "inf", "0"],
     ["--probe-nm", "'inf'"], EXIT_USAGE),
    ("reprocess-components-zero", ["reprocess", "in.h5", "--out", "{out}/o.h5", "--components", "0"],
     ["--components", "'0'"], EXIT_USAGE),
    ("reprocess-chunk-inf", ["reprocess", "in.h5", "--out", "{out}/o.h5", "--chunk-mb", "inf"],
     ["--chunk-mb", "'inf'"], EXIT_USAGE),
    ("train-seed-negative", ["train", "--list", "--seed", "-1"], ["--seed", "'-1'"], EXIT_USAGE),
]

# refused by the workflow parameters / site after parsing, before anything moves (in-process)
WORKFLOW_CASES = [
    ("si-sampling-zero", ["si", "--out", "{out}", "--sampling", "0"], ["--sampling 0.0", "(0, 1]"], EXIT_INPUT),
    ("si-sampling-above-one", ["si", "--out", "{out}", "--sampling", "1.5"], ["--sampling 1.5"], EXIT_INPUT),
    ("si-live-pca-too-many", ["si", "--out", "{out}", "--size", "8", "--live-pca", "99"], ["components = 99", "32"],
     EXIT_INPUT),
    ("drift-size-huge", ["drift-si", "--out", "{out}", "--size", "100000"], ["si_shape_px = (100000, 100000)", "512"],
     EXIT_INPUT),
    ("drift-size-small", ["drift-si", "--out", "{out}", "--size", "8"], ["si_shape_px = (8, 8)"], EXIT_INPUT),
    ("drift-dwell-long", ["drift-si", "--out", "{out}", "--dwell-ms", "5000"], ["dwell_s = 5.0"], EXIT_INPUT),
    ("drift-edge-unknown", ["drift-si", "--out", "{out}", "--edges", "Xx K"], ["Xx K"], EXIT_INPUT),
    ("eegs-wavelength-limit", ["eegs", "wavelength-scan", "--out", "{out}", "--start", "5000", "--stop", "5010"],
     ["wavelength 5000.0 nm", "532.0–800.0 nm"], EXIT_INPUT),
    ("eegs-exposure-limit", ["eegs", "wavelength-scan", "--out", "{out}", "--exposure-ms", "120000"],
     ["exposure 120.0 s", "60.0 s"], EXIT_INPUT),
    ("eegs-current-limit", ["eegs", "wavelength-scan", "--out", "{out}", "--current-A", "12"],
     ["diode current 12.0 A", "8.0 A"], EXIT_INPUT),
    ("eegs-angles-empty", ["eegs", "power-scan", "--out", "{out}", "--angles", "10:0:5"], ["--angles '10:0:5'"],
     EXIT_INPUT),
    ("eegs-angles-words", ["eegs", "power-scan", "--out", "{out}", "--angles", "a:b"], ["--angles 'a:b'"],
     EXIT_INPUT),
    ("eegs-angles-limit", ["eegs", "power-scan", "--out", "{out}", "--angles", "0:400:100"],
     ["attenuator angle 200", "0.0–180.0 °"], EXIT_INPUT),
    ("eegs-particle-missing", ["eegs", "wavelength-scan", "--out", "{out}", "--particle", "99"], ["particle 99"],
     EXIT_INPUT),
    ("reprocess-input-missing", ["reprocess", "{out}/missing.h5", "--out", "{out}/o.h5"], ["missing.h5"],
     EXIT_INPUT),
    ("config-file-missing", ["config", "{out}/missing.toml"], ["missing.toml", "does not exist"], EXIT_INPUT),
    ("train-unknown-scenario", ["train", "--scenario", "no-such-scenario"], ["no-such-scenario"], EXIT_INPUT),
    ("train-check-without-answer", ["train", "--check", "drift-map"], ["--check drift-map needs --answer"],
     EXIT_INPUT),
    ("merlin-sim-port-range", ["merlin-sim", "--control-port", "70000"], ["--control-port 70000", "0–65535"],
     EXIT_INPUT),
    ("merlin-sim-port-negative", ["merlin-sim", "--data-port", "-1"], ["--data-port -1", "0–65535"], EXIT_INPUT),
    ("merlin-sim-cache-negative", ["merlin-sim", "--control-port", "0", "--data-port", "0", "--cache-frames", "-5"],
     ["--cache-frames -5"], EXIT_INPUT),
]

# the cases that used to hang or run out of memory: a real process with a timeout
SUBPROCESS_CASES = [
    ("si-fov-inf-process", ["si", "--out", "{out}", "--fov-nm", "inf"], ["--fov-nm", "'inf'"], EXIT_USAGE),
    ("si-size-memory", ["si", "--out", "{out}", "--size", "100000"],
     ["--size 100000", "TiB", "available"], EXIT_INPUT),
    ("si-sparse-size-memory", ["si", "--out", "{out}", "--size", "100000", "--sampling", "0.25"],
     ["--size 100000", "low-rank reconstruction"], EXIT_INPUT),
    ("demo-size-memory", ["demo", "--out", "{out}", "--si-size", "100000"], ["si_size_px = 100000", "TiB"],
     EXIT_INPUT),
    ("eegs-step-tiny", ["eegs", "wavelength-scan", "--out", "{out}", "--step", "1e-300"],
     ["step_nm = 1e-300", "100000 points"], EXIT_INPUT),
]

# site files (TOML text) refused with the key, the value and what is allowed
SITE_CASES = [
    ("site-current-negative", "[beam]\ncurrent_pA = -3\n", ["beam.current_pA = -3", "5000 pA"]),
    ("site-timeout-inf", "[eels_camera]\ntimeout_s = inf\n", ["eels_camera.timeout_s = inf", "finite"]),
    ("site-drift-nan", "[world.drift]\nrate_nm_per_min = [nan, 0.0]\n", ["rate_nm_per_min[0] = nan", "finite"]),
    ("site-max-fov-inf", "[scan]\nmax_fov_nm = inf\n", ["scan.max_fov_nm = inf"]),
    ("site-unknown-section", "[beem]\ncurrent_pA = 3\n", ["unknown section [beem]"]),
    ("site-not-toml", "[beam\ncurrent_pA = 3\n", ["not valid TOML"]),
    ("site-backend-bogus", "[eels_camera]\nbackend = \"bogus\"\n", ["eels_camera.backend = 'bogus'", "merlin"]),
    ("site-port-range", "[scan]\nport = 70000\n", ["scan.port = 70000", "0–65535"]),
]


def _format(argv: list[str], out: pathlib.Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in argv]


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _check_refusal(code: int, stderr: str, words: list[str], status: int, out: pathlib.Path) -> None:
    assert code == status, stderr
    assert "Traceback" not in stderr
    lines = _lines(stderr)
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]
    # nothing written: the output directory was not even created (or holds nothing)
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def _run_process(argv: list[str], **env: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "lumiere.cli", *argv], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "LUMIERE_DEBUG": "", **env})
    return proc.returncode, proc.stderr, time.monotonic() - t0


@pytest.mark.parametrize("argv, words, status", [c[1:] for c in ARGPARSE_CASES + WORKFLOW_CASES],
                         ids=[c[0] for c in ARGPARSE_CASES + WORKFLOW_CASES])
def test_bad_input_in_process(argv, words, status, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUMIERE_DEBUG", raising=False)
    out = tmp_path / "out"
    t0 = time.monotonic()
    try:
        code = main(_format(argv, out))
    except SystemExit as e:  # argparse exits; the console script would return this status
        code = e.code
    elapsed = time.monotonic() - t0
    _check_refusal(code, capsys.readouterr().err, words, status, out)
    assert elapsed < IN_PROCESS_LIMIT_S


@pytest.mark.parametrize("argv, words, status", [c[1:] for c in SUBPROCESS_CASES],
                         ids=[c[0] for c in SUBPROCESS_CASES])
def test_bad_input_in_a_process_ends_quickly(argv, words, status, tmp_path):
    out = tmp_path / "out"
    code, stderr, elapsed = _run_process(_format(argv, out))
    _check_refusal(code, stderr, words, status, out)
    assert elapsed < SUBPROCESS_TIMEOUT_S


@pytest.mark.parametrize("text, words", [c[1:] for c in SITE_CASES], ids=[c[0] for c in SITE_CASES])
def test_bad_site_file(text, words, tmp_path, capsys):
    site = tmp_path / "site.toml"
    site.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    for argv in (["config", str(site)], ["si", "--config", str(site), "--out", str(out)]):
        code = main(argv)
        _check_refusal(code, capsys.readouterr().err, [str(site), *words], EXIT_INPUT, out)


# -- device faults: a device that answers garbage, or nothing ----------------------------------

class _FakeDevice:
    """TCP servers on 127.0.0.1 that answer every read with ``reply`` (garbage), or never."""

    def __init__(self, reply: bytes | None, n: int = 2) -> None:
        self.reply = reply
        self.sockets = []
        self._stop = threading.Event()
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            s.settimeout(0.2)
            self.sockets.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()
        self.ports = [s.getsockname()[1] for s in self.sockets]

    def _serve(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                if self.reply is not None:
                    conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        for s in self.sockets:
            s.close()


GARBAGE = b"GARBAGE\xff\xfe not a reply\r\n"


@pytest.fixture
def garbage_device():
    device = _FakeDevice(GARBAGE)
    yield device
    device.close()


@pytest.fixture
def silent_device():
    device = _FakeDevice(None)
    yield device
    device.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _merlin_site(tmp_path: pathlib.Path, control: int, data: int) -> pathlib.Path:
    site = tmp_path / "site.toml"
    site.write_text(f'[eels_camera]\nbackend = "merlin"\nhost = "127.0.0.1"\ncontrol_port = {control}\n'
                    f"data_port = {data}\ntimeout_s = 1.0\n", encoding="utf-8")
    return site


def _device_fault(code: int, stderr: str, words: list[str]) -> None:
    assert code == EXIT_DEVICE, stderr
    assert "Traceback" not in stderr
    lines = _lines(stderr)
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_merlin_answering_garbage_is_one_line_naming_it(garbage_device, tmp_path):
    control, data = garbage_device.ports
    site = _merlin_site(tmp_path, control, data)
    code, stderr, elapsed = _run_process(["si", "--config", str(site), "--size", "4", "--out", str(tmp_path / "o")])
    _device_fault(code, stderr, [f"Merlin at 127.0.0.1:{control}", "MPX"])
    assert elapsed < SUBPROCESS_TIMEOUT_S


def test_silent_merlin_times_out_in_one_line(silent_device, tmp_path):
    control, data = silent_device.ports
    site = _merlin_site(tmp_path, control, data)
    code, stderr, _ = _run_process(["si", "--config", str(site), "--size", "4", "--out", str(tmp_path / "o")])
    _device_fault(code, stderr, [f"Merlin at 127.0.0.1:{control}", "1.0 s"])


def test_merlin_not_listening_is_one_line(tmp_path, capsys):
    port = _free_port()
    site = _merlin_site(tmp_path, port, _free_port())
    code = main(["si", "--config", str(site), "--size", "4", "--out", str(tmp_path / "o")])
    _device_fault(code, capsys.readouterr().err, [f"Merlin at 127.0.0.1:{port}", "cannot connect"])
    assert not (tmp_path / "o").exists()


def test_scan_generator_answering_garbage_is_one_line_naming_it(garbage_device, tmp_path, capsys):
    port = garbage_device.ports[0]
    site = tmp_path / "site.toml"
    site.write_text(f'[scan]\nbackend = "tcp"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 1.0\n', encoding="utf-8")
    code = main(["si", "--config", str(site), "--size", "4", "--out", str(tmp_path / "o")])
    _device_fault(code, capsys.readouterr().err, [f"scan generator at 127.0.0.1:{port}", "non-ASCII reply"])
    assert not (tmp_path / "o").exists()


def test_debug_shows_the_traceback(tmp_path):
    argv = ["si", "--out", str(tmp_path / "o"), "--sampling", "0"]
    code, stderr, _ = _run_process(argv, LUMIERE_DEBUG="1")
    assert code == EXIT_INPUT and "Traceback" in stderr and _lines(stderr)[-1].startswith("lumiere si: error:")
    code, stderr, _ = _run_process(["--debug", *argv])
    assert code == EXIT_INPUT and "Traceback" in stderr


def test_the_matrix_has_at_least_fifty_cases():
    n = len(ARGPARSE_CASES) + len(WORKFLOW_CASES) + len(SUBPROCESS_CASES) + len(SITE_CASES) + 4
    assert n >= 50
