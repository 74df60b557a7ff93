"""Quantum Detectors Merlin (Medipix3RX) driver: wire protocol, clients, files and a simulator.

Modules, by responsibility:

* :mod:`.errors` typed exceptions (``MerlinError`` and subclasses);
* :mod:`.framing` ``MPX,<10 digits>,`` framing; :mod:`.transport` exact socket reads with timeouts;
* :mod:`.headers` HDR acquisition header and MQ1 frame header parse/format;
* :mod:`.encodings` U08/U16/U32 big-endian and raw R64 pixels, chip layouts (``FrameFormat``);
* :mod:`.settings` control variables, ``MerlinSettings``; :mod:`.control` control client (6341);
* :mod:`.receiver` data client (6342) decoding into preallocated buffers;
* :mod:`.streaming` live decode + correct + bin from the socket buffer into a spectrum buffer;
* :mod:`.mibfile` ``.mib``/``.hdr`` reader and writer;
* :mod:`.frame_sources` simulated frame sources; :mod:`.simulator` simulated Merlin server;
  :mod:`.sim_cli` ``lumiere merlin-sim``.
"""
from .control import MerlinControl
from .encodings import FrameFormat
from .errors import (MerlinBusy, MerlinCommandError, MerlinConnectionLost, MerlinError, MerlinFrameTooLarge,
                     MerlinHeaderError, MerlinProtocolError, MerlinTimeout, MerlinUnknownCommand,
                     MerlinUnsupportedFormat, MerlinValueOutOfRange)
from .frame_sources import FrameSource, PatternSource, SyntheticEelsSource
from .mibfile import MibWriter, open_mib, read_mib, write_mib
from .receiver import AcquisitionResult, FrameBatch, MerlinDataClient
from .settings import FileFormat, MerlinSettings, TriggerSource
from .simulator import MerlinSimulator, SimulatorFaults
from .streaming import kernel_encoding, receive_spectra

__all__ = [
    "MerlinControl", "FrameFormat", "MerlinBusy", "MerlinCommandError", "MerlinConnectionLost", "MerlinError",
    "MerlinFrameTooLarge", "MerlinHeaderError", "MerlinProtocolError", "MerlinTimeout", "MerlinUnknownCommand",
    "MerlinUnsupportedFormat", "MerlinValueOutOfRange", "FrameSource", "PatternSource", "SyntheticEelsSource",
    "MibWriter", "open_mib", "read_mib", "write_mib", "AcquisitionResult", "FrameBatch", "MerlinDataClient",
    "FileFormat", "MerlinSettings", "TriggerSource", "MerlinSimulator", "SimulatorFaults", "kernel_encoding",
    "receive_spectra",
]
