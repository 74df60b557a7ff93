"""The ``lumiere`` command: help, demo (HDF5 + PNGs), config check, errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from lumiere.cli import main
from lumiere.sinks import read_hdf5_result


def test_help_lists_subcommands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "demo" in out and "config" in out


def test_demo_writes_calibrated_hdf5_and_plots(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lumiere.cli", "demo", "--out", str(tmp_path), "--si-size", "8"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "100.0%" in proc.stderr  # the progress bar reached the end
    si, axes, meta = read_hdf5_result(tmp_path / "demo.hspy", "si")
    assert si.shape == (8, 8, 1024) and not np.isnan(si).any()
    assert [a.units for a in axes] == ["nm", "nm", "eV"] and meta["finished"]
    haadf, _, _ = read_hdf5_result(tmp_path / "demo.hspy", "haadf_survey")
    assert haadf.shape == (256, 256) and haadf.std() > 0
    sc_map, _, meta = read_hdf5_result(tmp_path / "demo.hspy", "map_Sc_L23")
    assert sc_map.shape == (8, 8) and meta["edge"] == "Sc L2,3"
    for name in ("haadf_survey.png", "si_sum_spectrum.png", "si_maps.png"):
        pixels = np.asarray(Image.open(tmp_path / name).convert("L"), dtype=float)
        assert pixels.std() > 5, f"{name} looks blank"


def test_config_subcommand_reports_bad_values(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[beam]\ncurrent_pA = 0\n")
    assert main(["config", str(bad)]) == 1
    assert "beam.current_pA = 0" in capsys.readouterr().err
    assert main(["config"]) == 0
