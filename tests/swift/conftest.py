"""Headless Nion Swift for tests: the instrumentation kit running, every plug-in loaded once."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest


@dataclasses.dataclass
class SwiftHeadless:
    scan: object
    camera: object
    stem_controller: object
    devices: object


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    """Swift's Multi-Acquire panel (built with every application window) saves its settings in the
    working directory: keep them out of the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def swift(tmp_path_factory) -> SwiftHeadless:
    from nion.instrumentation import DriftTracker, HardwareSource, camera_base, scan_base, stem_controller
    from nion.swift.model import PlugInManager
    from nion.utils import Registry

    import nionswift_plugin.lumiere as lumiere_plugin

    config_dir = tmp_path_factory.mktemp("swift_config")
    stem_controller.register_event_loop(asyncio.new_event_loop())
    HardwareSource.run()
    DriftTracker.run()
    camera_base.run(config_dir)
    scan_base.run(config_dir)
    PlugInManager.load_plug_ins(None, str(config_dir), None)  # real discovery of installed plug-ins
    manager = HardwareSource.HardwareSourceManager()
    try:
        # ours by id: with nionswift-usim installed beside us Swift has two stem_controllers and its
        # default (Registry.get_component) is either
        ours = [c for c in Registry.get_components_by_type("stem_controller")
                if getattr(c, "instrument_id", None) == "lumiere_stem_controller"]
        assert len(ours) == 1, f"lumiere_stem_controller registered {len(ours)} times"
        yield SwiftHeadless(manager.get_hardware_source_for_hardware_source_id("lumiere_scan"),
                            manager.get_hardware_source_for_hardware_source_id("lumiere_eels_camera"),
                            ours[0], lumiere_plugin.devices())
    finally:
        for hardware_source in list(manager.hardware_sources):
            hardware_source.abort_playing()
        lumiere_plugin.stop()  # closes the camera thread (non-daemon) so pytest can exit
        # what Swift does at quit: close every other plug-in's hardware sources too (nionswift-usim's
        # cameras run non-daemon threads that otherwise keep pytest from exiting)
        manager.close()
