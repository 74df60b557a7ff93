"""EEGS laser bench: tunable dye laser, pump supply/shutter, power meters, attenuator, sync box.

Each device is an interface (``TunableLaser``, ``PumpSupply``, ``PowerMeter``, ``Attenuator``,
``BeamSync``), a real driver speaking the instrument's wire protocol over a
:class:`~detectors.common.transport.Transport`, and a simulated instrument answering the same
bytes (errors, transports and the simulators' fault switch are :mod:`detectors.common`'s: import
them from there). :class:`SimulatedLaserSystem` ``(state, clock, rng, config)`` is the simulated bench on the
world's shared :class:`~detectors.simulation.state.LaserState`; :class:`SimulatedLaserBench`
serves it on pty pairs / loopback sockets and returns connected drivers.

Units: wavelength nm, power µW, current A, angle degrees, delay/width ns, rate Hz, time s.
"""
from .attenuator import Attenuator, ServoAttenuator, SimulatedServoAttenuator
from .blanker import BeamSync, BlankerBox, SimulatedBlanker, SyncTiming
from .config import (AttenuatorConfig, BlankerConfig, CredoConfig, LaserConfig, LockConfig,
                     PowerMeterConfig, PumpConfig, SimulationConfig)
from .credo import CredoStatus, SimulatedCredo, SirahCredo, TunableLaser
from .physics import LaserPhysics
from .power_lock import (AttenuatorActuator, DiodeCurrentActuator, LockResult, LockStep,
                         PowerActuator, PowerLock)
from .power_meter import PowerMeter, SimulatedPM100, ThorlabsPM100, read_transmission
from .pump import PumpSupply, SimulatedPumpSupply, SpectraPhysicsPump
from .bench import LaserBench, connect_bench
from .simulated import SimulatedLaserBench, SimulatedLaserSystem

__all__ = [
    "Attenuator", "AttenuatorActuator", "AttenuatorConfig", "BeamSync", "BlankerBox",
    "BlankerConfig", "CredoConfig", "CredoStatus", "DiodeCurrentActuator", "LaserBench",
    "LaserConfig", "LaserPhysics", "LockConfig", "LockResult", "LockStep", "PowerActuator",
    "PowerLock", "PowerMeter", "PowerMeterConfig", "PumpConfig", "PumpSupply", "ServoAttenuator",
    "SimulatedBlanker", "SimulatedCredo", "SimulatedLaserBench", "SimulatedLaserSystem",
    "SimulatedPM100", "SimulatedPumpSupply", "SimulatedServoAttenuator", "SimulationConfig",
    "SirahCredo", "SpectraPhysicsPump", "SyncTiming", "ThorlabsPM100", "TunableLaser",
    "connect_bench", "read_transmission",
]
