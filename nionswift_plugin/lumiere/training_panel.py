"""Panel "Lumière training": choose a scenario, read its goal, Start (sets the registered simulated
instrument's world up for it, or says why it cannot), optionally run the scripted trainee, Check
(the trainee's typed answer, else the last result) → the report against the hidden truth.

:class:`TrainingController` holds the logic (no Swift UI: tested headless); the Declarative
:class:`TrainingHandler` binds it to widgets. Register with :func:`register` / :func:`unregister`.
"""
from __future__ import annotations

import threading
import typing

from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from detectors.common.errors import describe_error
from lumiere.training import SCENARIOS, Report, Scenario, TrainingSession
from nionswift_plugin.lumiere.workflow_panel import text_area

PANEL_ID = "lumiere-training-panel"


class TrainingController:
    """Scenario choice, the running session, answer checking. ``instrument`` is a callable
    returning the registered :class:`~detectors.instrument.Instrument` (or None)."""

    def __init__(self, instrument: typing.Callable[[], typing.Any]) -> None:
        self._instrument = instrument
        self.names = list(SCENARIOS)
        self.index = 0
        self.session: TrainingSession | None = None
        self.report: Report | None = None
        self._lock = threading.Lock()

    @property
    def scenario(self) -> Scenario:
        return SCENARIOS[self.names[self.index]]

    def goal_text(self) -> str:
        s = self.scenario
        answer = f"\nAnswer: {s.answer_help}" if s.answer_help else "\nAnswer: Check reads the last result."
        return f"{s.title}\n\n{s.goal}\n\nHow: {s.how_to}{answer}"

    def select(self, index: int) -> str:
        self.index = max(0, min(int(index), len(self.names) - 1))
        return self.goal_text()

    def start(self, seed: int = 0) -> str:
        """Set the registered instrument's world up for the chosen scenario; returns the status."""
        instrument = self._instrument()
        if instrument is None:
            return "Cannot start: the Lumière instrument is not registered (is the plug-in loaded?)."
        if instrument.world is None:
            return ("Cannot start: this Swift runs on the real instrument (site file in LUMIERE_CONFIG). "
                    "Training needs the simulated instrument: start Swift without LUMIERE_CONFIG.")
        with self._lock:
            self.stop()
            try:
                self.session = self.scenario.configure(instrument, seed, owns_instrument=False)
            except ValueError as e:
                return f"Cannot start: {e}"
        self.report = None
        return f"Started '{self.scenario.title}' (seed {seed}). {self.scenario.how_to}"

    def run_scripted_trainee(self) -> str:
        """Run the scripted (correct) trainee on the session (demo); the result is kept for Check."""
        if self.session is None:
            return "Start a scenario first."
        try:
            self.scenario.run_trainee(self.session)
        except Exception as e:  # noqa: BLE001 - shown to the user; devices are left safe by the workflows
            return f"Scripted trainee stopped: {describe_error(e)}"
        return "Scripted trainee finished; press Check."

    def check(self, answer_text: str = "") -> str:
        if self.session is None:
            return "Start a scenario first."
        answer_text = (answer_text or "").strip()
        try:
            result = self.scenario.parse_answer(answer_text) if answer_text else self.session.last_result
        except ValueError as e:
            return str(e)
        if result is None:
            return "Nothing to check yet: enter an answer or acquire (or run the scripted trainee)."
        self.report = self.scenario.check(self.session, result)
        messages = "\n".join(self.session.messages)
        return self.report.text() + (f"\n\nMessages:\n{messages}" if messages else "")

    def stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close()  # closes only what the scenario added; the instrument stays


def _registered_instrument():
    import nionswift_plugin.lumiere as plugin

    devices = plugin.devices()
    return devices.instrument if devices else None


class TrainingHandler(Declarative.Handler):
    def __init__(self, document_controller: typing.Any,
                 instrument: typing.Callable[[], typing.Any] = _registered_instrument) -> None:
        super().__init__()
        self.document_controller = document_controller
        self.controller = TrainingController(instrument)
        self.scenario_titles = [SCENARIOS[n].title for n in self.controller.names]
        self.scenario_index = Model.PropertyModel(0)
        self.scenario_index.on_value_changed = self._scenario_changed
        self.seed = Model.PropertyModel("0")
        self.goal = Model.PropertyModel(self.controller.goal_text())
        self.answer = Model.PropertyModel("")
        self.report = Model.PropertyModel("Choose a scenario and press Start.")
        u = Declarative.DeclarativeUI()
        self.ui_view = u.create_column(
            u.create_row(u.create_label(text="Scenario"),
                         u.create_combo_box(items=self.scenario_titles,
                                            current_index="@binding(scenario_index.value)"),
                         u.create_stretch(), spacing=8),
            u.create_row(u.create_label(text="Seed"), u.create_line_edit(text="@binding(seed.value)", width=60),
                         u.create_push_button(text="Start", on_clicked="start_clicked"),
                         u.create_push_button(text="Scripted trainee", on_clicked="auto_clicked"),
                         u.create_stretch(), spacing=8),
            text_area(u, "goal.value", 160),  # the goal is several paragraphs: wrapped, scrolls
            u.create_label(text="Answer"),
            u.create_row(u.create_line_edit(text="@binding(answer.value)"),
                         u.create_push_button(text="Check", on_clicked="check_clicked"), spacing=8),
            text_area(u, "report.value", 120),
            u.create_stretch(), spacing=6, margin=8)

    def _scenario_changed(self, index: typing.Any) -> None:
        self.goal.value = self.controller.select(int(index or 0))

    def _seed(self) -> int:
        try:
            return int(str(self.seed.value).strip() or 0)
        except ValueError:
            return 0

    def start_clicked(self, widget: typing.Any = None) -> None:
        self.report.value = self.controller.start(self._seed())

    def auto_clicked(self, widget: typing.Any = None) -> None:
        self.report.value = "Scripted trainee running …"

        def work() -> None:
            text = self.controller.run_scripted_trainee()
            self._set_report(text)

        threading.Thread(target=work, name="lumiere-training-trainee", daemon=True).start()

    def check_clicked(self, widget: typing.Any = None) -> None:
        self.report.value = self.controller.check(str(self.answer.value or ""))

    def _set_report(self, text: str) -> None:
        dc = self.document_controller
        if dc is not None and hasattr(dc, "queue_task"):
            dc.queue_task(lambda: setattr(self.report, "value", text))
        else:
            self.report.value = text

    def close(self) -> None:
        self.controller.stop()
        super().close()


class TrainingPanel(Panel.Panel):
    def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
        super().__init__(document_controller, panel_id, "Lumière training")
        self.handler = TrainingHandler(document_controller)
        self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)

    def close(self) -> None:
        self.handler.controller.stop()
        super().close()


def register() -> None:
    Workspace.WorkspaceManager().register_panel(TrainingPanel, PANEL_ID, "Lumière training",
                                                ["left", "right"], "right", {})


def unregister() -> None:
    Workspace.WorkspaceManager().unregister_panel(PANEL_ID)
