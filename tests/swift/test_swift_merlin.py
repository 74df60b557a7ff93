"""The Merlin as Swift's EELS camera (simulated Merlin on 127.0.0.1, real protocol): synchronized SI."""
from __future__ import annotations

import numpy as np
import pytest
from nion.instrumentation import HardwareSource
from nion.utils import Geometry, Registry

import nionswift_plugin.lumiere as plugin
from nionswift_plugin.lumiere.eels_camera_device import MerlinBackend


@pytest.fixture
def merlin_swift(swift, tmp_path, monkeypatch):
    """Restart the plug-in on a site whose EELS camera is the (simulated) Merlin."""
    site = tmp_path / "site.toml"
    site.write_text('[eels_camera]\nbackend = "merlin-simulated"\n', encoding="utf-8")
    plugin.stop()
    monkeypatch.setenv("LUMIERE_CONFIG", str(site))
    plugin.run()
    manager = HardwareSource.HardwareSourceManager()
    try:
        yield plugin.devices(), manager.get_hardware_source_for_hardware_source_id("lumiere_scan"), \
            manager.get_hardware_source_for_hardware_source_id("lumiere_eels_camera")
    finally:
        plugin.stop()
        monkeypatch.delenv("LUMIERE_CONFIG")
        plugin.run()
        swift.scan = manager.get_hardware_source_for_hardware_source_id("lumiere_scan")
        swift.camera = manager.get_hardware_source_for_hardware_source_id("lumiere_eels_camera")
        swift.stem_controller = Registry.get_component("stem_controller")
        swift.devices = plugin.devices()


def test_synchronized_si_through_the_merlin_protocol(merlin_swift):
    devices, scan, camera = merlin_swift
    assert isinstance(devices.eels_camera.backend, MerlinBackend)
    world = devices.instrument.world
    world.beam.current_pA = 5.0
    devices.instrument.eels_camera.settings = type(devices.instrument.eels_camera.settings)(counter_depth=12)
    camera_params = camera.get_current_frame_parameters()
    camera_params.exposure_ms = 1
    camera_params.binning = 1
    camera_params.processing = "sum_project"
    scan_params = scan.get_current_frame_parameters()
    scan_params.pixel_size = Geometry.IntSize(32, 32)
    scan_params.fov_nm = 128.0
    [haadf], [si] = scan.grab_synchronized(scan_frame_parameters=scan_params, camera=camera,
                                           camera_frame_parameters=camera_params)
    assert si.data.shape == (32, 32, 1024)
    assert [c.units for c in si.dimensional_calibrations] == ["nm", "nm", "eV"]
    assert si.data_descriptor.collection_dimension_count == 2
    assert (si.data.sum(axis=-1) > 0).all(), "every pixel's frame arrived"
    merlin_meta = si.metadata["lumiere"]
    assert merlin_meta["camera"] == "Merlin" and merlin_meta["merlin"]["dropped"] == 0
    # the HAADF and the spectra see the same specimen: brighter HAADF, fewer zero-loss electrons
    zlp = si.data[..., :300].sum(axis=-1)
    assert np.corrcoef(haadf.data.ravel(), zlp.ravel())[0, 1] < -0.5


def test_merlin_settings_panel_reads_validates_and_applies(merlin_swift):
    from nionswift_plugin.lumiere.merlin_panel import MerlinSettingsHandler

    devices, _, camera = merlin_swift
    if True:  # the handler needs no document; a TestContext here would tear down the kit's listeners
        handler = MerlinSettingsHandler(None)
        assert handler.status.value == "Read from the detector."
        handler.models["counter_depth"].value = "7"
        handler.apply_clicked()
        assert handler.status.value == "Not applied: Counter depth = 7 bit; allowed: 1, 6, 12, 24"
        handler.models["counter_depth"].value = "6"
        handler.models["threshold0_keV"].value = "12.5"
        handler.models["exposure_ms"].value = "2"
        handler.apply_clicked()
        assert handler.status.value.startswith("Applied: 6-bit"), handler.status.value
        merlin = devices.instrument.eels_camera
        on_detector = merlin.read_settings()
        assert on_detector.counter_depth == 6 and on_detector.thresholds_keV[0] == 12.5
        assert camera.get_current_frame_parameters().exposure_ms == 2
        frames = merlin.acquire_frames(1, 0.002)
        assert frames.max() <= 63
