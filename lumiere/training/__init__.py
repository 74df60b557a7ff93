"""Training mode: scenarios on the simulated instrument with a hidden ground truth.

``SCENARIOS`` maps names to :class:`Scenario` objects; ``get_scenario(name)``;
:mod:`lumiere.training.faults` switches the faults a scenario (or an instructor) can turn on.
"""
from .base import Report, Scenario, TrainingSession
from .scenarios import SCENARIOS, CLEmission, DriftMap, EEGSResonance, MerlinTuning


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


__all__ = ["CLEmission", "DriftMap", "EEGSResonance", "MerlinTuning", "Report", "SCENARIOS", "Scenario",
           "TrainingSession", "get_scenario"]
