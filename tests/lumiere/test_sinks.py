"""Sinks: memory, crash-safe HDF5 in HyperSpy layout (opened with rosettasciio), composite."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rsciio.hspy import file_reader

from lumiere.sinks import Axis, CompositeSink, HDF5Sink, MemorySink, read_hdf5_result

AXES = [Axis("y", "nm", 2.0, -3.0, True), Axis("x", "nm", 2.0, -3.0, True), Axis("Energy loss", "eV", 0.5, 100.0)]


def test_hdf5_roundtrip_and_rosettasciio(tmp_path):
    path = tmp_path / "r.h5"
    sink = HDF5Sink(path)
    sink.create("si", (4, 4, 8), AXES, metadata={"exposure_s": 0.01, "scan": {"fov_nm": 8.0}},
                title="EELS SI", signal_type="EELS")
    data = np.arange(4 * 4 * 8, dtype=np.float32).reshape(4, 4, 8)
    sink.write("si", np.s_[0:2], data[0:2])
    partial, _, _ = read_hdf5_result(path, "si")
    assert np.isnan(partial[2:]).all() and np.array_equal(partial[:2], data[:2])
    sink.write("si", np.s_[2:4], data[2:4])
    sink.finish()
    back, axes, meta = read_hdf5_result(path, "si")
    np.testing.assert_array_equal(back, data)
    assert axes == AXES
    assert meta["exposure_s"] == 0.01 and meta["scan"]["fov_nm"] == 8.0 and meta["finished"]
    assert meta["status"] == "complete" and meta["aborted"] is False
    [signal] = file_reader(str(path))
    np.testing.assert_array_equal(signal["data"], data)
    assert [a["units"] for a in signal["axes"]] == ["nm", "nm", "eV"]
    assert signal["axes"][2]["offset"] == 100.0 and signal["axes"][2]["scale"] == 0.5
    assert signal["metadata"]["General"]["title"] == "EELS SI"
    assert signal["metadata"]["Signal"]["signal_type"] == "EELS"


def test_file_survives_a_killed_writer(tmp_path):
    path = tmp_path / "killed.h5"
    script = textwrap.dedent(f"""
        import os, numpy as np
        from lumiere.sinks import Axis, HDF5Sink
        sink = HDF5Sink({str(path)!r})
        sink.create("seq", (10, 16), [Axis("n", "", navigate=True), Axis("E", "eV")])
        for i in range(3):
            sink.write("seq", i, np.full(16, i, np.float32))
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    data, _, meta = read_hdf5_result(path, "seq")
    np.testing.assert_array_equal(data[:3], np.repeat(np.arange(3, dtype=np.float32)[:, None], 16, 1))
    assert np.isnan(data[3:]).all()
    assert "finished" not in meta and meta["status"] == "acquiring" and meta["writes"] == 3


def test_memory_and_composite_sinks(tmp_path):
    memory = MemorySink()
    sink = CompositeSink(memory, HDF5Sink(tmp_path / "c.h5"))
    sink.create("img", (2, 3), AXES[:2])
    sink.write("img", np.s_[:, :], np.ones((2, 3)))
    sink.update_metadata("img", {"note": "ok"})
    sink.finish("img")
    assert memory.results["img"].finished and memory["img"].sum() == 6
    assert read_hdf5_result(tmp_path / "c.h5", "img")[2]["note"] == "ok"
    with pytest.raises(ValueError, match="2 axes given for a 3-D shape"):
        memory.create("bad", (1, 2, 3), AXES[:2])
    with pytest.raises(KeyError, match="never created"):
        memory.write("nothing", 0, np.zeros(1))

