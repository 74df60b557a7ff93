"""Every script in examples/ runs as Swift's Run Script dialog runs it (``script_main(api_broker)``
on a worker thread with a queued api, inside a Swift document, against the simulated instrument)
and from the command line (``__main__``, plain Python)."""
from __future__ import annotations

import pathlib
import runpy
import threading
import time
import typing

import pytest
from nion.swift import Facade, FacadeQueued
from nion.swift.test import TestContext

from detectors.instrument import build_instrument
from nionswift_plugin.lumiere import scripting

pytestmark = pytest.mark.swift

Facade.initialize()


EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[2] / "examples").glob("*.py"))
#: data item titles (substrings) each example must leave in the document
EXPECTED = {
    "spectrum_image.py": ["Lumière SI: EELS spectrum image", "Lumière SI: HAADF (simultaneous)"],
    "elemental_map.py": ["Sc L2,3 map (counts)", "Sc L2,3 uncertainty", "Sc L2,3 SNR", "(Lumière sum)"],
    "thickness_and_zlp.py": ["t/λ (Lumière)", "ZLP-aligned (Lumière)"],
    "eegs_wavelength_scan.py": ["EEGS wavelength scan", "EEGS resonance fit:", "|β| per spectrum"],
    "eegs_power_scan.py": ["EEGS power scan", "power log"],
    "drift_corrected_si.py": ["Lumière drift-corrected SI:", "Dy M4,5 map (counts)"],
    "sequence_alignment.py": ["HAADF sequence", "aligned sum", "drift (nm)"],
    "decomposition.py": ["PCA loadings", "PCA score maps", "NMF loadings", "NMF score maps"],
}


class APIBroker:
    """What Run Script hands a script: ``get_api`` returns a queued api."""

    def __init__(self, api: typing.Any) -> None:
        self.api = api

    def get_api(self, version: str, ui_version: str | None = None) -> typing.Any:
        queued = FacadeQueued.API(self.api, None)
        queued._queue_task = self.api.queue_task
        return queued


@pytest.fixture(scope="module")
def instrument() -> typing.Iterator[typing.Any]:
    with build_instrument() as inst:  # virtual clock: the examples' scans take no wall time
        yield inst


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_in_swift_run_script(swift, instrument, path):
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop
    with TestContext.create_memory_context() as context, scripting.default_instrument(instrument):
        document_controller = context.create_document_controller_with_application()
        document_model = document_controller.document_model
        printed: list[str] = []
        g: dict[str, typing.Any] = {"api_broker": APIBroker(Facade.get_api("~1.0", "~1.0")),
                                    "print": lambda *a: printed.append(" ".join(map(str, a)))}
        errors: list[BaseException] = []

        def script() -> None:
            try:
                exec(compile(path.read_text(), path.name, "exec"), g)
                g["script_main"](g["api_broker"])  # what Run Script appends to a script with script_main
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        thread = threading.Thread(target=script)
        thread.start()
        deadline = time.monotonic() + 120
        while thread.is_alive() and time.monotonic() < deadline:
            document_controller.periodic()  # the UI thread: queued api calls, computations
            document_model.recompute_all()
            time.sleep(0.005)
        thread.join(1)
        assert not thread.is_alive(), f"{path.name} still running after 120 s"
        assert errors == [], f"{path.name}: {errors[0]!r}"
        document_model.recompute_all()
        document_controller.periodic()
        titles = [d.title for d in document_model.data_items]
        assert [c.error_text for c in document_model.computations if c.error_text] == []
        for expected in EXPECTED[path.name]:
            assert any(expected in t for t in titles), f"{path.name}: no data item with {expected!r} in {titles}"
        assert [c.error_text for c in document_model.computations if c.error_text] == []
        assert all(d.xdata is not None for d in document_model.data_items), "every output was computed"
        assert printed, "the script reports its progress / result"
    del test_setup


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_from_the_command_line(instrument, path, capsys):
    # the __main__ block (``python examples/x.py``), no Swift; the module's simulated instrument
    # stands in for the one ``scripting.connect()`` would build (its laser bench is already open)
    with scripting.default_instrument(instrument):
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "100.0 %" in out
