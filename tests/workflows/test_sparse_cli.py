"""``lumiere si``: a sparse SI with live PCA from the command line (HDF5), and its refusals."""
from __future__ import annotations

import numpy as np

from lumiere.cli import main
from lumiere.sinks import read_hdf5_result


def test_sparse_si_with_live_pca_writes_hdf5(tmp_path, capsys):
    code = main(["si", "--out", str(tmp_path), "--size", "12", "--exposure-ms", "2", "--sampling", "0.5",
                 "--pattern", "line-hopping", "--live-pca", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "72 of 144 pixels visited (50 %), dose reduced 2.0×" in out, out
    h5 = tmp_path / "si.h5"
    mask, _, meta = read_hdf5_result(h5, "sampling_mask")
    assert mask.sum() == 72 and meta["finished"]
    si, axes, meta = read_hdf5_result(h5, "si")
    assert [a.units for a in axes] == ["nm", "nm", "eV"] and axes[2].offset == 350.0
    assert (si[mask.astype(bool)].sum(axis=1) > 0).all() and (si[~mask.astype(bool)] == 0).all()
    recon, _, _ = read_hdf5_result(h5, "si_reconstructed")
    assert recon.shape == (12, 12, 1024) and np.isfinite(recon).all()
    loadings, axes, meta = read_hdf5_result(h5, "pca_loadings")
    assert loadings.shape == (2, 1024) and axes[1].units == "eV" and meta["updates"] == 3


def test_bad_sampling_and_real_merlin_are_refused(tmp_path, capsys):
    assert main(["si", "--out", str(tmp_path), "--sampling", "0"]) == 1
    assert "--sampling 0.0 outside (0, 1]" in capsys.readouterr().err
    site = tmp_path / "site.toml"
    site.write_text('[eels_camera]\nbackend = "merlin"\nhost = "127.0.0.1"\n')
    assert main(["si", "--out", str(tmp_path), "--config", str(site), "--sampling", "0.5"]) == 1
    assert "sparse scanning is not available with eels_camera backend 'merlin'" in capsys.readouterr().err
