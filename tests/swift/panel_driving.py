"""Driving a headless Swift panel from a test: run the UI thread's queued tasks until the panel's
workflow has finished (imported by the headless panel tests; the module sits beside them)."""
from __future__ import annotations

import time


def run_until_idle(handler, document_controller, timeout_s: float = 60.0) -> None:
    """Pump ``document_controller.periodic()`` until ``handler.running`` is false, then once more
    so the finished message (queued for the UI thread when the worker ends) is applied."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document_controller.periodic()  # runs the tasks queued for the UI thread
        if not handler.running.value:
            document_controller.periodic()
            return
        time.sleep(0.01)
    raise AssertionError(f"panel still running after {timeout_s} s: {handler.status.value}")
