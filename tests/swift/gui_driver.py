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
main window to a PNG (Qt's own writer), writes a JSON report, stops the scan and leaves
(``gui_common.DriverSession``). A watchdog ends the process with exit code 3 if anything hangs (``GUI_DRIVER_TIMEOUT_S``,
default 90 s).

Note: Swift's PyQtProxy redirects ``sys.stdout``/``sys.stderr`` to ``logging``; this script writes its
progress to the original stderr (``sys.__stderr__``) so the caller sees it.
"""
from __future__ import annotations

import os
import pathlib
import sys
import traceback
import typing

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gui_common  # noqa: E402

SCAN_ID = "lumiere_scan"
EELS_ID = "lumiere_eels_camera"
EXPECTED_STEM_CLASS = "LumiereInstrument"
PLAY_SECONDS = float(os.environ.get("GUI_DRIVER_PLAY_S", "2.5"))
TIMEOUT_S = float(os.environ.get("GUI_DRIVER_TIMEOUT_S", "90"))
WINDOW_SIZE = (1400, 900)


def haadf_display_item(document_controller: typing.Any) -> typing.Any:
    for display_item in document_controller.document_model.display_items:
        data_item = display_item.data_item
        if data_item is not None and "HAADF" in (data_item.title or "") and data_item.xdata is not None:
            return display_item
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.__stderr__.write(__doc__ or "")
        return 2
    screenshot_path = pathlib.Path(argv[1]).absolute()
    run = gui_common.DriverSession("gui_driver", pathlib.Path(argv[2]), TIMEOUT_S, "Lumiere GUI smoke", WINDOW_SIZE)
    report, state = run.report, run.state

    from nion.instrumentation import HardwareSource
    from nion.utils import Registry
    from PySide6 import QtGui

    manager = HardwareSource.HardwareSourceManager()

    def stop_scan() -> None:
        scan = manager.get_hardware_source_for_hardware_source_id(SCAN_ID)
        if scan is not None and scan.is_playing:
            try:
                scan.stop_playing(sync_timeout=10.0)
            except Exception:
                report["errors"].append("stop_playing: " + traceback.format_exc())
        report["scan_stopped"] = bool(scan is None or not scan.is_playing)

    run.on_finish.append(stop_scan)

    def step() -> None:
        phase, elapsed = run.phase, run.phase_elapsed_s
        if phase == "wait_window":
            document_controller = run.wait_window()
            if document_controller is None:
                return
            state["document_controller"] = document_controller
            report["hardware_source_ids"] = sorted(hs.hardware_source_id for hs in manager.hardware_sources)
            # ours by id: with nionswift-usim installed Swift's default stem_controller may be usim's
            stem = next((c for c in Registry.get_components_by_type("stem_controller")
                         if getattr(c, "instrument_id", None) == "lumiere_stem_controller"), None)
            report["stem_controller_class"] = type(stem).__name__ if stem is not None else None
            report["stem_controller_module"] = type(stem).__module__ if stem is not None else None
            report["stem_controller_id"] = getattr(stem, "instrument_id", None)
            report["loaded_plugins"] = sorted(m for m in sys.modules
                                               if m.startswith("nionswift_plugin.") and m.count(".") == 1)
            missing = [i for i in (SCAN_ID, EELS_ID) if i not in report["hardware_source_ids"]]
            if missing:
                run.fail(f"hardware sources missing: {missing}; have {report['hardware_source_ids']}")
                return
            if report["stem_controller_class"] != EXPECTED_STEM_CLASS:
                run.fail(f"stem_controller is {report['stem_controller_class']}, expected {EXPECTED_STEM_CLASS}")
                return
            scan = manager.get_hardware_source_for_hardware_source_id(SCAN_ID)
            assert scan is not None
            run.log(f"window up; starting {SCAN_ID}")
            scan.start_playing()
            run.set_phase("playing")
        elif phase == "playing":
            document_controller = state["document_controller"]
            display_item = haadf_display_item(document_controller)
            if display_item is not None and not state.get("shown"):
                panel = document_controller.selected_display_panel or \
                    (document_controller.workspace_controller.display_panels or [None])[0]
                if panel is not None:
                    panel.set_display_panel_display_item(display_item)
                    state["shown"] = True
                    run.log(f"showing '{display_item.data_item.title}' in a display panel")
            if display_item is not None and elapsed >= PLAY_SECONDS:
                run.set_phase("grab")
            elif elapsed > 30:
                run.fail("no HAADF data item appeared within 30 s of start_playing")
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
                report["haadf_std"] = float(data_item.xdata.data.std())
            panels = document_controller.workspace_controller.display_panels
            report["haadf_in_display_panel"] = any(p.display_item is display_item for p in panels) \
                if display_item is not None else False
            report["data_item_titles"] = [d.title for d in document_controller.document_model.data_items]
            window = gui_common.main_window(document_controller)
            report["window_size"] = [window.width(), window.height()]
            pixmap = run.grab(document_controller, screenshot_path)
            report["screenshot_size"] = [pixmap.width(), pixmap.height()]
            report["screenshot"] = str(screenshot_path)
            image = QtGui.QImage(str(screenshot_path))
            colours = {image.pixel(x, y) for y in range(0, image.height(), 4) for x in range(0, image.width(), 4)}
            report["screenshot_distinct_colours_sampled"] = len(colours)
            if not report["haadf_data_item"]:
                report["errors"].append("no HAADF data item at screenshot time")
            run.finish()

    return run.run(step)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
