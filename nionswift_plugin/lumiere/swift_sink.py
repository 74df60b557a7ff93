"""A :class:`lumiere.sinks.Sink` that writes workflow results into Swift data items.

Workflows run in a worker thread; Swift's document may only change on the UI thread. Every call
updates a numpy buffer under a lock and queues (at most one pending) UI-thread task that creates
the data item or copies the buffer into it, so a fast workflow never floods the UI and the data
item always shows the latest state. Results carry their calibrations (nm, eV, λ in nm, µW) and
metadata (under ``lumiere``, with the run's ``status``/``aborted``/``error`` as in every sink:
:mod:`lumiere.sinks`); navigation axes become collection (or sequence) dimensions. How each result is shown
(tables as labelled line plots, λ × E maps as spectra by λ plus a sideband-window image with
sideband limits, SIs as total-count images with a summed spectrum beside) is decided by
:mod:`nionswift_plugin.lumiere.displays`.
"""
from __future__ import annotations

import threading
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from lumiere.sinks import Axis, finished_metadata, stop_metadata


def xdata_from_result(data: np.ndarray, axes: typing.Sequence[Axis], metadata: dict | None = None,
                      *, intensity_units: str = "") -> DataAndMetadata.DataAndMetadata:
    """Calibrated ``DataAndMetadata`` for a sink result.

    Leading axes with ``navigate=True`` are collection dimensions (a λ scan: 1 collection
    dimension; an SI: 2), the rest are datum dimensions. A result whose axes are all navigation
    axes (a log, a map) is shown as plain data.
    """
    navigate = [a.navigate for a in axes]
    n_collection = 0
    while n_collection < len(axes) and navigate[n_collection]:
        n_collection += 1
    if n_collection == len(axes):
        n_collection = 0
    descriptor = DataAndMetadata.DataDescriptor(False, n_collection, len(axes) - n_collection)
    return DataAndMetadata.new_data_and_metadata(
        data,
        intensity_calibration=Calibration.Calibration(units=intensity_units),
        dimensional_calibrations=[Calibration.Calibration(a.offset, a.scale, a.units) for a in axes],
        metadata={"lumiere": _jsonable(dict(metadata or {}))},
        data_descriptor=descriptor)


class _Result:
    def __init__(self, data: np.ndarray, axes: list[Axis], metadata: dict, title: str) -> None:
        self.data = data
        self.axes = axes
        self.metadata = metadata
        self.title = title
        self.data_item: typing.Any = None
        self.dirty = True
        #: rows of the first axis written so far (tables and maps grow row by row)
        self.rows_done = 0
        #: derived display items (sideband window of a map, summed spectrum of an SI) by title suffix
        self.derived: dict[str, typing.Any] = {}
        #: display settings set on each item (by suffix, "" = the result's own), see displays.apply_view
        self.applied: dict[str, dict] = {}

    def note_write(self, index: typing.Any) -> None:
        if isinstance(index, (int, np.integer)):
            self.rows_done = max(self.rows_done, int(index) + 1)
        else:
            self.rows_done = self.data.shape[0] if self.data.ndim else 0


