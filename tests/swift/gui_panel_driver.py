"""Drive Lumière's experiment panels in the real Nion Swift Qt application (run under Xvfb).

Usage::

    xvfb-run -a -s "-screen 0 1600x1200x24" python tests/swift/gui_panel_driver.py SCRIPT.json REPORT.json

Starts Swift as ``python -m nionswift --ui qt`` does (``gui_common.start_swift``: every plug-in
loaded, the "Choose Project" dialog replaced by a scratch project), then plays the scenarios of
``SCRIPT.json`` one after the other in the same window, from a ``QTimer`` state machine on the UI
thread::

    {"window_size": [1500, 950], "timeout_s": 120,
     "scenarios": [{"name": "eegs", "panel_id": "lumiere-eegs-panel",
                    "track": ["eegs"],                  # results whose rows are sampled while it runs
                    "actions": [{"do": "open"}, ...]}]}

Actions (each waits for its condition, with ``timeout_s``, before the next one starts):

``open``
    Find the registered panel's dock widget (``DocumentController.find_dock_panel``); if hidden,
    trigger its Window-menu toggle action (``QDockWidget.toggleViewAction``), raise it, hide the
    other right-hand dock panels given in ``hide`` (so the screenshot shows ours), and record
    whether it is visible and its title.
``world``
    Set the simulated world: ``set`` (dotted attribute path → value, e.g.
    ``"spectrometer.energy_offset_eV": -8``), ``probe_outside_particle_nm`` (park the probe that far
    outside ``world.specimen.particles[0]``, along +x).
``fields``
    Type values into the panel's fields through the handler's models (``models[name].value``);
    the line edits (and the combo boxes of choice fields) show them through their bindings.
``start`` / ``abort``
    Click the panel's real "Start"/"Abort" ``QPushButton`` (found in the dock widget).
``wait_rows``
    Until the data item of result ``result`` has at least ``rows`` non-empty rows (first axis).
``show``
    Show the data items of ``results`` (names or fnmatch patterns of the workflow's sink results,
    or ``{"result": name, "as_image": true, "resample": [h, w], "display_type": "line_plot",
    "display_properties": {…}, "limits": [lo, hi]}``: a live Processing ▸ Redimension of a λ scan
    to plain 2-D data, optionally resampled to a displayable aspect, shown as an image or as one line
    per λ, with fixed display limits or ranges) in that many display
    panels (the workspace is re-split to fit); waits until the workflow has created them.
``screenshot``
    After ``settle_s`` (default 0.6 s of paint cycles) and once every shown data item has at least
    ``min_shown_rows`` non-empty rows, grab the main window (``QMainWindow.grab``)
    to ``path`` (PNG) and record its size, the rows of the tracked results and the status then.
``wait_idle``
    Until the workflow has ended (the handler is no longer running) and its sink has flushed.
``sleep``
    ``s`` seconds.
``set`` / ``click`` / ``wait_status`` / ``record``
    For panels that are not workflow panels (the training panel): set handler models by attribute
    (``values``), click the button labelled ``button``, wait until the status line (the model named
    by the scenario's ``status_model``, default ``status``) ``contains``/``startswith`` a text, copy
    model values (``models``) and the panel's label/combo-box/button texts into the report.
``play_scan``
    Play Swift's ``lumiere_scan`` for ``s`` seconds, show its HAADF in one display panel, stop it.


The report holds, per scenario: panel found/visible/title, the field values, the start/abort
buttons found and enabled, the rows of every tracked result over time, the statuses seen, the
final status/progress, the data items made, the laser shutter state at the end, the handler's
last error, the screenshots; plus Swift's own printed errors. A watchdog ends the process (exit
code 3) if anything hangs; once the report is written the driver leaves with ``os._exit``
without closing Swift's windows (see ``gui_common.DriverSession``).
"""
from __future__ import annotations

import fnmatch
import json
import os
import pathlib
import sys
import time
import traceback
import typing

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gui_common  # noqa: E402

log = gui_common.make_log("gui_panel_driver")


