"""Mutable state of the simulated instrument that several devices share.

Each simulated device owns one of these records inside :class:`~detectors.simulation.world.SimulatedWorld`
and changes it through its command layer; the signal generators read it. Units are in the names.
"""
from __future__ import annotations

import dataclasses

from detectors.calibration import EnergyCalibration


@dataclasses.dataclass
class LaserState:
    """The tunable laser as the specimen sees it.

    ``power_uW`` is the power delivered to the specimen when the shutter is open and the pump diode
    is on (after the attenuator); the simulated laser driver sets it from its tuning curve,
    diode current and attenuator angle.
    """

    wavelength_nm: float = 580.0
    power_uW: float = 0.0
    shutter_open: bool = False
    diode_on: bool = False
    #: fraction of electrons that see the light (blanker gating); 1.0 = ungated CW illumination
    duty_cycle: float = 1.0

    @property
    def photon_energy_eV(self) -> float:
        return 1239.84 / self.wavelength_nm

    @property
    def illuminating(self) -> bool:
        return self.shutter_open and self.diode_on and self.power_uW > 0


@dataclasses.dataclass
class BeamState:
    """Electron beam: high tension, current, energy spread, and where the probe is.

    ``probe_nm`` is the probe position in the microscope (column) frame, nm, (y, x); the specimen
    under it is found by subtracting the drift (see ``SimulatedWorld.specimen_position_nm``).
    """

    high_tension_V: float = 100_000.0
    current_pA: float = 20.0
    zlp_fwhm_eV: float = 0.35
    probe_y_nm: float = 0.0
    probe_x_nm: float = 0.0
    blanked: bool = False


#: EELS spectrometer: energy axis of the camera columns (loss in eV, increasing with column). The
#: instrument's own calibration type: on a simulated instrument ``world.spectrometer`` is the very
#: object the instrument owns (``Instrument.spectrometer``), so the world follows it.
SpectrometerState = EnergyCalibration
