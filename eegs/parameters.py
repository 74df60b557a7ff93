"""Parameters of the EEGS scans (:mod:`eegs.scans`): what to scan, the dose per point, the
laser-off references and the drift tracking. They check themselves (finite, signs, counts) when
built, so the CLI, scripts and panels share the checks; the instrument's limits are checked by
the scan's ``validate()`` before any command is sent.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from detectors.common.checks import (check_finite, check_fraction, check_int, check_non_negative,
                                     check_positive)
from detectors.common.errors import ParameterError

MAX_POINTS = 100_000


@dataclasses.dataclass(frozen=True)
class WavelengthScanParameters:
    """A wavelength scan. Units in the names.

    ``start_nm`` … ``stop_nm`` (inclusive when it falls on the grid) in steps of ``step_nm``
    (> 0; the scan runs downwards when ``stop_nm < start_nm``). ``diode_current_A`` is ramped
    to before opening the shutter (None = leave the pump as it is); ``attenuator_angle_deg``
    likewise. ``gating`` switches the sync box's gating on/off (None = leave).
    ``reference_every``: with ``laser_off_reference``, a laser-off reference (shutter closed,
    same exposures) before every ``reference_every``-th point as well as at the end, so that
    each spectrum has one a few points away in time (0 = only at the end). Drift moves the
    probe during a scan; a reference minutes old shows another impact parameter.
    ``reimage_every``: the region around the parked probe (``reimage_fov_nm`` square, centred on
    it) is re-imaged every that many points and the probe kept at the same place relative to the
    particle (:mod:`eegs.tracking`); 0 = no tracking (the probe stays where it was parked).
    """

    start_nm: float
    stop_nm: float
    step_nm: float
    spectra_per_point: int = 10
    exposure_s: float = 0.1
    diode_current_A: float | None = 6.0
    attenuator_angle_deg: int | None = None
    gating: bool | None = None
    hold_timeout_s: float | None = None
    laser_off_reference: bool = True
    reference_every: int = 5
    reimage_every: int = 1
    reimage_fov_nm: float = 96.0

    def __post_init__(self) -> None:
        # self-checks (finite, signs, counts): the CLI, scripts and panels share them; the
        # instrument's limits are checked by the scan's validate() before any command
        check_positive("start_nm", self.start_nm, "nm")
        check_positive("stop_nm", self.stop_nm, "nm")
        check_positive("step_nm", self.step_nm, "nm")
        self.wavelengths_nm()  # the number of points
        if self.attenuator_angle_deg is not None:
            check_finite("attenuator_angle_deg", self.attenuator_angle_deg, "°")
        _check_common(self)

    def wavelengths_nm(self) -> np.ndarray:
        if not (math.isfinite(self.step_nm) and self.step_nm > 0):
            raise ValueError(f"wavelength step {self.step_nm} nm must be > 0 nm")
        span = abs(self.stop_nm - self.start_nm)
        steps = span / self.step_nm
        if not steps < MAX_POINTS:  # also a step so small that the ratio overflows
            raise ParameterError(f"start_nm = {self.start_nm:g}, stop_nm = {self.stop_nm:g}, step_nm = "
                                 f"{self.step_nm:g} give {steps:.3g} wavelengths; the limit is {MAX_POINTS} points")
        n = int(math.floor(steps + 1e-9)) + 1
        sign = 1.0 if self.stop_nm >= self.start_nm else -1.0
        return self.start_nm + sign * self.step_nm * np.arange(n)


@dataclasses.dataclass(frozen=True)
class PowerScanParameters:
    """A power scan at fixed ``wavelength_nm``.

    Give either ``angles_deg`` (attenuator angles, integer degrees; the first axis is the angle
    and the measured power is in the power log) or ``setpoints_uW`` (each point is reached by
    the power lock on the attenuator; the first axis is the power in µW).
    ``reference_every``, ``reimage_every`` and ``reimage_fov_nm`` as in
    :class:`WavelengthScanParameters`.
    """

    wavelength_nm: float
    angles_deg: tuple[int, ...] | None = None
    setpoints_uW: tuple[float, ...] | None = None
    spectra_per_point: int = 10
    exposure_s: float = 0.1
    diode_current_A: float | None = 6.0
    gating: bool | None = None
    lock_tolerance_rel: float = 0.02
    lock_max_steps: int = 60
    hold_timeout_s: float | None = None
    laser_off_reference: bool = True
    reference_every: int = 5
    reimage_every: int = 1
    reimage_fov_nm: float = 96.0

    def __post_init__(self) -> None:
        check_positive("wavelength_nm", self.wavelength_nm, "nm")
        if (self.angles_deg is None) == (self.setpoints_uW is None):
            raise ParameterError(f"angles_deg = {self.angles_deg!r}, setpoints_uW = {self.setpoints_uW!r}: "
                                 "give exactly one of them")
        points = self.angles_deg if self.angles_deg is not None else self.setpoints_uW
        if len(points) == 0 or len(points) > MAX_POINTS:
            raise ParameterError(f"{len(points)} power-scan points are not allowed; expected 1 to {MAX_POINTS}")
        for value in self.setpoints_uW or ():
            check_positive("setpoints_uW", value, "µW")
        for value in self.angles_deg or ():
            check_finite("angles_deg", value, "°")
        check_fraction("lock_tolerance_rel", self.lock_tolerance_rel)
        check_int("lock_max_steps", self.lock_max_steps, 1)
        _check_common(self)


def _check_common(p: "WavelengthScanParameters | PowerScanParameters") -> None:
    """Checks every EEGS scan shares: counts, exposure, current, timeout (finite, signs)."""
    check_int("spectra_per_point", p.spectra_per_point, 1)
    check_positive("exposure_s", p.exposure_s, "s")
    check_int("reimage_every", p.reimage_every, 0)
    check_positive("reimage_fov_nm", p.reimage_fov_nm, "nm")
    if p.diode_current_A is not None:
        check_non_negative("diode_current_A", p.diode_current_A, "A")
    if p.hold_timeout_s is not None:
        check_positive("hold_timeout_s", p.hold_timeout_s, "s")
