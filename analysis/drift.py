"""Drift model: pixel ↔ nm conversion in a rotated scan frame and linear drift prediction.

Frames and signs
----------------
*Microscope (specimen) frame*: Cartesian (y, x) in nm, the frame the probe-shift / scan-offset
coils and the drift live in. *Scan frame*: the image's (row, column) = (y, x) axes in pixels.
The scan frame is rotated by ``rotation_rad`` relative to the microscope frame, positive =
counter-clockwise, i.e. it turns the +x axis towards +y. The scan's unit vectors expressed in
the microscope frame are::

    x_scan = (y: sin θ, x: cos θ)        y_scan = (y: cos θ, x: -sin θ)

so a displacement of (dy_px, dx_px) in the image is, in nm,

    dy_nm = p (sin θ · dx_px + cos θ · dy_px)
    dx_nm = p (cos θ · dx_px − sin θ · dy_px)          (p = pixel size, nm/px)

On screen, where y points down, a positive θ looks clockwise; the algebra above is what counts.
Shifts follow :mod:`analysis.registration`: (dy, dx) = how far the specimen moved *in the image*
between the reference and the current frame (image = reference translated by (dy, dx)).
"""
from __future__ import annotations

import collections
import math

import numpy as np

__all__ = ["pixels_to_nm", "nm_to_pixels", "DriftPredictor"]


def _check_scan(pixel_size_nm: float, rotation_rad: float) -> None:
    if not (math.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ValueError(f"pixel_size_nm must be a finite number > 0, got {pixel_size_nm}")
    if not math.isfinite(rotation_rad):
        raise ValueError(f"rotation_rad must be finite, got {rotation_rad}")


def pixels_to_nm(dy_px: float, dx_px: float, pixel_size_nm: float,
                 rotation_rad: float = 0.0) -> tuple[float, float]:
    """Convert a displacement in scan pixels into the microscope frame, nm.

    Parameters
    ----------
    dy_px, dx_px : float or array
        Displacement along the image rows / columns, pixels.
    pixel_size_nm : float
        Scan pixel size, nm/px (> 0).
    rotation_rad : float
        Scan rotation relative to the microscope frame, radians, counter-clockwise positive
        (see the module docstring for the matrix).

    Returns
    -------
    (dy_nm, dx_nm) : tuple
        Displacement in the microscope frame, nm.

    Examples
    --------
    >>> pixels_to_nm(0.0, 2.0, 0.5, math.pi / 2)  # scan x points along microscope +y
    (1.0, 6.123233995736766e-17)
    """
    _check_scan(pixel_size_nm, rotation_rad)
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    return (pixel_size_nm * (s * dx_px + c * dy_px), pixel_size_nm * (c * dx_px - s * dy_px))


def nm_to_pixels(dy_nm: float, dx_nm: float, pixel_size_nm: float,
                 rotation_rad: float = 0.0) -> tuple[float, float]:
    """Convert a microscope-frame displacement (nm) into scan pixels; inverse of
    :func:`pixels_to_nm` (same conventions).

    Examples
    --------
    >>> dy, dx = nm_to_pixels(*pixels_to_nm(1.5, -2.0, 0.3, 0.4), 0.3, 0.4)
    >>> round(dy, 12), round(dx, 12)
    (1.5, -2.0)
    """
    _check_scan(pixel_size_nm, rotation_rad)
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    # the rotation matrix is orthogonal: the inverse is its transpose
    return ((c * dy_nm - s * dx_nm) / pixel_size_nm, (s * dy_nm + c * dx_nm) / pixel_size_nm)


class DriftPredictor:
    """Linear least-squares prediction of the drift from the most recent measurements.

    Thermal drift is smooth over minutes (0.1–1 nm/min), so a straight line through the last
    ``history`` positions predicts where the specimen will be when the next sequence starts;
    the scan is re-centred ahead of it.

    Parameters
    ----------
    history : int
        Number of most recent measurements used for the fit (≥ 2). Short = follows changes of
        drift rate quickly; long = averages the measurement noise.

    Notes
    -----
    Measurements are (time_s, dy_nm, dx_nm): the specimen position relative to the first
    reference, in the microscope frame (convert pixel shifts with :func:`pixels_to_nm`).
    With one measurement the prediction is that position (no velocity known); with none it is
    (0, 0). Times must increase strictly.

    Examples
    --------
    >>> p = DriftPredictor(history=4)
    >>> for t in range(4):
    ...     p.add(60.0 * t, 0.5 * t, -1.0 * t)
    >>> [round(v, 6) for v in p.predict(300.0)]
    [2.5, -5.0]
    """

    def __init__(self, history: int = 8) -> None:
        if int(history) < 2:
            raise ValueError(f"history must be ≥ 2 measurements, got {history}")
        self.history = int(history)
        self._data: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=self.history)

    def __len__(self) -> int:
        return len(self._data)

    def reset(self) -> None:
        """Forget all measurements (e.g. after a stage move)."""
        self._data.clear()

    def add(self, time_s: float, dy_nm: float, dx_nm: float) -> None:
        """Add a measured position (nm, microscope frame) at ``time_s``."""
        values = (float(time_s), float(dy_nm), float(dx_nm))
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"measurement must be finite, got time_s={time_s}, "
                             f"dy_nm={dy_nm}, dx_nm={dx_nm}")
        if self._data and values[0] <= self._data[-1][0]:
            raise ValueError(f"time_s={time_s} is not after the previous measurement at "
                             f"{self._data[-1][0]} s")
        self._data.append(values)

    def _fit(self) -> tuple[float, np.ndarray, np.ndarray]:
        """(t_mean, position at t_mean (y, x), velocity (y, x) nm/s) of the least-squares line."""
        d = np.asarray(self._data)
        t = d[:, 0]
        t_mean = float(t.mean())
        pos = d[:, 1:].mean(axis=0)
        if len(d) < 2:
            return t_mean, pos, np.zeros(2)
        tc = t - t_mean  # centred time: the normal equations decouple, no conditioning issue
        vel = (tc[:, None] * (d[:, 1:] - pos)).sum(axis=0) / (tc * tc).sum()
        return t_mean, pos, vel

    def velocity_nm_per_s(self) -> tuple[float, float]:
        """Fitted drift velocity (vy, vx) in nm/s; (0, 0) with fewer than two measurements."""
        if not self._data:
            return (0.0, 0.0)
        _, _, v = self._fit()
        return (float(v[0]), float(v[1]))

    def predict(self, time_s: float) -> tuple[float, float]:
        """Predicted position (dy_nm, dx_nm) at ``time_s`` (extrapolated along the fitted line)."""
        if not math.isfinite(time_s):
            raise ValueError(f"time_s must be finite, got {time_s}")
        if not self._data:
            return (0.0, 0.0)
        t0, pos, vel = self._fit()
        p = pos + vel * (float(time_s) - t0)
        return (float(p[0]), float(p[1]))

    def predict_pixels(self, time_s: float, pixel_size_nm: float,
                       rotation_rad: float = 0.0) -> tuple[float, float]:
        """:meth:`predict` converted to scan pixels (e.g. the ``predicted`` argument of
        :func:`analysis.registration.measure_shift`)."""
        return nm_to_pixels(*self.predict(time_s), pixel_size_nm, rotation_rad)
