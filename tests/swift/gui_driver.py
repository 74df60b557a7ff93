"""Drive the real Nion Swift Qt application for the GUI smoke test (run under Xvfb).

Usage::

    xvfb-run -a -s "-screen 0 1600x1200x24" python tests/swift/gui_driver.py SCREENSHOT.png REPORT.json

Starts Swift exactly as ``python -m nionswift --ui qt`` does (``nionui_app.nionswift.main.main`` with
the ``qt`` bootstrap argument, then ``app.run()``), loading every installed plug-in, ours included.
The "Choose Project" dialog that a fresh profile shows is bypassed: the driver creates a project
programmatically (``app.create_project_reference``) in a scratch directory. Use a throw-away HOME
(the test does): Swift writes its profile, logs and preferences under it.

Once the main window is up, the driver checks the hardware sources and the stem controller, plays
the ``lumiere_scan`` HAADF channel for a moment, shows its data item in a display panel, grabs the
main window to a PNG (Qt's own writer), writes a JSON report, stops the scan and exits with
``app.exit()``. A watchdog ends the process with exit code 3 if anything hangs (``GUI_DRIVER_TIMEOUT_S``,
default 90 s).

Note: Swift's PyQtProxy redirects ``sys.stdout``/``sys.stderr`` to ``logging``; this script writes its
progress to the original stderr (``sys.__stderr__``) so the caller sees it.
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

SCAN_ID = "lumiere_scan"
EELS_ID = "lumiere_eels_camera"
EXPECTED_STEM_CLASS = "LumiereInstrument"
PLAY_SECONDS = float(os.environ.get("GUI_DRIVER_PLAY_S", "2.5"))
TIMEOUT_S = float(os.environ.get("GUI_DRIVER_TIMEOUT_S", "90"))
WINDOW_SIZE = (1400, 900)


def log(msg: str) -> None:
    _ERR.write(f"[gui_driver {time.monotonic() - _T0:6.1f}s] {msg}\n")
    _ERR.flush()


def hard_exit(code: int, msg: str) -> typing.NoReturn:
    try:
        log(msg)
    finally:
        os._exit(code)  # from the watchdog thread: ends the process whatever the event loop is doing


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        _ERR.write(__doc__ or "")
        return 2
    screenshot_path = pathlib.Path(argv[1]).absolute()
    report_path = pathlib.Path(argv[2]).absolute()
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    project_dir = pathlib.Path(os.environ.get("GUI_DRIVER_PROJECT_DIR") or tempfile.mkdtemp(prefix="lumiere_swift_"))

    # Watchdog on a plain thread: fires even if the Qt event loop is blocked or never starts.
    watchdog = threading.Timer(TIMEOUT_S, lambda: hard_exit(3, f"TIMEOUT after {TIMEOUT_S:.0f} s"))
    watchdog.daemon = True
    watchdog.start()

    report: dict[str, typing.Any] = {"ok": False, "errors": [], "swift_errors": []}

    # Swift reports some failures (a plug-in or panel that fails) only as printed tracebacks,
    # which PyQtProxy turns into logging.info records: collect them (with their tracebacks).
    gui_common.collect_swift_errors(report["swift_errors"])

    # --- start Swift as `python -m nionswift --ui qt` does -------------------------------------
    from nionui_app.nionswift import main as swift_main

    app = swift_main.main(list(), {"qt": None})  # Facade.initialize, Application(...), initialize (loads plug-ins)
    log("application initialised, plug-ins loaded")

    from nion.instrumentation import HardwareSource
    from nion.swift import DocumentController
    from nion.utils import Registry
    from PySide6 import QtCore, QtGui, QtWidgets

    state: dict[str, typing.Any] = {"phase": "wait_window", "t_phase": time.monotonic()}

    # A fresh profile has no project: instead of the "Choose Project" dialog, create one.
    def create_project() -> None:
        log(f"no project yet: creating one in {project_dir}")
        app.create_project_reference(project_dir, "Lumiere GUI smoke")

    setattr(app, "show_choose_project_dialog", create_project)

    def fail(msg: str) -> None:
        report["errors"].append(msg)
        log("ERROR: " + msg)
        finish()

    def main_window(document_controller: typing.Any) -> QtWidgets.QMainWindow | None:
        """The QMainWindow of Swift's document window (a ``PyDocumentWindow``)."""
        native = getattr(document_controller._document_window, "native_document_window", None)
        if isinstance(native, QtWidgets.QMainWindow) and native.isVisible():
            return native
        return None

    def haadf_display_item(document_controller: typing.Any) -> typing.Any:
        for display_item in document_controller.document_model.display_items:
            data_item = display_item.data_item
            if data_item is not None and "HAADF" in (data_item.title or "") and data_item.xdata is not None:
                return display_item
        return None

    def set_phase(phase: str) -> None:
        state["phase"] = phase
        state["t_phase"] = time.monotonic()
        log(f"phase: {phase}")

    def finish() -> None:
        if state["phase"] == "done":
            return
        set_phase("done")
        timer.stop()
        scan = HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id(SCAN_ID)
        if scan is not None and scan.is_playing:
            try:
                scan.stop_playing(sync_timeout=10.0)
            except Exception:
                report["errors"].append("stop_playing: " + traceback.format_exc())
        report["scan_stopped"] = bool(scan is None or not scan.is_playing)
        gui_common.split_environment_errors(report)  # another Swift's XML-RPC port: not ours
        report["ok"] = not report["errors"]
        report["elapsed_s"] = round(time.monotonic() - _T0, 2)
        report_path.write_text(json.dumps(report, indent=2, default=str))
        log(f"report written to {report_path} (ok={report['ok']})")
        # let pending Qt/asyncio work settle, then close the windows → quit → app.stop()
        QtCore.QTimer.singleShot(200, app.exit)

    def step() -> None:
        try:
            _step()
        except Exception:
            fail("exception in driver: " + traceback.format_exc())

    def _step() -> None:
        phase = state["phase"]
        elapsed = time.monotonic() - state["t_phase"]
        if phase == "wait_window":
            document_controllers = [w for w in app.windows if isinstance(w, DocumentController.DocumentController)]
            window = main_window(document_controllers[0]) if document_controllers else None
            if window is not None:
                document_controller = document_controllers[0]
                state["document_controller"] = document_controller
                assert window is not None
                window.showNormal()
                window.resize(*WINDOW_SIZE)
                window.move(0, 0)
                report["window_title"] = window.windowTitle()
                manager = HardwareSource.HardwareSourceManager()
                report["hardware_source_ids"] = sorted(hs.hardware_source_id for hs in manager.hardware_sources)
                stem = Registry.get_component("stem_controller")
                report["stem_controller_class"] = type(stem).__name__ if stem is not None else None
                report["stem_controller_module"] = type(stem).__module__ if stem is not None else None
                report["stem_controller_id"] = getattr(stem, "instrument_id", None)
                report["loaded_plugins"] = sorted(m for m in sys.modules
                                                   if m.startswith("nionswift_plugin.") and m.count(".") == 1)
                missing = [i for i in (SCAN_ID, EELS_ID) if i not in report["hardware_source_ids"]]
                if missing:
                    fail(f"hardware sources missing: {missing}; have {report['hardware_source_ids']}")
                    return
                if report["stem_controller_class"] != EXPECTED_STEM_CLASS:
                    fail(f"stem_controller is {report['stem_controller_class']}, expected {EXPECTED_STEM_CLASS}")
                    return
                scan = manager.get_hardware_source_for_hardware_source_id(SCAN_ID)
                assert scan is not None
                log(f"window up ({window.width()}x{window.height()}); starting {SCAN_ID}")
                scan.start_playing()
                set_phase("playing")
            elif elapsed > 45:
                fail("main window / document controller did not appear within 45 s")
        elif phase == "playing":
            document_controller = state["document_controller"]
            display_item = haadf_display_item(document_controller)
            if display_item is not None and not state.get("shown"):
                panel = document_controller.selected_display_panel or \
                    (document_controller.workspace_controller.display_panels or [None])[0]
                if panel is not None:
                    panel.set_display_panel_display_item(display_item)
                    state["shown"] = True
                    log(f"showing '{display_item.data_item.title}' in a display panel")
            if display_item is not None and elapsed >= PLAY_SECONDS:
                set_phase("grab")
            elif elapsed > 30:
                fail("no HAADF data item appeared within 30 s of start_playing")
        elif phase == "grab":
            if elapsed < 0.5:  # a few paint cycles after the last frame
                return
            document_controller = state["document_controller"]
            display_item = haadf_display_item(document_controller)
            data_item = display_item.data_item if display_item is not None else None
            report["haadf_data_item"] = data_item is not None
            if data_item is not None:
                report["haadf_title"] = data_item.title
                report["haadf_shape"] = list(data_item.xdata.data_shape)
                data = data_item.xdata.data
                report["haadf_std"] = float(data.std())
            panels = document_controller.workspace_controller.display_panels
            report["haadf_in_display_panel"] = any(p.display_item is display_item for p in panels) \
                if display_item is not None else False
            report["data_item_titles"] = [d.title for d in document_controller.document_model.data_items]
            window = main_window(document_controller)
            assert window is not None
            report["window_size"] = [window.width(), window.height()]
            pixmap = window.grab()
            report["screenshot_size"] = [pixmap.width(), pixmap.height()]
            if not pixmap.save(str(screenshot_path), "PNG"):
                fail(f"could not save screenshot to {screenshot_path}")
                return
            report["screenshot"] = str(screenshot_path)
            image = QtGui.QImage(str(screenshot_path))
            colours = set()
            step_px = 4
            for y in range(0, image.height(), step_px):
                for x in range(0, image.width(), step_px):
                    colours.add(image.pixel(x, y))
            report["screenshot_distinct_colours_sampled"] = len(colours)
            log(f"screenshot {pixmap.width()}x{pixmap.height()} saved to {screenshot_path}")
            if not report["haadf_data_item"]:
                report["errors"].append("no HAADF data item at screenshot time")
            finish()

    timer = QtCore.QTimer()
    timer.setInterval(200)
    timer.timeout.connect(step)

    # PyQtProxy.run creates the QApplication and then calls app.start(): hook in there.
    original_start = app.start

    def start() -> bool:
        result = original_start()
        log(f"app.start() -> {result}")
        timer.start()
        return result

    setattr(app, "start", start)
    app.run()  # returns when the Qt event loop exits (after app.exit())
    log("Qt event loop finished")
    if not report_path.exists():
        log("no report written")
        return 1
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    code = main(sys.argv)
    log(f"exit code {code}")
    _ERR.flush()
    sys.exit(code)  # the daemon watchdog still ends the process if a non-daemon thread blocks shutdown
