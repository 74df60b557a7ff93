"""A Swift panel that runs one Lumière workflow: parameters, Start, Abort, progress, status.

Each experiment panel (EEGS, drift-corrected SI, …) declares its parameters as :class:`Field`\\ s
and implements :meth:`WorkflowHandler.run_workflow`; this base class does the rest the same way
everywhere: validate the fields (a bad value is named in the status line, nothing starts), run
the workflow in a worker thread with a :class:`~lumiere.tasks.TaskControl`, show progress, abort
safely (the workflow leaves the devices safe and keeps what it acquired), write results into
live data items (and an HDF5 file ``<title>_<date-time>.hspy`` when a folder is given, never
replacing a file: :mod:`lumiere.outputs`), and show errors as one clear line.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import threading
import time
import typing

from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from detectors.common.errors import describe_error
from lumiere.outputs import new_run_files
from lumiere.sinks import CompositeSink, HDF5Sink, Sink
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl
from nionswift_plugin.lumiere.swift_sink import SwiftDataItemSink


@dataclasses.dataclass(frozen=True)
class Field:
    """A numeric, text or on/off parameter of a panel.

    With ``choices`` (texts) the field is a choice, shown as a combo box; its value is the
    chosen text converted by ``kind`` (str, or int for numeric choices). ``kind`` bool is a
    switch, shown as a check box. Every field keeps its text in a model (scripts and tests set
    it the same way whatever the widget).
    """

    name: str
    label: str
    default: typing.Any
    kind: type = float
    units: str = ""
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.choices and str(self.default) not in self.choices:
            raise ValueError(f"field {self.name}: default {self.default!r} is not one of {self.choices}")

    def parse(self, text: str) -> typing.Any:
        if self.choices:
            if text.strip() not in self.choices:
                raise ValueError(f"{self.label} = {text!r} is not one of {', '.join(self.choices)}")
            return self.kind(text.strip())
        if self.kind is bool:
            word = text.strip().lower()
            if word not in _SWITCH_WORDS:
                raise ValueError(f"{self.label} = {text!r} is not on/off (True/False, 1/0)")
            return _SWITCH_WORDS[word]
        try:
            value = self.kind(text.strip())
        except ValueError:
            kind = {float: "a number", int: "a whole number"}.get(self.kind, self.kind.__name__)
            raise ValueError(f"{self.label} = {text!r} is not {kind}") from None
        if self.kind is float and not math.isfinite(value):  # inf/nan: endless scans, NaN positions
            raise ValueError(f"{self.label} = {text.strip()!r} is not allowed; expected a finite number")
        return value


_SWITCH_WORDS = {"true": True, "1": True, "on": True, "yes": True,
                 "false": False, "0": False, "off": False, "no": False}


def field_widget(u: Declarative.DeclarativeUI, f: Field) -> typing.Any:
    """The row of a field: a combo box for a choice, a check box for a switch, a full-width line
    edit under its label for free text (never clipped), else label and a line edit."""
    label = f.label + (f" ({f.units})" if f.units else "")
    if f.kind is bool and not f.choices:
        return u.create_row(u.create_check_box(text=label, checked=f"@binding(field_{f.name}_checked.value)"),
                            u.create_stretch(), spacing=8)
    if f.choices:
        editor = u.create_combo_box(items=list(f.choices), current_index=f"@binding(field_{f.name}_index.value)")
    elif f.kind is str:
        return u.create_column(u.create_label(text=label),
                               u.create_line_edit(text=f"@binding(field_{f.name}.value)"), spacing=2)
    else:
        editor = u.create_line_edit(text=f"@binding(field_{f.name}.value)", width=90)
    return u.create_row(u.create_label(text=label), u.create_stretch(), editor, spacing=8)


def text_area(u: Declarative.DeclarativeUI, binding: str, height: int = 56) -> typing.Any:
    """A read-only, word-wrapping text area bound to ``binding``: long texts wrap and scroll
    instead of being cut off by the dock's width (a label does not grow in height when it wraps)."""
    return u.create_text_edit(text=f"@binding({binding})", editable=False, height=height)


def _choice_index(choices: tuple[str, ...]) -> typing.Callable[[str], int | None]:
    return lambda text: choices.index(text) if text in choices else None


def _choice_text(choices: tuple[str, ...]) -> typing.Callable[[typing.Any], str | None]:
    return lambda i: choices[i] if isinstance(i, int) and 0 <= i < len(choices) else None


def _switch_state(text: str) -> bool | None:
    return _SWITCH_WORDS.get(str(text).strip().lower())


def _switch_text(checked: typing.Any) -> str | None:
    return str(bool(checked)) if checked is not None else None


