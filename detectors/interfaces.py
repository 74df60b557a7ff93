"""Device interfaces the workflows program against.

Each interface has a simulated implementation on the shared world
(:mod:`detectors.simulation.devices`) and, where the hardware exists, a real driver. Workflows
(`eegs`, `drift_eels`) only see these protocols, so the same code runs on the simulator, on the
microscope, from pytest, the CLI and Swift.

Scan geometry convention
------------------------
A :class:`ScanFrame` of ``size_px = (h, w)`` covers ``fov_nm`` along its larger side (square
pixels of ``fov_nm / max(h, w)``), centred on ``center_nm = (y, x)`` in the microscope frame and
rotated counter-clockwise by ``rotation_rad``: a pixel at scan-frame offset (v, u) nm from the
centre sits at microscope position ``center + (u·sinθ + v·cosθ, u·cosθ − v·sinθ)``. Pixels are
visited row by row; each row is followed by ``flyback_px`` pixel times of flyback.
"""
from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np


@dataclasses.dataclass(frozen=True)
class ScanFrame:
    """Geometry and timing of one scan frame. Units: nm, rad, s."""

    size_px: tuple[int, int] = (256, 256)
    fov_nm: float = 512.0
    center_nm: tuple[float, float] = (0.0, 0.0)
    rotation_rad: float = 0.0
    dwell_s: float = 2e-6
    flyback_px: int = 2

    def __post_init__(self) -> None:
        h, w = self.size_px
        if h < 1 or w < 1:
            raise ValueError(f"scan size_px must be positive, got {self.size_px}")
        # finite: an infinite field of view or dwell sends NaN positions to the scan unit and
        # never-ending waits (an SI with --fov-nm inf looped forever)
        if not (math.isfinite(self.fov_nm) and self.fov_nm > 0):
            raise ValueError(f"scan fov_nm must be a finite number > 0 nm, got {self.fov_nm}")
        if not (math.isfinite(self.dwell_s) and self.dwell_s > 0):
            raise ValueError(f"scan dwell_s must be a finite number > 0 s, got {self.dwell_s}")
        if not all(math.isfinite(v) for v in (*self.center_nm, self.rotation_rad)):
            raise ValueError(f"scan center_nm {tuple(self.center_nm)} and rotation_rad {self.rotation_rad} "
                             "must be finite numbers")

    @property
    def pixel_size_nm(self) -> float:
        return self.fov_nm / max(self.size_px)

    @property
    def frame_time_s(self) -> float:
        h, w = self.size_px
        return h * (w + self.flyback_px) * self.dwell_s

    def offsets_nm(self) -> tuple[np.ndarray, np.ndarray]:
        """Scan-frame offsets (v, u) of every pixel centre from the frame centre, (h, w) each."""
        h, w = self.size_px
        p = self.pixel_size_nm
        v = (np.arange(h) + 0.5 - h / 2) * p
        u = (np.arange(w) + 0.5 - w / 2) * p
        return np.meshgrid(v, u, indexing="ij")

    def to_microscope_nm(self, v_nm, u_nm) -> tuple[np.ndarray, np.ndarray]:
        """Scan-frame offsets (v, u) → microscope positions (y, x), nm."""
        c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        v = np.asarray(v_nm, dtype=np.float64)
        u = np.asarray(u_nm, dtype=np.float64)
        return self.center_nm[0] + u * s + v * c, self.center_nm[1] + u * c - v * s

    def positions_nm(self) -> tuple[np.ndarray, np.ndarray]:
        """Microscope positions (y, x) of every pixel, arrays of shape ``size_px``."""
        return self.to_microscope_nm(*self.offsets_nm())

    def pixel_times_s(self, t0_s: float) -> np.ndarray:
        """Time at the middle of each pixel's dwell for a frame starting at ``t0_s``."""
        h, w = self.size_px
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return t0_s + (i * (w + self.flyback_px) + j + 0.5) * self.dwell_s

    def visits(self, order: np.ndarray, t0_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (y, x, nm) and mid-dwell times (s) of the pixels visited in ``order``.

        ``order`` holds flat indices (row-major in ``size_px``); visit k starts at
        ``t0_s + k·dwell_s`` (an arbitrary-order scan has no flyback). Raises ValueError for
        indices outside the frame or repeated ones.
        """
        order = np.asarray(order, dtype=np.int64).ravel()
        n = self.size_px[0] * self.size_px[1]
        if order.size == 0 or order.min() < 0 or order.max() >= n:
            raise ValueError(f"pixel order must hold flat indices in [0, {n}) for a {self.size_px} frame")
        if np.unique(order).size != order.size:
            raise ValueError("pixel order repeats a pixel")
        y, x = self.positions_nm()
        times = t0_s + (np.arange(order.size) + 0.5) * self.dwell_s
        return y.ravel()[order], x.ravel()[order], times

    def subframe(self, top: int, left: int, height: int, width: int) -> "ScanFrame":
        """The frame covering pixels [top:top+height, left:left+width] with the same pixel size."""
        h, w = self.size_px
        if top < 0 or left < 0 or top + height > h or left + width > w or height < 1 or width < 1:
            raise ValueError(f"sub-frame {(top, left, height, width)} outside the {h}×{w} frame")
        p = self.pixel_size_nm
        v = (top + height / 2 - h / 2) * p
        u = (left + width / 2 - w / 2) * p
        cy, cx = self.to_microscope_nm(v, u)
        return dataclasses.replace(self, size_px=(height, width), fov_nm=p * max(height, width),
                                   center_nm=(float(cy), float(cx)))


class Aborted(Exception):
    """The user (or a safety interlock) stopped the task: raised by a device call when the
    caller's abort event is set and by :meth:`lumiere.tasks.TaskControl.check_abort`. Devices
    have been left safe and everything acquired so far has been written to the sink. The one
    abort type of every layer (the CLI exits 130 on it, the panels say "Aborted")."""


class ScanDevice(typing.Protocol):
    """A scan generator with a HAADF detector."""

    def acquire_frame(self, frame: ScanFrame) -> np.ndarray:
        """Scan ``frame`` once and return the HAADF image (h, w), float32."""

    def set_probe_position_nm(self, y_nm: float, x_nm: float) -> None:
        """Park the beam at a microscope position (nm)."""

    def probe_position_nm(self) -> tuple[float, float]: ...


class EELSCamera(typing.Protocol):
    """An EELS camera (energy-dispersive axis = columns)."""

    def energy_axis_eV(self) -> np.ndarray:
        """Channel centres, energy loss in eV, increasing."""

    def acquire_spectra(self, n: int, exposure_s: float) -> np.ndarray:
        """``n`` spectra (n, channels) summed over the non-dispersive axis, counts."""

    def acquire_frames(self, n: int, exposure_s: float) -> np.ndarray:
        """``n`` raw frames (n, rows, channels), counts."""


class SpectrumImager(typing.Protocol):
    """A scan synchronised with an EELS camera (one spectrum per scan pixel)."""

    def energy_axis_eV(self) -> np.ndarray: ...

    def acquire_spectrum_image(self, frame: ScanFrame, exposure_s: float, *,
                               rows_done: typing.Callable[[int], None] | None = None,
                               abort: typing.Callable[[], bool] | None = None,
                               pixel_order: np.ndarray | None = None,
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Acquire an SI: returns (si (h, w, channels) counts, haadf (h, w)).

        ``rows_done(n)`` is called as rows complete; when ``abort()`` becomes true the scan stops
        at the next row and :class:`Aborted` is raised (the device is left stopped).

        With ``pixel_order`` (flat row-major indices into ``frame.size_px``, no repeats) only
        those pixels are visited, in that order, one exposure each (times as
        :meth:`ScanFrame.visits`): returns (spectra (n, channels), haadf (n,)) in visiting
        order, and ``rows_done(k)`` counts visits instead of rows. A backend that cannot visit
        an arbitrary pixel order raises ``NotImplementedError`` naming itself.
        """


def visits_per_section(exposure_s: float, row_px: int, raster: bool, *, section_s: float = 0.1,
                       rows: int | None = None) -> int:
    """How many visits a spectrum imager acquires between two progress/abort checks: about
    ``section_s`` of exposures and at least one; a raster scan takes whole rows (``rows`` of them
    if given) so that progress can count rows.

    >>> visits_per_section(1e-3, 32, raster=False), visits_per_section(1e-3, 32, raster=True)
    (100, 96)
    >>> visits_per_section(0.5, 32, raster=True), visits_per_section(1e-3, 32, raster=True, rows=2)
    (32, 64)
    """
    visits = max(1, int(section_s / exposure_s))
    if not raster:
        return visits
    return row_px * (rows or max(1, visits // row_px))


class ProbeShift(typing.Protocol):
    """Beam/scan shift that moves the scanned area (drift correction), nm."""

    def get_shift_nm(self) -> tuple[float, float]: ...

    def set_shift_nm(self, dy_nm: float, dx_nm: float) -> None: ...
