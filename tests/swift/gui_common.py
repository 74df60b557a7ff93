"""Shared start-up for the real-GUI drivers (Nion Swift's Qt application under Xvfb).

What ``gui_driver.py`` does inline, as functions: a log to the original stderr (Swift's PyQtProxy
redirects ``sys.stdout``/``sys.stderr`` to ``logging``), a hard watchdog thread, a logging handler
that collects the tracebacks Swift only prints, starting Swift exactly as
``python -m nionswift --ui qt`` does with the "Choose Project" dialog bypassed, the main window of
a document controller, and running the Qt event loop with a driver's ``QTimer`` step function.
Also the runner the pytest modules share: ``xvfb-run`` the driver in a throw-away HOME.
"""
from __future__ import annotations

import json
import logging
import os
import re
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import typing

_ERR = sys.__stderr__
_T0 = time.monotonic()
REPO = pathlib.Path(__file__).resolve().parents[2]
XVFB_SERVER_ARGS = "-screen 0 1600x1200x24"
_FINAL_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")


def elapsed() -> float:
    return time.monotonic() - _T0


def make_log(name: str) -> typing.Callable[[str], None]:
    def log(msg: str) -> None:
        _ERR.write(f"[{name} {elapsed():6.1f}s] {msg}\n")
        _ERR.flush()
    return log


def start_watchdog(timeout_s: float, log: typing.Callable[[str], None], code: int = 3) -> threading.Timer:
    """A plain daemon thread that ends the process (``os._exit(code)``) after ``timeout_s``, even if
    the Qt event loop is blocked or never starts."""
    def fire() -> None:
        try:
            log(f"TIMEOUT after {timeout_s:.0f} s")
        finally:
            os._exit(code)

    watchdog = threading.Timer(timeout_s, fire)
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def collect_swift_errors(errors: list[str], context_records: int = 400) -> logging.Handler:
    """Swift reports some failures (a plug-in, a panel, a queued task that raises) only as printed
    tracebacks, which PyQtProxy turns into ``logging.info`` records, a few characters each: append
    one entry per error to ``errors``, with the text of the records that follow it (the traceback)."""
    state = {"open": -1, "left": 0}

    class SwiftErrorCollector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = record.getMessage()
            except Exception:
                return
            new_error = record.levelno >= logging.ERROR or text.startswith("Exception ")
            in_context = state["open"] >= 0 and state["left"] > 0
            if in_context and not new_error:  # the traceback (and final error line) of the error just seen
                state["left"] -= 1
                part = text.strip()
                if part.strip("^~ ") and len(errors[state["open"]]) < 6000:
                    errors[state["open"]] += " " + part
                if _FINAL_LINE.match(part):  # "OSError: …": the traceback is complete
                    state["left"] = 0
            elif new_error or "Error:" in text or text.startswith("Traceback"):
                errors.append(text.strip()[:2000])
                state["open"], state["left"] = len(errors) - 1, context_records

    handler = SwiftErrorCollector(logging.INFO)
    logging.getLogger().addHandler(handler)
    return handler


def is_xmlrpc_port_clash(error: str) -> bool:
    """Swift's scripting server (``Facade.start_server``: XML-RPC on localhost:8199, every start)
    fails when another Swift runs on the machine (e.g. another GUI test in parallel): an
    environment clash, not an error of the software under test."""
    return "SimpleXMLRPCServer" in error and ("Address already in use" in error or "8199" in error)


def split_environment_errors(report: dict[str, typing.Any]) -> None:
    """Move the errors caused by the machine rather than the software under test (another Swift's
    XML-RPC port) from ``report["swift_errors"]`` to ``report["swift_environment_warnings"]``."""
    errors = report.get("swift_errors") or []
    report["swift_environment_warnings"] = [e for e in errors if is_xmlrpc_port_clash(e)]
    report["swift_errors"] = [e for e in errors if not is_xmlrpc_port_clash(e)]


def start_swift(project_dir: pathlib.Path, project_name: str) -> typing.Any:
    """Swift's application object as ``python -m nionswift --ui qt`` makes it (plug-ins loaded),
    with a fresh profile's "Choose Project" dialog replaced by a project created in ``project_dir``."""
    from nionui_app.nionswift import main as swift_main

    app = swift_main.main(list(), {"qt": None})
    setattr(app, "show_choose_project_dialog", lambda: app.create_project_reference(project_dir, project_name))
    return app


def document_controllers(app: typing.Any) -> list[typing.Any]:
    from nion.swift import DocumentController

    return [w for w in app.windows if isinstance(w, DocumentController.DocumentController)]


