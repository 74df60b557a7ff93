"""Build the instrument (world + devices) that a site configuration describes."""
from __future__ import annotations

import dataclasses

from detectors.config import SiteConfig, load_config
from detectors.simulation.clock import SimClock
from detectors.simulation.devices import (SimulatedEELSCamera, SimulatedProbeShift, SimulatedScan,
                                          SimulatedSpectrumImager)
from detectors.simulation.drift import DriftSettings
from detectors.simulation.world import SimulatedWorld


@dataclasses.dataclass
class Instrument:
    """The devices of one microscope, ready for workflows.

    ``world`` is the simulated instrument behind the simulated backends (``None`` when every
    device is real hardware).
    """

    config: SiteConfig
    world: SimulatedWorld | None
    scan: SimulatedScan
    eels_camera: SimulatedEELSCamera
    spectrum_imager: SimulatedSpectrumImager
    probe_shift: SimulatedProbeShift

    def close(self) -> None:
        """Leave every device safe (beam parked, nothing left running)."""


def build_world(config: SiteConfig) -> SimulatedWorld:
    w = config["world"]
    drift = config["world.drift"]
    world = SimulatedWorld(
        seed=w["seed"], clock=SimClock(config.clock_speed),
        drift=DriftSettings(tuple(float(v) for v in drift["rate_nm_per_min"]),
                            float(drift["random_walk_nm_per_sqrt_min"])))
    beam = config["beam"]
    world.beam.high_tension_V = beam["high_tension_kV"] * 1000.0
    world.beam.current_pA = float(beam["current_pA"])
    world.beam.zlp_fwhm_eV = float(beam["zlp_fwhm_eV"])
    spec = config["spectrometer"]
    world.spectrometer.energy_offset_eV = float(spec["energy_offset_eV"])
    world.spectrometer.dispersion_eV_per_channel = float(spec["dispersion_eV_per_channel"])
    return world


def build_instrument(config: SiteConfig | str | None = None) -> Instrument:
    """Create the devices the configuration asks for (default: the simulated instrument)."""
    if not isinstance(config, SiteConfig):
        config = load_config(config)
    world = build_world(config)
    probe_shift = SimulatedProbeShift(world, limit_nm=config["scan"]["max_probe_shift_nm"])
    if config["eels_camera"]["backend"] != "simulated":
        raise NotImplementedError(
            f"eels_camera.backend = {config['eels_camera']['backend']!r} is not wired into the "
            "instrument builder yet; use the Merlin client directly (detectors.merlin)")
    return Instrument(config=config, world=world, scan=SimulatedScan(world, probe_shift),
                      eels_camera=SimulatedEELSCamera(world),
                      spectrum_imager=SimulatedSpectrumImager(world, probe_shift),
                      probe_shift=probe_shift)
