"""Drive the real Nion Swift Qt application: an elemental-map computation attached to an SI.

Usage::

    xvfb-run -a -s "-screen 0 1600x1200x24" python tests/swift/gui_computation_driver.py SCREENSHOT.png REPORT.json

Starts Swift as ``python -m nionswift --ui qt`` does (see ``gui_driver.py``, whose start-up and
watchdog this follows), then, on the UI thread: acquires a 24×24 core-loss SI of an Sc2O3 grain
through the scripting facade (plain api), selects it and runs the "Lumière ▸ Elemental Map"
menu action for Sc L2,3 (``menus.run_action``, the menu item's own code path), splits the
workspace into four panels (SI, summed spectrum with the pre-edge/signal intervals and the
background layers, map, SNR), waits for Swift's computation thread, grabs the main window to a
PNG and writes a JSON report (menu titles, computations and their status, map statistics).
A watchdog ends the process with exit code 3 if anything hangs (``GUI_DRIVER_TIMEOUT_S``, 120 s).
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
import threading
import time
import traceback
import typing

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gui_common  # noqa: E402

_ERR = sys.__stderr__
_T0 = time.monotonic()
TIMEOUT_S = float(os.environ.get("GUI_DRIVER_TIMEOUT_S", "120"))
WINDOW_SIZE = (1500, 950)
EDGE = "Sc L2,3"


def log(msg: str) -> None:
    _ERR.write(f"[gui_computation_driver {time.monotonic() - _T0:6.1f}s] {msg}\n")
    _ERR.flush()


def hard_exit(code: int, msg: str) -> typing.NoReturn:
    try:
        log(msg)
    finally:
        os._exit(code)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        _ERR.write(__doc__ or "")
        return 2
    screenshot_path = pathlib.Path(argv[1]).absolute()
    report_path = pathlib.Path(argv[2]).absolute()
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    project_dir = pathlib.Path(os.environ.get("GUI_DRIVER_PROJECT_DIR") or tempfile.mkdtemp(prefix="lumiere_swift_"))
    watchdog = threading.Timer(TIMEOUT_S, lambda: hard_exit(3, f"TIMEOUT after {TIMEOUT_S:.0f} s"))
    watchdog.daemon = True
    watchdog.start()
    report: dict[str, typing.Any] = {"ok": False, "errors": [], "swift_errors": []}

    gui_common.collect_swift_errors(report["swift_errors"])  # Swift's printed tracebacks

    from nion.swift import Facade as _Facade
    from nionui_app.nionswift import main as swift_main

    # Swift's XML-RPC scripting server binds the fixed port 8199: a second Swift on the same
    # machine (another test run) logs "Address already in use". This test does not use it.
    setattr(_Facade, "start_server", lambda: None)
    app = swift_main.main(list(), {"qt": None})
    log("application initialised, plug-ins loaded")

    import numpy as np
    from nion.swift import DocumentController, Facade
    from PySide6 import QtCore, QtWidgets

    from nionswift_plugin.lumiere import menus, scripting

    state: dict[str, typing.Any] = {"phase": "wait_window", "t_phase": time.monotonic()}
    setattr(app, "show_choose_project_dialog",
            lambda: app.create_project_reference(project_dir, "Lumiere GUI computation"))

    def set_phase(phase: str) -> None:
        state["phase"], state["t_phase"] = phase, time.monotonic()
        log(f"phase: {phase}")

    def fail(msg: str) -> None:
        report["errors"].append(msg)
        log("ERROR: " + msg)
        finish()

    def finish() -> None:
        if state["phase"] == "done":
            return
        set_phase("done")
        timer.stop()
        gui_common.split_environment_errors(report)  # another Swift's XML-RPC port: not ours
        report["ok"] = not report["errors"]
        report["elapsed_s"] = round(time.monotonic() - _T0, 2)
        report_path.write_text(json.dumps(report, indent=2, default=str))
        log(f"report written to {report_path} (ok={report['ok']})")
        QtCore.QTimer.singleShot(200, app.exit)

    def main_window(document_controller: typing.Any) -> QtWidgets.QMainWindow | None:
        native = getattr(document_controller._document_window, "native_document_window", None)
        return native if isinstance(native, QtWidgets.QMainWindow) and native.isVisible() else None

    def step() -> None:
        try:
            _step()
        except Exception:
            fail("exception in driver: " + traceback.format_exc())

    def _step() -> None:
        phase, elapsed = state["phase"], time.monotonic() - state["t_phase"]
        if phase == "wait_window":
            controllers = [w for w in app.windows if isinstance(w, DocumentController.DocumentController)]
            window = main_window(controllers[0]) if controllers else None
            if window is None:
                if elapsed > 45:
                    fail("main window did not appear within 45 s")
                return
            dc = state["dc"] = controllers[0]
            window.showNormal()
            window.resize(*WINDOW_SIZE)
            window.move(0, 0)
            menu = getattr(dc, "_lumiere_menu", None)
            report["lumiere_menu"] = [a.title for a in menu.get_menu_actions()] if menu is not None else None
            set_phase("acquire")
        elif phase == "acquire":
            dc = state["dc"]
            api = Facade.get_api("~1.0", "~1.0")
            lumiere = scripting.connect(api, progress=None)
            world = lumiere.world
            world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
            world.beam.current_pA = 2000.0
            grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
            run = lumiere.run_spectrum_image(24, 2.5 * grain.semi_axis_a_nm, (grain.y_nm, grain.x_nm), exposure_ms=2.0)
            si = run.data_items["si"]
            dm = dc.document_model
            si_display = dm.get_display_item_for_data_item(si._data_item)
            panels = dc.workspace_controller.display_panels
            panels[0].set_display_panel_display_item(si_display)
            dc.selected_display_panel = panels[0]
            made = menus.run_action(dc, menus.elemental_map_action(EDGE))  # Lumière ▸ Elemental Map
            if made is None:
                fail("the elemental-map menu action refused the SI")
                return
            state["made"] = made
            wc = dc.workspace_controller
            first = wc.display_panels[0]
            wc.insert_display_panel(first, "right")
            wc.insert_display_panel(wc.display_panels[0], "bottom")
            wc.insert_display_panel(wc.display_panels[-1], "bottom")
            items = [si, made["spectrum"], made["map"], made["snr"]]
            for panel, item in zip(wc.display_panels, items):
                panel.set_display_panel_display_item(dm.get_display_item_for_data_item(item._data_item))
            spectrum_display = dm.get_display_item_for_data_item(made["spectrum"]._data_item)
            spectrum_display.set_display_property("left_channel", 0)  # 350–600 eV: the Sc L2,3 windows
            spectrum_display.set_display_property("right_channel", 250)
            report["display_panel_count"] = len(wc.display_panels)
            set_phase("compute")
        elif phase == "compute":
            made = state["made"]
            dm = state["dc"].document_model
            ready = all(made[k].data is not None for k in ("map", "uncertainty", "snr", "spectrum", "background"))
            if ready and elapsed > 2.0:
                set_phase("grab")
            elif elapsed > 40:
                fail("the computations did not finish within 40 s: " +
                     str([(c.processing_id, c.status) for c in dm.computations]))
        elif phase == "grab":
            if elapsed < 1.0:
                return
            dc, made = state["dc"], state["made"]
            dm = dc.document_model
            report["computations"] = [{"id": c.processing_id, "status": c.status, "error": c.error_text}
                                      for c in dm.computations]
            signal = np.asarray(made["map"].data, float)
            snr = np.asarray(made["snr"].data, float)
            report["map_shape"] = list(signal.shape)
            report["map_finite"] = bool(np.isfinite(signal).all())
            report["snr_p90"] = float(np.percentile(snr, 90))
            report["map_units"] = made["map"].xdata.intensity_calibration.units
            report["map_axis_units"] = [c.units for c in made["map"].xdata.dimensional_calibrations]
            report["data_item_titles"] = [d.title for d in dm.data_items]
            report["panels_showing"] = [p.display_item.data_item.title if p.display_item and p.display_item.data_item
                                        else None for p in dc.workspace_controller.display_panels]
            window = main_window(dc)
            assert window is not None
            pixmap = window.grab()
            report["screenshot_size"] = [pixmap.width(), pixmap.height()]
            if not pixmap.save(str(screenshot_path), "PNG"):
                fail(f"could not save screenshot to {screenshot_path}")
                return
            report["screenshot"] = str(screenshot_path)
            log(f"screenshot {pixmap.width()}x{pixmap.height()} saved")
            finish()

    timer = QtCore.QTimer()
    timer.setInterval(200)
    timer.timeout.connect(step)
    original_start = app.start

    def start() -> bool:
        result = original_start()
        timer.start()
        return result

    setattr(app, "start", start)
    app.run()
    log("Qt event loop finished")
    if not report_path.exists():
        return 1
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    code = main(sys.argv)
    log(f"exit code {code}")
    _ERR.flush()
    sys.exit(code)
