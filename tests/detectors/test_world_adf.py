"""The ADF signal of the world: same composition as HAADF, lower-angle weights."""
from __future__ import annotations

import numpy as np

from detectors.simulation.world import SimulatedWorld


def test_adf_has_weaker_z_contrast_than_haadf_and_nothing_in_vacuum():
    world = SimulatedWorld(0)
    p = world.specimen.particles[0]
    hole = world.specimen.hole_center_nm
    y = np.array([p.y_nm, hole[0], 0.0])
    x = np.array([p.x_nm, hole[1], 0.0])
    adf = world.adf_counts(y, x, 0.0, 1e-3, noise=False)
    haadf = world.haadf_counts(y, x, 0.0, 1e-3, noise=False)
    comp = world.composition(y, x, 0.0)
    support = comp.thickness_nm["carbon"] > 0
    assert adf[1] == 0 and haadf[1] == 0, "the vacuum hole scatters nothing"
    assert (adf[support] > haadf[support]).all(), "the lower-angle ring collects more"
    # Z-contrast: the particle over the support is brighter in HAADF than in ADF, relatively
    assert haadf[0] / haadf[2] > adf[0] / adf[2] > 1
    world.beam.blanked = True
    assert world.adf_counts(y, x, 0.0, 1e-3).sum() == 0
