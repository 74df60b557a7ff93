"""Where workflow results go: memory (tests, scripts), a crash-safe HDF5 file, Swift data items.

A workflow announces each result once with :meth:`Sink.create` (name, shape, axes with units,
metadata), then writes parts of it with :meth:`Sink.write` as they are acquired, and calls
:meth:`Sink.finish` at the end (also after an abort: what was acquired is kept). The Swift sink
lives in ``nionswift_plugin.lumiere``; this module has no Swift dependency.

HDF5 files are written in HyperSpy's ``.hspy`` layout (``/Experiments/<name>/data`` with
``axis-i`` groups), so they open in HyperSpy / rosettasciio, h5py and HDFView alike. The file is
closed after every write: a process killed between writes leaves a valid file holding every
completed part, and unacquired pixels read as NaN.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import threading
import typing

import h5py
import numpy as np

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
            self.results[name] = Result(np.full(shape, fill, dtype=dtype), list(axes), dict(metadata or {}),
                                        title or name, signal_type)

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
                self._get(key).finished = True

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
        The file; created (truncated) on construction.
    """

    def __init__(self, path: str | pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with h5py.File(self.path, "w") as f:
            f.attrs["file_format"] = "HyperSpy"
            f.attrs["file_format_version"] = "3.3"
            f.require_group("Experiments")

    def _open(self) -> h5py.File:
        return h5py.File(self.path, "a")

    def create(self, name: str, shape: tuple[int, ...], axes: typing.Sequence[Axis], *,
               dtype: str = "float32", metadata: dict | None = None, title: str | None = None,
               signal_type: str = "") -> None:
        _check_axes(name, shape, axes)
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        chunks = _chunks(shape, np.dtype(dtype).itemsize)
        with self._lock, self._open() as f:
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
            _write_dict(meta.create_group("Lumiere"), metadata or {})
            group.create_group("original_metadata")
            group.attrs.update({"package": "", "package_version": ""})
            write_hyperspy_metadata(group, metadata or {}, signal_type)  # quant: Acquisition_instrument (lumiere/metadata.py)

    def write(self, name: str, index: typing.Any, data: np.ndarray) -> None:
        with self._lock, self._open() as f:
            f["Experiments"][name]["data"][index] = data

    def update_metadata(self, name: str, metadata: dict) -> None:
        with self._lock, self._open() as f:
            _write_dict(f["Experiments"][name]["metadata"].require_group("Lumiere"), metadata)

    def finish(self, name: str | None = None) -> None:
        with self._lock, self._open() as f:
            for key in ([name] if name else list(f["Experiments"])):
                f["Experiments"][key]["metadata"]["Lumiere"].attrs["finished"] = True


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


def mark_stopped(sink: Sink, names: typing.Iterable[str], exc: BaseException, extra: dict | None = None) -> None:
    """Record on each result that its run stopped with ``exc`` — ``aborted`` (an
    :class:`~lumiere.tasks.Aborted`) or an error — so a reader knows the data are partial. What
    was written stays. Best effort: a sink that fails here must not hide the original error."""
    from lumiere.tasks import Aborted

    for name in names:
        try:
            sink.update_metadata(name, {"aborted": isinstance(exc, Aborted),
                                        "error": f"{type(exc).__name__}: {exc}", **(extra or {})})
        except Exception:  # noqa: BLE001 - the original error matters more
            pass


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
        if isinstance(value, dict):
            _write_dict(group.require_group(key), value)
        elif isinstance(value, (list, tuple)) and value and not all(isinstance(v, (int, float)) for v in value):
            group.attrs[key] = json.dumps(value)
        elif value is None:
            group.attrs[key] = "None"
        else:
            group.attrs[key] = value


def _read_dict(group: h5py.Group) -> dict:
    out: dict = {}
    for key, value in group.attrs.items():
        out[key] = value.item() if isinstance(value, np.generic) else value
    for key, sub in group.items():
        if isinstance(sub, h5py.Group):
            out[key] = _read_dict(sub)
    return out
