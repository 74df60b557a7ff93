"""Where workflow results go: memory (tests, scripts), a crash-safe HDF5 file, Swift data items.

A workflow announces each result once with :meth:`Sink.create` (name, shape, axes with units,
metadata), then writes parts of it with :meth:`Sink.write` as they are acquired, and calls
:meth:`Sink.finish` at the end (also after an abort: what was acquired is kept). The Swift sink
lives in ``nionswift_plugin.lumiere``; this module has no Swift dependency.

Results describe themselves with their axes (``Axis.name`` is the quantity: "Energy loss",
"Wavelength"; ``units``) and, optionally, ``metadata["display"]``: how a viewer should plot them,
plain data that every sink stores with the rest of the metadata:

- ``"plot"``: the columns of a table (a result whose last axis is named ``"column"`` and whose
  ``metadata["columns"]`` names them) to draw as line-plot layers, ``"labels"`` {column: legend
  text}, ``"x"``: the column to plot against (e.g. ``"time_s"``), or ``"x_values"`` /
  ``"x_name"`` / ``"x_units"`` for a table without one;
- ``"layers"``: legend texts of the rows of a 2-D result drawn as line-plot layers;
- ``"intensity"``: units of the values (``"µW"``, ``"nm"``, ``"1/µW"``), ``"caption"``: a text;
- ``"photon_energy_eV"``: [low, high] photon energies of an EEGS spectrum (opens on its sidebands).

The Swift sink reads them (``nionswift_plugin.lumiere.displays``); nothing here depends on it.

HDF5 files are written in HyperSpy's ``.hspy`` layout (``/Experiments/<name>/data`` with
``axis-i`` groups); with the ``.hspy`` extension (:data:`lumiere.outputs.DATA_SUFFIX`) a plain
``hs.load(path)`` opens them (rosettasciio picks its reader by extension: a ``.h5`` file matches
several readers and needs ``reader="hspy"``), and h5py and HDFView read them alike. The file is
closed after every write: a process killed between writes leaves a valid file holding every
completed part, and unacquired pixels read as NaN. An existing file is never replaced unless the
caller says ``overwrite=True`` (front ends choose a free name with :mod:`lumiere.outputs`).

Every result records how its run ended, in its Lumière metadata: ``status`` is "acquiring" from
:meth:`Sink.create` on (so a file whose writer was killed says so), then "complete" when it is
finished normally, or "aborted" (the user: an :class:`~detectors.interfaces.Aborted` or Ctrl-C) /
"failed" (an error) with ``aborted`` and ``error`` (:func:`mark_stopped`). ``finished`` means
the writer closed the result (no more writes), whether it is complete or not. The file's root
attributes ``run_status`` / ``run_error`` say how the whole run ended when a front end records it
(:meth:`HDF5Sink.record_run`): a run stopped after some results were complete (e.g. Ctrl-C during
the reconstruction) is "aborted" there even though those results are complete.

Metadata values that are large (a sparse scan's pixel order, long logs) are stored as datasets
in the metadata group, not as attributes: HDF5 refuses attributes beyond 64 KiB per object.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import signal
import threading
import typing

import h5py
import numpy as np

from detectors.interfaces import Aborted
from lumiere.metadata import write_hyperspy_metadata


@dataclasses.dataclass(frozen=True)
class Axis:
    """A calibrated axis: value = offset + scale · index, in ``units``.

    ``navigate`` is HyperSpy's notion: True for scan/sequence axes, False for the signal axes
    (energy, image axes of a single image).
    """

    name: str
    units: str
    scale: float = 1.0
    offset: float = 0.0
    navigate: bool = False

    def values(self, size: int) -> np.ndarray:
        return self.offset + self.scale * np.arange(size)


class Sink(typing.Protocol):
    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *,
               dtype: str = "float32", metadata: dict | None = None, title: str | None = None,
               signal_type: str = "") -> None: ...

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None: ...

    def update_metadata(self, name: str, metadata: dict) -> None: ...

    def finish(self, name: str | None = None) -> None: ...


@dataclasses.dataclass
class Result:
    """One result held by :class:`MemorySink`."""

    data: np.ndarray
    axes: list[Axis]
    metadata: dict
    title: str
    signal_type: str
    finished: bool = False
    writes: int = 0


class MemorySink:
    """Keeps results as numpy arrays: ``sink.results[name].data``."""

    def __init__(self) -> None:
        self.results: dict[str, Result] = {}
        self._lock = threading.Lock()

    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *,
               dtype: str = "float32", metadata: dict | None = None, title: str | None = None,
               signal_type: str = "") -> None:
        _check_axes(name, shape, axes)
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        with self._lock:
            self.results[name] = Result(np.full(shape, fill, dtype=dtype), list(axes),
                                        {**(metadata or {}), "status": "acquiring"}, title or name, signal_type)

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        with self._lock:
            result = self._get(name)
            result.data[index] = data
            result.writes += 1

    def update_metadata(self, name: str, metadata: dict) -> None:
        with self._lock:
            self._get(name).metadata.update(metadata)

    def finish(self, name: str | None = None) -> None:
        with self._lock:
            for key in ([name] if name else list(self.results)):
                result = self._get(key)
                result.finished = True
                result.metadata.update(finished_metadata(result.metadata))

    def _get(self, name: str) -> Result:
        try:
            return self.results[name]
        except KeyError:
            raise KeyError(f"result {name!r} was never created; created: {sorted(self.results)}") from None

    def __getitem__(self, name: str) -> np.ndarray:
        return self._get(name).data


class HDF5Sink:
    """Crash-safe HDF5 (HyperSpy layout) writer. See the module docstring.

    Parameters
    ----------
    path : path-like
        The file, created on construction; its folder too.
    overwrite : bool
        Replace an existing file. By default an existing file is kept and :class:`FileExistsError`
        names it (use :func:`lumiere.outputs.new_run_files` for a free name).

    Notes
    -----
    In the main thread a Ctrl-C (SIGINT) arriving while the file is open is held until the
    file is closed, so an interrupted run never leaves a half-created result behind.
    """

    def __init__(self, path: str | pathlib.Path, *, overwrite: bool = False) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            with _sigint_held(), h5py.File(self.path, "w" if overwrite else "w-") as f:
                f.attrs["file_format"] = "HyperSpy"
                f.attrs["file_format_version"] = "3.3"
                f.require_group("Experiments")
        except FileExistsError:
            raise FileExistsError(f"{self.path} exists and is kept: choose another name, or overwrite it "
                                  "explicitly (--overwrite)") from None
        _CREATED.append(self.path)

    @contextlib.contextmanager
    def _open(self) -> typing.Iterator[h5py.File]:
        with self._lock, _sigint_held(), h5py.File(self.path, "a") as f:
            yield f

    @classmethod
    def reopen(cls, path: str | pathlib.Path) -> "HDF5Sink":
        """A sink on an existing file of ours (to finish or mark its results), nothing truncated."""
        sink = cls.__new__(cls)
        sink.path, sink._lock = pathlib.Path(path), threading.Lock()
        with sink._open() as f:
            f.require_group("Experiments")
        return sink

    def holds_data(self) -> bool:
        """Whether any result received a write (a file with only empty results holds no data)."""
        with self._open() as f:
            return any(f["Experiments"][k]["metadata"]["Lumiere"].attrs.get("writes", 0) > 0
                       for k in f["Experiments"])

    def record_run(self, exc: BaseException | None) -> None:
        """Record on the file how the run ended: ``run_status`` "complete" (``exc`` None),
        "aborted" or "failed", and ``run_error`` (:func:`stop_metadata`)."""
        meta = {"status": "complete", "error": ""} if exc is None else stop_metadata(exc)
        with self._open() as f:
            f.attrs["run_status"], f.attrs["run_error"] = meta["status"], meta["error"]

    def stop_unfinished(self, exc: BaseException) -> list[str]:
        """Mark every result still "acquiring" as stopped by ``exc`` and finish it (what a front
        end does when a run ends with an exception outside the workflows' own handling, e.g. a
        Ctrl-C during the analysis). Returns the names marked; complete results are left as they
        are."""
        with self._open() as f:
            names = [k for k in f["Experiments"]
                     if f["Experiments"][k]["metadata"]["Lumiere"].attrs.get("status") == "acquiring"]
        mark_stopped(self, names, exc)
        for name in names:
            self.finish(name)
        return names

    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *,
               dtype: str = "float32", metadata: dict | None = None, title: str | None = None,
               signal_type: str = "") -> None:
        _check_axes(name, shape, axes)
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        chunks = _chunks(shape, np.dtype(dtype).itemsize)
        with self._open() as f:
            exps = f["Experiments"]
            if name in exps:
                del exps[name]
            group = exps.create_group(name)
            group.create_dataset("data", shape=shape, dtype=dtype, fillvalue=fill, chunks=chunks)
            for i, axis in enumerate(axes):
                a = group.create_group(f"axis-{i}")
                a.attrs.update({"name": axis.name, "units": axis.units, "scale": axis.scale,
                                "offset": axis.offset, "size": shape[i], "navigate": axis.navigate,
                                "_type": "UniformDataAxis"})
            meta = group.create_group("metadata")
            general = meta.create_group("General")
            general.attrs["title"] = title or name
            sig = meta.create_group("Signal")
            sig.attrs["signal_type"] = signal_type
            _write_dict(meta.create_group("Lumiere"), {**(metadata or {}), "status": "acquiring", "writes": 0})
            group.create_group("original_metadata")
            group.attrs.update({"package": "", "package_version": ""})
            write_hyperspy_metadata(group, metadata or {}, signal_type)  # quant: Acquisition_instrument (lumiere/metadata.py)

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        with self._open() as f:
            group = f["Experiments"][name]
            group["data"][index] = data
            lumiere = group["metadata"]["Lumiere"]
            lumiere.attrs["writes"] = int(lumiere.attrs.get("writes", 0)) + 1

    def update_metadata(self, name: str, metadata: dict) -> None:
        with self._open() as f:
            _write_dict(f["Experiments"][name]["metadata"].require_group("Lumiere"), metadata)

    def finish(self, name: str | None = None) -> None:
        with self._open() as f:
            for key in ([name] if name else list(f["Experiments"])):
                lumiere = f["Experiments"][key]["metadata"]["Lumiere"]
                lumiere.attrs.update(finished_metadata(dict(lumiere.attrs)))


class CompositeSink:
    """Sends every call to several sinks (e.g. Swift data items and an HDF5 file)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], **kwargs: typing.Any) -> None:
        for s in self.sinks:
            s.create(name, shape, axes, **kwargs)

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        for s in self.sinks:
            s.write(name, index, data)

    def update_metadata(self, name: str, metadata: dict) -> None:
        for s in self.sinks:
            s.update_metadata(name, metadata)

    def finish(self, name: str | None = None) -> None:
        for s in self.sinks:
            s.finish(name)


