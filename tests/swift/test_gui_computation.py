"""Real-GUI test: Nion Swift's Qt application under Xvfb with an elemental-map computation
attached to a Lumière SI through the "Lumière" menu's own code path.

Runs ``tests/swift/gui_computation_driver.py`` in a subprocess (``xvfb-run``, throw-away HOME),
then checks its report and screenshot. With ``LUMIERE_DOCS_IMAGES=1`` the screenshot replaces
``docs/images/elemental_map_computation.png`` (the user guide's picture). Debian packages:
``docs/gui_packages.txt``.
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

DRIVER = pathlib.Path(__file__).with_name("gui_computation_driver.py")
REPO = pathlib.Path(__file__).resolve().parents[2]
DOCS_IMAGE = REPO / "docs" / "images" / "elemental_map_computation.png"
SUBPROCESS_TIMEOUT_S = 180  # the driver's own watchdog (120 s) fires first


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict, pathlib.Path]:
    gui_common.require_xvfb()
    root = tmp_path_factory.mktemp("swift_gui_computation")
    screenshot, report_path = root / "elemental_map_computation.png", root / "report.json"
    returncode, output, _ = gui_common.run_driver_under_xvfb(DRIVER, [str(screenshot), str(report_path)], root,
                                                             SUBPROCESS_TIMEOUT_S)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if os.environ.get("LUMIERE_DOCS_IMAGES") and screenshot.exists():
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, DOCS_IMAGE)
    return returncode, output, report, screenshot


def _context(output: str, report: dict) -> str:
    return f"\n--- driver output (tail) ---\n{output[-6000:]}\n--- report ---\n{json.dumps(report, indent=1)[:4000]}"


def test_elemental_map_computation_attached_to_an_si(gui_run):
    code, output, report, _ = gui_run
    assert code == 0 and report.get("ok") is True and report.get("errors") == [], _context(output, report)
    assert "Elemental Map (edge by name)…" in report["lumiere_menu"], _context(output, report)
    ids = {c["id"]: c for c in report["computations"]}
    assert {"lumiere.eels.si_sum", "lumiere.eels.elemental_map", "lumiere.eels.background"} <= set(ids)
    for computation in ids.values():
        assert computation["error"] is None and computation["status"].startswith("Last: "), computation
    assert report["map_shape"] == [24, 24] and report["map_finite"] and report["map_units"] == "counts"
    assert report["map_axis_units"] == ["nm", "nm"]
    assert report["snr_p90"] > 5, "the Sc2O3 grain stands out of the noise"
    assert report["display_panel_count"] == 4
    assert report["swift_errors"] == [], "\n".join(report["swift_errors"])


def test_screenshot_shows_the_panels(gui_run):
    _, output, report, screenshot = gui_run
    assert screenshot.exists(), "no screenshot" + _context(output, report)
    with Image.open(screenshot) as image:
        assert image.format == "PNG" and list(image.size) == report["screenshot_size"]
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert rgb.std() > 20.0, f"screenshot looks blank (pixel std {rgb.std():.1f})"
    h, w = rgb.shape[:2]
    centre = rgb[h // 8: 7 * h // 8, w // 4: 3 * w // 4]
    assert len(np.unique(centre.mean(axis=2).astype(np.uint8))) > 50, "display panels show no images"
