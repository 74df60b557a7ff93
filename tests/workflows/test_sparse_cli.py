"""``lumiere si``: a sparse SI with live PCA, a raster one with live NMF, from the command line
(HDF5), and its refusals."""
from __future__ import annotations

import numpy as np
import pytest

from lumiere.cli import main
from lumiere.sinks import read_hdf5_result


def test_sparse_si_with_live_pca_writes_hdf5(tmp_path, capsys):
    code = main(["si", "--out", str(tmp_path), "--size", "12", "--exposure-ms", "2", "--sampling", "0.5",
                 "--pattern", "line-hopping", "--live-pca", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "72 of 144 pixels visited (50 %), dose reduced 2.0×" in out, out
    h5 = tmp_path / "si.hspy"
    mask, _, meta = read_hdf5_result(h5, "sampling_mask")
    assert mask.sum() == 72 and meta["finished"]
    si, axes, meta = read_hdf5_result(h5, "si")
    assert [a.units for a in axes] == ["nm", "nm", "eV"] and axes[2].offset == 350.0
    assert (si[mask.astype(bool)].sum(axis=1) > 0).all() and (si[~mask.astype(bool)] == 0).all()
    recon, _, _ = read_hdf5_result(h5, "si_reconstructed")
    assert recon.shape == (12, 12, 1024) and np.isfinite(recon).all()
    loadings, axes, meta = read_hdf5_result(h5, "pca_loadings")
    assert loadings.shape == (2, 1024) and axes[1].units == "eV" and meta["updates"] == 3


def test_bad_sampling_is_refused(tmp_path, capsys):
    assert main(["si", "--out", str(tmp_path), "--sampling", "0"]) == 1
    assert "--sampling 0.0 outside (0, 1]" in capsys.readouterr().err


def test_sparse_si_through_the_scan_protocol_and_the_merlin_protocol(tmp_path):
    """[scan] tcp-simulated + [eels_camera] merlin-simulated: the pixel order goes to the scan unit
    over TCP, the Merlin client reads one frame per visit; same file layout as on the simulator."""
    site = tmp_path / "site.toml"
    site.write_text('[scan]\nbackend = "tcp-simulated"\n\n[eels_camera]\nbackend = "merlin-simulated"\n')
    out = tmp_path / "out"
    assert main(["si", "--out", str(out), "--config", str(site), "--size", "8", "--exposure-ms", "1",
                 "--sampling", "0.5"]) == 0
    si, _, meta = read_hdf5_result(out / "si.hspy", "si")
    mask, _, _ = read_hdf5_result(out / "si.hspy", "sampling_mask")
    visited = mask.astype(bool)
    assert visited.sum() == 32 and meta["sampling"]["visits_planned"] == 32
    assert (si[visited].sum(axis=1) > 0).all() and (si[~visited] == 0).all()
    # the same pattern on the all-simulated instrument: the same specimen at the same pixels
    assert main(["si", "--out", str(tmp_path / "sim"), "--size", "8", "--exposure-ms", "1", "--sampling", "0.5"]) == 0
    reference, _, _ = read_hdf5_result(tmp_path / "sim" / "si.hspy", "si")
    haadf, _, _ = read_hdf5_result(out / "si.hspy", "si_haadf")
    haadf_ref, _, _ = read_hdf5_result(tmp_path / "sim" / "si.hspy", "si_haadf")
    assert np.corrcoef(haadf[visited], haadf_ref[visited])[0, 1] > 0.9
    assert np.corrcoef(si[visited].sum(axis=1), reference[visited].sum(axis=1))[0, 1] > 0.9


def test_raster_si_with_live_nmf(tmp_path, capsys):
    assert main(["si", "--out", str(tmp_path), "--size", "8", "--exposure-ms", "2", "--live-nmf", "2"]) == 0
    components, axes, meta = read_hdf5_result(tmp_path / "si.hspy", "nmf_loadings")
    abundances, _, _ = read_hdf5_result(tmp_path / "si.hspy", "nmf_scores")
    assert components.shape == (2, 1024) and axes[1].units == "eV" and meta["method"] == "nmf"
    assert meta["updates"] == 2 and meta["finished"] and (components >= 0).all()
    assert abundances.shape == (2, 8, 8) and (abundances >= 0).all() and (abundances.sum(axis=0) > 0).all()


def test_live_pca_and_live_nmf_together_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["si", "--out", str(tmp_path), "--live-pca", "2", "--live-nmf", "2"])
    assert "not allowed with argument" in capsys.readouterr().err
