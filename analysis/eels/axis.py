"""Energy axis: checks, integration windows with fractional channels, two-peak calibration.

Convention: ``energy_axis_eV[k]`` is the energy loss at the *centre* of channel k (positive =
loss), uniformly spaced with ``dispersion = energy_axis_eV[1] - energy_axis_eV[0] > 0``;
channel k covers [E_k − d/2, E_k + d/2]. The spectrum axis of an SI is the last one.
"""
from __future__ import annotations

import numpy as np

__all__ = ["check_energy_axis", "window_weights", "integrate", "calibrate_two_peaks",
           "energy_axis"]


def check_energy_axis(energy_axis_eV: np.ndarray, n_channels: int | None = None) -> tuple[np.ndarray, float]:
    """Validate a uniform, increasing energy axis; returns (axis as float64, dispersion eV/ch)."""
    e = np.asarray(energy_axis_eV, dtype=np.float64)
    if e.ndim != 1 or len(e) < 2:
        raise ValueError(f"energy axis must be 1-D with ≥ 2 channels, got shape {e.shape}")
    if n_channels is not None and len(e) != n_channels:
        raise ValueError(f"energy axis has {len(e)} channels but the spectra have {n_channels}")
    d = np.diff(e)
    disp = float(d.mean())
    if not np.all(np.isfinite(e)) or disp <= 0 or np.abs(d - disp).max() > 1e-6 * abs(disp) + 1e-9:
        raise ValueError("energy axis must be finite, increasing and uniformly spaced "
                         f"(got {e[0]:g} .. {e[-1]:g} eV, steps {d.min():g} .. {d.max():g})")
    return e, disp


def energy_axis(n_channels: int, offset_eV: float, dispersion_eV: float) -> np.ndarray:
    """Channel-centre energies ``offset_eV + dispersion_eV * k``, k = 0 .. n_channels − 1."""
    if dispersion_eV <= 0 or n_channels < 2:
        raise ValueError(f"need n_channels ≥ 2 and dispersion_eV > 0, got {n_channels}, {dispersion_eV}")
    return offset_eV + dispersion_eV * np.arange(n_channels, dtype=np.float64)


def window_weights(energy_axis_eV: np.ndarray, lo_eV: float, hi_eV: float) -> np.ndarray:
    """Fraction of each channel inside [lo_eV, hi_eV]: Σ w·counts integrates exactly over the
    window (boundary channels count pro rata), whatever the window's alignment to the channels.

    Raises ValueError if the window is empty or not inside the axis.

    Examples
    --------
    >>> window_weights(np.arange(5.0), 0.75, 2.0).tolist()
    [0.0, 0.75, 0.5, 0.0, 0.0]
    """
    e, d = check_energy_axis(energy_axis_eV)
    lo_ax, hi_ax = e[0] - d / 2, e[-1] + d / 2
    if not (lo_eV < hi_eV):
        raise ValueError(f"window [{lo_eV:g}, {hi_eV:g}] eV is empty")
    if lo_eV < lo_ax - 1e-9 or hi_eV > hi_ax + 1e-9:
        raise ValueError(f"window [{lo_eV:g}, {hi_eV:g}] eV is outside the energy axis "
                         f"[{lo_ax:g}, {hi_ax:g}] eV")
    left = e - d / 2
    right = e + d / 2
    return np.clip((np.minimum(right, hi_eV) - np.maximum(left, lo_eV)) / d, 0.0, 1.0)


def integrate(si: np.ndarray, energy_axis_eV: np.ndarray, window_eV: tuple[float, float]) -> np.ndarray:
    """Counts in ``window_eV`` for every spectrum of ``si`` (energy = last axis).

    Examples
    --------
    >>> integrate(np.ones((2, 10)), np.arange(10.0), (1.5, 4.0)).tolist()
    [2.5, 2.5]
    """
    si = np.asarray(si)
    check_energy_axis(energy_axis_eV, si.shape[-1])
    w = window_weights(energy_axis_eV, *window_eV)
    k = np.flatnonzero(w)
    # only the window's channels are converted to float
    return si[..., k[0]:k[-1] + 1].astype(np.float64) @ w[k[0]:k[-1] + 1]


def calibrate_two_peaks(channel_1: float, energy_1_eV: float, channel_2: float,
                        energy_2_eV: float) -> tuple[float, float]:
    """Offset and dispersion from two peaks at known energies.

    Parameters
    ----------
    channel_1, channel_2 : float
        Measured (sub-channel) positions of the two peaks, channel index units.
    energy_1_eV, energy_2_eV : float
        Their known energy losses (e.g. 0 for the ZLP and a reference edge or a sideband).

    Returns
    -------
    (offset_eV, dispersion_eV) : energy of channel k = offset_eV + dispersion_eV · k.

    Examples
    --------
    >>> calibrate_two_peaks(100.0, 0.0, 600.0, 284.0)
    (-56.8, 0.568)
    """
    if channel_1 == channel_2:
        raise ValueError(f"the two peaks are at the same channel {channel_1}")
    disp = (energy_2_eV - energy_1_eV) / (channel_2 - channel_1)
    if not disp > 0:
        raise ValueError(f"calibration gives a non-positive dispersion {disp:g} eV/channel "
                         f"(peaks at channels {channel_1}, {channel_2} with energies "
                         f"{energy_1_eV}, {energy_2_eV} eV)")
    return float(energy_1_eV - disp * channel_1), float(disp)
