"""The scripting facade: plain Python on the simulated instrument, a Swift document with the plain
api (console) and with Run Script's queued api on a worker thread."""
from __future__ import annotations

import threading
import time
import typing

import numpy as np
import pytest
from nion.swift import Facade, FacadeQueued

from analysis import eels
from detectors.instrument import build_instrument
from nionswift_plugin.lumiere import scripting
from nionswift_plugin.lumiere.testing import swift_document

pytestmark = pytest.mark.swift

Facade.initialize()


def core_loss(world: typing.Any) -> tuple[float, float, float]:
    world.spectrometer.energy_offset_eV, world.spectrometer.dispersion_eV_per_channel = 350.0, 1.0
    world.beam.current_pA = 1000.0
    grain = next(g for g in world.specimen.grains if g.material == "Sc2O3")
    return 3 * grain.semi_axis_a_nm, grain.y_nm, grain.x_nm


def test_plain_python_runs_the_si_and_the_same_computations(capsys):
    with scripting.connect() as lumiere:  # a new simulated instrument on its virtual clock
        assert lumiere.api is None and lumiere.world is not None
        fov, y, x = core_loss(lumiere.world)
        run = lumiere.run_spectrum_image(8, fov, (y, x), exposure_ms=2.0)
        si = run.arrays["si"]
        assert si.shape == (8, 8, 1024) and run.data_items == {} and run.summary == "8×8 SI, 1024 channels"
        assert [a.units for a in run.axes["si"]] == ["nm", "nm", "eV"]
        maps = lumiere.elemental_map(run.item("si"), "Sc L2,3")
        e = 350.0 + np.arange(1024)
        ref = eels.elemental_map(si, e, "Sc L2,3", pre_edge=(0.93 * 402, 0.98 * 402), signal_window_eV=(402, 442.2))
        np.testing.assert_allclose(maps["map"].data, ref.signal, rtol=1e-5, atol=1e-2)
        assert maps["map"].xdata.dimensional_calibrations[0].units == "nm"
        particle = lumiere.world.specimen.particles[0]
        cl = lumiere.run_cl_spectrum_image(6, 120.0, (particle.y_nm, particle.x_nm), exposure_ms=20.0)
        cl_si = cl.arrays["cl_si"]
        assert cl_si.shape[:2] == (6, 6) and not np.isnan(cl_si).any()
        assert [a.units for a in cl.axes["cl_si"]] == ["nm", "nm", "nm"]
        assert cl_si[3, 3].sum() > cl_si[0, 0].sum(), "the particle glows brighter than the film"
        with pytest.raises(ValueError, match="Elemental map: edge O K .* outside"):
            lumiere.elemental_map(OfflineSlice(run.xdata("si"), 0, 100), "O K")
    out = capsys.readouterr().out
    assert "Lumière SI: 100.0 %  SI row 8/8" in out  # progress printed (Run Script output / terminal)


class OfflineSlice(scripting.OfflineItem):
    """An SI cut to a channel range (for the bad-edge check)."""

    def __init__(self, xdata: typing.Any, k0: int, k1: int) -> None:
        super().__init__(xdata[..., k0:k1], "cut SI")


def test_swift_console_api_runs_workflows_into_data_items(swift):
    with swift_document() as (api, document_controller, document_model):
        lumiere = scripting.connect(api, progress=None)
        assert lumiere.instrument is swift.devices.instrument  # the plug-in's instrument
        assert lumiere.stem_controller is swift.stem_controller
        assert lumiere.hardware_source("lumiere_scan") is not None
        fov, y, x = core_loss(lumiere.world)
        run = lumiere.run_spectrum_image(8, fov, (y, x), exposure_ms=1.0)
        si, haadf = run.data_items["si"], run.data_items["si_haadf"]
        assert si.title == "Lumière SI: EELS spectrum image" and haadf.data.shape == (8, 8)
        np.testing.assert_array_equal(si.data, run.arrays["si"])
        assert si.xdata.is_collection and [c.units for c in si.xdata.dimensional_calibrations] == ["nm", "nm", "eV"]
        maps = lumiere.elemental_map(si, "Sc L2,3")
        document_model.recompute_all()
        document_controller.periodic()
        assert lumiere.wait(maps) and maps["map"].data.shape == (8, 8)


def test_run_script_queued_api_from_a_worker_thread(swift):
    """Run Script hands scripts a queued api and runs them on a thread while the UI thread works."""
    with swift_document() as (api, document_controller, document_model), build_instrument() as instrument:
        queued = FacadeQueued.API(api, None)
        queued._queue_task = api.queue_task
        box: dict[str, typing.Any] = {}

        def script() -> None:
            try:
                lumiere = scripting.connect(queued, instrument=instrument, progress=lambda f, m: box.setdefault("p", []).append(f))
                fov, y, x = core_loss(instrument.world)
                run = lumiere.run_spectrum_image(8, fov, (y, x), exposure_ms=2.0)
                maps = lumiere.elemental_map(run.data_items["si"], "Sc L2,3")
                box["ready"] = lumiere.wait(maps, timeout_s=30)
                box["map"] = maps["map"].data
                box["si"] = run.arrays["si"]
            except BaseException as e:  # noqa: BLE001 - reported below
                box["error"] = e

        thread = threading.Thread(target=script)
        thread.start()
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            document_controller.periodic()  # the UI thread runs the queued calls
            document_model.recompute_all()
            time.sleep(0.01)
        thread.join(1)
        assert "error" not in box, repr(box.get("error"))
        assert box["ready"] and box["p"][-1] == 1.0
        e = 350.0 + np.arange(1024)
        ref = eels.elemental_map(box["si"], e, "Sc L2,3", pre_edge=(0.93 * 402, 0.98 * 402), signal_window_eV=(402, 442.2))
        np.testing.assert_allclose(box["map"], ref.signal, rtol=1e-5, atol=1e-2)
        titles = [d.title for d in document_model.data_items]
        assert "Lumière SI: EELS spectrum image" in titles and any("Sc L2,3 map" in t for t in titles)


def test_drift_corrected_si_through_the_facade(swift):
    with swift_document() as (api, document_controller, document_model), build_instrument() as instrument:
        from detectors.simulation.setup import configure_simulation

        configure_simulation(instrument.world)
        lumiere = scripting.connect(api, instrument=instrument, progress=None)
        from detectors.interfaces import ScanFrame

        run = lumiere.run_drift_corrected_si(survey=ScanFrame(size_px=(256, 256), fov_nm=512.0),
                                             si_region_px=(112, 112, 16, 16), reference_region_px=(96, 96, 32, 32),
                                             si_shape_px=(16, 16), dwell_s=1e-3, n_sequences=2)
        assert run.value.sequences_done == 2 and run.arrays["si"].shape == (16, 16, 1024)
        si = run.data_items["si"]
        assert [c.units for c in si.xdata.dimensional_calibrations] == ["nm", "nm", "eV"]
        assert "drift_log" in run.data_items
        maps = lumiere.elemental_map(si, "Dy M4,5")
        document_model.recompute_all()
        document_controller.periodic()
        assert [c.error_text for c in document_model.computations if c.error_text] == []
        assert np.isfinite(maps["map"].data).any()
