"""The simulated instrument's own clock.

Simulated time can run faster than wall time: tests and training advance minutes of drift
without sleeping. Every simulated device that "takes time" (an exposure, a laser settling, a
stage move) calls :meth:`SimClock.sleep`, never :func:`time.sleep`.
"""
from __future__ import annotations

import threading
import time


class SimClock:
    """A monotonic clock in seconds, shared by every simulated device.

    Parameters
    ----------
    speed : float or None
        ``None`` (default) is *virtual* time: :meth:`sleep` advances the clock at once and returns
        immediately, so an acquisition of 1000 frames of 1 ms takes 1 s of simulated time and
        almost no wall time. A positive number runs simulated time that many times faster than
        wall time: :meth:`sleep` really waits ``dt / speed`` seconds (``speed=1`` for a
        real-time demo or a Swift session).
    start_s : float
        Simulated time at creation, seconds.

    Notes
    -----
    In scaled mode the clock also follows the wall clock between sleeps, so drift continues while
    the user looks at the screen. In virtual mode time stands still between sleeps.
    """

    def __init__(self, speed: float | None = None, start_s: float = 0.0) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"clock speed must be None (virtual) or > 0, got {speed!r}")
        self._speed = speed
        self._lock = threading.Lock()
        self._virtual_s = float(start_s)
        self._wall_origin = time.monotonic()

    @property
    def is_virtual(self) -> bool:
        return self._speed is None

    @property
    def speed(self) -> float | None:
        return self._speed

    def now_s(self) -> float:
        """Simulated time in seconds."""
        with self._lock:
            if self._speed is None:
                return self._virtual_s
            return self._virtual_s + (time.monotonic() - self._wall_origin) * self._speed

    def advance(self, dt_s: float) -> None:
        """Jump simulated time forward by ``dt_s`` seconds without waiting (both modes)."""
        if dt_s < 0:
            raise ValueError(f"cannot advance the clock by a negative time, got {dt_s!r} s")
        with self._lock:
            self._virtual_s += dt_s

    def sleep(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of simulated time pass (waits only in scaled mode)."""
        if dt_s <= 0:
            return
        if self._speed is None:
            self.advance(dt_s)
        else:
            time.sleep(dt_s / self._speed)