def stop_metadata(exc: BaseException) -> dict:
    """The metadata recording a run stopped by ``exc``: the user's stop (an
    :class:`~detectors.interfaces.Aborted`, Ctrl-C) is ``status="aborted"``, ``aborted=True``; anything
    else ``status="failed"``, ``aborted=False``; ``error`` says what it was either way."""
    aborted = isinstance(exc, (Aborted, KeyboardInterrupt))
    text = str(exc) or ("interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else "")
    return {"status": "aborted" if aborted else "failed", "aborted": aborted,
            "error": f"{type(exc).__name__}: {text}"}


def finished_metadata(current: typing.Mapping) -> dict:
    """What :meth:`Sink.finish` records: ``finished``, and the ``status`` if the result has none
    yet: "aborted" / "failed" when a workflow recorded ``aborted`` / ``error`` itself, else
    "complete" (with ``aborted=False``)."""
    if current.get("status", "acquiring") != "acquiring":
        return {"finished": True}
    if current.get("aborted"):
        return {"finished": True, "status": "aborted"}
    if current.get("error"):
        return {"finished": True, "status": "failed", "aborted": False}
    return {"finished": True, "status": "complete", "aborted": False}


def mark_stopped(sink: Sink, names: typing.Iterable[str], exc: BaseException, extra: dict | None = None) -> None:
    """Record on each result that its run stopped with ``exc`` (:func:`stop_metadata`), so a
    reader knows the data are partial. What was written stays. Best effort: a sink that fails
    here must not hide the original error."""
    for name in names:
        try:
            sink.update_metadata(name, {**stop_metadata(exc), **(extra or {})})
        except Exception:  # noqa: BLE001 - the original error matters more
            pass


#: the files every HDF5Sink of this process created, oldest first (:func:`created_hdf5_files`)
_CREATED: list[pathlib.Path] = []


def created_hdf5_files() -> list[pathlib.Path]:
    """The files :class:`HDF5Sink` created in this process, oldest first: the CLI records how
    its run ended on them and, when interrupted, marks their unfinished results and names the
    files that hold data (:func:`lumiere.outputs.run_recorded`)."""
    return list(_CREATED)


@contextlib.contextmanager
def _sigint_held() -> typing.Iterator[None]:
    """Hold a SIGINT (Ctrl-C) that arrives inside the block until its end, so that an HDF5 file
    is never left with half a result. Only in the main thread with Python's default handler
    (signals reach only the main thread; a front end's own handler is left alone)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if caught:
            raise KeyboardInterrupt


def read_hdf5_result(path: str | pathlib.Path, name: str) -> tuple[np.ndarray, list[Axis], dict]:
    """Read back one result written by :class:`HDF5Sink`: (data, axes, Lumière metadata)."""
    with h5py.File(path, "r") as f:
        group = f["Experiments"][name]
        data = group["data"][()]
        axes = []
        for i in range(data.ndim):
            a = group[f"axis-{i}"].attrs
            axes.append(Axis(str(a["name"]), str(a["units"]), float(a["scale"]), float(a["offset"]),
                             bool(a["navigate"])))
        meta = _read_dict(group["metadata"]["Lumiere"])
    return data, axes, meta


#: metadata values above this size are datasets, not attributes (HDF5's limit is 64 KiB for
#: all the attributes of an object together)
_LARGE_BYTES = 4096


def _check_axes(name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis]) -> None:
    if len(axes) != len(shape):
        raise ValueError(f"result {name!r}: {len(axes)} axes given for a {len(shape)}-D shape {shape}")


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...] | None:
    if not shape or 0 in shape:
        return None
    # one chunk per row of the first axis (a scan row / a sequence), capped near 4 MiB
    chunk = [1] + list(shape[1:])
    while np.prod(chunk) * itemsize > 4 << 20 and max(chunk) > 1:
        i = int(np.argmax(chunk))
        chunk[i] = max(1, chunk[i] // 2)
    return tuple(chunk)


def _write_dict(group: h5py.Group, d: dict) -> None:
    for key, value in d.items():
        if key in group and not (isinstance(value, dict) and isinstance(group[key], h5py.Group)):
            del group[key]  # a value stored before as a dataset, now replaced
        if isinstance(value, dict):
            _write_dict(group.require_group(key), value)
            continue
        if isinstance(value, (list, tuple)) and value and not all(isinstance(v, (int, float)) for v in value):
            value = json.dumps(value)
        elif value is None:
            value = "None"
        elif isinstance(value, (list, tuple)):
            value = np.asarray(value)
        size = value.nbytes if isinstance(value, np.ndarray) else len(value) if isinstance(value, str) else 0
        if size > _LARGE_BYTES:
            if key in group.attrs:
                del group.attrs[key]
            group.create_dataset(key, data=value)
        else:
            group.attrs[key] = value


def _read_dict(group: h5py.Group) -> dict:
    out: dict = {}
    for key, value in group.attrs.items():
        out[key] = value.item() if isinstance(value, np.generic) else value
    for key, sub in group.items():
        if isinstance(sub, h5py.Group):
            out[key] = _read_dict(sub)
        else:
            value = sub[()]
            out[key] = value.decode() if isinstance(value, bytes) else value
    return out
