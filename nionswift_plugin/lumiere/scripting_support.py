"""Support classes of :mod:`nionswift_plugin.lumiere.scripting`: the sink that writes results
through a Swift api (plain or Run Script's queued one), text progress, and running a Lumière
computation class without Swift (plain Python gets the same numbers as Swift's computation).
"""
from __future__ import annotations

import threading
import time
import typing

import numpy as np

from lumiere.sinks import Axis

__all__ = ["ApiDataItemSink", "OfflineItem", "run_offline", "printing_progress"]

ProgressFn = typing.Callable[[float, str], None]


class OfflineItem:
    """Stands in for a Swift data item outside Swift: ``xdata``, ``data``, ``title``."""

    def __init__(self, xdata: typing.Any, title: str = "") -> None:
        self.xdata = xdata
        self.title = title

    @property
    def data(self) -> typing.Any:
        return self.xdata.data if self.xdata is not None else None


class _Slot:
    """An output slot of an offline computation (accepts e.g. a title)."""

    title = ""


class _OfflineComputation:
    """What a Lumière computation class needs from Swift's computation object, without Swift."""

    def __init__(self) -> None:
        self.outputs: dict[str, typing.Any] = {}
        self._slots: dict[str, _Slot] = {}

    def get_result(self, name: str, default: typing.Any = None) -> typing.Any:
        return self._slots.setdefault(name, _Slot())

    def set_referenced_xdata(self, name: str, xdata: typing.Any) -> None:
        self.outputs[name] = xdata


def run_offline(computation_class: type, **inputs: typing.Any) -> dict[str, OfflineItem]:
    """Run a Lumière computation class (execute, then commit) without Swift; returns its
    outputs as :class:`OfflineItem`. Interval/rectangle inputs are optional (defaults apply)."""
    computation = _OfflineComputation()
    handler = computation_class(computation)
    handler.execute(**inputs)
    handler.commit()
    return {name: OfflineItem(x, getattr(computation._slots.get(name), "title", "") or name)
            for name, x in computation.outputs.items()}


class ApiDataItemSink:
    """A :class:`lumiere.sinks.Sink` writing through a Swift ``api`` (plain or queued): one data
    item per result, updated at most every ``min_interval_s`` and at ``finish``."""

    def __init__(self, api: typing.Any, *, title_prefix: str = "", min_interval_s: float = 0.25) -> None:
        self.api = api
        self.title_prefix = title_prefix
        self.min_interval_s = min_interval_s
        self.data_items: dict[str, typing.Any] = {}
        self._buffers: dict[str, tuple[np.ndarray, list[Axis], dict]] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *, dtype: str = "float32",
               metadata: dict | None = None, title: str | None = None, signal_type: str = "") -> None:
        from nionswift_plugin.lumiere.swift_sink import xdata_from_result

        data = np.zeros(shape, dtype=dtype)
        with self._lock:
            self._buffers[name] = (data, list(axes), {**(metadata or {}), "status": "acquiring"})
        item = self.api.library.create_data_item_from_data_and_metadata(
            xdata_from_result(data, axes, self._buffers[name][2]), f"{self.title_prefix}{title or name}")
        self.data_items[name] = item
        self._last[name] = time.monotonic()

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        with self._lock:
            self._buffers[name][0][index] = data
        if time.monotonic() - self._last.get(name, 0.0) >= self.min_interval_s:
            self._flush(name)

    def update_metadata(self, name: str, metadata: dict) -> None:
        with self._lock:
            self._buffers[name][2].update(metadata)

    def finish(self, name: str | None = None) -> None:
        from lumiere.sinks import finished_metadata

        for key in ([name] if name else list(self._buffers)):
            if key in self._buffers:
                with self._lock:
                    meta = self._buffers[key][2]
                    meta.update(finished_metadata(meta))
                self._flush(key)

    def _flush(self, name: str) -> None:
        from nionswift_plugin.lumiere.swift_sink import xdata_from_result

        with self._lock:
            data, axes, metadata = self._buffers[name]
            xdata = xdata_from_result(data.copy(), axes, metadata)
        self.data_items[name].set_data_and_metadata(xdata)
        self._last[name] = time.monotonic()


def printing_progress(label: str, printer: typing.Callable[[str], None] = print) -> ProgressFn:
    """Progress as text lines (every 10 %): readable in Swift's Run Script output and a terminal."""
    state = {"next": 0.0}

    def progress(fraction: float, message: str) -> None:
        if fraction >= state["next"] or fraction >= 1.0:
            printer(f"{label}: {100 * fraction:5.1f} %  {message}")
            state["next"] = np.floor(fraction * 10 + 1e-9) / 10 + 0.1
    return progress
