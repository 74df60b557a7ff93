"""Create the Lumière devices from a site configuration and register them with Swift."""
from __future__ import annotations

import dataclasses

from nion.device_kit import CameraDevice
from nion.utils import Registry

from detectors.config import SiteConfig, load_config
from detectors.instrument import Instrument, build_instrument
from detectors.merlin.camera import MerlinEELSCamera
from nionswift_plugin.lumiere.cl_camera_device import CL_CAMERA_ID, LumiereCLCamera, create_cl_camera
from nionswift_plugin.lumiere.eels_camera_device import CameraBackend, LumiereEELSCamera, MerlinBackend, WorldBackend
from nionswift_plugin.lumiere.scan_device import LumiereScanModule
from nionswift_plugin.lumiere.stem_device import EELS_CAMERA_ID, INSTRUMENT_ID, LumiereInstrument


@dataclasses.dataclass
class LumiereDevices:
    instrument: Instrument
    stem_controller: LumiereInstrument
    scan_module: LumiereScanModule
    eels_camera: LumiereEELSCamera
    eels_camera_module: CameraDevice.CameraModule
    cl_camera: LumiereCLCamera | None = None
    cl_camera_module: CameraDevice.CameraModule | None = None


def create_devices(config: SiteConfig | str | None = None, *, real_time: bool = True) -> LumiereDevices:
    """Build the instrument and its Swift device adapters (not yet registered)."""
    if not isinstance(config, SiteConfig):
        config = load_config(config)
    # a virtual clock only matters when every device is simulated (else the world runs in real time)
    if real_time and config.clock_speed is None:
        values = {k: dict(v) for k, v in config.values.items()}
        values["world"]["clock_speed"] = 1.0
        config = SiteConfig(values, config.source + " (real-time clock for Swift)")
    instrument = build_instrument(config)
    stem = LumiereInstrument(instrument)
    scan_module = LumiereScanModule(stem)
    camera = LumiereEELSCamera(stem, scan_module, _camera_backend(config, instrument), EELS_CAMERA_ID)
    setattr(camera, "camera_panel_type", "eels")
    camera_module = CameraDevice.CameraModule(INSTRUMENT_ID, camera, CameraDevice.CameraSettings(EELS_CAMERA_ID, 0.01))
    # a real CL spectrometer has no camera driver yet: Swift gets no CL camera then
    cl_camera, cl_camera_module = (create_cl_camera(stem, scan_module) if instrument.simulated["cl"]
                                   else (None, None))
    return LumiereDevices(instrument, stem, scan_module, camera, camera_module, cl_camera, cl_camera_module)


def _camera_backend(config: SiteConfig, instrument: Instrument) -> CameraBackend:
    """The EELS camera behind Swift's camera: the world directly, the simulated Merlin (the world
    served over the Merlin protocol on 127.0.0.1) or a real Merlin at ``eels_camera.host``."""
    if isinstance(instrument.eels_camera, MerlinEELSCamera):
        return MerlinBackend(instrument.eels_camera, instrument)
    return WorldBackend(instrument)


def register_devices(config: SiteConfig | str | None = None) -> LumiereDevices:
    devices = create_devices(config)
    # the VG column: drivers connected and its interlocks watched from the start (trips are logged
    # and kept in stem_controller.interlock_events)
    devices.stem_controller.start_interlock_monitor(1.0)
    Registry.register_component(devices.stem_controller, {"instrument_controller", "stem_controller"})
    Registry.register_component(devices.eels_camera_module, {"camera_module"})
    if devices.cl_camera_module is not None:
        Registry.register_component(devices.cl_camera_module, {"camera_module"})
    Registry.register_component(devices.scan_module, {"scan_module"})
    return devices


def unregister_devices(devices: LumiereDevices) -> None:
    Registry.unregister_component(devices.scan_module, {"scan_module"})
    Registry.unregister_component(devices.eels_camera_module, {"camera_module"})
    if devices.cl_camera_module is not None:
        Registry.unregister_component(devices.cl_camera_module, {"camera_module"})
    Registry.unregister_component(devices.stem_controller, {"instrument_controller", "stem_controller"})
    # unregistering the camera module makes the instrumentation kit close the camera device; if the
    # kit's listeners are gone (a torn-down test context), close it here so it can be registered again
    if Registry.get_component(f"{EELS_CAMERA_ID}_device") is devices.eels_camera:
        devices.eels_camera.close()
    if devices.cl_camera is not None and Registry.get_component(f"{CL_CAMERA_ID}_device") is devices.cl_camera:
        devices.cl_camera.close()
    devices.stem_controller.stop_interlock_monitor()
    devices.instrument.close()
