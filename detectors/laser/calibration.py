"""Wavelength <-> motor position calibration of the tunable dye laser."""
from __future__ import annotations

from typing import Sequence

import numpy as np


class WavelengthCalibration:
    """Polynomial map from wavelength (nm) to motor position (steps) and its inverse.

    Parameters
    ----------
    coefficients : sequence of float
        ``steps = sum(c[k] * wavelength_nm**k)``, lowest order first. The map must be monotonic
        over the laser's range (on the Credo the position falls as λ rises).

    Notes
    -----
    The inverse is the real root of ``p(λ) - steps`` nearest to 650 nm, so both directions stay
    consistent to a fraction of a step (far below 0.01 nm). Orsay's server reads positions back
    with a separately fitted polynomial in the position; with the default calibration it agrees
    with this exact inverse within 0.0005 nm over 540–750 nm (0.01 nm at 800 nm), so one
    polynomial serves both directions.
    """

    def __init__(self, coefficients: Sequence[float]) -> None:
        self.polynomial = np.polynomial.Polynomial(np.asarray(coefficients, dtype=float))

    def to_position(self, wavelength_nm: float) -> int:
        """Motor position in steps (rounded to an integer) for ``wavelength_nm``."""
        return int(round(float(self.polynomial(wavelength_nm))))

    def to_wavelength(self, position_steps: float) -> float:
        """Wavelength in nm at motor position ``position_steps``."""
        roots = (self.polynomial - float(position_steps)).roots()
        real = roots[np.abs(roots.imag) < 1e-6].real
        if real.size == 0:
            raise ValueError(f"motor position {position_steps} has no wavelength in the calibration")
        return float(real[np.argmin(np.abs(real - 650.0))])
