"""Training scenarios on the simulated instrument: the base classes.

A :class:`Scenario` sets the simulated world up (specimen, drift, laser, detector defects) with a
hidden ground truth (:meth:`Scenario.setup` → :class:`TrainingSession`), states the goal, and checks
the trainee's result against the truth (:meth:`Scenario.check` → :class:`Report`). Every scenario
also has a scripted trainee (:meth:`Scenario.run_trainee`) for demos and tests: ``correct=False``
makes the classic mistake of the scenario, which the check must fail.
"""
from __future__ import annotations

import dataclasses
import threading
import typing

from detectors.instrument import Instrument


@dataclasses.dataclass
class Report:
    """Outcome of a check: ``passed`` and a few human-readable ``lines``."""

    passed: bool
    lines: list[str]

    def text(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        return "\n".join([head, *("  " + line for line in self.lines)])

    def __str__(self) -> str:
        return self.text()


@dataclasses.dataclass
class TrainingSession:
    """One run of a scenario: the instrument (with its simulated world), the hidden ``truth``, the
    devices the scenario added (``extras``: e.g. ``"cl"``, ``"vg"``, ``"merlin_defects"``) and the
    messages the software showed during faults (``messages``)."""

    scenario: str
    seed: int
    instrument: Instrument
    truth: dict[str, typing.Any]
    extras: dict[str, typing.Any] = dataclasses.field(default_factory=dict)
    messages: list[str] = dataclasses.field(default_factory=list)
    #: the scripted trainee's (or a panel's) last result, for :meth:`Scenario.check`
    last_result: typing.Any = None
    #: False when the session runs on an instrument someone else owns (Swift's registered one):
    #: closing the session then closes only what the scenario added
    owns_instrument: bool = True
    _closed: bool = dataclasses.field(default=False, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def world(self):
        return self.instrument.world

    def message(self, text: str) -> None:
        """Record (and log) a message the software showed the trainee."""
        with self._lock:
            self.messages.append(text)

    def vg_column(self):
        """The simulated VG column (interlocks, stage, blanker) on this world, built on first use."""
        vg = self.extras.get("vg")
        if vg is None:
            from detectors.vg_lumiere import SimulatedVGColumn
            vg = SimulatedVGColumn(self.world, probe_shift=self.instrument.probe_shift)
            self.extras["vg"] = vg
        return vg

    def close(self) -> None:
        """Leave every device safe (laser shutter closed, servers stopped). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for key in ("cl", "vg"):
            dev = self.extras.pop(key, None)
            if dev is not None:
                try:
                    dev.close()
                except Exception:  # noqa: BLE001 - closing regardless
                    pass
        if self.owns_instrument:
            self.instrument.close()

    def __enter__(self) -> "TrainingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Scenario:
    """A training scenario. Subclasses set ``name``, ``title``, ``goal``, ``how_to`` and implement
    :meth:`setup`, :meth:`check` and :meth:`run_trainee`."""

    name: str = ""
    title: str = ""
    goal: str = ""
    #: what to do on the instrument (panels, commands) and how to submit a result
    how_to: str = ""
    #: what ``--answer`` takes on the command line (None: checked only in a session)
    answer_help: str | None = None

    def setup(self, seed: int = 0) -> TrainingSession:
        """A new simulated instrument (world seed ``seed``) set up for this scenario."""
        from detectors.config import validate
        from detectors.instrument import build_instrument
        instrument = build_instrument(validate({"world": {"seed": int(seed)}}))
        try:
            return self.configure(instrument, seed)
        except BaseException:
            instrument.close()
            raise

    def configure(self, instrument: Instrument, seed: int = 0, *, owns_instrument: bool = True) -> TrainingSession:
        """Set an existing simulated instrument's world up for this scenario (the Swift panel's
        Start). Raises ``ValueError`` with the reason when the instrument is not simulated."""
        if instrument.world is None or not instrument.fully_simulated:
            real = ", ".join(d for d, sim in instrument.simulated.items() if not sim) or "devices"
            raise ValueError(f"training scenarios need the simulated instrument; this site's {real} "
                             "are real hardware (start Swift without LUMIERE_CONFIG, or with a simulated site file)")
        session = self._configure(instrument, seed)
        session.owns_instrument = owns_instrument
        return session

    def _configure(self, instrument: Instrument, seed: int) -> TrainingSession:
        raise NotImplementedError

    def check(self, session: TrainingSession, trainee_result: typing.Any) -> Report:
        raise NotImplementedError

    def run_trainee(self, session: TrainingSession, *, correct: bool = True) -> typing.Any:
        """The scripted trainee: acquire and analyse on the session's instrument; returns the
        result to pass to :meth:`check` (also stored as ``session.last_result``)."""
        raise NotImplementedError

    def parse_answer(self, text: str) -> typing.Any:
        """The result of a ``--answer`` string (see :attr:`answer_help`)."""
        raise ValueError(f"scenario {self.name!r} is checked in a session (Swift panel or --auto), "
                         "not from a typed answer")

    def run_auto(self, seed: int = 0, *, correct: bool = True) -> Report:
        """Set up, run the scripted trainee, check; the session is closed afterwards."""
        with self.setup(seed) as session:
            result = self.run_trainee(session, correct=correct)
            return self.check(session, result)
