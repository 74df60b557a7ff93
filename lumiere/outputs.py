"""Output file names: one rule for every writer (CLI subcommands, Swift panels, ``reprocess``).

**Nothing is replaced unless the user says so.** A run writes its data file and its plots under
the names it asks for when none of them exists; otherwise under the same names numbered
``_001``, ``_002``, … (the first number free for *all* of the run's files, so a data file and
its plots keep one number). ``overwrite=True`` (``--overwrite`` on the CLI) writes the names as
asked, replacing what is there.

Data files get the extension ``.hspy`` (:data:`DATA_SUFFIX`): rosettasciio picks its reader by
extension, and ``.hspy`` is HyperSpy's own, so ``hs.load(path)`` opens them without a
``reader=`` argument; they are plain HDF5 for h5py / HDFView.

Examples
--------
>>> import tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> new_run_files(d, "si").data.name
'si.hspy'
>>> _ = (d / "si.hspy").write_bytes(b"earlier run")
>>> files = new_run_files(d, "si", plots=("si_maps.png",))
>>> files.data.name, files.plot("si_maps.png").name
('si_001.hspy', 'si_maps_001.png')
>>> new_run_files(d, "si", overwrite=True).data.name
'si.hspy'
"""
from __future__ import annotations

import dataclasses
import pathlib
import typing

from detectors.interfaces import Aborted

#: the extension of every data file we write (HyperSpy's; see the module docstring)
DATA_SUFFIX = ".hspy"

#: the data file names of the workflows, one per workflow so that runs of different kinds in one
#: folder never compete for a name
WORKFLOW_STEMS = {
    "demo": "demo",
    "si": "si",
    "drift-si": "drift_si",
    "wavelength-scan": "eegs_wavelength_scan",
    "power-scan": "eegs_power_scan",
    "reprocess": "reprocessed",
}

_MAX_NUMBER = 999


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """The files of one run: ``data`` (the HDF5 file) and its plots by requested name."""

    data: pathlib.Path
    plots: dict[str, pathlib.Path]
    number: int  # 0: the names as asked; n: every name numbered ``_{n:03d}``

    def plot(self, name: str) -> pathlib.Path:
        """The path of the plot requested as ``name`` (e.g. "maps.png")."""
        try:
            return self.plots[name]
        except KeyError:
            raise KeyError(f"plot {name!r} was not requested for {self.data.name}; "
                           f"requested: {sorted(self.plots)}") from None


def numbered(path: pathlib.Path, number: int) -> pathlib.Path:
    """``path`` with ``_NNN`` before its extension (``number`` 0: ``path`` itself)."""
    return path if number == 0 else path.with_name(f"{path.stem}_{number:03d}{path.suffix}")


def new_run_files(directory: str | pathlib.Path, stem: str, *, plots: typing.Sequence[str] = (),
                  suffix: str = DATA_SUFFIX, overwrite: bool = False) -> RunFiles:
    """Free names for a run's data file ``directory/stem + suffix`` and its ``plots`` (file names
    in ``directory``), following the module's rule; creates ``directory``.

    Raises
    ------
    FileExistsError
        All numbers up to 999 are taken (naming the first file).
    """
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"output folder {str(directory)!r} is a file; give a folder")
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [directory / f"{stem}{suffix}", *(directory / p for p in plots)]
    for number in range(0, _MAX_NUMBER + 1):
        paths = [numbered(p, number) for p in wanted]
        if overwrite or not any(p.exists() for p in paths):
            return RunFiles(paths[0], dict(zip(plots, paths[1:])), number)
    raise FileExistsError(f"{wanted[0]} and its numbered variants up to _{_MAX_NUMBER:03d} all exist; "
                          "choose another folder or name")


def new_file(path: str | pathlib.Path, *, overwrite: bool = False) -> pathlib.Path:
    """A free name for one file the user named (``reprocess --out OUT``, a script's path): the
    path itself if free (or ``overwrite``), else its first free numbered variant. A path without
    an extension gets :data:`DATA_SUFFIX`."""
    path = pathlib.Path(path)
    return new_run_files(path.parent, path.stem, suffix=path.suffix or DATA_SUFFIX, overwrite=overwrite).data


def add_overwrite_argument(parser: typing.Any) -> None:
    """The CLI's ``--overwrite`` (every subcommand that writes files)."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files; by default a new numbered name is used "
                             "(si.hspy exists: si_001.hspy)")


def run_recorded(run: typing.Callable[[typing.Any], int | None], args: typing.Any) -> int | None:
    """Call ``run(args)`` (a CLI subcommand) and record how it ended on the HDF5 files it created
    (:meth:`~lumiere.sinks.HDF5Sink.record_run`). If it raises, also mark the results left
    "acquiring" as aborted (Ctrl-C, :class:`~detectors.interfaces.Aborted`) or failed, and attach to the exception what was kept
    (:func:`kept_message`) before re-raising."""
    from lumiere.sinks import HDF5Sink, created_hdf5_files

    first = len(created_hdf5_files())
    try:
        code = run(args)
    except BaseException as exc:
        kept = []
        for path in created_hdf5_files()[first:]:
            try:
                if not path.exists():
                    continue
                sink = HDF5Sink.reopen(path)
                sink.record_run(exc)
                sink.stop_unfinished(exc)
                if sink.holds_data():
                    kept.append(sink.path)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        exc.lumiere_kept = kept  # type: ignore[attr-defined]
        raise
    for path in created_hdf5_files()[first:]:
        if path.exists():
            HDF5Sink.reopen(path).record_run(None)
    return code


def kept_message(exc: BaseException) -> str:
    """What an interrupted or failed run left on disk, truthfully: "partial results kept in
    PATH" only for files that exist and hold data (see :func:`run_recorded`)."""
    kept = [p for p in getattr(exc, "lumiere_kept", []) if pathlib.Path(p).exists()]
    if not kept:
        return "no data was written to disk"
    how = "aborted" if isinstance(exc, (KeyboardInterrupt, Aborted)) else "failed"
    return f"partial results kept in {', '.join(str(p) for p in kept)} (run marked {how})"