class FieldModels:
    """The models of a panel's fields, set as ``field_<name>`` attributes of ``handler`` (what the
    declarative bindings read): the text of every field; for a choice also the combo box index
    ``field_<name>_index``, for a switch the check state ``field_<name>_checked``, each following
    the text and back (an unknown text leaves the widget; :meth:`Field.parse` names it)."""

    def __init__(self, handler: typing.Any, fields: typing.Sequence[Field]) -> None:
        self.models = {f.name: Model.PropertyModel(str(f.default)) for f in fields}
        self._listeners: list[typing.Any] = []
        for f in fields:
            setattr(handler, f"field_{f.name}", self.models[f.name])
            if f.choices:
                self._follow(handler, f, f"field_{f.name}_index", f.choices.index(str(f.default)),
                             _choice_index(f.choices), _choice_text(f.choices))
            elif f.kind is bool:
                self._follow(handler, f, f"field_{f.name}_checked", bool(f.default), _switch_state, _switch_text)

    def _follow(self, handler: typing.Any, f: Field, attribute: str, initial: typing.Any,
                to_widget: typing.Callable[[str], typing.Any], to_text: typing.Callable[[typing.Any], str | None]) -> None:
        text, widget = self.models[f.name], Model.PropertyModel(initial)
        setattr(handler, attribute, widget)

        def text_changed(key: str) -> None:
            value = to_widget(text.value) if key == "value" and text.value is not None else None
            if value is not None and widget.value != value:
                widget.value = value

        def widget_changed(key: str) -> None:
            value = to_text(widget.value) if key == "value" else None
            if value is not None and text.value != value:
                text.value = value

        self._listeners += [text.property_changed_event.listen(text_changed),
                            widget.property_changed_event.listen(widget_changed)]

    def parse(self, fields: typing.Sequence[Field]) -> dict[str, typing.Any]:
        return {f.name: f.parse(self.models[f.name].value or "") for f in fields}

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners = []


