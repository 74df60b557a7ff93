"""Sparse SI and live PCA / NMF on the simulated instrument (no Swift): pixel-order acquisition,
sampling mask, low-rank reconstruction, abort, live loadings/scores, backend refusal."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.decomposition import principal_angles_deg
from analysis.sampling import inpaint_interpolate
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from drift_eels.sparse_si import acquire_sparse_spectrum_image
from drift_eels.spectrum_image import acquire_spectrum_image
from lumiere.sinks import MemorySink
from detectors.interfaces import Aborted
from lumiere.tasks import TaskControl

# Sc2O3, DyScO3 and Dy2O3 grains on the film in the 350–1373 eV window: three spectral
# components well above the Poisson noise floor at 200 pA, 5 ms per pixel
FRAME = ScanFrame(size_px=(16, 16), fov_nm=256.0, center_nm=(60.0, 130.0))
EXPOSURE_S = 0.005


@pytest.fixture()
def instrument():
    instrument = build_instrument()  # virtual clock: no waiting
    world = instrument.world
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 200.0
    return instrument


def weighted_offline_components(si: np.ndarray, k: int) -> np.ndarray:
    """Top-k right singular vectors of the Keenan–Kotula-weighted, centred SI (the offline PCA
    the live one streams)."""
    x = si.reshape(-1, si.shape[-1]).astype(np.float64)
    xw = x / np.sqrt(x.mean(axis=1)[:, None] * x.mean(axis=0)[None, :])
    return np.linalg.svd(xw - xw.mean(axis=0), full_matrices=False)[2][:k]


def test_pixel_order_visits_exactly_those_pixels(instrument):
    world = instrument.world
    order = np.array([17, 3, 250, 128])
    spectra, haadf = instrument.spectrum_imager.acquire_spectrum_image(FRAME, EXPOSURE_S, pixel_order=order)
    assert spectra.shape == (4, 1024) and haadf.shape == (4,)
    y, x = FRAME.positions_nm()
    expected = world.eels_counts(y.ravel()[order], x.ravel()[order], world.clock.now_s(), EXPOSURE_S, noise=False)
    assert np.allclose(spectra.sum(axis=1), expected.sum(axis=1), rtol=0.05)  # Poisson noise on ~10⁵ counts
    t0 = world.clock.now_s()
    instrument.spectrum_imager.acquire_spectrum_image(FRAME, EXPOSURE_S, pixel_order=np.arange(10))
    assert world.clock.now_s() - t0 == pytest.approx(10 * EXPOSURE_S)  # paced: one exposure per visit
    with pytest.raises(ValueError, match="repeats"):
        instrument.spectrum_imager.acquire_spectrum_image(FRAME, EXPOSURE_S, pixel_order=[1, 1])


def test_sparse_si_mask_reconstruction_and_metadata(instrument):
    full, _ = acquire_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, MemorySink())
    sink = MemorySink()
    progress = []
    result = acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, fraction=0.25,
                                           task=TaskControl(lambda f, m: progress.append(f)))
    mask = sink["sampling_mask"].astype(bool)
    assert abs(int(mask.sum()) - 64) <= 1 and np.array_equal(mask, result.mask)
    assert progress[-1] == 1.0 and len(progress) >= 5  # 4 sections + reconstruction
    si = sink["si"]
    assert (si[mask].sum(axis=1) > 0).all() and (si[~mask] == 0).all()
    meta = sink.results["si"].metadata["sampling"]
    assert meta["fraction"] == 0.25 and meta["dose_reduction"] == 4.0 and meta["visits_planned"] == 64
    assert np.array_equal(sink.results["sampling_mask"].metadata["pixel_order"], result.pattern.order)
    recon = sink["si_reconstructed"]
    assert [a.units for a in sink.results["si_reconstructed"].axes] == ["nm", "nm", "eV"]
    # Error at the unvisited pixels against a fully sampled SI of the same region (its own
    # Poisson noise is the floor). The low-rank reconstruction interpolates 8 score maps and
    # drops the noise outside the signal subspace, so it is below the per-channel interpolation
    # baseline (by ~2 % here: both are dominated by the full SI's noise).
    un = ~mask
    lin = inpaint_interpolate(result.si.reshape(-1, 1024)[result.pattern.order], result.pattern.order, (16, 16))
    err_low = np.sqrt(np.mean((recon[un] - full[un]) ** 2))
    err_lin = np.sqrt(np.mean((lin[un] - full[un]) ** 2))
    assert np.isfinite(recon).all() and err_low < err_lin, (err_low, err_lin)


def test_line_hopping_sparse_si(instrument):
    sink = MemorySink()
    result = acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink,
                                           pattern="line-hopping", fraction=0.25, seed=3)
    mask = sink["sampling_mask"].astype(bool)
    assert (mask.reshape(4, 4, 16).sum(axis=1) == 1).all()  # one row per column in each 4-row band
    assert result.visits_done == 64 and np.isfinite(sink["si_reconstructed"]).all()


def test_abort_keeps_visited_spectra_and_mask(instrument):
    sink = MemorySink()
    task = TaskControl()
    task.add_listener(lambda f, m: task.abort() if 0.4 <= f < 0.9 else None)
    with pytest.raises(Aborted):
        acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, fraction=0.25,
                                      task=task, live_components=2)
    mask = sink["sampling_mask"].astype(bool)
    order = np.array(sink.results["sampling_mask"].metadata["pixel_order"])
    done = sink.results["si"].metadata["visits_done"]
    assert 0 < done < 64 and mask.sum() == done and mask.ravel()[order[:done]].all()
    si = sink["si"]
    assert (np.nan_to_num(si[mask]).sum(axis=1) > 0).all(), "every visited spectrum is kept"
    assert sink.results["si"].metadata["aborted"] and sink.results["sampling_mask"].finished
    assert "si_reconstructed" not in sink.results
    assert sink.results["pca_scores"].metadata["spectra_seen"] == done


@pytest.mark.parametrize("sparse", [False, True])
def test_live_pca_updates_per_section_and_matches_offline(instrument, sparse):
    sink = MemorySink()
    if sparse:
        result = acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, fraction=0.5,
                                               live_components=3)
        si, mask = result.si, result.mask
    else:
        si, _ = acquire_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, live_components=3)
        mask = np.ones((16, 16), bool)
    loadings, scores = sink.results["pca_loadings"], sink.results["pca_scores"]
    assert loadings.writes == scores.writes == 4  # one update per section of 4 rows
    assert loadings.data.shape == (3, 1024) and scores.data.shape == (3, 16, 16)
    assert loadings.axes[1].units == "eV" and loadings.axes[1].offset == 350.0
    assert [a.units for a in scores.axes[1:]] == ["nm", "nm"] and scores.axes[1].scale == FRAME.pixel_size_nm
    assert scores.metadata["spectra_seen"] == mask.sum() and scores.finished
    angles = principal_angles_deg(loadings.data, weighted_offline_components(si[mask], 3))
    assert angles.max() < 2.0, angles
    assert (scores.data[:, ~mask] == 0).all() and (np.abs(scores.data[0][mask]) > 0).all()


@pytest.mark.parametrize("sparse", [False, True])
def test_live_nmf_updates_per_section_and_fits_like_offline_nmf(instrument, sparse):
    """Live online NMF: non-negative components and abundances, one update per section, and a
    fit of the visited spectra as good (within 5 %) as a batch NMF of the finished SI."""
    from sklearn.decomposition import NMF

    sink = MemorySink()
    if sparse:
        result = acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, fraction=0.5,
                                               live_components=3, live_method="nmf")
        si, mask = result.si, result.mask
    else:
        si, _ = acquire_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, live_components=3,
                                       live_method="nmf")
        mask = np.ones((16, 16), bool)
    assert "pca_loadings" not in sink.results
    components, abundances = sink.results["nmf_loadings"], sink.results["nmf_scores"]
    assert components.writes == abundances.writes == 4 and components.metadata["updates"] == 4
    assert components.title == "Live NMF components (3)" and abundances.title == "Live NMF abundance maps (3)"
    assert components.metadata["method"] == "nmf" and not components.metadata["poisson_weighting"]
    assert abundances.metadata["spectra_seen"] == mask.sum() and abundances.finished
    assert (components.data >= 0).all() and (abundances.data >= 0).all()
    assert (abundances.data[:, ~mask] == 0).all() and (abundances.data.sum(axis=0)[mask] > 0).all()
    x = si[mask].astype(np.float64)
    live_fit = abundances.data[:, mask].T.astype(np.float64) @ components.data.astype(np.float64)
    offline = NMF(3, init="nndsvda", max_iter=1000, random_state=0).fit(x)
    offline_fit = offline.transform(x) @ offline.components_
    live_error = np.linalg.norm(x - live_fit) / np.linalg.norm(x)
    offline_error = np.linalg.norm(x - offline_fit) / np.linalg.norm(x)
    assert live_error < 1.05 * offline_error, (live_error, offline_error)


def test_an_aborted_si_marks_every_result_live_ones_included(instrument):
    sink = MemorySink()
    task = TaskControl()
    task.add_listener(lambda f, m: task.abort() if f >= 0.5 else None)
    with pytest.raises(Aborted):
        acquire_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, sink, task=task, live_components=2,
                               live_method="nmf")
    for name in ("si", "si_haadf", "nmf_loadings", "nmf_scores"):
        meta = sink.results[name].metadata
        assert meta["aborted"] is True and meta["error"].startswith("Aborted") and sink.results[name].finished
    assert np.isfinite(sink["si"][:8]).all() and np.isnan(sink["si"][8:]).all()


def test_bad_inputs_are_refused_before_the_beam_moves(instrument):
    t0 = instrument.world.clock.now_s()
    with pytest.raises(ValueError, match="pattern = 'spiral'"):
        acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, MemorySink(), pattern="spiral")
    with pytest.raises(ValueError, match="fraction"):
        acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, MemorySink(), fraction=1.5)
    with pytest.raises(ValueError, match="live PCA components = -1"):
        acquire_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, MemorySink(), live_components=-1)
    with pytest.raises(ValueError, match="live decomposition method = 'ica'"):
        acquire_sparse_spectrum_image(instrument.spectrum_imager, FRAME, EXPOSURE_S, MemorySink(), live_components=2,
                                      live_method="ica")
    assert instrument.world.clock.now_s() == t0


def test_docstring_examples():
    import doctest

    import analysis.decomposition.live as live

    result = doctest.testmod(live)
    assert result.attempted > 0 and result.failed == 0
