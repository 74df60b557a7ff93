"""Progress and abort for long tasks, shared by every workflow and front end.

A workflow receives a :class:`TaskControl`; it calls :meth:`TaskControl.progress` as work
completes and :meth:`TaskControl.check_abort` at safe points (between rows, sequences, laser
steps). Front ends subscribe: the CLI draws a progress bar, Swift updates a panel, tests record.
"""
from __future__ import annotations

import sys
import threading
import time
import typing

from detectors.interfaces import Aborted

ProgressCallback = typing.Callable[[float, str], None]


class TaskControl:
    """Progress reporting and a thread-safe abort flag.

    Parameters
    ----------
    on_progress : callable(fraction, message), optional
        Called from the worker thread with the completed fraction in [0, 1].
    """

    def __init__(self, on_progress: ProgressCallback | None = None) -> None:
        self._abort = _AbortFlag()
        self._listeners: list[ProgressCallback] = [on_progress] if on_progress else []
        self.fraction = 0.0
        self.message = ""

    @property
    def abort_reason(self) -> str:
        """Why the task was aborted ("" while it runs); shared with its subtasks."""
        return self._abort.reason

    def add_listener(self, callback: ProgressCallback) -> None:
        self._listeners.append(callback)

    def progress(self, fraction: float, message: str = "") -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message
        for callback in self._listeners:
            callback(self.fraction, message)

    def subtask(self, start: float, span: float) -> "TaskControl":
        """A task for one step of this one: its progress 0…1 maps to ``start … start + span``
        here, and it shares this task's abort flag."""
        child = TaskControl(lambda f, m: self.progress(start + span * f, m))
        child._abort = self._abort
        return child

    def abort(self, reason: str = "aborted by the user") -> None:
        if not self._abort.is_set():
            self._abort.reason = reason
        self._abort.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def check_abort(self) -> None:
        """Raise :class:`~detectors.interfaces.Aborted` if an abort was requested."""
        if self._abort.is_set():
            raise Aborted(self.abort_reason or "aborted")


class WorkerThread:
    """Runs ``target`` once in a daemon thread and keeps what it raised, for the workflows'
    ``start()`` / ``join()``: the worker must not die silently, and the front end that joins
    decides what to re-raise.

    Examples
    --------
    >>> worker = WorkerThread(lambda: 1 / 0, name="demo").start()
    >>> worker.join(); type(worker.error).__name__
    'ZeroDivisionError'
    """

    def __init__(self, target: typing.Callable[[], object], name: str) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as e:  # noqa: BLE001 - kept for whoever joins
                self.error = e

        self.thread = threading.Thread(target=run, name=name, daemon=True)

    def start(self) -> "WorkerThread":
        self.thread.start()
        return self

    def join(self, timeout_s: float | None = None) -> None:
        """Wait up to ``timeout_s`` (None: until done); does not raise :attr:`error`."""
        self.thread.join(timeout_s)


class _AbortFlag(threading.Event):
    """The abort event of a task and all its subtasks, with the reason of the first abort."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""


class TextProgressBar:
    """A one-line terminal progress bar for the CLI (``\\r``-updated, throttled)."""

    def __init__(self, label: str, stream: typing.TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self._stream = stream
        self.width = width
        self._last = 0.0

    @property
    def stream(self) -> typing.TextIO:
        """The stream given, else ``sys.stderr`` as it is now (not as it was at import)."""
        return self._stream if self._stream is not None else sys.stderr

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.1:
            return
        self._last = now
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {message[:40]:<40}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
