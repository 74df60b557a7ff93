"""Set the simulated world up for an experiment, and find targets on the simulated specimen.

Simulation-only helpers: the CLI, the demo, Swift's panels and training call them only when the
instrument is simulated (``Instrument.fully_simulated``); on a real site the user gives regions and
probe positions, and no workflow reads the world.

* :func:`configure_simulation` — core-loss spectrometer (350 eV offset, 1 eV per channel: Sc L2,3 …
  Dy M4,5), the drift (rate in nm/min along :data:`DRIFT_DIRECTION` plus a seeded random walk) and
  the beam current.
* :func:`drift_si_targets_nm` — an oxide grain for a drift-corrected SI and a gold particle for its
  drift reference.
* :func:`eegs_probe_target_nm` — a probe position just outside a gold particle's edge (EEGS).
"""
from __future__ import annotations

import math

from detectors.common.checks import check_non_negative, check_positive
from detectors.simulation.drift import DriftModel, DriftSettings
from detectors.simulation.world import SimulatedWorld

CORE_LOSS_OFFSET_EV = 350.0
CORE_LOSS_DISPERSION_EV = 1.0
#: direction of the simulated drift (unit vector, microscope frame (y, x))
DRIFT_DIRECTION = (0.6, 0.8)
#: the drift of ``lumiere drift-si`` on the simulator, nm/min: a holder still settling after a
#: stage move (thermal drift is 0.1–2 nm/min once settled, 5–20 nm/min in the first minutes).
#: Over the default SI (8 × 64² px × 2 ms, ~70 s) the specimen moves ~12 nm (6 SI pixels): the
#: uncorrected maps smear (Dy map vs the truth r = 0.69) where the corrected ones hold (0.99).
DRIFT_SI_DRIFT_NM_PER_MIN = 10.0


def configure_simulation(world: SimulatedWorld, *, drift_nm_per_min: float | None = 2.0,
                         random_walk_nm_per_sqrt_min: float = 0.3, current_pA: float | None = 200.0,
                         seed: int | None = None) -> None:
    """Set the simulated world up for a core-loss (drift-corrected) SI (see the module docstring).

    ``drift_nm_per_min`` None keeps the configured drift; ``current_pA`` None keeps the current;
    ``seed`` None keeps the world's seed. The spectrometer is the world's, which on an instrument
    from :func:`~detectors.instrument.build_instrument` is the instrument's own calibration
    object: call this only on a fully simulated instrument (a real camera reads that calibration).
    """
    world.spectrometer.set(CORE_LOSS_OFFSET_EV, CORE_LOSS_DISPERSION_EV)
    if current_pA is not None:
        check_positive("current_pA", current_pA, "pA")
    if drift_nm_per_min is not None:
        check_non_negative("drift_nm_per_min", drift_nm_per_min, "nm/min")
        check_non_negative("random_walk_nm_per_sqrt_min", random_walk_nm_per_sqrt_min, "nm/√min")
    if current_pA is not None:
        world.beam.current_pA = float(current_pA)
    if drift_nm_per_min is not None:
        rate = (drift_nm_per_min * DRIFT_DIRECTION[0], drift_nm_per_min * DRIFT_DIRECTION[1])
        world.drift = DriftModel(DriftSettings(rate, random_walk_nm_per_sqrt_min),
                                 seed=world.seed if seed is None else seed)


def drift_si_targets_nm(world: SimulatedWorld) -> tuple[tuple[float, float], tuple[float, float]]:
    """(SI centre, drift reference centre), microscope frame nm (y, x), on the simulated specimen:
    the DyScO3 grain nearest the centre (Sc and Dy) and the first gold particle."""
    grains = [g for g in world.specimen.grains if g.material == "DyScO3"]
    g = min(grains, key=lambda g: math.hypot(g.y_nm, g.x_nm))
    p = world.specimen.particles[0]
    return (float(g.y_nm), float(g.x_nm)), (float(p.y_nm), float(p.x_nm))


def eegs_probe_target_nm(world: SimulatedWorld, particle: int = 0, distance_nm: float = 7.5
                         ) -> tuple[float, float]:
    """A probe position (microscope frame nm, (y, x)) ``distance_nm`` outside the edge of gold
    particle ``particle`` of the simulated specimen (at the drift-free position), along +x."""
    particles = world.specimen.particles
    if not 0 <= particle < len(particles):
        raise ValueError(f"particle {particle} outside 0–{len(particles) - 1}")
    if not (math.isfinite(distance_nm) and distance_nm >= 0):
        raise ValueError(f"distance_nm = {distance_nm!r} must be ≥ 0 nm")
    p = particles[particle]
    return float(p.y_nm), float(p.x_nm + p.radius_nm + distance_nm)