def main_window(document_controller: typing.Any) -> typing.Any:
    """The visible QMainWindow of Swift's document window (a ``PyDocumentWindow``), or None."""
    from PySide6 import QtWidgets

    native = getattr(document_controller._document_window, "native_document_window", None)
    return native if isinstance(native, QtWidgets.QMainWindow) and native.isVisible() else None


def tile_display_panels(document_controller: typing.Any, count: int) -> list[typing.Any]:
    """Show ``count`` (1–4) display panels — one; side by side; a left one and a right column of
    two; a 2×2 grid — and return them (columns left to right, each top to bottom).

    Builds a new workspace rather than splitting the shown one: Swift renders on its own thread,
    and ``SplitterCanvasItem`` inserts a splitter's sizing before its child (nion.ui 10.x), so a
    repaint between the two fails ``assert len(canvas_items) == len(sizings)`` (seen once in CI
    while a driver split the workspace). A new workspace's canvas is assembled before it is shown.
    """
    from nion.swift import Workspace

    if not 1 <= count <= 4:
        raise ValueError(f"tile_display_panels: count must be 1 to 4, got {count}")
    image = Workspace.create_image_desc
    if count == 1:
        layout = image()
    elif count == 2:
        layout = Workspace.create_splitter_desc("vertical", [0.5, 0.5], [image(), image()])
    else:
        left = image() if count == 3 else Workspace.create_splitter_desc("horizontal", [0.5, 0.5], [image(), image()])
        right = Workspace.create_splitter_desc("horizontal", [0.5, 0.5], [image(), image()])
        layout = Workspace.create_splitter_desc("vertical", [0.5, 0.5], [left, right])
    workspace_controller = document_controller.workspace_controller
    workspace = workspace_controller.new_workspace(name=f"Lumière test ({count} panels)", layout=layout)
    workspace_controller.change_workspace(workspace)
    panels = list(workspace_controller.display_panels)
    if len(panels) != count:
        raise RuntimeError(f"tile_display_panels: asked for {count} display panels, Swift made {len(panels)}")
    return panels


def install_step_timer(app: typing.Any, step: typing.Callable[[], None], interval_ms: int = 200) -> typing.Any:
    """A ``QTimer`` calling ``step`` every ``interval_ms``, started once the application has
    started (PyQtProxy.run creates the QApplication, then calls ``app.start()``). Call before
    ``app.run()``; stop the timer when done."""
    from PySide6 import QtCore

    timer = QtCore.QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(step)
    original_start = app.start

    def start() -> bool:
        result = original_start()
        timer.start()
        return result

    setattr(app, "start", start)
    return timer


