"""Quantification of an SI file: HyperSpy metadata read by exspy and ``lumiere quantify``
(simulated instrument)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.eels import quant as q
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from drift_eels.session import configure_simulation
from drift_eels.spectrum_image import acquire_spectrum_image
from lumiere.cli import main
from lumiere.metadata import ACQUISITION_KEY, hyperspy_acquisition_instrument
from lumiere.sinks import HDF5Sink, read_hdf5_result

warnings.filterwarnings("ignore", module="hyperspy")


@pytest.fixture(scope="module")
def si_file(tmp_path_factory):
    """SIs over the pure DyScO3 grain 5 ("si") and the pure Dy2O3 grain 1 ("std"), 200 pA, 10 ms."""
    path = tmp_path_factory.mktemp("quant") / "si.h5"
    instrument = build_instrument()
    world = instrument.world
    configure_simulation(world, drift_nm_per_min=0.0, random_walk_nm_per_sqrt_min=0.0, current_pA=200.0)
    sink = HDF5Sink(path)
    truths = {}
    for name, index in (("si", 5), ("std", 1)):
        g = world.specimen.grains[index]
        frame = ScanFrame(size_px=(14, 14), fov_nm=2.0 * g.semi_axis_a_nm, center_nm=(g.y_nm, g.x_nm), dwell_s=0.01)
        meta = {"beam_current_pA": world.beam.current_pA,
                ACQUISITION_KEY: hyperspy_acquisition_instrument(instrument.config, exposure_s=0.01, dwell_s=0.01,
                                                                 beam_current_pA=world.beam.current_pA)}
        acquire_spectrum_image(instrument.spectrum_imager, frame, 0.01, sink, name=name, metadata=meta)
        truths[name] = world.specimen.truth_maps(*frame.positions_nm())
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
    assert main(["quantify", str(path), "--out", str(out), "--edges", "Dy_M5,Sc_L3",
                 "--sigma", f"Dy_M5={dy.sigma_nm2}"]) == 0
    sc, axes, meta = read_hdf5_result(out, "areal_density_Sc_L23")
    unc, _, _ = read_hdf5_result(out, "areal_density_Sc_L23_uncertainty")
    ratio, _, _ = read_hdf5_result(out, "ratio_Dy_M45_over_Sc_L23")
    assert meta["units"] == "atoms/nm^2" and axes[0].units == "nm"
    truth = truths["si"]
    region = (truth["Sc"] > 0.3 * truth["Sc"].max()) & np.isclose(truth["Dy"], truth["Sc"])
    # dose-based I_low here (no low-loss SI): Sc within stat + the documented 5 % systematic
    est, true = sc[region].mean(), truth["Sc"][region].mean()
    assert abs(est / true - 1) < 0.05 + 2 * np.sqrt((unc[region] ** 2).sum()) / region.sum() / true
    assert abs(np.nanmedian(ratio[region]) - 1.0) < 0.1
    assert "sigma(Sc L2,3" in capsys.readouterr().out
