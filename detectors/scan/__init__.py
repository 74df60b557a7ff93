"""Scan generator: interface, simulated backend on the shared world, TCP driver and its simulator.

- :mod:`.interface` — :class:`ScanGenerator` (frame, channels, pixel order, probe, outputs,
  free-running frames and externally clocked blocks), :class:`Visits`, :class:`FrameData`,
  :class:`BlockData`.
- :mod:`.outputs` — TTL output lines (laser gate, fast blanker) and their edge timelines.
- :mod:`.simulated` — :class:`SimulatedScanGenerator` over the world.
- :mod:`.tcp` — :class:`TcpScanGenerator`, the driver of our ASCII protocol (``README.md``).
- :mod:`.server` — :class:`SimulatedScanUnit`: the simulated generator served on 127.0.0.1.
"""
from detectors.scan.generator import (CHANNELS, BlockData, FrameData, ScanGenerator, ScanGeneratorError,
                                      Visits, visit_sequence)
from detectors.scan.outputs import POLARITIES, SOURCES, LineEdges, OutputLine, edge_timeline
from detectors.scan.server import ScanUnitSimulator, SimulatedScanUnit
from detectors.scan.simulated import SimulatedScanGenerator
from detectors.scan.tcp import TcpScanGenerator

__all__ = ["CHANNELS", "BlockData", "FrameData", "LineEdges", "OutputLine", "POLARITIES", "SOURCES",
           "ScanGenerator", "ScanGeneratorError", "ScanUnitSimulator", "SimulatedScanGenerator",
           "SimulatedScanUnit", "TcpScanGenerator", "Visits", "edge_timeline", "visit_sequence"]
