"""Simulated CL camera: 1024-pixel spectra from the world's CL emission through the spectrograph.

Expected counts in pixel ``i`` for electrons ``N_e`` (0 when the beam is blanked):

    N_e · E(λ_i) · |Δλ_i| · collection · min(1, slit/spot) · η_grating(λ_i) · QE,

with ``E`` = ``world.cl_emission`` (photons/electron/nm), ``λ_i`` and ``Δλ_i`` the centre and width
of the pixel from the Czerny–Turner geometry, then blurred along the spectrum by the slit image
(a box of ``slit / pixel pitch`` pixels, taken as a Gaussian of equal variance) and the optics,
then counting noise ``world.camera_frame_noise``. The light reaches the camera only when the exit
mirror sends it to the camera's port.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
from scipy import ndimage

from detectors.interfaces import ScanFrame
from detectors.simulation.world import SimulatedWorld

from .acton import SpectrographState
from .geometry import Grating

Emission = Callable[[object, np.ndarray], np.ndarray]


class SimulatedCLCamera:
    """The CCD behind the CL spectrometer, on the shared world.

    Parameters
    ----------
    world : SimulatedWorld
        Beam (current, blanking, probe position), specimen, drift, clock, noise.
    state : SpectrographState
        Grating, centre wavelength, slits and exit mirror of the simulated spectrometer.
    emission : callable, optional
        ``(LocalComposition, wavelength_nm (W,)) -> photons/electron/nm (N, W)``; default
        ``world.cl_emission``. Tests pass a synthetic line here.
    """

    def __init__(self, world: SimulatedWorld, state: SpectrographState,
                 emission: Emission | None = None) -> None:
        self.world = world
        self.state = state
        self.config = state.config
        self.emission = emission or world.cl_emission
        self.probe_shift: Any = None  # optional object with apply(frame) -> frame (the scan's probe shift)

    @property
    def pixels(self) -> int:
        return self.config.geometry.pixels

    def wavelengths_nm(self) -> np.ndarray:
        """True wavelength of every pixel now, nm (what the optics do, for tests)."""
        s = self.state
        return self.config.geometry.pixel_wavelengths_nm(s.grating, s.center_nm())

    def grating_efficiency(self, grating: Grating, wavelength_nm: np.ndarray) -> np.ndarray:
        c = self.config.camera
        return c.peak_grating_efficiency * np.exp(-0.5 * (np.log(wavelength_nm / grating.blaze_nm) / c.blaze_width) ** 2)

    def response(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(pixel wavelengths nm, counts per photon/nm per pixel (W,), blur σ in pixels) now."""
        s, c, geo = self.state, self.config.camera, self.config.geometry
        grating, center = s.grating, s.center_nm()
        wl = geo.pixel_wavelengths_nm(grating, center)
        width_nm = np.abs(np.diff(geo.pixel_edges_nm(grating, center)))
        slit = s.slits_um["entrance"]
        throughput = min(1.0, slit / c.spot_um) if s.exit_mirror == c.port else 0.0
        gain = width_nm * c.collection_efficiency * throughput * self.grating_efficiency(grating, wl) * c.quantum_efficiency
        slit_px = slit / (geo.pixel_mm * 1000.0)
        sigma_px = math.sqrt(slit_px ** 2 / 12.0 + c.resolution_px ** 2)
        return wl, gain, sigma_px

    def expected_counts(self, probe_y_nm: np.ndarray, probe_x_nm: np.ndarray, t_s: np.ndarray,
                        exposure_s: float) -> np.ndarray:
        """Noise-free counts (…, pixels) at microscope positions (any shape) and times."""
        shape = np.shape(probe_y_nm)
        comp = self.world.composition(np.ravel(probe_y_nm), np.ravel(probe_x_nm),
                                      np.ravel(np.broadcast_to(t_s, shape)))
        wl, gain, sigma_px = self.response()
        photons = self.emission(comp, wl) * (gain * self.world.electrons(exposure_s))[None, :]
        blurred = ndimage.gaussian_filter1d(photons, sigma_px, axis=-1, mode="constant", truncate=5.0)
        return blurred.reshape(shape + (wl.size,))

    def acquire_spectrum(self, exposure_s: float, *, noise: bool = True) -> np.ndarray:
        """One spectrum (pixels,) at the parked probe, counts; advances the clock by the exposure."""
        if not exposure_s > 0:
            raise ValueError(f"exposure {exposure_s} s must be > 0")
        w = self.world
        start = time.monotonic()
        with w.lock:
            t = w.clock.now_s() + exposure_s / 2
            expected = self.expected_counts(np.array([w.beam.probe_y_nm]), np.array([w.beam.probe_x_nm]),
                                            np.array([t]), exposure_s)[0]
            out = w.camera_frame_noise(expected) if noise else expected.astype(np.float32)
            w.pace(start, exposure_s)
        return out

    def acquire_spectrum_image(self, frame: ScanFrame, *, noise: bool = True) -> np.ndarray:
        """A CL spectrum image synchronised with ``frame``: one spectrum per pixel with the
        pixel's dwell as exposure, (h, w, pixels) counts; advances the clock by the frame time.

        The probe shift given in :attr:`probe_shift` (``apply(frame)``) moves the frame, as for
        the EELS spectrum imager.
        """
        w = self.world
        shifted = self.probe_shift.apply(frame) if self.probe_shift is not None else frame
        start = time.monotonic()
        with w.lock:
            t0 = w.clock.now_s()
            y, x = shifted.positions_nm()
            expected = self.expected_counts(y, x, shifted.pixel_times_s(t0), frame.dwell_s)
            out = w.camera_frame_noise(expected) if noise else expected.astype(np.float32)
            w.pace(start, frame.frame_time_s)
        return out
