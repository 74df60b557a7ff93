"""Drift-corrected SI: inputs rejected before anything moves, crash-safe HDF5 (SIGKILL mid-run),
the ``lumiere drift-si`` command."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from rsciio.hspy import file_reader

from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from drift_eels.parameters import DriftSIParameters
from detectors.simulation.setup import configure_simulation
from drift_eels.workflow import DriftCorrectedSI
from lumiere.sinks import MemorySink, read_hdf5_result

pytestmark = pytest.mark.slow

SURVEY = ScanFrame(size_px=(256, 256), fov_nm=512.0)
SI_RECT = (100.0, 100.0, 32.0, 32.0)
REF_RECT = (40.0, 40.0, 48.0, 48.0)


@pytest.mark.parametrize("change, message", [
    ({"si_shape_px": (600, 600)}, r"si_shape_px = \(600, 600\)"),
    ({"si_region_px": (200.0, 200.0, 80.0, 80.0)}, r"si_region_px = \(200.0, 200.0, 80.0, 80.0\).*outside the 256×256"),
    ({"si_region_px": (0.0, 10.0, 256.0, 128.0), "si_shape_px": (64, 128)}, r"larger than the 256×256 px survey"),
    ({"n_sequences": 0}, r"n_sequences = 0"),
    ({"edges": ("Au M4,5",)}, r"unknown edge 'Au M4,5'"),
    ({"edges": ("C K",)}, r"edge C K \(onset 284 eV\).*outside the energy range \[349.5, 1373.5\] eV"),
    ({"edges": ("Sc L2,3", "Dy M4,5"), "signal_widths_eV": {"Dy M4,5": 200.0}}, r"Dy M4,5.*\[1295, 1495\] eV"),
    ({"reference_region_px": (-4.0, 40.0, 48.0, 48.0)}, r"reference_region_px = \(-4.0.*outside the 256×256"),
    ({"reference_region_px": (40.0, 40.0, 4.0, 4.0)}, r"gives a 4×4 px reference scan"),
    ({"dwell_s": 5.0}, r"dwell_s = 5.0 s is not allowed"),
    ({"dwell_s": 0.0}, r"dwell_s = 0.0 s"),
    ({"reference_dwell_s": 1.0}, r"reference_dwell_s = 1.0 s"),
])
def test_bad_inputs_are_rejected_before_anything_moves(change, message):
    inst = build_instrument()
    configure_simulation(inst.world)
    inst.probe_shift.set_shift_nm(1.0, 2.0)
    t0 = inst.world.clock.now_s()
    good = DriftSIParameters(SURVEY, SI_RECT, REF_RECT, si_shape_px=(32, 32), dwell_s=1e-3, n_sequences=2)
    good.plan(inst.spectrum_imager.energy_axis_eV())  # the unchanged parameters are fine
    with pytest.raises(ValueError, match=message):
        DriftCorrectedSI.from_instrument(inst, dataclasses.replace(good, **change), MemorySink())
    assert inst.world.clock.now_s() == t0 and inst.scan.frames_acquired == 0
    assert inst.probe_shift.get_shift_nm() == (1.0, 2.0)


KILL_SCRIPT = """
import os, sys, time
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from drift_eels.parameters import DriftSIParameters
from detectors.simulation.setup import configure_simulation, drift_si_targets_nm
from drift_eels.session import session_regions
from drift_eels.workflow import DriftCorrectedSI
from lumiere.sinks import HDF5Sink
from lumiere.tasks import TaskControl

K = {k}
inst = build_instrument()
configure_simulation(inst.world, drift_nm_per_min=5.0, seed=3)
survey = ScanFrame(size_px=(256, 256), fov_nm=512.0)
si_rect, ref_rect = session_regions(survey, *drift_si_targets_nm(inst.world), si_fov_nm=48.0, reference_size_nm=96.0)
params = DriftSIParameters(survey, si_rect, ref_rect, si_shape_px=(24, 24), dwell_s=1e-3, n_sequences=6,
                           keep_sequences=True)

def listener(fraction, message):
    # sequence K+1 is under way, K sequences are complete: tell the parent and wait for the kill
    if message.startswith(f"sequence {{K + 1}}/6, row 12"):
        print("READY", flush=True)
        time.sleep(120)

task = TaskControl(listener)
DriftCorrectedSI.from_instrument(inst, params, HDF5Sink({path!r}), task=task).run()
print("FINISHED", flush=True)
"""


def test_hdf5_file_survives_sigkill_mid_run(tmp_path):
    k = 3
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILL_SCRIPT.format(k=k, path=str(path)))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    seqs, axes, meta = read_hdf5_result(path, "si_sequences")
    assert seqs.shape == (6, 24, 24, 1024)
    assert not np.isnan(seqs[:k]).any() and np.isnan(seqs[k:]).all()
    assert "finished" not in meta
    si, axes, meta = read_hdf5_result(path, "si")
    assert meta["sequences_done"] == k and [a.units for a in axes] == ["nm", "nm", "eV"]
    assert np.isfinite(si).mean() > 0.9
    log, _, log_meta = read_hdf5_result(path, "drift_log")
    assert np.isfinite(log[:k, :10]).all() and np.isnan(log[k:]).all()
    assert log_meta["columns"].startswith('["reference_time_s"')
    dy_map, _, _ = read_hdf5_result(path, "map_Dy_M45")
    assert np.isfinite(dy_map).mean() > 0.9
    signals = {s["metadata"]["General"]["title"]: s for s in file_reader(str(path))}
    assert signals["Drift-corrected EELS SI (sum)"]["data"].shape == (24, 24, 1024)


def test_cli_drift_si_writes_hdf5_and_plots(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lumiere.cli", "drift-si", "--out", str(tmp_path), "--size", "24",
                           "--sequences", "3", "--dwell-ms", "1", "--drift-nm-per-min", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "100.0%" in proc.stderr and "overhead" in proc.stdout
    for name in ("si", "uncorrected_si"):
        si, axes, meta = read_hdf5_result(tmp_path / "drift_si.hspy", name)
        assert si.shape == (24, 24, 1024) and meta["finished"] and meta["sequences_done"] == 3
    log, _, _ = read_hdf5_result(tmp_path / "drift_si.hspy", "drift_log")
    assert log.shape[0] == 3 and np.isfinite(log[:, :10]).all()
    for name in ("survey.png", "haadf_sum.png", "maps.png", "drift_log.png"):
        pixels = np.asarray(Image.open(tmp_path / name).convert("L"), dtype=float)
        assert pixels.std() > 5, f"{name} looks blank"
    # a bad value is reported with its name before anything runs
    bad = subprocess.run([sys.executable, "-m", "lumiere.cli", "drift-si", "--out", str(tmp_path / "bad"),
                          "--sequences", "0"], capture_output=True, text=True, timeout=120)
    # (refused when the command line is parsed: exit status 2, one line naming the option and value)
    assert bad.returncode == 2 and "--sequences: '0' is not allowed" in bad.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("module", ["drift_eels.parameters", "drift_eels.workflow"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