class SwiftDataItemSink:
    """Results as live Swift data items.

    Parameters
    ----------
    document_controller : nion.swift.DocumentController.DocumentController
        Where the data items go; its ``queue_task`` runs code on the UI thread.
    title_prefix : str
        Prepended to every data item title (e.g. the experiment name).
    """

    def __init__(self, document_controller: typing.Any, *, title_prefix: str = "") -> None:
        self.document_controller = document_controller
        self.document_model = document_controller.document_model
        self.title_prefix = title_prefix
        self._results: dict[str, _Result] = {}
        self._lock = threading.Lock()
        self._flush_pending = False

    # -- Sink protocol (any thread) ----------------------------------------------------------
    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *,
               dtype: str = "float32", metadata: dict | None = None, title: str | None = None,
               signal_type: str = "") -> None:
        if len(axes) != len(shape):
            raise ValueError(f"result {name!r}: {len(axes)} axes given for a {len(shape)}-D shape {shape}")
        data = np.zeros(shape, dtype=dtype)  # zeros, not NaN: Swift's displays scale on finite data
        with self._lock:
            old = self._results.get(name)
            self._results[name] = _Result(data, list(axes), {**(metadata or {}), "status": "acquiring"},
                                          f"{self.title_prefix}{title or name}")
            if old is not None:
                self._results[name].data_item = old.data_item
                self._results[name].derived = old.derived
                self._results[name].applied = old.applied
        self._request_flush()

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        with self._lock:
            result = self._results[name]
            result.data[index] = data
            result.note_write(index)
            result.dirty = True
        self._request_flush()

    def update_metadata(self, name: str, metadata: dict) -> None:
        with self._lock:
            result = self._results[name]
            result.metadata.update(metadata)
            result.dirty = True
        self._request_flush()

    def finish(self, name: str | None = None) -> None:
        with self._lock:
            for key in ([name] if name else list(self._results)):
                result = self._results[key]
                result.metadata.update(finished_metadata(result.metadata))
                result.dirty = True
        self._request_flush()

    def stop_unfinished(self, exc: BaseException) -> list[str]:
        """Mark the results still "acquiring" as stopped by ``exc`` and finish them (a panel's
        last word when a workflow raised outside its own handling); returns their names."""
        with self._lock:
            names = [k for k, r in self._results.items() if r.metadata.get("status") == "acquiring"]
            for name in names:
                self._results[name].metadata.update(stop_metadata(exc))
        for name in names:
            self.finish(name)
        return names

    # -- UI thread ---------------------------------------------------------------------------
    def data_item(self, name: str) -> typing.Any:
        """The data item of a result (None until the UI thread has created it)."""
        result = self._results.get(name)
        return result.data_item if result else None

    def _request_flush(self) -> None:
        with self._lock:
            if self._flush_pending:
                return
            self._flush_pending = True
        self.document_controller.queue_task(self.flush)

    def flush(self) -> None:
        """Create or update the data items (UI thread)."""
        from nionswift_plugin.lumiere import displays

        with self._lock:
            self._flush_pending = False
            work = [(r, r.data.copy(), dict(r.metadata), r.rows_done) for r in self._results.values() if r.dirty]
            for r, *_ in work:
                r.dirty = False
        for result, data, metadata, rows_done in work:
            # the view decides what the item holds (a table: its plotted columns) and how it shows
            view = displays.result_view(data, result.axes, metadata, rows_done)
            result.data_item = self._show(result.data_item, view, result.title, result.applied.setdefault("", {}))
            for suffix, derived in self._derived_views(data, result, metadata, rows_done):
                result.derived[suffix] = self._show(result.derived.get(suffix), derived, f"{result.title} {suffix}",
                                                    result.applied.setdefault(suffix, {}))

    @staticmethod
    def _derived_views(data: np.ndarray, result: _Result, metadata: dict,
                       rows_done: int) -> list[tuple[str, typing.Any]]:
        """Extra items that make a result readable: a λ × E map as an image of its sideband
        window, the summed spectrum beside an SI."""
        from nionswift_plugin.lumiere import displays

        axes = result.axes
        if data.ndim == 3 and axes[0].navigate and axes[1].navigate and not axes[2].navigate:
            return [("summed spectrum", displays.summed_spectrum(data, axes, metadata))]
        if data.ndim == 2 and axes[0].navigate and axes[1].units == "eV" and not displays.is_table(axes, metadata):
            photon = displays.photon_energies_eV(axes, metadata, data.shape)
            if photon is not None:
                return [("(sideband window)", displays.sideband_window_view(data, axes, metadata, rows_done, photon))]
        return []

    def _show(self, data_item: typing.Any, view: typing.Any, title: str, applied: dict) -> typing.Any:
        """Create (or update) the data item of ``view`` and apply its display (UI thread)."""
        from nion.swift.model import DataItem, DisplayItem

        from nionswift_plugin.lumiere import displays

        first = data_item is None
        if first:
            data_item = DataItem.new_data_item(view.xdata)
            data_item.title = title
            # the display type is set before the item joins the document: Swift's thumbnail thread
            # starts at once, and a line plot's data (e.g. a 13 × 1024 λ × E map) drawn as the
            # default image is a line of pixels that nion.ui's PyQtProxy.rescale divides by zero
            # on (ZeroDivisionError in the Xvfb run of test_gui_panels)
            self.document_model.append_data_item(data_item, auto_display=False)
            display_item = DisplayItem.DisplayItem(data_item=data_item)
            display_item.display_type = view.kind
            self.document_model.append_display_item(display_item)
        else:
            data_item.set_xdata(view.xdata)
        if view.caption and data_item.caption != view.caption:
            data_item.caption = view.caption
        displays.apply_view(self.document_model.get_display_item_for_data_item(data_item), view, first=first,
                            applied=applied)
        return data_item

    def derived_item(self, name: str, suffix: str) -> typing.Any:
        """A derived data item of result ``name`` ("summed spectrum", "(sideband window)")."""
        result = self._results.get(name)
        return result.derived.get(suffix) if result else None


def _jsonable(value: typing.Any) -> typing.Any:
    """Swift stores metadata as JSON: numpy arrays and scalars (a sparse scan's pixel order)
    become lists and Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
