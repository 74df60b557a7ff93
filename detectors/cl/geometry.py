"""Czerny–Turner geometry of the CL spectrometer: dispersion and per-pixel wavelengths.

Conventions
-----------
Princeton/Acton convention with deviation angle ``D`` (the fixed angle between the incident and
diffracted rays at the grating) and first order, ``m = 1``:

    ψ = (α + β)/2 = arcsin(m λ G / (2 cos(D/2))),   α = ψ − D/2,   β = ψ + D/2,
    m λ G = sin α + sin β,

with ``G`` in lines/nm. The camera is flat and perpendicular to the exit ray of the centre
wavelength at the focal length ``f``; a pixel at distance ``x`` from the detector centre (positive
towards longer wavelengths) receives the exit angle ``β + arctan(x / f)``, hence

    λ(x) = (sin α + sin(β + arctan(x / f))) / (m G).

At ``x = 0`` this gives the reciprocal linear dispersion ``dλ/dx = cos β / (m G f)`` (nm/mm with
``f`` in mm). Pixel ``i`` (0-based, increasing wavelength) is centred at
``x = (i + 0.5 − N/2) · pitch``, so the centre wavelength falls between the two middle pixels.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Grating:
    """A ruled grating: groove density (lines/mm) and blaze wavelength (nm)."""

    lines_per_mm: float
    blaze_nm: float

    @property
    def label(self) -> str:
        return f"{self.lines_per_mm:g} g/mm BLZ={self.blaze_nm:g}NM"


DEFAULT_GRATINGS: tuple[Grating, ...] = (Grating(600.0, 300.0), Grating(300.0, 500.0), Grating(150.0, 500.0))


@dataclasses.dataclass(frozen=True)
class CzernyTurner:
    """Spectrograph geometry.

    Parameters
    ----------
    focal_length_mm : float
        Focal length ``f`` (300 mm at Orsay).
    deviation_rad : float
        Deviation angle ``D`` (0.53 rad).
    pixels : int
        Camera pixels along the dispersion (1024).
    width_mm : float
        Camera width (25.6 mm: 25 µm pixels).
    order : int
        Diffraction order ``m`` (1).
    """

    focal_length_mm: float = 300.0
    deviation_rad: float = 0.53
    pixels: int = 1024
    width_mm: float = 25.6
    order: int = 1

    def __post_init__(self) -> None:
        if not (self.focal_length_mm > 0 and self.width_mm > 0 and self.pixels > 1):
            raise ValueError(f"bad spectrograph geometry {self}")

    @property
    def pixel_mm(self) -> float:
        return self.width_mm / self.pixels

    def angles_rad(self, grating: Grating, center_nm: float) -> tuple[float, float]:
        """Incidence and diffraction angles (α, β) for ``center_nm`` on the optical axis.

        Raises ``ValueError`` if the wavelength cannot be diffracted into the exit arm.
        """
        g = grating.lines_per_mm * 1e-6  # lines/nm
        s = self.order * center_nm * g / (2 * math.cos(self.deviation_rad / 2))
        if not (0 <= s < 1) or not math.isfinite(s):
            raise ValueError(f"{center_nm} nm is out of reach of the {grating.label} grating "
                             f"(m λ G / 2cos(D/2) = {s:.3f})")
        psi = math.asin(s)
        return psi - self.deviation_rad / 2, psi + self.deviation_rad / 2

    def max_wavelength_nm(self, grating: Grating) -> float:
        """Longest centre wavelength the grating reaches (ψ < 90°; mechanical limits are lower)."""
        return 2 * math.cos(self.deviation_rad / 2) / (self.order * grating.lines_per_mm * 1e-6)

    def dispersion_nm_per_mm(self, grating: Grating, center_nm: float) -> float:
        """Reciprocal linear dispersion at the detector centre, cos β / (m G f), nm/mm."""
        _, beta = self.angles_rad(grating, center_nm)
        # G in lines/nm and f in mm give nm/mm directly
        return math.cos(beta) / (self.order * grating.lines_per_mm * 1e-6 * self.focal_length_mm)

    def nm_per_pixel(self, grating: Grating, center_nm: float) -> float:
        """Dispersion × pixel width at the detector centre, nm."""
        return self.dispersion_nm_per_mm(grating, center_nm) * self.pixel_mm

    def pixel_positions_mm(self) -> np.ndarray:
        """Pixel-centre positions from the detector centre, mm, (pixels,)."""
        return (np.arange(self.pixels) + 0.5 - self.pixels / 2) * self.pixel_mm

    def pixel_wavelengths_nm(self, grating: Grating, center_nm: float) -> np.ndarray:
        """Wavelength at the centre of every pixel, nm (pixels,), increasing, non-linear.

        Examples
        --------
        >>> ct = CzernyTurner()
        >>> wl = ct.pixel_wavelengths_nm(Grating(300, 500), 500.0)
        >>> round(float((wl[511] + wl[512]) / 2), 3)
        500.0
        """
        alpha, beta = self.angles_rad(grating, center_nm)
        g = grating.lines_per_mm * 1e-6
        exit_angle = beta + np.arctan(self.pixel_positions_mm() / self.focal_length_mm)
        return (math.sin(alpha) + np.sin(exit_angle)) / (self.order * g)

    def pixel_edges_nm(self, grating: Grating, center_nm: float) -> np.ndarray:
        """Wavelengths at the pixel boundaries, nm (pixels + 1,)."""
        alpha, beta = self.angles_rad(grating, center_nm)
        g = grating.lines_per_mm * 1e-6
        x = (np.arange(self.pixels + 1) - self.pixels / 2) * self.pixel_mm
        return (math.sin(alpha) + np.sin(beta + np.arctan(x / self.focal_length_mm))) / (self.order * g)

    def linear_calibration(self, grating: Grating, center_nm: float) -> "LinearCalibration":
        """Least-squares straight line through the pixel wavelengths (for Swift's calibration).

        Off by a few pixels at the edges of a 600 l/mm spectrum (see ``max_error_px``); for an
        exact linear axis resample the counts with :func:`resample_to_uniform`.
        """
        return LinearCalibration.fit(self.pixel_wavelengths_nm(grating, center_nm))


@dataclasses.dataclass(frozen=True)
class LinearCalibration:
    """λ(i) ≈ offset_nm + scale_nm · i, the shape of a Swift ``Calibration(offset, scale, "nm")``.

    ``max_error_px`` is the largest deviation from the exact pixel wavelengths, in pixels of the
    local dispersion: with 25.6 mm of camera the sin curvature makes it several pixels at the edges
    of a 600 l/mm spectrum, so quantitative work should use the per-pixel array.
    """

    offset_nm: float
    scale_nm: float
    max_error_px: float

    @classmethod
    def fit(cls, wavelengths_nm: np.ndarray) -> "LinearCalibration":
        wl = np.asarray(wavelengths_nm, dtype=np.float64)
        i = np.arange(wl.size)
        scale, offset = np.polyfit(i, wl, 1)
        local = np.gradient(wl)
        err = np.max(np.abs(offset + scale * i - wl) / local)
        return cls(float(offset), float(scale), float(err))

    def wavelength_nm(self, pixel: float | np.ndarray) -> float | np.ndarray:
        return self.offset_nm + self.scale_nm * np.asarray(pixel)


def wavelength_at_pixel(wavelengths_nm: np.ndarray, pixel: float) -> float:
    """Wavelength at a fractional pixel position (pixel centres at integers), nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    return float(np.interp(pixel, np.arange(wl.size), wl))


def resample_to_uniform(counts: np.ndarray, edges_nm: np.ndarray) -> tuple[np.ndarray, LinearCalibration]:
    """Rebin spectra from the camera's non-linear pixels onto equal wavelength bins.

    Counts are conserved: the cumulative counts, linear within each camera pixel, are read at the
    new bin edges. The new axis has as many bins as the camera, spanning the same range, so its
    calibration is exactly linear (``max_error_px = 0``) and can be given to Swift as is.

    Parameters
    ----------
    counts : ndarray (..., pixels)
        Spectra on the camera pixels (any leading shape: a spectrum image works).
    edges_nm : ndarray (pixels + 1,)
        Pixel boundaries, increasing (:meth:`CzernyTurner.pixel_edges_nm`).

    Returns
    -------
    uniform : ndarray (..., pixels), float64
        Counts per equal-width bin.
    calibration : LinearCalibration
        Centre of bin ``i`` = ``offset_nm + scale_nm · i``.
    """
    edges = np.asarray(edges_nm, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    n = c.shape[-1]
    if edges.shape != (n + 1,) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges_nm must be increasing with {n + 1} values, got shape {edges.shape}")
    new_edges = np.linspace(edges[0], edges[-1], n + 1)
    cumulative = np.concatenate([np.zeros(c.shape[:-1] + (1,)), np.cumsum(c, axis=-1)], axis=-1)
    idx = np.clip(np.searchsorted(edges, new_edges, side="right") - 1, 0, n - 1)
    frac = (new_edges - edges[idx]) / (edges[idx + 1] - edges[idx])
    at_edges = cumulative[..., idx] + frac * (cumulative[..., idx + 1] - cumulative[..., idx])
    scale = (edges[-1] - edges[0]) / n
    return np.diff(at_edges, axis=-1), LinearCalibration(float(edges[0] + scale / 2), float(scale), 0.0)
