"""The workflows' scan and spectrum imager on the configured scan generator and EELS camera.

:class:`GeneratorScan` is the workflows' :class:`~detectors.interfaces.ScanDevice` (HAADF frames,
probe position) and :class:`SynchronizedSpectrumImager` their
:class:`~detectors.interfaces.SpectrumImager` (one camera exposure per visited pixel, the
camera clocking the scan), both over any :class:`~detectors.scan.generator.ScanGenerator`: the
simulated one, our TCP protocol's driver, a real unit. So the HAADF survey, the (sparse) SI and
the drift-corrected SI reach the hardware the site configuration names.
"""
from __future__ import annotations

import dataclasses
import time
import typing

import numpy as np

from detectors.interfaces import Aborted, EELSCamera, ScanFrame, visits_per_section
from detectors.scan.generator import ScanGenerator, Visits

#: ``pace(wall_start, duration_s)``: let ``duration_s`` of instrument time pass for work that
#: started at ``time.monotonic() == wall_start`` (a simulated unit takes no wall time itself)
Pacer = typing.Callable[[float, float], None]
#: ``follow(visits)``: on the simulator, steer the world's beam through the visits of a block so
#: the simulated camera sees them (a real scan unit moves the real beam on the camera's triggers)
BeamFollower = typing.Callable[[Visits], None]


class GeneratorScan:
    """Free-running HAADF frames and the parked probe through a scan generator.

    Positions are commanded positions (nm, microscope frame); the generator adds the column's
    probe shift, as the microscope does.
    """

    def __init__(self, generator: ScanGenerator, pace: Pacer | None = None) -> None:
        self.generator = generator
        self.pace = pace
        self.frames_acquired = 0

    def acquire_frame(self, frame: ScanFrame) -> np.ndarray:
        """One raster frame of HAADF counts (float32, ``frame.size_px``)."""
        start = time.monotonic()
        g = self.generator
        g.set_pixel_order(None)
        g.configure(frame)
        g.set_channels(["HAADF"])
        image = g.acquire_frame().images["HAADF"]
        if self.pace is not None:
            self.pace(start, frame.frame_time_s)
        self.frames_acquired += 1
        return image

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        self.generator.set_probe_position_nm(y_nm, x_nm)

    def probe_position_nm(self) -> tuple[float, float]:
        return self.generator.probe_position_nm()


class SynchronizedSpectrumImager:
    """An EELS spectrum image from a scan generator clocked by the EELS camera.

    Per section of visits (about 0.1 s of exposures, at least one scan row's worth) the camera
    takes ``count`` exposures while the generator steps through ``count`` visits
    (``acquire_block``, externally clocked: one pixel per exposure). Spectra and HAADF land at
    their pixels (raster) or come back in visit order (a pixel order). The abort is checked between sections;
    the probe is parked at the frame centre when the image ends, completed or not.
    """

    def __init__(self, generator: ScanGenerator, camera: EELSCamera, *,
                 follow_beam: BeamFollower | None = None, section_s: float = 0.1) -> None:
        self.generator = generator
        self.camera = camera
        self.follow_beam = follow_beam
        self.section_s = section_s

    def energy_axis_eV(self) -> np.ndarray:
        return self.camera.energy_axis_eV()

    def acquire_spectrum_image(self, frame: ScanFrame, exposure_s: float, *,
                               rows_done: typing.Callable[[int], None] | None = None,
                               abort: typing.Callable[[], bool] | None = None,
                               pixel_order: np.ndarray | None = None,
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Raster: (si (h, w, channels), haadf (h, w)), float32, of ``frame`` at ``exposure_s`` per
        pixel. With ``pixel_order`` (flat indices): (spectra (n, channels), haadf (n,)) in visit
        order, as :class:`~detectors.simulation.devices.SimulatedSpectrumImager` returns them.
        ``rows_done(k)`` reports progress: raster, the first k rows are complete; with a pixel
        order, the first k visits. Raises :class:`Aborted` when ``abort()`` is true between
        sections."""
        if not 0 < exposure_s <= 60:
            raise ValueError(f"exposure {exposure_s!r} s outside (0, 60] s")
        h, w = frame.size_px
        channels = self.camera.energy_axis_eV().size
        g = self.generator
        g.set_pixel_order(None)
        g.configure(dataclasses.replace(frame, dwell_s=exposure_s, flyback_px=0))
        if pixel_order is not None:
            g.set_pixel_order(pixel_order)
        g.set_channels(["HAADF"])
        order = g.pixel_order()
        n = h * w if order is None else order.size
        per_section = visits_per_section(exposure_s, w, order is None, section_s=self.section_s)
        si = np.zeros((n, channels), np.float32)  # in visit order
        haadf = np.zeros(n, np.float32)
        try:
            for start in range(0, n, per_section):
                if abort is not None and abort():
                    raise Aborted(f"spectrum image aborted after {start} of {n} visits")
                count = min(per_section, n - start)
                block = g.acquire_block(start, count)
                if self.follow_beam is not None:
                    self.follow_beam(block.visits)
                spectra = self.camera.acquire_spectra(count, exposure_s)
                si[start:start + count] = spectra
                haadf[start:start + count] = block.values["HAADF"]
                if rows_done is not None:
                    rows_done((start + count) // w if order is None else start + count)
        finally:
            g.park()
        if order is not None:
            return si, haadf
        return si.reshape(h, w, channels), haadf.reshape(h, w)
