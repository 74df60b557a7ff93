"""Real-GUI smoke test: Nion Swift's Qt application with our plug-in, under Xvfb.

Runs ``tests/swift/gui_driver.py`` in a subprocess with ``xvfb-run`` and a throw-away HOME, then
checks its JSON report and the screenshot of the main window. Debian packages needed on a fresh
machine: ``docs/gui_packages.txt`` (``apt-get install -y $(cat docs/gui_packages.txt)``).

Run with ``pytest -m gui tests/swift/test_gui_smoke.py``.
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

pytestmark = [pytest.mark.gui, pytest.mark.swift]

DRIVER = pathlib.Path(__file__).with_name("gui_driver.py")
SUBPROCESS_TIMEOUT_S = 150  # the driver's own watchdog (90 s) fires first


class GuiRun:
    def __init__(self, returncode: int, output: str, report: dict, screenshot: pathlib.Path, seconds: float):
        self.returncode = returncode
        self.output = output
        self.report = report
        self.screenshot = screenshot
        self.seconds = seconds


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> GuiRun:
    gui_common.require_xvfb()
    root = tmp_path_factory.mktemp("swift_gui")
    screenshot, report_path = root / "swift_main_window.png", root / "report.json"
    code, output, seconds = gui_common.run_driver_under_xvfb(DRIVER, [str(screenshot), str(report_path)], root,
                                                             SUBPROCESS_TIMEOUT_S)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    run = GuiRun(code, output, report, screenshot, seconds)
    if os.environ.get("LUMIERE_GUI_SCREENSHOT"):  # keep a copy (e.g. for docs/images/)
        shutil.copyfile(screenshot, os.environ["LUMIERE_GUI_SCREENSHOT"])
    return run


def _context(run: GuiRun) -> str:
    return f"\n--- driver output (tail) ---\n{run.output[-6000:]}\n--- report ---\n{json.dumps(run.report, indent=1)[:4000]}"


def test_swift_starts_with_lumiere_devices_and_shows_haadf(gui_run: GuiRun) -> None:
    run = gui_run
    assert run.returncode == 0, f"driver exit code {run.returncode}" + _context(run)
    report = run.report
    assert report.get("ok") is True and report.get("errors") == [], _context(run)
    assert {"lumiere_scan", "lumiere_eels_camera"} <= set(report["hardware_source_ids"]), _context(run)
    assert report["stem_controller_class"] == "LumiereInstrument", _context(run)
    assert report["stem_controller_module"] == "nionswift_plugin.lumiere.stem_device", _context(run)
    assert report["stem_controller_id"] == "lumiere_stem_controller", _context(run)
    assert "nionswift_plugin.lumiere" in report["loaded_plugins"], _context(run)
    assert report["window_title"].startswith("Nion Swift"), _context(run)
    width, height = report["window_size"]
    assert width >= 800 and height >= 600, _context(run)
    # the HAADF channel produced a real image and it is on screen
    assert report["haadf_data_item"] is True, _context(run)
    assert "HAADF" in report["haadf_title"], _context(run)
    assert len(report["haadf_shape"]) == 2 and min(report["haadf_shape"]) >= 16, _context(run)
    assert report["haadf_std"] > 0.0, _context(run)
    assert report["haadf_in_display_panel"] is True, _context(run)
    assert report["scan_stopped"] is True, _context(run)


def test_screenshot_is_not_blank(gui_run: GuiRun) -> None:
    run = gui_run
    assert run.screenshot.exists(), "no screenshot written" + _context(run)
    with Image.open(run.screenshot) as image:
        assert image.format == "PNG"
        assert list(image.size) == run.report["screenshot_size"]
        assert image.width >= 800 and image.height >= 600
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert rgb.std() > 20.0, f"screenshot looks blank (pixel std {rgb.std():.1f})"
    colours = np.unique(rgb[::2, ::2].astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"screenshot has only {len(colours)} distinct colours"
    # the display panel (centre of the window) holds the HAADF image: many grey levels, not a flat area
    h, w = rgb.shape[:2]
    centre = rgb[h // 4: 3 * h // 4, w // 3: 2 * w // 3]
    assert len(np.unique(centre.mean(axis=2).astype(np.uint8))) > 30, "display panel shows no image"


def test_swift_builds_all_panels_without_errors(gui_run: GuiRun) -> None:
    errors = gui_run.report.get("swift_errors")
    assert errors == [], "Swift reported errors while running:\n" + "\n".join(errors or [])
