"""CL spectrometer: Czerny–Turner geometry, Acton/Princeton command layer, simulator, CL camera.

- :mod:`.geometry` — dispersion and the (non-linear) wavelength of every camera pixel.
- :mod:`.acton` — :class:`ActonSpectrometer` (driver) and :class:`SimulatedActon` (bytes).
- :mod:`.camera` — :class:`SimulatedCLCamera`: spectra and spectrum images on the world.
- :class:`SimulatedCLSpectrometer` ``(world, config=None)`` — all of it connected.
- :func:`connect_cl_spectrometer` ``(config)`` — the real spectrometer on ``config.port``
  (:class:`CLSpectrometer`; no real CL camera yet).
"""
from .acton import ActonSpectrometer, SimulatedActon, SpectrographState
from .camera import SimulatedCLCamera
from .config import CLCameraConfig, CLConfig
from .connect import CLSpectrometer, connect_cl_spectrometer
from .geometry import (DEFAULT_GRATINGS, CzernyTurner, Grating, LinearCalibration, resample_to_uniform,
                       wavelength_at_pixel)
from .simulated import SimulatedCLSpectrometer

__all__ = ["ActonSpectrometer", "CLCameraConfig", "CLConfig", "CLSpectrometer", "connect_cl_spectrometer", "CzernyTurner", "DEFAULT_GRATINGS",
           "Grating", "LinearCalibration", "SimulatedActon", "SimulatedCLCamera",
           "SimulatedCLSpectrometer", "SpectrographState", "resample_to_uniform",
           "wavelength_at_pixel"]
