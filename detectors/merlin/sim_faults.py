"""Faults the simulated Merlin can inject, for tests of the clients' error handling."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class SimulatorFaults:
    """Faults to inject (sequence numbers are 1-based; ``None`` = off).

    Attributes
    ----------
    disconnect_after_frames : int
        Close the data connection after sending this many frames.
    truncate_frame : int
        Send only the first half of this frame's message, then close the data connection.
    corrupt_header_frame : int
        Garble the MQ1 header of this frame (magic and sequence digits).
    huge_length_frame : int
        Announce a 9,999,999,999-byte message for this frame.
    stall_after_frames : int
        Go silent after this many frames, keeping the connection open (until STOP/stop()).
    drop_frames, swap_frames : frozenset of int
        Sequence numbers never sent; frames sent after their successor.
    link_bytes_per_s : float
        Throttle the data link to this many bytes per second.
    silent_control : bool
        Read control requests but never answer.
    corrupt_acquisition_header : bool
        Send an HDR block that does not start with ``HDR``.
    """

    disconnect_after_frames: int | None = None
    truncate_frame: int | None = None
    corrupt_header_frame: int | None = None
    huge_length_frame: int | None = None
    stall_after_frames: int | None = None
    drop_frames: frozenset[int] = frozenset()
    swap_frames: frozenset[int] = frozenset()
    link_bytes_per_s: float | None = None
    silent_control: bool = False
    corrupt_acquisition_header: bool = False
