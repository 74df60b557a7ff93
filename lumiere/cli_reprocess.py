"""``lumiere reprocess IN.hspy --out OUT.hspy [--scheduler tcp://…] [--components K] [--edges …] [--chunk-mb N]``.

Out-of-core reprocessing of a drift-corrected SI's sequence stack (``lumiere drift-si
--keep-sequences``): per-channel correction, drift alignment of the sequences, PCA and elemental
maps, with Dask (:mod:`drift_eels.reprocess`). Dask's local threaded scheduler by default;
``--scheduler tcp://host:port`` runs the blocks on a ``dask.distributed`` cluster whose workers
see IN and OUT at the same paths. An existing OUT is kept: the results go to the next free
numbered name (``OUT_001.hspy``, :mod:`lumiere.outputs`) unless ``--overwrite``.
"""
from __future__ import annotations

import argparse

import numpy as np

from drift_eels.parameters import DEFAULT_EDGES
from lumiere.cli_checks import non_negative_int, positive_float, positive_int
from lumiere.outputs import add_overwrite_argument, new_file
from lumiere.tasks import TaskControl, TextProgressBar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN.hspy", help="HDF5 file with si_sequences and haadf_sequences")
    parser.add_argument("--out", required=True, metavar="OUT.hspy",
                        help="output HDF5 file (.hspy opens with a plain hs.load); kept if it exists: "
                             "OUT_001.hspy … is used unless --overwrite")
    add_overwrite_argument(parser)
    parser.add_argument("--scheduler", default=None,
                        help="'threads' (default), 'synchronous', or a dask.distributed address tcp://host:port")
    parser.add_argument("--components", type=positive_int, default=4, help="PCA components (default 4)")
    parser.add_argument("--poisson", action="store_true", help="Poisson (Keenan–Kotula) weighting of the PCA")
    parser.add_argument("--edges", nargs="+", default=list(DEFAULT_EDGES), metavar="EDGE",
                        help='edges to map, e.g. --edges "Sc L2,3" "Dy M4,5" (default)')
    parser.add_argument("--chunk-mb", type=positive_float, default=32.0, help="Dask block size, MiB (default 32)")
    parser.add_argument("--prefix", default="", help="result-name prefix in IN.h5 (e.g. 'uncorrected_')")
    parser.add_argument("--gain", default=None, metavar="GAIN.npy", help="per-channel gain (E,) .npy")
    parser.add_argument("--dark", default=None, metavar="DARK.npy", help="per-channel dark counts (E,) .npy")
    parser.add_argument("--dead-channels", type=non_negative_int, nargs="+", default=None, metavar="C",
                        help="dead energy channels (0-based), repaired from their neighbours")


def _load_vector(path: str | None, what: str) -> np.ndarray | None:
    if path is None:
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the {what} file {path!r}: {e}") from None


def run(args: argparse.Namespace) -> int:
    from drift_eels.reprocess import reprocess

    task = TaskControl(TextProgressBar("reprocess"))
    out = new_file(args.out, overwrite=args.overwrite)
    s = reprocess(args.input, out, overwrite=args.overwrite, edges=args.edges, n_components=args.components,
                  scheduler=args.scheduler, chunk_mb=args.chunk_mb, prefix=args.prefix,
                  gain=_load_vector(args.gain, "gain"), dark=_load_vector(args.dark, "dark"),
                  dead_channels=args.dead_channels, poisson=args.poisson, task=task)
    ny, nx, n_e = s.shape
    drift = np.hypot(*s.shifts_px[-1]) if len(s.shifts_px) else 0.0
    print(f"{s.n_sequences} sequences of {ny}×{nx}×{n_e} aligned (last vs first: {drift:.2f} px) "
          f"with the {s.scheduler} scheduler; blocks of {s.energy_chunk} channels / {s.row_chunk} rows")
    print("timing: " + ", ".join(f"{k} {v:.2f}" for k, v in s.timing.items()))
    print(f"wrote {s.output_path}")
    return 0