class DriverSession:
    """What every GUI driver does around its own steps: a watchdog, a report with Swift's printed
    errors, Swift started on a throw-away project, a phase machine stepped by a ``QTimer``, and an
    exit that writes the report and leaves with ``os._exit``.

    Leaving with ``os._exit`` instead of closing Swift's windows: PySide6/shiboken6 6.12.0 drains
    Python 3.11's reference count of None by one per ``void`` Qt call (~10⁴ per scenario of
    painting; excluded in setup.cfg, see README "Known issues"); closing the document windows then
    reached zero ("Fatal Python error: none_dealloc"). Kept so a machine with that release still
    gets a report; everything the tests assert is in the report, written before leaving.
    """

    def __init__(self, name: str, report_path: pathlib.Path, timeout_s: float, project_name: str,
                 window_size: tuple[int, int], report: dict[str, typing.Any] | None = None) -> None:
        self.log = make_log(name)
        self.report_path = report_path.absolute()
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        self.window_size = window_size
        start_watchdog(timeout_s, self.log)
        self.report: dict[str, typing.Any] = {"ok": False, "errors": [], "swift_errors": [], **(report or {})}
        collect_swift_errors(self.report["swift_errors"])
        project_dir = pathlib.Path(os.environ.get("GUI_DRIVER_PROJECT_DIR") or tempfile.mkdtemp(prefix="lumiere_swift_"))
        self.app = start_swift(project_dir, project_name)
        self.log("application initialised, plug-ins loaded")
        self.state: dict[str, typing.Any] = {"phase": "wait_window", "t_phase": time.monotonic()}
        self.on_finish: list[typing.Callable[[], None]] = []
        self._timer: typing.Any = None

    @property
    def phase(self) -> str:
        return self.state["phase"]

    @property
    def phase_elapsed_s(self) -> float:
        return time.monotonic() - self.state["t_phase"]

    def set_phase(self, phase: str) -> None:
        self.state["phase"], self.state["t_phase"] = phase, time.monotonic()
        self.log(f"phase: {phase}")

    def fail(self, msg: str) -> None:
        self.report["errors"].append(msg)
        self.log("ERROR: " + msg)
        self.finish()

    def finish(self) -> None:
        """Run the ``on_finish`` clean-ups, write the report, then leave (after Qt settles)."""
        from PySide6 import QtCore

        if self.phase == "done":
            return
        self.set_phase("done")
        if self._timer is not None:
            self._timer.stop()
        for clean_up in self.on_finish:
            try:
                clean_up()
            except Exception:
                self.report["errors"].append("clean-up: " + traceback.format_exc())
        split_environment_errors(self.report)
        self.report["ok"] = not self.report["errors"]
        self.report["elapsed_s"] = round(elapsed(), 2)
        self.report_path.write_text(json.dumps(self.report, indent=2, default=str))
        self.log(f"report written to {self.report_path} (ok={self.report['ok']}); "
                 f"sys.getrefcount(None) = {sys.getrefcount(None)}")
        QtCore.QTimer.singleShot(300, self.leave)

    def leave(self) -> typing.NoReturn:
        code = 0 if self.report.get("ok") else 1
        self.log(f"leaving without closing the windows; exit code {code}")
        sys.__stderr__.flush()
        sys.stdout.flush()
        os._exit(code)

    def wait_window(self, limit_s: float = 45.0) -> typing.Any:
        """The first document controller once its main window is visible (resized to
        ``window_size`` at the top left), else None; fails after ``limit_s`` in this phase."""
        controllers = document_controllers(self.app)
        window = main_window(controllers[0]) if controllers else None
        if window is None:
            if self.phase_elapsed_s > limit_s:
                self.fail(f"main window did not appear within {limit_s:.0f} s")
            return None
        window.showNormal()
        window.resize(*self.window_size)
        window.move(0, 0)
        self.report["window_title"] = window.windowTitle()
        return controllers[0]

    def grab(self, document_controller: typing.Any, path: pathlib.Path) -> typing.Any:
        """Save the main window to ``path`` (PNG); returns the pixmap (raises if it can't save)."""
        path = pathlib.Path(path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        window = main_window(document_controller)
        if window is None:
            raise RuntimeError("the main window is not visible")
        pixmap = window.grab()
        if not pixmap.save(str(path), "PNG"):
            raise RuntimeError(f"could not save screenshot to {path}")
        self.log(f"screenshot {pixmap.width()}x{pixmap.height()} → {path}")
        return pixmap

    def run(self, step: typing.Callable[[], None], interval_ms: int = 200) -> int:
        """Call ``step`` every ``interval_ms`` in Qt's event loop (an exception fails the run)
        until :meth:`finish`; normally does not return (:meth:`leave`)."""
        def guarded() -> None:
            if self.phase == "done":
                return
            try:
                step()
            except Exception:
                self.fail("exception in driver: " + traceback.format_exc())

        self._timer = install_step_timer(self.app, guarded, interval_ms)
        self.app.run()
        self.log("Qt event loop finished before a report was written")
        return 1


# -- pytest side -------------------------------------------------------------------------------
def require_xvfb() -> None:
    """Fail (not skip) the calling test when the X virtual framebuffer tools are missing."""
    import pytest

    missing = [tool for tool in ("xvfb-run", "xauth", "Xvfb") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: the GUI tests need an X virtual framebuffer. "
                    f"On Debian: apt-get install -y $(cat {REPO / 'docs' / 'gui_packages.txt'})", pytrace=False)


def run_driver_under_xvfb(driver: pathlib.Path, args: typing.Sequence[str], root: pathlib.Path,
                          timeout_s: float, extra_env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run ``driver args…`` with ``xvfb-run`` in ``root`` with a throw-away HOME; returns
    (exit code, combined output, seconds). Fails the test if it outlives ``timeout_s``."""
    import pytest

    home = root / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    # Swift keeps its profile, preferences and logs under HOME (via Qt's standard paths).
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CACHE_HOME=str(home / ".cache"), GUI_DRIVER_PROJECT_DIR=str(root / "project"))
    env.update(extra_env or {})
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(var, None)
    cmd = ["xvfb-run", "-a", "-s", XVFB_SERVER_ARGS, sys.executable, str(driver), *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"GUI driver did not finish within {timeout_s:.0f} s:\n{output[-6000:]}", pytrace=False)
    return proc.returncode, output, time.monotonic() - t0
