"""The panels' "Save HDF5 to folder": a free numbered name instead of replacing a file, and how
the run ended recorded on the data items and in the file (headless Swift)."""
from __future__ import annotations

import time
import types

import h5py
from nion.swift.test import TestContext

from lumiere.sinks import read_hdf5_result
from nionswift_plugin.lumiere import workflow_panel
from nionswift_plugin.lumiere.panels import SpectrumImageHandler


import pathlib as _pathlib
import sys as _sys

_sys.path.insert(0, str(_pathlib.Path(__file__).resolve().parent))  # panel_driving beside this file
from panel_driving import run_until_idle  # noqa: E402


def test_save_to_folder_keeps_files_and_records_the_end(swift, tmp_path, monkeypatch):
    # the file name holds the start time to the second: fix it, so that the name is taken
    monkeypatch.setattr(workflow_panel, "time", types.SimpleNamespace(strftime=lambda fmt: "20260101-000000"))
    earlier = tmp_path / "Lumière_SI_20260101-000000.hspy"
    earlier.write_bytes(b"an earlier run")
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller()
        handler = SpectrumImageHandler(document_controller)
        handler.models["size_px"].value = "8"
        handler.models["exposure_ms"].value = "1"
        handler.output_folder.value = str(tmp_path)
        handler.start_clicked()
        run_until_idle(handler, document_controller)
        first = tmp_path / "Lumière_SI_20260101-000000_001.hspy"
        assert handler.status.value.startswith("Done.") and f"Saved to {first}." in handler.status.value
        assert earlier.read_bytes() == b"an earlier run"
        si, _, meta = read_hdf5_result(first, "si")
        assert si.shape == (8, 8, 1024) and meta["status"] == "complete"
        assert handler.sink.data_item("si").metadata["lumiere"]["status"] == "complete"
        with h5py.File(first, "r") as f:
            assert f.attrs["run_status"] == "complete"

        handler.models["size_px"].value = "16"
        handler.models["exposure_ms"].value = "20"  # 16 rows of ~0.3 s on the real-time clock
        handler.start_clicked()
        time.sleep(0.3)
        handler.abort_clicked()
        run_until_idle(handler, document_controller)
        second = tmp_path / "Lumière_SI_20260101-000000_002.hspy"
        assert handler.status.value.startswith("Aborted") and f"Saved to {second}" in handler.status.value
        for meta in (read_hdf5_result(second, "si")[2], handler.sink.data_item("si").metadata["lumiere"]):
            assert meta["status"] == "aborted" and meta["aborted"] is True and meta["error"].startswith("Aborted")
        with h5py.File(second, "r") as f:
            assert f.attrs["run_status"] == "aborted"
        assert read_hdf5_result(first, "si")[0].shape == (8, 8, 1024)  # the first run is untouched
