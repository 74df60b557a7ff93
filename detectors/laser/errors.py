"""The laser bench's typed errors: those of every instrument, :mod:`detectors.common.errors`
(re-exported here for the EEGS workflows and training scenarios that import them from the laser
package)."""
from detectors.common.errors import (BadReply, ChecksumError, ConnectionLost, DeviceError, DeviceTimeout,
                                     InstrumentError, LimitError, check_range)

__all__ = ["BadReply", "ChecksumError", "ConnectionLost", "DeviceError", "DeviceTimeout", "InstrumentError",
           "LimitError", "check_range"]
