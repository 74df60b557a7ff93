"""Lint (ruff) and type checking (mypy) of ``analysis/`` and ``detectors/``, configured in pyproject.toml.

The rules are the ones the code passes today (see the comments there); each check also runs once on a
planted mistake, so a checker that silently checks nothing fails here.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKED = ("analysis", "detectors")


def _ruff(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_ruff_passes_on_analysis_and_detectors():
    result = _ruff(*CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_reports_a_planted_mistake(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\n\ndef f(x=[]):\n    return x\n")
    result = _ruff(str(planted), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "F401" in result.stdout and "B006" in result.stdout, result.stdout


def _mypy(*args: str) -> tuple[str, int]:
    from mypy import api

    # the cache in the checkout makes a re-run take seconds instead of ~30 s
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", str(ROOT / ".mypy_cache"), *args])
    return stdout + stderr, status


@pytest.mark.slow
def test_mypy_passes_on_analysis_and_detectors(monkeypatch):
    monkeypatch.chdir(ROOT)  # `files` in pyproject.toml are relative to the checkout
    monkeypatch.syspath_prepend(str(ROOT))
    output, status = _mypy()
    assert status == 0, output
    assert "Success: no issues found" in output, output


@pytest.mark.slow
def test_mypy_reports_a_planted_mistake(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def energy_eV(x: float) -> float:\n    return x\n\n\nenergy_eV('1.0')\n")
    output, status = _mypy(str(planted))
    assert status == 1, output
    assert "arg-type" in output, output
