"""Real-GUI tests of Lumière's experiment panels in Nion Swift's Qt application under Xvfb.

One Swift start (``tests/swift/gui_panel_driver.py`` under ``xvfb-run``, throw-away HOME) plays
three scenarios in the same window, each through the panel's real widgets (Window-menu toggle,
the Start/Abort ``QPushButton``\\ s):

* EEGS (issue 5): a short wavelength scan with the probe parked 7.5 nm outside the gold particle;
  the λ × E map grows row by row (shown live as the plug-in shows it: the map's sideband window
  and the spectra labelled by λ, no display setting touched), is aborted
  after a few wavelengths; the acquired rows are kept and the laser shutter is closed.
* Drift-corrected SI (issue 4): 32 × 32, 4 sequences; the summed SI, HAADF sum, drift log and Sc
  map are shown live; aborted after the first sequence, which is kept.
* Sparse SI with live PCA (issue 7): the Lumière SI panel at 25 % sampling (line-hopping, its
  Pattern combo box) with 3 live PCA components; loadings, score maps and the sampling mask are
  shown while they grow, then the low-rank reconstruction.
* Training (issue 8), if the training panel is registered: a scenario started from the panel.

The screenshots are the user guide's pictures ``docs/images/eegs_panel.png``,
``drift_si_panel.png``, ``sparse_si_panel.png``, ``training_panel.png``: written when missing, replaced with
``LUMIERE_DOCS_IMAGES=1`` (as ``test_gui_computation.py`` does), so an ordinary test run leaves the
committed pictures alone. Debian packages: ``docs/gui_packages.txt``.
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

DRIVER = pathlib.Path(__file__).with_name("gui_panel_driver.py")
DOCS_IMAGES = gui_common.REPO / "docs" / "images"
SUBPROCESS_TIMEOUT_S = 180  # the driver's own watchdog (120 s) fires first
EEGS_POINTS = 13  # 630–690 nm in 5 nm steps; aborted after 3–4 (margin for a loaded machine)
DRIFT_SEQUENCES = 8  # aborted during the second
SPARSE_SECTIONS = 8  # 32 rows in sections of 4: 8 live PCA updates of 32 visits (25 ms each)
OTHER_PANELS = ["lumiere-eegs-panel", "lumiere-drift-si-panel", "lumiere-si-panel", "inspector-panel"]


def script(shots: pathlib.Path) -> dict:
    # the plug-in's own displays (issue 15): the map's sideband window and the spectra by λ
    eegs_map, eegs_lines = "eegs::(sideband window)", "eegs"
    return {"window_size": [1500, 950], "timeout_s": 120, "scenarios": [
        {"name": "eegs", "panel_id": "lumiere-eegs-panel", "track": ["eegs"], "actions": [
            {"do": "open"},
            {"do": "world", "set": {"spectrometer.energy_offset_eV": -8.0,
                                    "spectrometer.dispersion_eV_per_channel": 0.01},
             "probe_outside_particle_nm": 7.5},
            {"do": "fields", "values": {"start_nm": 630, "stop_nm": 690, "step_nm": 5, "spectra_per_point": 2,
                                        "exposure_ms": 10}},
            {"do": "start"},
            {"do": "show", "results": [eegs_map, eegs_lines], "timeout_s": 30},
            {"do": "wait_rows", "result": "eegs", "rows": 2, "timeout_s": 30},
            {"do": "screenshot", "path": str(shots / "eegs_running.png"), "label": "running", "settle_s": 0.8,
             "min_shown_rows": 2},
            {"do": "wait_rows", "result": "eegs", "rows": 3, "timeout_s": 30},
            {"do": "abort"},
            {"do": "wait_idle", "timeout_s": 20},
            {"do": "screenshot", "path": str(shots / "eegs_aborted.png"), "label": "aborted"}]},
        {"name": "drift_si", "panel_id": "lumiere-drift-si-panel", "track": ["haadf_sequences", "drift_log"],
         "actions": [
            {"do": "open", "hide": ["lumiere-eegs-panel"]},
            {"do": "world", "set": {"spectrometer.energy_offset_eV": 350.0,
                                    "spectrometer.dispersion_eV_per_channel": 1.0, "beam.current_pA": 200.0}},
            {"do": "fields", "values": {"size_px": 32, "n_sequences": DRIFT_SEQUENCES, "dwell_ms": 2,
                                        "si_fov_nm": 96, "edges": "Sc L2,3"}},
            {"do": "start"},
            {"do": "show", "results": ["si", "haadf", "drift_log", "map_*"], "timeout_s": 30},
            {"do": "wait_rows", "result": "haadf_sequences", "rows": 1, "timeout_s": 40},
            {"do": "screenshot", "path": str(shots / "drift_running.png"), "label": "running", "settle_s": 0.0,
             "min_shown_rows": 1},
            {"do": "abort"},
            {"do": "wait_idle", "timeout_s": 20},
            {"do": "screenshot", "path": str(shots / "drift_aborted.png"), "label": "aborted"}]},
        {"name": "sparse_si", "panel_id": "lumiere-si-panel", "track": ["pca_loadings", "sampling_mask"],
         "actions": [
            {"do": "open", "hide": ["lumiere-eegs-panel", "lumiere-drift-si-panel"]},
            {"do": "world", "set": {"spectrometer.energy_offset_eV": 350.0,
                                    "spectrometer.dispersion_eV_per_channel": 1.0, "beam.current_pA": 200.0}},
            {"do": "fields", "values": {"size_px": 32, "fov_nm": 256, "center_y_nm": 60, "center_x_nm": 130,
                                        "exposure_ms": 25, "sampling": 0.25, "pattern": "line-hopping",
                                        "live_components": 3}},
            {"do": "start"},
            {"do": "show", "results": ["pca_scores", "pca_loadings",
                                       "sampling_mask"], "timeout_s": 30},
            {"do": "wait_rows", "result": "sampling_mask", "rows": 8, "timeout_s": 40},
            {"do": "screenshot", "path": str(shots / "sparse_running.png"), "label": "running", "settle_s": 0.5},
            {"do": "wait_idle", "timeout_s": 40},
            {"do": "show", "results": ["pca_scores", "pca_loadings",
                                       "sampling_mask", "si_reconstructed"], "timeout_s": 30},
            {"do": "screenshot", "path": str(shots / "sparse_done.png"), "label": "done", "settle_s": 1.0}]},
        {"name": "training", "panel_id": "lumiere-training-panel", "status_model": "report",
         "actions": [
            {"do": "open", "hide": ["lumiere-eegs-panel", "lumiere-drift-si-panel", "lumiere-si-panel",
                                    "inspector-panel"]},
            {"do": "set", "values": {"scenario_index": 0, "seed": "3"}},
            {"do": "click", "button": "Start"},
            {"do": "wait_status", "contains": "Started", "timeout_s": 20},
            {"do": "play_scan", "s": 1.5, "timeout_s": 20},  # the scenario's specimen, as the trainee sees it
            {"do": "record", "models": ["goal", "report"]},
            {"do": "screenshot", "path": str(shots / "training.png"), "label": "started", "settle_s": 0.8}]},
    ]}


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    gui_common.require_xvfb()
    root = tmp_path_factory.mktemp("swift_gui_panels")
    shots = root / "shots"
    script_path, report_path = root / "script.json", root / "report.json"
    script_path.write_text(json.dumps(script(shots), indent=1))
    code, output, seconds = gui_common.run_driver_under_xvfb(DRIVER, [str(script_path), str(report_path)], root,
                                                             SUBPROCESS_TIMEOUT_S)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    # the user guide's pictures: the running EEGS map, the SI after the first sequence, the training panel
    for shot, image in (("eegs_running.png", "eegs_panel.png"), ("drift_running.png", "drift_si_panel.png"),
                        ("sparse_done.png", "sparse_si_panel.png"), ("training.png", "training_panel.png")):
        if (shots / shot).exists() and (os.environ.get("LUMIERE_DOCS_IMAGES") or not (DOCS_IMAGES / image).exists()):
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shots / shot, DOCS_IMAGES / image)
    return {"code": code, "output": output, "report": report, "seconds": seconds}


def _context(run: dict) -> str:
    return (f"\n--- driver output (tail) ---\n{run['output'][-6000:]}\n--- report ---\n"
            f"{json.dumps(run['report'], indent=1, ensure_ascii=False)[:6000]}")


def _scenario(run: dict, name: str) -> dict:
    assert run["code"] == 0 and run["report"].get("ok") is True, f"driver exit code {run['code']}" + _context(run)
    return run["report"]["scenarios"][name]


def _assert_screenshot(entry: dict, min_colours: int = 200) -> np.ndarray:
    path = pathlib.Path(entry["path"])
    assert path.exists(), f"no screenshot {path}"
    with Image.open(path) as image:
        assert image.format == "PNG" and list(image.size) == entry["size"]
        assert image.width >= 1000 and image.height >= 700
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert rgb.std() > 20.0, f"{path.name} looks blank (pixel std {rgb.std():.1f})"
    packed = rgb[::2, ::2].astype(np.uint32)
    colours = np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2])
    assert len(colours) > min_colours, f"{path.name} has only {len(colours)} distinct colours"
    return rgb


def _assert_growing(sc: dict, name: str, minimum: int) -> None:
    """The workflow wrote rows 0, 1, 2, … of ``name`` one after the other (at least ``minimum``
    before the abort), and the data item on screen grew (rows seen by the UI: [t, rows, running])."""
    writes = sc["writes"][name]
    assert [index for _, index in writes] == [str(i) for i in range(len(writes))], writes
    times = [t for t, _ in writes]
    assert times == sorted(times), writes
    assert sum(t < sc["t_abort"] for t in times) >= minimum, f"fewer than {minimum} rows before the abort: {writes}"
    seen = sc["rows"][name]
    rows = [r for _, r, _ in seen]
    assert rows == sorted(rows), f"rows on screen went down: {seen}"
    assert any(running and r > 0 for _, r, running in seen), f"never saw partial data while running: {seen}"


def _assert_panel_opened(sc: dict, title: str, handler_class: str, aborted: bool = True) -> None:
    assert sc["panel_found"] is True and sc["panel_visible"] is True, sc
    assert sc["panel_title"] == title and sc["handler_class"] == handler_class, sc
    assert sc["start_button"] == {"found": True, "enabled": True}, sc
    if aborted:  # the scenario clicked Abort while the workflow ran
        assert sc["abort_button"] == {"found": True, "enabled": True}, sc
    assert sc["running_after_start"] is True and sc["status_after_start"] == "Running…", sc


def test_eegs_panel_scan_grows_and_aborts(gui_run):
    sc = _scenario(gui_run, "eegs")
    _assert_panel_opened(sc, "EEGS", "EEGSWavelengthScanHandler")
    assert sc["fields"]["start_nm"] == "630" and sc["fields"]["exposure_ms"] == "10", sc["fields"]
    assert sc["line_edit_texts"][:5] == ["630", "690", "5", "2", "10"], "the line edits show the fields"
    _assert_growing(sc, "eegs", 3)
    running, aborted = sc["screenshots"]
    assert running["running"] is True and running["rows"]["eegs"] >= 2, running
    assert min(running["shown_rows"]) >= 2, f"the map on screen is not filled yet: {running}"
    assert 3 <= sc["rows_at_abort"]["eegs"] < EEGS_POINTS and sc["running_at_abort"] is True, sc
    assert sc["status_final"].startswith("Aborted") and sc["status_final"].endswith("acquired data kept."), sc
    assert sc["running_final"] is False and sc["start_enabled_final"] and not sc["abort_enabled_final"], sc
    assert sc["last_error"] == ""
    kept = sc["rows_final"]["eegs"]
    assert sc["rows_at_abort"]["eegs"] <= kept < EEGS_POINTS, "acquired rows kept, the rest never acquired"
    assert kept == len(sc["writes"]["eegs"]), "every row written is in the data item"
    eegs = sc["results"]["eegs"]
    assert eegs["shape"] == [EEGS_POINTS, 1024] and eegs["units"] == ["nm", "eV"], eegs
    assert eegs["metadata"]["aborted"] is True and eegs["metadata"]["points_done"] == kept, eegs
    assert sc["laser_shutter_open"] is False, "the laser shutter is closed after the abort"
    assert aborted["running"] is False and aborted["status"] == sc["status_final"]
    assert sc["shown"] == ["EEGS: EEGS wavelength scan (sideband window)", "EEGS: EEGS wavelength scan"]


def test_drift_si_panel_shows_live_results_and_abort_keeps_data(gui_run):
    sc = _scenario(gui_run, "drift_si")
    _assert_panel_opened(sc, "Drift-corrected SI", "DriftCorrectedSIHandler")
    assert sc["fields"]["size_px"] == "32" and sc["fields"]["n_sequences"] == str(DRIFT_SEQUENCES)
    assert sc["shown"] == ["Drift-corrected SI: Drift-corrected EELS SI (sum)",
                           "Drift-corrected SI: HAADF (sum of sequences)",
                           "Drift-corrected SI: Drift log: measured y and x drift (nm) vs time (s)", "Drift-corrected SI: Sc L2,3 map (counts)"], sc
    _assert_growing(sc, "haadf_sequences", 1)
    running = sc["screenshots"][0]
    assert running["running"] is True and running["rows"]["haadf_sequences"] >= 1, running
    assert min(running["shown_rows"]) >= 1, f"the data on screen is empty: {running}"
    assert sc["running_at_abort"] is True and sc["rows_at_abort"]["haadf_sequences"] < DRIFT_SEQUENCES, sc
    assert sc["status_final"].startswith("Aborted") and sc["status_final"].endswith("acquired data kept."), \
        f"the abort after the first sequence was not honoured: {sc['status_final']!r} (statuses {sc['statuses']})"
    assert sc["last_error"] == "" and sc["running_final"] is False
    done = sc["rows_final"]["haadf_sequences"]
    assert 1 <= done < DRIFT_SEQUENCES and sc["rows_final"]["drift_log"] == done, sc["rows_final"]
    assert done == len(sc["writes"]["haadf_sequences"]) == len(sc["writes"]["drift_log"]), sc["writes"]
    si = sc["results"]["si"]
    assert si["shape"] == [32, 32, 1024] and si["units"] == ["nm", "nm", "eV"], si
    assert si["metadata"]["aborted"] is True and si["metadata"]["sequences_done"] == done, si
    for name in ("haadf", "drift_log", "map_Sc_L23", "snr_Sc_L23", "haadf_survey"):
        assert name in sc["results"], f"{name} missing: {sorted(sc['results'])}"


def test_sparse_si_panel_live_pca_and_reconstruction(gui_run):
    sc = _scenario(gui_run, "sparse_si")
    _assert_panel_opened(sc, "Lumière SI", "SpectrumImageHandler", aborted=False)
    assert sc["fields"]["sampling"] == "0.25" and sc["fields"]["pattern"] == "line-hopping", sc["fields"]
    assert sc["combo_box_texts"] == ["line-hopping", "PCA"], "the Pattern and Live decomposition combo boxes follow the fields"
    assert sc["last_error"] == "" and sc["running_final"] is False, sc
    assert sc["status_final"].startswith("Done. sparse 32×32 SI (line-hopping), 1024 channels: 256 of 1024 "
                                         "pixels visited (25 %), dose reduced 4.0×"), sc["status_final"]
    # the live PCA was rewritten after every section, while the scan ran
    writes = sc["writes"]["pca_loadings"]
    assert len(writes) == SPARSE_SECTIONS and len(sc["writes"]["sampling_mask"]) == SPARSE_SECTIONS, sc["writes"]
    running, done = sc["screenshots"]
    assert running["running"] is True and 8 <= running["rows"]["sampling_mask"] < 32, running
    assert done["running"] is False and done["rows"]["sampling_mask"] == 32, done
    results = sc["results"]
    assert results["pca_loadings"]["shape"] == [3, 1024] and results["pca_loadings"]["units"] == ["", "eV"]
    assert results["pca_scores"]["shape"] == [3, 32, 32] and results["pca_scores"]["units"] == ["", "nm", "nm"]
    assert results["pca_scores"]["metadata"]["updates"] == SPARSE_SECTIONS
    assert results["pca_scores"]["metadata"]["spectra_seen"] == 256
    assert results["si"]["metadata"]["visits_done"] == 256 and results["si"]["metadata"]["sampling"]["fraction"] == 0.25
    assert results["si_reconstructed"]["shape"] == [32, 32, 1024], results
    assert sc["shown"][-1] == "Lumière SI: EELS SI reconstructed from 25 % (line-hopping)", sc["shown"]
    for entry in sc["screenshots"]:
        _assert_screenshot(entry)


def test_training_panel_starts_a_scenario(gui_run):
    sc = _scenario(gui_run, "training")
    assert "skipped" not in sc, sc.get("skipped")  # the training panel must be registered
    assert sc["panel_found"] is True and sc["panel_visible"] is True, sc
    assert sc["panel_title"] == "Lumière training", sc
    assert sc["status_after_start"].startswith("Started '"), sc["status_after_start"]
    assert "(seed 3)" in sc["recorded"]["report"], sc["recorded"]
    assert sc["recorded"]["goal"] and sc["combo_boxes"], sc
    assert {"Start", "Check"} <= set(sc["buttons"]), sc["buttons"]
    assert sc["scan_stopped"] is True
    _assert_screenshot(sc["screenshots"][0])


def test_screenshots_are_not_blank_and_show_the_data(gui_run):
    for name in ("eegs", "drift_si"):
        sc = _scenario(gui_run, name)
        assert [s["label"] for s in sc["screenshots"]] == ["running", "aborted"], sc["screenshots"]
        for entry in sc["screenshots"]:
            rgb = _assert_screenshot(entry)
            # the display panels (between the data panel and the dock on the right) hold data, not flat grey
            h, w = rgb.shape[:2]
            centre = rgb[h // 8: 7 * h // 8, w // 4: 3 * w // 4]
            assert len(np.unique(centre.mean(axis=2).astype(np.uint8))) > 50, f"{entry['path']}: no data shown"


def test_no_swift_errors(gui_run):
    report = gui_run["report"]
    errors = report.get("swift_errors")
    assert errors == [], "Swift reported errors:\n" + "\n".join(errors or [])
    assert report.get("errors") == [], _context(gui_run)
    # one Swift start for all panels: ≈ 25 s on an idle 2-core machine (the watchdog ends it at 120 s)
    print(f"GUI panel run: {gui_run['seconds']:.1f} s")