class WorkflowHandler(Declarative.Handler):
    """Declarative handler of a workflow panel. Subclasses set ``title``, ``fields`` and
    implement :meth:`run_workflow`."""

    title = "Workflow"
    fields: typing.Sequence[Field] = ()

    def __init__(self, document_controller: typing.Any) -> None:
        super().__init__()
        self.document_controller = document_controller
        self.field_models = FieldModels(self, self.fields)
        self.models = self.field_models.models
        self.output_folder = Model.PropertyModel("")
        self.progress = Model.PropertyModel(0)
        self.status = Model.PropertyModel("Ready.")
        #: the workflow's result in words (e.g. the resonance fit with its uncertainties)
        self.result_text = Model.PropertyModel("")
        self.running = Model.PropertyModel(False)
        self.task: TaskControl | None = None
        self.thread: threading.Thread | None = None
        self.sink: SwiftDataItemSink | None = None
        self.hdf5_path: pathlib.Path | None = None  # the file of the current / last run
        self.last_error: str = ""
        u = Declarative.DeclarativeUI()
        rows = [field_widget(u, f) for f in self.fields]
        # the energy window and its presets (here, not at the top: the module imports this one)
        from nionswift_plugin.lumiere.spectrometer_panel import SpectrometerRow
        self.spectrometer = SpectrometerRow(self)
        rows.append(self.spectrometer.widget(u))
        rows.append(u.create_row(u.create_label(text="Save HDF5 to folder"), u.create_stretch(),
                                 u.create_line_edit(text="@binding(output_folder.value)", width=160,
                                                    placeholder_text="(optional)"), spacing=8))
        buttons = u.create_row(u.create_push_button(text="Start", on_clicked="start_clicked",
                                                    enabled="@binding(idle)"),
                               u.create_push_button(text="Abort", on_clicked="abort_clicked",
                                                    enabled="@binding(running.value)"),
                               u.create_stretch(), spacing=8)
        self.ui_view = u.create_column(*rows, buttons,
                                       u.create_progress_bar(value="@binding(progress.value)", minimum=0, maximum=100),
                                       text_area(u, "status.value", 48),
                                       text_area(u, "result_text.value", 64),
                                       u.create_stretch(), spacing=6, margin=8)

    @property
    def idle(self) -> bool:
        return not self.running.value

    # -- to implement ------------------------------------------------------------------------
    def run_workflow(self, parameters: dict[str, typing.Any], sink: Sink, task: TaskControl) -> str:
        """Run the workflow (worker thread) and return a one-line summary for the status."""
        raise NotImplementedError

    def check_parameters(self, parameters: dict[str, typing.Any]) -> None:
        """Raise ValueError naming a bad parameter before anything moves (UI thread)."""

    # -- machinery -----------------------------------------------------------------------------
    def parameters(self) -> dict[str, typing.Any]:
        return self.field_models.parse(self.fields)

    def set_result_text(self, text: str) -> None:
        """Show ``text`` in the panel's result area (any thread)."""
        self.document_controller.queue_task(lambda: setattr(self.result_text, "value", text))

    def start_clicked(self, widget: typing.Any = None) -> None:
        if self.running.value:
            return
        try:
            parameters = self.parameters()
            self.check_parameters(parameters)
        except ValueError as e:
            self._set_status(f"Not started: {describe_error(e)}")
            return
        self.sink = SwiftDataItemSink(self.document_controller, title_prefix=f"{self.title}: ")
        sink: Sink = self.sink
        folder = (self.output_folder.value or "").strip()
        self.hdf5_path = None
        if folder:
            try:
                self.hdf5_path = new_run_files(pathlib.Path(folder).expanduser(),
                                               f"{self.title.replace(' ', '_')}_{time.strftime('%Y%m%d-%H%M%S')}").data
                sink = CompositeSink(self.sink, HDF5Sink(self.hdf5_path))
            except OSError as e:
                self._set_status(f"Not started: cannot write to the folder: {e}")
                return
        self.task = TaskControl(self._on_progress)
        self.running.value = False
        self.running.value = True
        self.notify_property_changed("idle")
        self.progress.value = 0
        self._set_status("Running…")
        self.result_text.value = ""
        self.last_error = ""
        self.thread = threading.Thread(target=self._worker, args=(parameters, sink, self.task), daemon=True,
                                       name=f"lumiere-{self.title}")
        self.thread.start()

    def abort_clicked(self, widget: typing.Any = None) -> None:
        if self.task is not None:
            self.task.abort("aborted from the panel")
            self._set_status("Aborting… (devices are being left safe)")

    def _worker(self, parameters: dict[str, typing.Any], sink: Sink, task: TaskControl) -> None:
        try:
            summary = self.run_workflow(parameters, sink, task)
            self._record_end(None)
            message = f"Done. {summary}{self._saved()}".strip()
        except Aborted as e:
            self._record_end(e)
            message = f"Aborted ({e}); acquired data kept.{self._saved()}"
        except Exception as e:  # shown to the user as one line; naming the device; never a traceback
            self._record_end(e)
            self.last_error = f"{type(e).__name__}: {e}"
            message = f"Error: {describe_error(e)}{self._saved()}"
        self.document_controller.queue_task(lambda: self._finished(message))

    def _record_end(self, exc: BaseException | None) -> None:
        """How the run ended, on every result it left unfinished (data items and file) and on the
        file (``run_status``): the workflows mark what they stop themselves; this catches the
        rest (e.g. an error after the acquisition). Best effort: the panel shows the error."""
        try:
            if exc is not None and self.sink is not None:
                self.sink.stop_unfinished(exc)
            if self.hdf5_path is not None and self.hdf5_path.exists():
                hdf5 = HDF5Sink.reopen(self.hdf5_path)
                if exc is not None:
                    hdf5.stop_unfinished(exc)
                hdf5.record_run(exc)
        except Exception:  # noqa: BLE001 - the original outcome matters more
            pass

    def _saved(self) -> str:
        """Where the HDF5 file went (a numbered name if needed), for the status line."""
        return f" Saved to {self.hdf5_path}." if self.hdf5_path is not None else ""

    def _finished(self, message: str) -> None:
        self.running.value = False
        self.notify_property_changed("idle")
        self._set_status(message)

    def _on_progress(self, fraction: float, message: str) -> None:
        def update() -> None:
            self.progress.value = int(round(fraction * 100))
            aborting = self.task is not None and self.task.aborted
            if message and self.running.value and not aborting:  # keep "Aborting…" until the end
                self.status.value = message
        self.document_controller.queue_task(update)

    def _set_status(self, text: str) -> None:
        self.status.value = text

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the worker ends (tests, scripts); returns False on timeout."""
        if self.thread is None:
            return True
        self.thread.join(timeout_s)
        return not self.thread.is_alive()

    def close(self) -> None:
        if self.task is not None and self.running.value:
            self.task.abort("Swift panel closed")
        self.spectrometer.close()
        self.field_models.close()
        super().close()


def register_workflow_panel(handler_class: type[WorkflowHandler], panel_id: str) -> None:
    """Register a panel showing ``handler_class`` (Window > <title>)."""

    class WorkflowPanel(Panel.Panel):
        def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
            super().__init__(document_controller, panel_id, handler_class.title)
            self.handler = handler_class(document_controller)
            self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)

        def close(self) -> None:
            self.handler.close()
            super().close()

    Workspace.WorkspaceManager().register_panel(WorkflowPanel, panel_id, handler_class.title,
                                                ["left", "right"], "right", {})


def unregister_workflow_panel(panel_id: str) -> None:
    Workspace.WorkspaceManager().unregister_panel(panel_id)
