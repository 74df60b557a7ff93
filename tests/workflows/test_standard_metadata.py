"""Every result file carries HyperSpy's ``Acquisition_instrument.TEM`` (lumiere/metadata.py) and
the SI's place on the survey with the (y, x) order named; exspy quantifies a ``lumiere si`` file
read with plain ``hs.load``, with no set-up code (simulated instrument)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.setup import configure_simulation, drift_si_targets_nm
from detectors.simulation.world import SimulatedWorld
from drift_eels.parameters import DriftSIParameters
from drift_eels.session import session_regions
from drift_eels.workflow import DriftCorrectedSI
from lumiere.cli import main
from lumiere.metadata import acquisition_instrument
from lumiere.sinks import HDF5Sink, read_hdf5_result

warnings.filterwarnings("ignore", module="hyperspy")


def _tem(signal):
    tem = signal.metadata.get_item("Acquisition_instrument.TEM")
    assert tem is not None, signal.metadata.General.title
    return tem


def test_exspy_quantifies_a_lumiere_si_file_with_no_set_up(tmp_path):
    """``lumiere si --out DIR`` with its defaults (32×32 px, 256 nm at (60, 130) nm, 5 ms), then
    plain ``hs.load`` and exspy: the edges take 100 kV / 10 / 25 mrad from the file. O/Sc of the
    summed SI by exspy's hydrogenic O K and Sc L2,3 (fine structure on, no low-loss): measured
    2.00 against the simulator's truth 2.12 (−6 %: plural scattering not modelled without the
    low-loss, see test_quantify.py)."""
    import hyperspy.api as hs

    assert main(["si", "--out", str(tmp_path)]) == 0
    loaded = hs.load(tmp_path / "si.hspy")
    for s in loaded:  # every result: the beam and the spectrometer of its acquisition
        tem = _tem(s)
        assert (tem.beam_energy, tem.convergence_angle, tem.Detector.EELS.collection_angle) == (100.0, 10.0, 25.0)
        assert tem.Detector.EELS.exposure == tem.Detector.EELS.dwell_time == 0.005
        assert tem.Detector.EELS.detector_name and tem.beam_current > 0
    si = next(s for s in loaded if s.metadata.Signal.signal_type == "EELS")
    _, _, meta = read_hdf5_result(tmp_path / "si.hspy", "si")
    assert meta["scan"]["axes_order"] == "(y, x)" and list(meta["scan"]["center_nm"]) == [60.0, 130.0]

    spectrum = si.sum(si.axes_manager.navigation_axes)
    spectrum.add_elements(("Sc", "O"))
    model = spectrum.create_model(GOS="hydrogenic")
    sc, o = model.components.Sc_L3, model.components.O_K
    assert (sc.E0, sc.convergence_angle, sc.collection_angle) == (100.0, 10.0, 25.0)  # from the file
    model.enable_fine_structure()
    model.smart_fit()
    truth = SimulatedWorld(0).specimen.truth_maps(*ScanFrame((32, 32), 256.0, (60.0, 130.0)).positions_nm())
    assert o.intensity.value / sc.intensity.value == pytest.approx(truth["O"].sum() / truth["Sc"].sum(), rel=0.1)


def test_drift_si_file_carries_the_instrument_and_the_si_place_on_the_survey(tmp_path):
    """A small drift-corrected SI (16×16 px, 2 sequences) written to HDF5: the summed SIs say they
    sum 2 exposures (``frame_number``); the SI's region on the survey is recorded in survey pixels,
    (y, x) order named, and matches the rectangle it was asked for."""
    import hyperspy.api as hs

    inst = build_instrument()
    try:
        configure_simulation(inst.world, drift_nm_per_min=1.0, current_pA=200.0, seed=3)
        survey = ScanFrame(size_px=(256, 256), fov_nm=512.0)
        si_rect, ref_rect = session_regions(survey, *drift_si_targets_nm(inst.world), si_fov_nm=32.0,
                                            reference_size_nm=96.0)
        params = DriftSIParameters(survey, si_rect, ref_rect, si_shape_px=(16, 16), n_sequences=2, dwell_s=1e-3)
        path = tmp_path / "drift_si.hspy"
        DriftCorrectedSI.from_instrument(inst, params, HDF5Sink(path)).run()
    finally:
        inst.close()
    si = next(s for s in hs.load(path) if s.metadata.General.title.startswith("Drift-corrected EELS SI"))
    tem = _tem(si)
    assert (tem.beam_energy, tem.convergence_angle, tem.Detector.EELS.collection_angle) == (100.0, 10.0, 25.0)
    assert tem.Detector.EELS.frame_number == 2 and tem.Detector.EELS.exposure == 1e-3
    _, _, meta = read_hdf5_result(path, "si")
    place = meta["in_survey"]
    assert place["axes_order"] == "(y, x)" and list(place["survey_size_px"]) == [256, 256]
    top, left, height, width = si_rect
    np.testing.assert_allclose(list(place["center_px"]), [top + height / 2, left + width / 2], atol=1e-6)
    assert place["region_px"][2] >= height - 1e-6 and place["region_px"][3] >= width - 1e-6  # covers it


def test_every_result_of_an_eegs_file_carries_the_instrument(tmp_path):
    """``lumiere eegs power-scan``: the scan records the instrument under ``microscope`` and its
    exposure under ``camera``; the laser-off references, the analysis table and the power log do
    not record the instrument and get the run's beam, angles and detector, with their own exposure
    (the references: the scan's) or none (the tables)."""
    import hyperspy.api as hs

    assert main(["eegs", "power-scan", "--out", str(tmp_path)]) == 0
    loaded = {s.metadata.General.title: s for s in hs.load(tmp_path / "eegs_power_scan.hspy")}
    for s in loaded.values():
        tem = _tem(s)
        assert (tem.beam_energy, tem.convergence_angle, tem.Detector.EELS.collection_angle) == (100.0, 10.0, 25.0)
    scan = loaded["EEGS power scan"]
    reference = loaded["EEGS laser-off reference"]
    assert _tem(reference).Detector.EELS.exposure == _tem(scan).Detector.EELS.exposure > 0
    assert "exposure" not in _tem(loaded["EEGS power scan power log (µW)"]).Detector.EELS
    assert acquisition_instrument({"edge": "Sc L2,3"}) is None  # no record: nothing made up