def rows_filled(data: typing.Any) -> int:
    """Number of entries along the first axis holding any non-zero value (sinks start at zero)."""
    import numpy as np

    if data is None or getattr(data, "ndim", 0) < 1 or data.size == 0:
        return 0
    flat = np.asarray(data).reshape(data.shape[0], -1)
    return int(np.count_nonzero(np.any(flat != 0, axis=1)))


def item_rows(item: typing.Any) -> int:
    """Rows filled of a result's data item; a table shown as a line plot counts its table's rows
    (kept in the metadata, :func:`nionswift_plugin.lumiere.displays.table_from_xdata`)."""
    import numpy as np

    from nionswift_plugin.lumiere.displays import table_from_xdata

    table = table_from_xdata(item.xdata) if item.xdata is not None else None
    return rows_filled(np.asarray(table[1])) if table is not None else rows_filled(item.data)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.__stderr__.write(__doc__ or "")
        return 2
    script = json.loads(pathlib.Path(argv[1]).read_text())
    timeout_s = float(os.environ.get("GUI_DRIVER_TIMEOUT_S") or script.get("timeout_s", 120))
    window_size = tuple(script.get("window_size", (1500, 950)))
    run = gui_common.DriverSession("gui_panel_driver", pathlib.Path(argv[2]), timeout_s, "Lumiere GUI panels",
                                   window_size, report={"scenarios": {}})
    report, state = run.report, run.state
    fail = run.fail

    from nion.swift import Panel
    from PySide6 import QtWidgets

    import nionswift_plugin.lumiere as plugin

    scenarios = list(script["scenarios"])

    def abort_running_workflows() -> None:
        """Leave nothing running: abort any workflow still going (devices are left safe by it)."""
        for sc in scenarios:
            handler = sc.get("_handler")
            if handler is not None and getattr(getattr(handler, "running", None), "value", False):
                handler.abort_clicked()
                handler.wait(10.0)

    run.on_finish.append(abort_running_workflows)

    def dc() -> typing.Any:
        return state["dc"]

    def window() -> QtWidgets.QMainWindow:
        w = gui_common.main_window(dc())
        assert w is not None, "the main window went away"
        return w

    def scenario() -> dict[str, typing.Any]:
        return scenarios[state["scenario"]]

    def rep() -> dict[str, typing.Any]:
        return report["scenarios"][scenario()["name"]]

    def dock_panel() -> typing.Any:
        return dc().find_dock_panel(scenario()["panel_id"])

    def handler() -> typing.Any:
        return scenario()["_handler"]

    def status_text() -> str:
        """The panel's status line: a workflow panel's ``status``, the training panel's ``report``."""
        h = handler()
        model = getattr(h, scenario().get("status_model", "status"), None)
        return str(getattr(model, "value", ""))

    def is_running() -> bool:
        running = getattr(handler(), "running", None)
        return bool(running is not None and running.value)

    def button(text: str) -> QtWidgets.QPushButton | None:
        native = dock_panel().dock_widget.native_dock_widget
        for b in native.findChildren(QtWidgets.QPushButton):
            if b.text() == text:
                return b
        return None

    def result_names(patterns: typing.Sequence[str]) -> list[str]:
        sink = handler().sink
        names = list(getattr(sink, "_results", {})) if sink is not None else []
        out: list[str] = []
        for pattern in patterns:
            out += [n for n in names if fnmatch.fnmatchcase(n, pattern) and n not in out]
        return out

    def data_item(name: str) -> typing.Any:
        """The data item of sink result ``name``, or ``"name::suffix"`` for a derived one
        ("eegs::spectra", "si::summed spectrum")."""
        sink = handler().sink
        if sink is None:
            return None
        if "::" in name:
            base, suffix = name.split("::", 1)
            return sink.derived_item(base, suffix)
        return sink.data_item(name)

    def sample() -> None:
        """Record the rows of the tracked results and the status line (every step)."""
        sc = scenario()
        if "_handler" not in sc:
            return
        r = rep()
        status = status_text()
        if not r["statuses"] or r["statuses"][-1] != status:
            r["statuses"].append(status)
        t = round(time.monotonic() - sc["_t0"], 2)
        for name in sc.get("track", []):
            item = data_item(name)
            rows = item_rows(item) if item is not None else 0
            series = r["rows"].setdefault(name, [])
            if not series or series[-1][1] != rows:
                series.append([t, rows, is_running()])

    def set_layout(n: int) -> list[typing.Any]:
        return gui_common.tile_display_panels(dc(), n)

    def grab(path: str, label: str) -> None:
        target = pathlib.Path(path).absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        pixmap = window().grab()
        if not pixmap.save(str(target), "PNG"):
            raise RuntimeError(f"could not save screenshot to {target}")
        rows = {name: (item_rows(data_item(name)) if data_item(name) is not None else 0)
                for name in scenario().get("track", [])}
        rep()["screenshots"].append({"label": label, "path": str(target), "size": [pixmap.width(), pixmap.height()],
                                     "rows": rows,
                                     "running": is_running(), "status": status_text(),
                                     "t": round(time.monotonic() - scenario()["_t0"], 2)})
        log(f"screenshot '{label}' {pixmap.width()}x{pixmap.height()} → {target} (rows {rows})")

    # -- actions: each returns True when done (called every step until then) ----------------------
    def do_open(a: dict[str, typing.Any], first: bool) -> bool:
        r = rep()
        panel = dock_panel()
        r["panel_found"] = panel is not None
        r["registered_panel_ids"] = sorted(Panel.PanelManager().panel_ids)
        if panel is None:
            raise RuntimeError(f"panel {scenario()['panel_id']!r} not found; registered: {r['registered_panel_ids']}")
        native = panel.dock_widget.native_dock_widget
        if first:
            for other_id in a.get("hide", []):
                other = dc().find_dock_panel(other_id)
                if other is not None and other is not panel:
                    other.hide()
            r["was_visible"] = bool(panel.dock_widget.visible)
            if not panel.dock_widget.visible:
                native.toggleViewAction().trigger()  # what Window ▸ <panel title> does
            native.raise_()
            return False  # let Qt lay it out
        scenario()["_handler"] = panel.handler
        r["panel_visible"] = bool(panel.dock_widget.visible) and native.isVisible() and not native.visibleRegion().isEmpty()
        r["panel_title"] = native.windowTitle()
        r["handler_class"] = type(panel.handler).__name__
        r["panel_geometry"] = [native.x(), native.y(), native.width(), native.height()]
        r["field_names"] = list(getattr(panel.handler, "models", {}))
        return True

    def do_world(a: dict[str, typing.Any], first: bool) -> bool:
        world = plugin.devices().instrument.world
        for path, value in a.get("set", {}).items():
            *parents, attr = path.split(".")
            obj = world
            for p in parents:
                obj = getattr(obj, p)
            setattr(obj, attr, value)
        if "probe_outside_particle_nm" in a:
            p = world.specimen.particles[0]
            world.beam.probe_y_nm, world.beam.probe_x_nm = p.y_nm, p.x_nm + p.radius_nm + a["probe_outside_particle_nm"]
            rep()["probe_nm"] = [world.beam.probe_y_nm, world.beam.probe_x_nm]
            rep()["particle"] = {"y_nm": p.y_nm, "x_nm": p.x_nm, "radius_nm": p.radius_nm}
        return True

    def do_fields(a: dict[str, typing.Any], first: bool) -> bool:
        h = handler()
        for name, value in a["values"].items():
            h.models[name].value = str(value)
        rep()["fields"] = {name: m.value for name, m in h.models.items()}
        edits = dock_panel().dock_widget.native_dock_widget.findChildren(QtWidgets.QLineEdit)
        rep()["line_edit_texts"] = [e.text() for e in edits]
        combos = dock_panel().dock_widget.native_dock_widget.findChildren(QtWidgets.QComboBox)
        rep()["combo_box_texts"] = [c.currentText() for c in combos]  # choice fields follow their model
        return True

    def do_set(a: dict[str, typing.Any], first: bool) -> bool:
        """Set handler models by attribute name (e.g. the training panel's ``seed``, ``scenario_index``)."""
        h = handler()
        for name, value in a["values"].items():
            getattr(h, name).value = value
        rep().setdefault("set", {}).update({name: getattr(h, name).value for name in a["values"]})
        return True

    def do_click(a: dict[str, typing.Any], first: bool) -> bool:
        if "_t0" not in scenario() or a.get("reset_clock"):
            scenario()["_t0"] = time.monotonic()
        click(a["button"])
        rep()[f"status_after_{a['button'].lower().replace(' ', '_')}"] = status_text()
        return True

    def do_wait_status(a: dict[str, typing.Any], first: bool) -> bool:
        text = status_text()
        return ("startswith" not in a or text.startswith(a["startswith"])) and \
            ("contains" not in a or a["contains"] in text)

    def do_record(a: dict[str, typing.Any], first: bool) -> bool:
        """Copy handler model values (``models``: attribute names) and widget texts into the report."""
        h = handler()
        rep().setdefault("recorded", {}).update({name: getattr(h, name).value for name in a.get("models", [])})
        native = dock_panel().dock_widget.native_dock_widget
        rep()["labels"] = [w.text() for w in native.findChildren(QtWidgets.QLabel) if w.text()]
        rep()["combo_boxes"] = [w.currentText() for w in native.findChildren(QtWidgets.QComboBox)]
        rep()["buttons"] = [w.text() for w in native.findChildren(QtWidgets.QPushButton)]
        return True

    def click(text: str) -> None:
        b = button(text)
        key = text.lower() + "_button"
        rep()[key] = {"found": b is not None, "enabled": bool(b is not None and b.isEnabled())}
        if b is None:
            raise RuntimeError(f"no '{text}' button in panel {scenario()['panel_id']}")
        if not b.isEnabled():
            raise RuntimeError(f"the '{text}' button is disabled; status: {status_text()!r}")
        b.click()  # the real widget: QPushButton.clicked → Declarative on_clicked → the handler

    def record_writes() -> None:
        """Log every ``write`` of the workflow into its Swift sink (worker thread): which row of
        which result, when — the growth as the workflow produces it, whatever the UI thread's load."""
        sink, t0 = handler().sink, scenario()["_t0"]
        writes = rep().setdefault("writes", {})
        tracked = set(scenario().get("track", []))
        original = sink.write

        def write(name: str, index: typing.Any, data: typing.Any) -> None:
            original(name, index, data)
            if name in tracked:
                writes.setdefault(name, []).append([round(time.monotonic() - t0, 3), str(index)])

        sink.write = write

    def do_start(a: dict[str, typing.Any], first: bool) -> bool:
        scenario()["_t0"] = time.monotonic()
        click("Start")  # start_clicked makes the sink and starts the worker thread
        if handler().sink is not None:
            record_writes()
        rep()["running_after_start"] = is_running()
        rep()["status_after_start"] = status_text()
        if not handler().running.value:
            raise RuntimeError(f"the workflow did not start: {status_text()!r}")
        return True

    def do_abort(a: dict[str, typing.Any], first: bool) -> bool:
        rep()["rows_at_abort"] = {n: (item_rows(data_item(n)) if data_item(n) is not None else 0)
                                  for n in scenario().get("track", [])}
        rep()["running_at_abort"] = is_running()
        rep()["t_abort"] = round(time.monotonic() - scenario()["_t0"], 2)
        click("Abort")
        rep()["status_after_abort_click"] = status_text()
        return True

    def do_wait_rows(a: dict[str, typing.Any], first: bool) -> bool:
        item = data_item(a["result"])
        rows = item_rows(item) if item is not None else 0
        if rows >= a["rows"]:
            return True
        if not handler().running.value:
            raise RuntimeError(f"workflow ended with {rows} rows of {a['result']!r} (< {a['rows']}): "
                               f"{status_text()!r}")
        return False

    def do_wait_idle(a: dict[str, typing.Any], first: bool) -> bool:
        h = handler()
        if h.running.value:
            return False
        if "_idle_t" not in a:
            a["_idle_t"] = time.monotonic()  # one more flush of the sink after the worker ended
            return False
        if time.monotonic() - a["_idle_t"] < 0.5:
            return False
        r = rep()
        r["status_final"] = h.status.value
        r["progress_final"] = h.progress.value
        r["running_final"] = bool(h.running.value)
        r["last_error"] = h.last_error
        r["start_enabled_final"] = bool(button("Start") and button("Start").isEnabled())
        r["abort_enabled_final"] = bool(button("Abort") and button("Abort").isEnabled())
        r["rows_final"] = {n: (item_rows(data_item(n)) if data_item(n) is not None else 0)
                           for n in scenario().get("track", [])}
        names = result_names(["*"])
        r["results"] = {n: {"title": data_item(n).title if data_item(n) is not None else None,
                            "shape": list(data_item(n).data.shape) if data_item(n) is not None else None,
                            "units": [c.units for c in data_item(n).dimensional_calibrations]
                            if data_item(n) is not None else None,
                            "metadata": {k: v for k, v in (data_item(n).metadata.get("lumiere", {}) if data_item(n)
                                                          is not None else {}).items()
                                         if k in ("aborted", "sequences_done", "points_done", "error", "updates",
                                                  "spectra_seen", "visits_done", "sampling")}}
                        for n in names}
        r["laser_shutter_open"] = bool(plugin.devices().instrument.world.laser.shutter_open)
        return True

    def do_show(a: dict[str, typing.Any], first: bool) -> bool:
        specs = a.setdefault("_specs", [dict(r) if isinstance(r, dict) else {"result": r} for r in a["results"]])
        dm = dc().document_model
        for spec in specs:
            if "_item" in spec:
                continue
            names = [spec["result"]] if "::" in spec["result"] else result_names([spec["result"]])
            item = data_item(names[0]) if names else None
            if item is None:
                return False  # the workflow has not created it yet
            if spec.get("as_image"):
                # Processing ▸ Redimension to plain 2-D data: a live copy of a λ scan (λ × E)
                from nion.data import DataAndMetadata

                item = dm.get_redimension_new(dm.get_display_item_for_data_item(item), item,
                                              DataAndMetadata.DataDescriptor(False, 0, 2))
            if spec.get("resample"):
                # Processing ▸ Resample (live) to a displayable aspect, e.g. 7 × 1024 → 280 × 512
                source = item
                item = dm.get_resample_new(dm.get_display_item_for_data_item(source), source)
                computation = dm.get_data_item_computation(item)
                computation.set_input_value("height", int(spec["resample"][0]))
                computation.set_input_value("width", int(spec["resample"][1]))
            spec["_item"] = item
        if any(spec["_item"].xdata is None for spec in specs):
            return False  # derived items: wait for Swift's computation (line-plot layers need the data)
        panels = set_layout(len(specs))
        shown = []
        for panel, spec in zip(panels, specs):
            item = spec["_item"]
            display_item = dm.get_display_item_for_data_item(item)
            if "display_type" in spec:  # e.g. "line_plot": the rows of the map as overlaid spectra
                display_item.display_type = spec["display_type"]
                if spec["display_type"] == "line_plot" and len(display_item.display_layers) > 1:
                    for i in range(len(display_item.display_layers)):  # lines, not stacked filled areas
                        display_item._set_display_layer_properties(i, fill_color=None, label=spec.get("label", "row") + f" {i}")
            for key, value in spec.get("display_properties", {}).items():  # y_min/y_max, left/right_channel…
                display_item.set_display_property(key, value)
            if "limits" in spec:  # e.g. saturate the zero-loss peak to see the gain/loss peaks
                display_item.display_data_channels[0].display_limits = tuple(spec["limits"])
            panel.set_display_panel_display_item(display_item)
            shown.append(item.title)
        rep()["shown"] = shown
        scenario()["_shown_items"] = [spec["_item"] for spec in specs]
        return True

    def shown_rows() -> list[int]:
        """Non-empty rows of the data items on screen (derived ones lag behind on a busy machine)."""
        return [item_rows(i) if i.xdata is not None else 0 for i in scenario().get("_shown_items", [])]

    def do_screenshot(a: dict[str, typing.Any], first: bool) -> bool:
        if time.monotonic() - state["t_action"] < a.get("settle_s", 0.6):
            return False
        if min(shown_rows() or [1]) < a.get("min_shown_rows", 0):
            return False  # wait until Swift's computations have caught up with the data
        grab(a["path"], a.get("label", "screenshot"))
        rep()["screenshots"][-1]["shown_rows"] = shown_rows()
        return True

    def do_play_scan(a: dict[str, typing.Any], first: bool) -> bool:
        """Play Swift's ``lumiere_scan`` (HAADF) for ``s`` seconds, show it in one display panel, stop."""
        from nion.instrumentation import HardwareSource

        scan = HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id(
            a.get("hardware_source_id", "lumiere_scan"))
        if scan is None:
            raise RuntimeError("no lumiere_scan hardware source")
        dm = dc().document_model
        if first:
            a["_before"] = set(id(d) for d in dm.display_items)
            scan.start_playing()
            return False
        haadf = next((d for d in dm.display_items if id(d) not in a["_before"] and d.data_item is not None
                      and d.data_item.xdata is not None and "HAADF" in (d.data_item.title or "")), None)
        if haadf is None or time.monotonic() - state["t_action"] < a.get("s", 2.0):
            return False
        scan.stop_playing(sync_timeout=10.0)
        set_layout(1)[0].set_display_panel_display_item(haadf)
        rep()["scan_shown"] = haadf.data_item.title
        rep()["scan_stopped"] = not scan.is_playing
        return True

    def do_sleep(a: dict[str, typing.Any], first: bool) -> bool:
        return time.monotonic() - state["t_action"] >= a["s"]

    actions: dict[str, typing.Callable[[dict[str, typing.Any], bool], bool]] = {
        "open": do_open, "world": do_world, "fields": do_fields, "start": do_start, "abort": do_abort,
        "wait_rows": do_wait_rows, "wait_idle": do_wait_idle, "show": do_show, "screenshot": do_screenshot,
        "sleep": do_sleep, "set": do_set, "click": do_click, "wait_status": do_wait_status, "record": do_record,
        "play_scan": do_play_scan}

    def begin_scenario(index: int) -> None:
        state["scenario"], state["action"] = index, 0
        state["t_action"], state["first"] = time.monotonic(), True
        sc = scenario()
        sc["_t_scenario"] = sc["_t0"] = time.monotonic()
        report["scenarios"][sc["name"]] = {"panel_id": sc["panel_id"], "rows": {}, "statuses": [],
                                          "screenshots": [], "actions_done": []}
        log(f"scenario {sc['name']} ({sc['panel_id']}); sys.getrefcount(None) = {sys.getrefcount(None)}")
        log(f"  {sc['name']}: {sc['actions'][0]['do']}")

    def next_action() -> None:
        sc = scenario()
        if state["action"] + 1 < len(sc["actions"]):
            state["action"] += 1
            state["t_action"], state["first"] = time.monotonic(), True
            log(f"  {sc['name']}: {sc['actions'][state['action']]['do']}")
            return
        rep()["elapsed_s"] = round(time.monotonic() - sc["_t_scenario"], 2)
        if state["scenario"] + 1 < len(scenarios):
            begin_scenario(state["scenario"] + 1)
        else:
            run.finish()

    def step() -> None:
        if state["phase"] == "wait_window":
            if run.wait_window() is None:
                return
            state["dc"] = gui_common.document_controllers(run.app)[0]
            report["right_dock_panels_visible"] = [p.panel_id for p in dc().workspace_controller.dock_panels
                                                   if p.dock_widget.visible]
            run.set_phase("run")
            begin_scenario(0)
            return
        sc = scenario()
        sample()
        a = sc["actions"][state["action"]]
        first = state["first"]
        state["first"] = False
        limit = a.get("timeout_s", 30.0)
        try:
            done = actions[a["do"]](a, first)
        except Exception as e:
            rep().setdefault("errors", []).append(f"{a['do']}: {type(e).__name__}: {e}")
            fail(f"scenario {sc['name']}, action {a['do']}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
            return
        if done:
            rep()["actions_done"].append(a["do"])
            next_action()
        elif time.monotonic() - state["t_action"] > limit:
            extra = f"; status {status_text()!r}" if "_handler" in sc else ""
            fail(f"scenario {sc['name']}: action {a['do']} {json.dumps({k: v for k, v in a.items() if not k.startswith('_')})} "
                 f"not done within {limit} s{extra}")

    return run.run(step, 100)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
