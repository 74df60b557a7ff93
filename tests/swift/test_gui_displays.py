"""Issue 15 in the real Swift window (Xvfb): an EEGS wavelength scan and a drift-corrected SI run
from their panels and their results are shown exactly as the plug-in displays them — no display
setting is touched by the driver (no Redimension, limits, ranges or layers set here).

One Swift start (``gui_panel_driver.py``) plays both scenarios; the screenshots are checked for
content and, with ``LUMIERE_DOCS_IMAGES=1`` or when missing, become the user guide's
``docs/images/eegs_results.png`` and ``drift_log.png``. Debian packages: ``docs/gui_packages.txt``.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gui_common  # noqa: E402

pytestmark = pytest.mark.gui

DRIVER = pathlib.Path(__file__).with_name("gui_panel_driver.py")
DOCS_IMAGES = gui_common.REPO / "docs" / "images"


def script(shots: pathlib.Path) -> dict:
    return {"window_size": [1500, 950], "timeout_s": 150, "scenarios": [
        {"name": "eegs", "panel_id": "lumiere-eegs-panel", "track": ["eegs"], "actions": [
            {"do": "open"},
            # the spectrometer setting: −20…82 eV, a ~10⁶-count ZLP
            {"do": "world", "set": {"spectrometer.energy_offset_eV": -20.0,
                                    "spectrometer.dispersion_eV_per_channel": 0.1},
             "probe_outside_particle_nm": 7.5},
            {"do": "fields", "values": {"start_nm": 600, "stop_nm": 720, "step_nm": 20, "spectra_per_point": 2,
                                        "exposure_ms": 10}},
            {"do": "start"},
            {"do": "wait_idle", "timeout_s": 90},
            {"do": "show", "results": ["eegs::(sideband window)", "eegs", "eegs_gain", "eegs_power"],
             "timeout_s": 20},
            {"do": "screenshot", "path": str(shots / "eegs_results.png"), "label": "done", "settle_s": 1.5}]},
        {"name": "drift_si", "panel_id": "lumiere-drift-si-panel", "track": ["drift_log"], "actions": [
            {"do": "open", "hide": ["lumiere-eegs-panel"]},
            {"do": "world", "set": {"spectrometer.energy_offset_eV": 350.0,
                                    "spectrometer.dispersion_eV_per_channel": 1.0, "beam.current_pA": 200.0}},
            {"do": "fields", "values": {"size_px": 16, "n_sequences": 4, "dwell_ms": 1, "si_fov_nm": 96,
                                        "edges": "Sc L2,3"}},
            {"do": "start"},
            {"do": "wait_idle", "timeout_s": 90},
            {"do": "show", "results": ["drift_log", "si", "si::summed spectrum", "map_*"], "timeout_s": 20},
            {"do": "screenshot", "path": str(shots / "drift_log.png"), "label": "done", "settle_s": 1.5}]},
    ]}


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    gui_common.require_xvfb()
    root = tmp_path_factory.mktemp("swift_gui_displays")
    shots = root / "shots"
    script_path, report_path = root / "script.json", root / "report.json"
    script_path.write_text(json.dumps(script(shots), indent=1))
    code, output, seconds = gui_common.run_driver_under_xvfb(DRIVER, [str(script_path), str(report_path)], root, 240)
    (root / "driver_output.txt").write_text(output)  # the whole log, for a failure's context
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    for shot in ("eegs_results.png", "drift_log.png"):
        if (shots / shot).exists() and (os.environ.get("LUMIERE_DOCS_IMAGES") or not (DOCS_IMAGES / shot).exists()):
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shots / shot, DOCS_IMAGES / shot)
    return {"code": code, "output": output, "report": report, "seconds": seconds}


def _scenario(run: dict, name: str) -> dict:
    context = f"\n--- driver output (tail) ---\n{run['output'][-6000:]}"
    assert run["code"] == 0 and run["report"].get("ok") is True, f"driver exit code {run['code']}" + context
    return run["report"]["scenarios"][name]


def _screenshot(sc: dict) -> np.ndarray:
    [entry] = sc["screenshots"]
    with Image.open(entry["path"]) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 700
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert rgb.std() > 20.0, f"{entry['path']} looks blank"
    return rgb


def test_eegs_results_shown_as_the_plugin_displays_them(gui_run):
    sc = _scenario(gui_run, "eegs")
    assert sc["status_final"].startswith("Done. Resonance at"), sc["status_final"]
    assert sc["shown"][0] == "EEGS: EEGS wavelength scan (sideband window)"
    assert sc["shown"][1] == "EEGS: EEGS wavelength scan"
    assert sc["shown"][2].startswith("EEGS: EEGS gain (1/µW) vs photon energy (eV) — Resonance ")
    rgb = _screenshot(sc)
    # the plot layers are drawn in their colours (blue measured gain / first spectrum, red fit)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 80) & (rgb[..., 1] > 100)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    assert blue.sum() > 200 and red.sum() > 200, (int(blue.sum()), int(red.sum()))


def test_drift_log_shown_as_a_two_layer_line_plot(gui_run):
    sc = _scenario(gui_run, "drift_si")
    assert sc["status_final"].startswith("Done. 4 sequences summed"), sc["status_final"]
    assert sc["shown"][0] == "Drift-corrected SI: Drift log: measured y and x drift (nm) vs time (s)"
    assert sc["rows_final"]["drift_log"] == 4, "the driver counts the log's table rows"
    _screenshot(sc)
