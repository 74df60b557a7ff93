"""The Merlin as Swift's EELS camera (simulated Merlin on 127.0.0.1, real protocol), in its own
headless Swift process: synchronized 32×32 SI and the Merlin settings panel."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.swift


@pytest.fixture(scope="module")
def merlin_report() -> dict:
    script = pathlib.Path(__file__).with_name("merlin_session.py")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    [line] = [l for l in proc.stdout.splitlines() if l.startswith("REPORT ")]
    return json.loads(line[len("REPORT "):])


def test_synchronized_si_through_the_merlin_protocol(merlin_report):
    r = merlin_report
    assert r["backend"] == "MerlinBackend"
    assert r["si_shape"] == [32, 32, 1024] and r["si_units"] == ["nm", "nm", "eV"] and r["collection_dims"] == 2
    assert r["every_pixel_counted"], "every pixel's frame arrived"
    assert r["lumiere_metadata"] == "Merlin" and r["dropped"] == 0
    # the HAADF and the spectra see the same specimen: brighter HAADF, fewer zero-loss electrons
    assert r["haadf_vs_zlp_correlation"] < -0.5


def test_merlin_settings_panel_reads_validates_and_applies(merlin_report):
    r = merlin_report
    assert r["panel_read"] == "Read from the detector."
    assert r["panel_bad_value"] == "Not applied: Counter depth = '7' is not one of 1, 6, 12, 24"
    assert r["panel_depth_index"] == 1 and r["panel_switch"] is True, "combo box and check box follow the text"
    assert r["panel_applied"].startswith("Applied: 6-bit")
    assert r["detector_depth"] == 6 and r["detector_threshold0"] == 12.5
    assert r["swift_exposure_ms"] == 2
    assert r["max_count_6bit"] <= 63
