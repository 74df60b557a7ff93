"""The simulated instruments' fault switch and base classes: :mod:`detectors.common.simbase`
(re-exported here for the training scenarios and EEGS tests that import them from the laser
package)."""
from detectors.common.simbase import Fault, LineInstrument, SimulatedInstrument

__all__ = ["Fault", "LineInstrument", "SimulatedInstrument"]
