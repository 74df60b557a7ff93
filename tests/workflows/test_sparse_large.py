"""A 256 × 256 sparse SI at 25 % from the command line: the pixel order (16 384 pixels, 64 KiB as
int32) no longer fits an HDF5 attribute ("object header message is too large" before); it is a
dataset and the whole file reads back (and opens in HyperSpy). About a minute: the largest SI
any test writes; the memory figures are in ``benchmarks/bench_sparse_memory.py``."""
from __future__ import annotations

import h5py
import numpy as np

from lumiere.cli import main
from lumiere.sinks import read_hdf5_result


def test_sparse_si_256_at_a_quarter_from_the_cli(tmp_path, capsys):
    assert main(["si", "--out", str(tmp_path), "--size", "256", "--sampling", "0.25", "--exposure-ms", "1"]) == 0
    assert "16384 of 65536 pixels visited (25 %)" in capsys.readouterr().out
    path = tmp_path / "si.hspy"
    mask, _, meta = read_hdf5_result(path, "sampling_mask")
    order = meta["pixel_order"]
    assert order.shape == (16384,) and mask.sum() == 16384 and mask.ravel()[order].all()
    assert meta["status"] == "complete"
    with h5py.File(path, "r") as f:
        assert isinstance(f["Experiments/sampling_mask/metadata/Lumiere/pixel_order"], h5py.Dataset)
        si = f["Experiments/si/data"][100:104]
        recon = f["Experiments/si_reconstructed/data"][100:104]
        assert f.attrs["run_status"] == "complete"
    visited = mask[100:104].astype(bool)
    assert (si[visited].sum(axis=1) > 0).all() and (si[~visited] == 0).all()
    assert recon.shape == (4, 256, 1024) and np.isfinite(recon).all() and recon.sum() > 0
