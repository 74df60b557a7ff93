"""Quantification of an SI file: HyperSpy metadata read by exspy and ``lumiere quantify``
(simulated instrument)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.eels import quant as q
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.cross_sections import ratio_method_plural_factor
from drift_eels.session import configure_simulation
from drift_eels.spectrum_image import acquire_spectrum_image
from lumiere.cli import main
from lumiere.sinks import HDF5Sink, read_hdf5_result

warnings.filterwarnings("ignore", module="hyperspy")


@pytest.fixture(scope="module")
def si_file(tmp_path_factory):
    """SIs over the pure DyScO3 grain 5 ("si") and the pure Dy2O3 grain 1 ("std"), 200 pA, 50 ms (enough counts that estimator differences are not noise)."""
    path = tmp_path_factory.mktemp("quant") / "si.h5"
    instrument = build_instrument()
    world = instrument.world
    configure_simulation(world, drift_nm_per_min=0.0, random_walk_nm_per_sqrt_min=0.0, current_pA=200.0)
    sink = HDF5Sink(path)
    truths = {}
    for name, index in (("si", 5), ("std", 1)):
        g = world.specimen.grains[index]
        frame = ScanFrame(size_px=(14, 14), fov_nm=2.0 * g.semi_axis_a_nm, center_nm=(g.y_nm, g.x_nm), dwell_s=0.05)
        meta = instrument.metadata()  # the HDF5 sink derives HyperSpy's TEM from it (lumiere/metadata.py)
        acquire_spectrum_image(instrument.spectrum_imager, frame, 0.05, sink, name=name, metadata=meta)
        truths[name] = world.specimen.truth_maps(*frame.positions_nm())
        # the low-loss SI of the same pixels (I_low, exspy's low_loss), then back to core loss
        offset, dispersion = world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = -20.0, 0.1
        acquire_spectrum_image(instrument.spectrum_imager, frame, 0.05, sink, name=name + "_low", metadata=meta)
        world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = offset, dispersion
    instrument.close()
    return path, truths


def _standard_sigma(path, truth) -> q.CrossSection:
    si, axes, _ = read_hdf5_result(path, "std")
    e = axes[-1].values(si.shape[-1])
    m = {k: q.elemental_map(si, e, k, pre_edge=q.quant_windows(k)[0], signal_window_eV=q.quant_windows(k)[1])
         for k in ("Dy M4,5", "O K")}
    region = (truth["Dy"] > 0.3 * truth["Dy"].max()) & np.isclose(truth["O"], 1.5 * truth["Dy"]) & (truth["Sc"] == 0)
    return q.k_factor_cross_section(m["Dy M4,5"], m["O K"], q.hydrogenic_cross_section("O K", 100, 10, 25), 2 / 3,
                                    region, standard="Dy2O3")


def test_exspy_reads_beam_energy_and_angles_from_our_file(si_file):
    import hyperspy.api as hs
    from exspy.components import EELSCLEdge

    path, _ = si_file
    loaded = hs.load(path, reader="HSPY")
    s = next(x for x in loaded if x.metadata.General.title == "EELS spectrum image")
    assert type(s).__name__ == "EELSSpectrum"
    tem = s.metadata.Acquisition_instrument.TEM
    assert (tem.beam_energy, tem.convergence_angle, tem.Detector.EELS.collection_angle) == (100.0, 10.0, 25.0)
    assert s.axes_manager.signal_axes[0].is_binned
    m = s.create_model(auto_background=False, auto_add_edges=False)
    edge = EELSCLEdge("Sc_L3", GOS="hydrogenic")
    m.append(edge)  # the model hands the file's microscope parameters to the edge: no set-up
    assert (edge.E0, edge.convergence_angle, edge.collection_angle) == (100.0, 10.0, 25.0)


def test_cli_quantify_writes_calibrated_maps(si_file, tmp_path, capsys):
    path, truths = si_file
    dy = _standard_sigma(path, truths["std"])
    out = tmp_path / "q.h5"
    assert main(["quantify", str(path), "--out", str(out), "--edges", "Dy_M5,Sc_L3", "--lowloss", "si_low",
                 "--sigma", f"Dy_M5={dy.sigma_nm2}"]) == 0
    sc, axes, meta = read_hdf5_result(out, "areal_density_Sc_L23")
    unc, _, _ = read_hdf5_result(out, "areal_density_Sc_L23_uncertainty")
    ratio, _, _ = read_hdf5_result(out, "ratio_Dy_M45_over_Sc_L23")
    assert meta["units"] == "atoms/nm^2" and axes[0].units == "nm"
    import hyperspy.api as hs

    loaded = {x.metadata.General.title: x for x in hs.load(out, reader="HSPY")}
    assert loaded["Sc L2,3 areal density (atoms/nm^2)"].metadata.Signal.quantity == "Areal density (atoms/nm^2)"
    truth = truths["si"]
    region = (truth["Sc"] > 0.3 * truth["Sc"].max()) & np.isclose(truth["Dy"], truth["Sc"])
    # I_low(50 eV) from the low-loss SI: Sc within stat + 5 % of what the ratio method reads under
    # the simulator's plural scattering (tests/analysis/test_quant.py SC_SYSTEMATIC_REL)
    tl = np.linspace(0.0, 1.0, 21)
    factor = np.interp(truth["t_over_lambda"][region], tl, [ratio_method_plural_factor("Sc L2,3", t) for t in tl])
    est, true = sc[region].mean(), (truth["Sc"][region] * factor).mean()
    assert abs(est / true - 1) < 0.05 + 2 * np.sqrt((unc[region] ** 2).sum()) / region.sum() / true
    # with the dose for I_low (no --lowloss) the same map is written, scaled by I_low / dose
    out2 = tmp_path / "q_dose.h5"
    assert main(["quantify", str(path), "--out", str(out2), "--edges", "Sc_L3,Dy_M5",
                 "--sigma", f"Dy_M5={dy.sigma_nm2}"]) == 0
    sc_dose, _, _ = read_hdf5_result(out2, "areal_density_Sc_L23")
    assert 0.7 < np.median(sc_dose[region] / sc[region]) < 1.1
    assert abs(np.nanmedian(ratio[region]) - 1.0) < 0.1
    assert "sigma(Sc L2,3" in capsys.readouterr().out


def _fit_edge_over_fixed_background(model, background, edge, pre_edge_eV: tuple[float, float]) -> None:
    """Fit the power law on the pre-edge range alone, hold it, then fit the edge over the range."""
    edge.active = False
    model.set_signal_range(*pre_edge_eV)
    model.fit(loss_function="ML-poisson", optimizer="Nelder-Mead")
    model.reset_signal_range()
    background.A.free = background.r.free = False
    edge.active = True
    model.fit()


def _summed(path, name: str, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data, axes, _ = read_hdf5_result(path, name)
    return data[region].sum(0).astype(np.float64), axes[-1].values(data.shape[-1])


def _eels(data: np.ndarray, offset_eV: float, scale_eV: float):
    import hyperspy.api as hs

    s = hs.signals.Signal1D(data)
    s.set_signal_type("EELS")
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.is_binned = float(offset_eV), float(scale_eV), "eV", True
    s.set_microscope_parameters(beam_energy=100, convergence_angle=10, collection_angle=25)
    return s


def _low_loss_on_core_axis(path, name: str, region: np.ndarray, scale_eV: float):
    """The summed low-loss spectrum (0.1 eV channels from −20 eV) summed into channels of the
    core-loss dispersion: exspy convolves with np.convolve, channel by channel. Channels 5… are
    summed in tens so the bin centres fall 0.05 eV from whole eV, like the core-loss axis."""
    ll, e = _summed(path, name, region)
    k = int(round(scale_eV / (e[1] - e[0])))
    n = (ll.size - 5) // k
    return _eels(ll[5:5 + k * n].reshape(n, k).sum(1), round(float(e[5:5 + k].mean())), scale_eV)


def _exspy_hydrogenic(spec, e, low_loss, edge: str, range_eV: tuple[float, float], pre_edge_eV) -> float:
    """Areal density (atoms/nm²) of a hydrogenic K/L edge by an exspy EELSModel convolved with the
    low-loss (so the model carries the plural scattering), 30 eV fine structure over the white lines."""
    import hyperspy.api as hs
    from exspy.components import EELSCLEdge

    m = _eels(spec, e[0], e[1] - e[0]).isig[range_eV[0]:range_eV[1]].create_model(
        low_loss=low_loss, auto_background=False, auto_add_edges=False)
    bg, c = hs.model.components1D.PowerLaw(), EELSCLEdge(edge, GOS="hydrogenic")
    m.extend([bg, c])
    bg.estimate_parameters(m.signal, *pre_edge_eV)
    c.fine_structure_width = 30.0
    c.fine_structure_active = True
    _fit_edge_over_fixed_background(m, bg, c, pre_edge_eV)
    # convolved with the low-loss (its counts = the incident electrons): counts = ll ⊗ (intensity ·
    # σ[barn/eV] · dE), so intensity = n in atoms/barn = n / NM2_PER_BARN … atoms/nm²
    return c.intensity.value / q.NM2_PER_BARN


def test_ratio_agrees_with_exspy_model_fit(si_file):
    """Dy/Sc on the DyScO3 grain's summed spectrum: ratio method vs exspy EELSModels with the
    low-loss (the simulated edges carry plural scattering, which exspy models by convolving the
    edges with the measured low-loss of the same pixels).

    exspy: Sc from its hydrogenic L2,3 (+ 30 eV fine structure) convolved with the grain's low-loss,
    fitted over 370–495 eV (below the hydrogenic L1, which the simulator lacks); Dy M4,5 (no
    hydrogenic GOS for M edges) from a k-factor that exspy measures itself: O K (hydrogenic, 30 eV
    fine structure, convolved with the standard's low-loss, 480–625 eV: the same span past the
    onset as Sc) gives n_O on the Dy2O3 standard, n_Dy = 2/3 n_O, and the standard's measured Dy
    edge per atom/nm² per incident electron is the pattern fitted to the grain (not convolved: it
    already carries the standard's plural scattering). Power laws fitted on the pre-edge, then held.
    Ours: the ratio method with Δ = 50 eV for both edges (I_low cancels), σ_Dy by the k-factor.

    Measured (seed 0), with the simulator's plural scattering the Poisson convolution of every edge
    with the low-loss's own valence orders (what both methods assume): truth 1; exspy 1.063 (Sc 566,
    Dy 602 atoms/nm² vs truth 619 each: −8.6 %, −2.8 %); ours 1.079 ± 0.016. The two differ by
    1.5 % (the issue's target: 5 %; 6.4 % when the simulator put all of an edge's plural scattering
    in one copy 22 eV up). Both read high because Sc reads lower than Dy. Ours: the ratio
    method's own plural bias (``ratio_method_plural_factor``: Sc 0.81, Dy 0.86 at t/λ 0.63, the
    k-factor standard's Dy/O 1.03 at t/λ 0.44) predicts +1.6 %, the rest is background
    extrapolation. exspy's Sc −8.6 % is not from the simulator's plural scattering being other than
    the convolution exspy models (the simulated edge equals the low-loss ⊗ the single edge to
    2e-4: tests/detectors/test_world_spectra.py); on isolated noise-free edges over an exact E^-3
    background this exspy set-up reads +17 % (O K) / +19 % (Sc L2,3) with plural scattering and
    −0.1 % without, so its offsets come from the fit set-up (held pre-edge power law, 30 eV free
    fine structure); not analysed further. Asserted: the two within 5 %, exspy within
    8 % of the truth, ours within the documented 10 % systematic + 2σ."""
    import hyperspy.api as hs

    from analysis.eels.background import powerlaw_integral

    path, truths = si_file
    truth, ts = truths["si"], truths["std"]
    region = (truth["Sc"] > 0.3 * truth["Sc"].max()) & np.isclose(truth["Dy"], truth["Sc"])
    sreg = (ts["Dy"] > 0.3 * ts["Dy"].max()) & np.isclose(ts["O"], 1.5 * ts["Dy"]) & (ts["Sc"] == 0)
    spec, e = _summed(path, "si", region)
    sspec, _ = _summed(path, "std", sreg)
    d = float(e[1] - e[0])
    win = {k: q.quant_windows(k) for k in ("Dy M4,5", "Sc L2,3", "O K")}
    # ours: the ratio method on the same summed spectra
    dy = _standard_sigma(path, truths["std"])
    maps = {k: q.elemental_map(spec[None], e, k, pre_edge=w[0], signal_window_eV=w[1]) for k, w in win.items()}
    ours = q.atomic_ratio(maps["Dy M4,5"], dy, maps["Sc L2,3"], q.hydrogenic_cross_section("Sc L2,3", 100, 10, 25))
    # exspy, Sc: hydrogenic convolved with the grain's low-loss
    ll = _low_loss_on_core_axis(path, "si_low", region, d)
    n_sc = _exspy_hydrogenic(spec, e, ll, "Sc_L3", (370.0, 495.0), win["Sc L2,3"][0])
    # exspy, Dy: n_O on the standard, the standard's Dy edge per atom/nm² and incident electron
    std_ll = _low_loss_on_core_axis(path, "std_low", sreg, d)
    n_dy_std = _exspy_hydrogenic(sspec, e, std_ll, "O_K", (480.0, 625.0), win["O K"][0]) * 2 / 3
    p = q.elemental_map(sspec[None], e, "Dy M4,5", pre_edge=win["Dy M4,5"][0], signal_window_eV=win["Dy M4,5"][1]).powerlaw
    edge_counts = sspec - np.array([float(powerlaw_integral(p.A[0], p.r[0], x - d / 2, x + d / 2)) for x in e])
    edge_counts[e < 1290] = 0.0
    first = int(np.searchsorted(e, 1200.0))
    pat = hs.signals.Signal1D(edge_counts[first:] / (n_dy_std * std_ll.data.sum()))
    pat.axes_manager.signal_axes[0].offset, pat.axes_manager.signal_axes[0].scale = float(e[first]), d
    m_dy = _eels(spec, e[0], d).isig[first:].create_model(auto_background=False, auto_add_edges=False)
    bg, fixed = hs.model.components1D.PowerLaw(), hs.model.components1D.ScalableFixedPattern(pat, interpolate=False)
    m_dy.extend([bg, fixed])
    bg.A.value, bg.r.value = float(maps["Dy M4,5"].powerlaw.A[0]), float(maps["Dy M4,5"].powerlaw.r[0])
    fixed.yscale.value = float(maps["Dy M4,5"].signal[0] / edge_counts.sum()) * n_dy_std * std_ll.data.sum()
    _fit_edge_over_fixed_background(m_dy, bg, fixed, win["Dy M4,5"][0])
    n_dy = fixed.yscale.value / ll.data.sum()  # yscale = n_Dy × the grain's incident electrons
    theirs = n_dy / n_sc
    assert theirs == pytest.approx(1.0, rel=0.08), (n_dy, n_sc)
    assert abs(ours.value[0] - 1.0) < 0.10 + 2 * ours.uncertainty[0], (ours.value[0], ours.uncertainty[0])
    assert theirs == pytest.approx(ours.value[0], rel=0.05), (float(ours.value[0]), theirs)


def test_cli_k_factor_standard_and_clear_errors(si_file, tmp_path, capsys):
    path, truths = si_file
    out = tmp_path / "std.h5"
    # k-factor of Dy M4,5 against O K on the centre of the pure Dy2O3 grain (O/Dy = 3/2)
    assert main(["quantify", str(path), "--si", "std", "--out", str(out), "--edges", "Dy_M5,O_K",
                 "--standard", "Dy_M5/O_K=0.6667@5:9,5:9"]) == 0
    printed = capsys.readouterr()
    assert "k-factor on pixels [5:9, 5:9] (16 px) against O K" in printed.out, printed.err
    ratio, _, meta = read_hdf5_result(out, "ratio_Dy_M45_over_O_K")
    assert abs(np.nanmedian(ratio[5:9, 5:9]) - 2 / 3) < 0.1
    assert "k-factor" in meta["cross_sections"]["Dy M4,5"]["source"]
    # the Dy M4,5 edge has no hydrogenic GOS: without --sigma / --standard the error says what to do
    assert main(["quantify", str(path), "--out", str(tmp_path / "x.h5"), "--edges", "Dy_M5,Sc_L3"]) == 1
    assert "k_factor_cross_section" in capsys.readouterr().err
    assert main(["quantify", str(path), "--out", str(tmp_path / "x.h5"), "--edges", "Sc_L3,O_K",
                 "--standard", "Dy_M5=1"]) == 1
    assert "EDGE/REF=RATIO@Y0:Y1,X0:X1" in capsys.readouterr().err
    assert main(["quantify", str(path), "--si", "nope", "--out", str(tmp_path / "x.h5"), "--edges", "O_K"]) == 1
    assert "no result 'nope'" in capsys.readouterr().err
    assert main(["quantify", str(path), "--out", str(tmp_path / "x.h5"), "--edges", "Dy_M5,Sc_L3",
                 "--sigma", "Dy_M5=abc"]) == 1
    assert "--sigma: cross section 'Dy_M5=abc': expected EDGE=VALUE" in capsys.readouterr().err
    # the output rule (lumiere/outputs.py): an existing file is never replaced
    assert main(["quantify", str(path), "--si", "std", "--out", str(out), "--edges", "Dy_M5,O_K",
                 "--standard", "Dy_M5/O_K=0.6667@5:9,5:9"]) == 0
    assert (tmp_path / "std_001.h5").exists() and "std_001.h5" in capsys.readouterr().out
