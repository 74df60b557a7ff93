"""Drive the real Nion Swift Qt application: an elemental-map computation attached to an SI.

Usage::

    xvfb-run -a -s "-screen 0 1600x1200x24" python tests/swift/gui_computation_driver.py SCREENSHOT.png REPORT.json

Starts Swift as ``python -m nionswift --ui qt`` does (see ``gui_driver.py``, whose start-up and
watchdog this follows), then, on the UI thread: acquires a 24×24 core-loss SI of an Sc2O3 grain
through the scripting facade (plain api), selects it and runs the "Lumière ▸ Elemental Map"
menu action for Sc L2,3 (``menus.run_action``, the menu item's own code path), splits the
workspace into four panels (SI, summed spectrum with the pre-edge/signal intervals and the
background layers, map, SNR), waits for Swift's computation thread, grabs the main window to a
PNG and writes a JSON report (menu titles, computations and their status, map statistics);
start-up, report and exit are ``gui_common.DriverSession``'s.
A watchdog ends the process with exit code 3 if anything hangs (``GUI_DRIVER_TIMEOUT_S``, 120 s).
"""
from __future__ import annotations

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gui_common  # noqa: E402

TIMEOUT_S = float(os.environ.get("GUI_DRIVER_TIMEOUT_S", "120"))
WINDOW_SIZE = (1500, 950)
EDGE = "Sc L2,3"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.__stderr__.write(__doc__ or "")
        return 2
    screenshot_path = pathlib.Path(argv[1]).absolute()
    run = gui_common.DriverSession("gui_computation_driver", pathlib.Path(argv[2]), TIMEOUT_S,
                                   "Lumiere GUI computation", WINDOW_SIZE)
    report, state = run.report, run.state

    import numpy as np
    from nion.swift import Facade

    from nionswift_plugin.lumiere import menus, scripting

    def step() -> None:
        phase, elapsed = run.phase, run.phase_elapsed_s
        if phase == "wait_window":
            dc = run.wait_window()
            if dc is None:
                return
            state["dc"] = dc
            menu = getattr(dc, "_lumiere_menu", None)
            report["lumiere_menu"] = [a.title for a in menu.get_menu_actions()] if menu is not None else None
            run.set_phase("acquire")
        elif phase == "acquire":
            dc = state["dc"]
            api = Facade.get_api("~1.0", "~1.0")
            lumiere = scripting.connect(api, progress=None)
            world = lumiere.world
            world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
            world.beam.current_pA = 2000.0
            grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
            si_run = lumiere.run_spectrum_image(24, 2.5 * grain.semi_axis_a_nm, (grain.y_nm, grain.x_nm), exposure_ms=2.0)
            si = si_run.data_items["si"]
            dm = dc.document_model
            si_display = dm.get_display_item_for_data_item(si._data_item)
            panels = dc.workspace_controller.display_panels
            panels[0].set_display_panel_display_item(si_display)
            dc.selected_display_panel = panels[0]
            made = menus.run_action(dc, menus.elemental_map_action(EDGE))  # Lumière ▸ Elemental Map
            if made is None:
                run.fail("the elemental-map menu action refused the SI")
                return
            state["made"] = made
            items = [si, made["spectrum"], made["map"], made["snr"]]
            panels = gui_common.tile_display_panels(dc, len(items))
            for panel, item in zip(panels, items):
                panel.set_display_panel_display_item(dm.get_display_item_for_data_item(item._data_item))
            spectrum_display = dm.get_display_item_for_data_item(made["spectrum"]._data_item)
            spectrum_display.set_display_property("left_channel", 0)  # 350–600 eV: the Sc L2,3 windows
            spectrum_display.set_display_property("right_channel", 250)
            report["display_panel_count"] = len(dc.workspace_controller.display_panels)
            run.set_phase("compute")
        elif phase == "compute":
            made = state["made"]
            dm = state["dc"].document_model
            ready = all(made[k].data is not None for k in ("map", "uncertainty", "snr", "spectrum", "background"))
            if ready and elapsed > 2.0:
                run.set_phase("grab")
            elif elapsed > 40:
                run.fail("the computations did not finish within 40 s: " +
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
            pixmap = run.grab(dc, screenshot_path)
            report["screenshot_size"] = [pixmap.width(), pixmap.height()]
            report["screenshot"] = str(screenshot_path)
            run.finish()

    return run.run(step)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
