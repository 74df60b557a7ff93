"""``lumiere eegs`` in a subprocess: progress bar, HDF5 results, PNG plots, errors."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from lumiere.cli import main
from lumiere.sinks import read_hdf5_result
import pytest

pytestmark = pytest.mark.slow


def _lumiere(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lumiere.cli", "eegs", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_wavelength_scan_cli(tmp_path):
    proc = _lumiere("wavelength-scan", "--start", "600", "--stop", "690", "--step", "6",
                    "--spectra", "5", "--exposure-ms", "100", "--out", str(tmp_path),
                    "--probe-on-particle")
    assert proc.returncode == 0, proc.stderr
    assert "100.0%" in proc.stderr
    assert "probe parked 7.5 nm outside the edge of particle 0" in proc.stdout
    assert "resonance:" in proc.stdout and "Q =" in proc.stdout
    data, axes, meta = read_hdf5_result(tmp_path / "eegs_wavelength_scan.hspy", "eegs")
    assert data.shape == (16, 1024) and np.isfinite(data).all() and meta["finished"]
    assert [a.units for a in axes] == ["nm", "eV"]
    table, _, table_meta = read_hdf5_result(tmp_path / "eegs_wavelength_scan.hspy", "eegs_analysis")
    assert table.shape[0] == 16 and json.loads(table_meta["columns"])[1] == "gain_per_uW"
    assert 1.8 < table_meta["resonance_centre_eV"] < 2.05
    for name in ("eegs_wavelength_scan_map.png", "eegs_wavelength_scan_spectrum.png"):
        pixels = np.asarray(Image.open(tmp_path / name).convert("L"), dtype=float)
        assert pixels.std() > 5, f"{name} looks blank"


def test_power_scan_and_refused_limits_in_process(tmp_path, capsys):
    assert main(["eegs", "power-scan", "--wavelength", "590", "--angles", "0:60:20", "--spectra", "2",
                 "--exposure-ms", "50", "--out", str(tmp_path), "--no-plots"]) == 0
    data, axes, _ = read_hdf5_result(tmp_path / "eegs_power_scan.hspy", "eegs_power")
    assert data.shape == (4, 1024) and axes[0].units == "°"
    assert main(["eegs", "wavelength-scan", "--start", "700", "--stop", "900",
                 "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "wavelength 804.0 nm outside the allowed range 532.0–800.0 nm" in err
