"""``lumiere si`` stopped at random points: Ctrl-C (SIGINT) and ``kill -9`` in a subprocess.

Whatever the moment, the file opens (h5py and a plain ``hs.load``), every visited pixel written
holds its spectrum, no result claims to be complete unless it is, the message names a file only
if it holds data, and the exit code is non-zero. The delays are random (seeded) after the
progress bar first appears, so the runs stop in the acquisition, the reconstruction or not at
all (a run that finished first must then be complete and exit 0).
"""
from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time

import h5py
import hyperspy.api as hs
import numpy as np
import pytest

from lumiere.sinks import read_hdf5_result

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGS = ["--size", "24", "--sampling", "0.5", "--exposure-ms", "10"]


def _run_and_stop(out: pathlib.Path, signum: int, seed: int) -> tuple[int, str, bool]:
    """Start ``lumiere si``, wait for its progress bar, send ``signum`` after a random delay;
    returns (exit code, stderr + stdout, whether the signal was sent before it ended)."""
    proc = subprocess.Popen([sys.executable, "-m", "lumiere.cli", "si", "--out", str(out), *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    err: list[bytes] = []
    started = threading.Event()

    def read() -> None:
        while chunk := proc.stderr.read1(4096):
            err.append(chunk)
            if b"si [" in chunk:
                started.set()
        started.set()  # ended without a progress bar: let the test see why

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = False
    try:
        assert started.wait(180), "no progress bar within 180 s"
        time.sleep(random.Random(seed).uniform(0.0, 4.0))
        if proc.poll() is None:
            proc.send_signal(signum)
            sent = True
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    reader.join(30)
    return code, b"".join(err).decode(errors="replace") + proc.stdout.read().decode(errors="replace"), sent


def _check_file(path: pathlib.Path, allowed: set[str]) -> dict[str, str]:
    """The file opens, every visited pixel written holds a spectrum; returns result -> status."""
    with h5py.File(path, "r") as f:
        names = list(f["Experiments"])
    statuses = {name: read_hdf5_result(path, name)[2]["status"] for name in names}
    assert set(statuses.values()) <= allowed, statuses
    if "sampling_mask" in statuses:
        mask = read_hdf5_result(path, "sampling_mask")[0].astype(bool)
        si = read_hdf5_result(path, "si")[0]
        assert (si[mask].sum(axis=1) > 0).all(), "a visited pixel lost its spectrum"
    if names:
        assert len(hs.load(path)) == len(names)
    return statuses


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ctrl_c_at_a_random_point(tmp_path, seed):
    code, output, sent = _run_and_stop(tmp_path, signal.SIGINT, seed)
    path = tmp_path / "si.hspy"
    if not sent or code == 0:  # finished before the signal: complete, said so
        assert code == 0 and f"wrote {path}" in output, output
        assert set(_check_file(path, {"complete"}).values()) == {"complete"}
        with h5py.File(path, "r") as f:
            assert f.attrs["run_status"] == "complete"
        return
    if f"wrote {path}" in output:  # the signal came while closing the devices or exiting
        assert code in (130, -signal.SIGINT) and set(_check_file(path, {"complete"}).values()) == {"complete"}
        return
    assert code == 130, output
    assert "interrupted: devices left safe;" in output and f"wrote {path}" not in output, output
    if "partial results kept in" in output:
        assert f"partial results kept in {path} (run marked aborted)" in output
        _check_file(path, {"complete", "aborted"})  # e.g. all complete when stopped in the reconstruction
        with h5py.File(path, "r") as f:
            assert f.attrs["run_status"] == "aborted" and "Ctrl-C" in f.attrs["run_error"]
    else:
        assert "no data was written to disk" in output, output
        if path.exists():
            statuses = _check_file(path, {"aborted"})
            with h5py.File(path, "r") as f:
                assert all(f["Experiments"][n]["metadata"]["Lumiere"].attrs["writes"] == 0 for n in statuses)


@pytest.mark.parametrize("seed", [3, 4])
def test_kill_9_at_a_random_point(tmp_path, seed):
    code, output, sent = _run_and_stop(tmp_path, signal.SIGKILL, seed)
    path = tmp_path / "si.hspy"
    if not sent or code == 0:
        assert code == 0 and set(_check_file(path, {"complete"}).values()) == {"complete"}, output
        return
    assert code == -signal.SIGKILL
    if path.exists():
        # nothing could be recorded at the kill: unfinished results still say "acquiring"
        statuses = _check_file(path, {"complete", "acquiring"})
        with h5py.File(path, "r") as f:
            run_status = f.attrs.get("run_status")
        if "acquiring" in statuses.values():
            assert run_status is None  # cut off: the run never said it ended
        else:  # killed after the last result was complete (closing the devices, exiting)
            assert run_status in (None, "complete"), run_status
