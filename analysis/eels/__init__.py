"""Core-loss and low-loss EELS analysis of spectrum images.

Conventions: the energy axis is the *last* axis of an SI, ``energy_axis_eV`` gives the energy
loss (positive = loss) at channel centres, uniformly spaced; counts are Poisson.

Modules: :mod:`.edges` (onset table, look-up), :mod:`.axis` (windows, calibration),
:mod:`.zlp` (ZLP alignment, t/λ), :mod:`.background` (power laws), :mod:`.maps`
(elemental maps with uncertainty).
"""
from .axis import calibrate_two_peaks, check_energy_axis, energy_axis, integrate, window_weights
from .background import (PowerLaw, background_variance, fit_powerlaw_lsq, fit_powerlaw_two_area,
                         powerlaw_integral)
from .edges import EDGE_ONSETS_eV, Edge, known_edges, lookup_edge
from .maps import ElementalMap, default_windows, elemental_map
from .zlp import align_zlp, shift_spectra, thickness_map, zlp_positions

__all__ = [
    "EDGE_ONSETS_eV", "Edge", "ElementalMap", "PowerLaw", "align_zlp", "background_variance",
    "calibrate_two_peaks", "check_energy_axis", "default_windows", "elemental_map",
    "energy_axis", "fit_powerlaw_lsq", "fit_powerlaw_two_area", "integrate", "known_edges",
    "lookup_edge", "powerlaw_integral", "shift_spectra", "thickness_map", "window_weights",
    "zlp_positions",
]
