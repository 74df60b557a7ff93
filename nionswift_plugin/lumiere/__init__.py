"""Lumière plug-in for Nion Swift: registers the VG Lumière (simulated) instrument and its devices.

On import Swift calls :func:`run` after every plug-in is loaded. The instrument comes from the site
configuration named by the ``LUMIERE_CONFIG`` environment variable (default: the simulated
instrument). A simulated world on a virtual clock is switched to real time here, since Swift is
interactive: drift goes on while the user looks at the screen.
"""
from __future__ import annotations

import os

from nion.utils import Registry

from nionswift_plugin.lumiere.computations import register_computations, unregister_computations
from nionswift_plugin.lumiere.devices import LumiereDevices, register_devices, unregister_devices
from nionswift_plugin.lumiere import cl_panel, merlin_panel, spectrometer_panel, training_panel
from nionswift_plugin.lumiere.panels import PANELS
from nionswift_plugin.lumiere.workflow_panel import register_workflow_panel, unregister_workflow_panel

_devices: LumiereDevices | None = None


def run() -> None:
    global _devices
    if _devices is None:
        _devices = register_devices(os.environ.get("LUMIERE_CONFIG") or None)
        for panel_id, handler in PANELS.items():
            register_workflow_panel(handler, panel_id)
        merlin_panel.register()
        cl_panel.register()
        spectrometer_panel.register()
        training_panel.register()
        register_computations()


def stop() -> None:
    global _devices
    if _devices is not None:
        unregister_computations()
        for panel_id in PANELS:
            unregister_workflow_panel(panel_id)
        merlin_panel.unregister()
        cl_panel.unregister()
        spectrometer_panel.unregister()
        training_panel.unregister()
        unregister_devices(_devices)
        _devices = None


def devices() -> LumiereDevices | None:
    """The registered Lumière devices (for scripts and panels)."""
    return _devices


__all__ = ["run", "stop", "devices", "Registry"]
