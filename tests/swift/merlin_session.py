"""A headless Swift session on a site whose EELS camera is the (simulated) Merlin.

Run by ``test_swift_merlin.py`` in its own process (Swift's hardware-source registry is global):
loads every plug-in with ``LUMIERE_CONFIG`` pointing at a Merlin site, acquires a synchronized SI
through the Merlin protocol, exercises the Merlin settings panel, and prints a JSON report.
"""
from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
import tempfile


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="lumiere_merlin_"))
    site = work / "site.toml"
    site.write_text('[eels_camera]\nbackend = "merlin-simulated"\n', encoding="utf-8")
    os.environ["LUMIERE_CONFIG"] = str(site)

    import numpy as np
    from nion.instrumentation import DriftTracker, HardwareSource, camera_base, scan_base, stem_controller
    from nion.swift.model import PlugInManager
    from nion.utils import Geometry

    stem_controller.register_event_loop(asyncio.new_event_loop())
    HardwareSource.run()
    DriftTracker.run()
    camera_base.run(work)
    scan_base.run(work)
    PlugInManager.load_plug_ins(None, str(work), None)
    import nionswift_plugin.lumiere as plugin
    from nionswift_plugin.lumiere.merlin_panel import MerlinSettingsHandler

    report: dict = {}
    devices = plugin.devices()
    try:
        manager = HardwareSource.HardwareSourceManager()
        scan = manager.get_hardware_source_for_hardware_source_id("lumiere_scan")
        camera = manager.get_hardware_source_for_hardware_source_id("lumiere_eels_camera")
        report["backend"] = type(devices.eels_camera.backend).__name__
        world = devices.instrument.world
        world.beam.current_pA = 5.0
        camera_params = camera.get_current_frame_parameters()
        camera_params.exposure_ms = 1
        camera_params.binning = 1
        camera_params.processing = "sum_project"
        scan_params = scan.get_current_frame_parameters()
        scan_params.pixel_size = Geometry.IntSize(32, 32)
        scan_params.fov_nm = 128.0
        [haadf], [si] = scan.grab_synchronized(scan_frame_parameters=scan_params, camera=camera,
                                               camera_frame_parameters=camera_params)
        report["si_shape"] = list(si.data.shape)
        report["si_units"] = [c.units for c in si.dimensional_calibrations]
        report["collection_dims"] = si.data_descriptor.collection_dimension_count
        report["every_pixel_counted"] = bool((si.data.sum(axis=-1) > 0).all())
        report["lumiere_metadata"] = si.metadata.get("lumiere", {}).get("camera")
        report["dropped"] = si.metadata.get("lumiere", {}).get("merlin", {}).get("dropped")
        zlp = si.data[..., :300].sum(axis=-1)
        report["haadf_vs_zlp_correlation"] = float(np.corrcoef(haadf.data.ravel(), zlp.ravel())[0, 1])

        handler = MerlinSettingsHandler(None)  # needs no document
        report["panel_read"] = handler.status.value
        handler.models["counter_depth"].value = "7"
        handler.apply_clicked()
        report["panel_bad_value"] = handler.status.value
        handler.models["counter_depth"].value = "6"
        handler.models["threshold0_keV"].value = "12.5"
        handler.models["exposure_ms"].value = "2"
        handler.apply_clicked()
        report["panel_applied"] = handler.status.value
        handler.models["continuous_rw"].value = "1"
        report["panel_depth_index"] = handler.field_counter_depth_index.value
        report["panel_switch"] = handler.field_continuous_rw_checked.value
        merlin = devices.instrument.eels_camera
        on_detector = merlin.read_settings()
        report["detector_depth"] = on_detector.counter_depth
        report["detector_threshold0"] = on_detector.thresholds_keV[0]
        report["swift_exposure_ms"] = camera.get_current_frame_parameters().exposure_ms
        report["max_count_6bit"] = int(merlin.acquire_frames(1, 0.002).max())
    finally:
        plugin.stop()
        # what Swift does at quit: close every plug-in's hardware sources (nionswift-usim's cameras run
        # non-daemon threads that otherwise keep this process alive)
        HardwareSource.HardwareSourceManager().close()
    print("REPORT " + json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
