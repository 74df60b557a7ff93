"""Configuration of the CL spectrometer, its camera and the simulator (units in the names)."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from detectors.common.config_tables import from_table

from .geometry import DEFAULT_GRATINGS, CzernyTurner, Grating


@dataclasses.dataclass(frozen=True)
class CLCameraConfig:
    """Simulated CL camera and light path.

    ``collection_efficiency`` is the fraction of the photons emitted towards the mirror that reach
    the entrance slit; ``spot_um`` the width of the light spot imaged on the entrance slit (the
    throughput is ``min(1, slit / spot)``); ``peak_grating_efficiency`` scales an empirical blaze
    curve ``exp(-0.5 (ln(λ/λ_blaze) / blaze_width)²)``; ``resolution_px`` the optical blur (σ) of
    the spectrograph in pixels, to which the slit image (width = slit / pixel pitch) adds.
    """

    port: str = "FRONT"
    collection_efficiency: float = 0.2
    quantum_efficiency: float = 0.4
    spot_um: float = 200.0
    peak_grating_efficiency: float = 0.7
    blaze_width: float = 0.45
    resolution_px: float = 0.8


@dataclasses.dataclass(frozen=True)
class CLConfig:
    """The Acton-type spectrometer (serial 9600 8N1, ``\\r``), its gratings and geometry.

    ``gratings`` are in turret order (index 1 first). Wavelength and slit ranges are what the
    driver accepts; anything else is refused before sending.
    """

    geometry: CzernyTurner = dataclasses.field(default_factory=CzernyTurner)
    gratings: tuple[Grating, ...] = DEFAULT_GRATINGS
    wavelength_range_nm: tuple[float, float] = (0.0, 1400.0)
    slit_range_um: tuple[float, float] = (10.0, 3000.0)
    port: str = ""
    baudrate: int = 9600
    timeout_s: float = 1.0
    move_timeout_s: float = 60.0
    camera: CLCameraConfig = dataclasses.field(default_factory=CLCameraConfig)
    # simulator: start state and motion
    initial_grating: int = 2
    initial_center_nm: float = 550.0
    initial_slit_um: float = 100.0
    scan_speed_nm_per_s: float = 200.0
    move_settle_s: float = 0.2
    grating_change_s: float = 15.0
    #: the simulated unit echoes every character like its RS-232 port (False: like USB, no echo)
    simulated_echo: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.wavelength_range_nm
        if not lo < hi:
            raise ValueError(f"wavelength range {self.wavelength_range_nm} must be increasing")
        if not 1 <= self.initial_grating <= len(self.gratings):
            raise ValueError(f"initial grating {self.initial_grating} not in 1–{len(self.gratings)}")

    def grating(self, index: int) -> Grating:
        """Grating ``index`` (1-based)."""
        if not 1 <= index <= len(self.gratings):
            raise ValueError(f"grating {index} not in 1–{len(self.gratings)}")
        return self.gratings[index - 1]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "CLConfig":
        """From a ``[cl]`` table: ``gratings = [[600, 300], [300, 500]]``, ``geometry = {...}``,
        ``camera = {...}``; unknown keys raise ``ValueError``."""
        return from_table(cls, data, "cl", {
            "geometry": lambda g: from_table(CzernyTurner, g, "cl.geometry"),
            "camera": lambda c: from_table(CLCameraConfig, c, "cl.camera"),
            "gratings": lambda gs: tuple(g if isinstance(g, Grating) else Grating(*g) for g in gs)})
