"""Core-loss edge onsets (EELS convention, eV) and look-up by name ("Sc L2,3", "Dy M4,5", "O K")."""
from __future__ import annotations

import dataclasses
import re

__all__ = ["Edge", "EDGE_ONSETS_eV", "lookup_edge", "known_edges"]

#: (element, sub-shell) → onset energy loss, eV. Source: physics.md "Core-loss EELS".
EDGE_ONSETS_eV: dict[tuple[str, str], float] = {
    ("C", "K"): 284.0,
    ("N", "K"): 401.0,
    ("O", "K"): 532.0,
    ("Ca", "L3"): 346.0, ("Ca", "L2"): 350.0,
    ("Sc", "L3"): 402.0, ("Sc", "L2"): 407.0,
    ("Ti", "L3"): 456.0, ("Ti", "L2"): 462.0,
    ("Fe", "L3"): 708.0, ("Fe", "L2"): 721.0,
    ("La", "M5"): 832.0, ("La", "M4"): 849.0,
    ("Gd", "M5"): 1185.0, ("Gd", "M4"): 1217.0,
    ("Dy", "M5"): 1295.0, ("Dy", "M4"): 1332.0,
    ("Dy", "N4,5"): 154.0,
}


@dataclasses.dataclass(frozen=True)
class Edge:
    """An edge or a group of sub-shell edges (e.g. L2,3).

    ``onset_eV`` is the lowest onset of the group (where the background fit must stop);
    ``components`` lists (sub-shell, onset_eV) in increasing energy.
    """

    element: str
    shell: str
    onset_eV: float
    components: tuple[tuple[str, float], ...]

    @property
    def name(self) -> str:
        return f"{self.element} {self.shell}"


def _grouped() -> dict[tuple[str, str], list[tuple[str, float]]]:
    """Named groups: every sub-shell alone, plus "L2,3" / "M4,5" collecting L2, L3 / M4, M5."""
    pair_of = {"L2": "L2,3", "L3": "L2,3", "M4": "M4,5", "M5": "M4,5"}
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for (el, sub), e in EDGE_ONSETS_eV.items():
        groups.setdefault((el, sub), []).append((sub, e))
        if sub in pair_of:
            groups.setdefault((el, pair_of[sub]), []).append((sub, e))
    return {k: sorted(v, key=lambda t: t[1]) for k, v in groups.items()}


_GROUPS = _grouped()


def known_edges() -> list[str]:
    """Names accepted by :func:`lookup_edge`.

    Examples
    --------
    >>> known_edges()[:3]
    ['C K', 'Ca L2', 'Ca L2,3']
    """
    return sorted(f"{el} {sh}" for el, sh in _GROUPS)


def _normalise_shell(shell: str) -> str:
    s = shell.upper().replace(" ", "").replace("_", ",")
    m = re.fullmatch(r"([KLMN])(\d)?(?:,?(\d))?", s)
    if not m:
        return s
    letter, a, b = m.groups()
    if a and b:  # "L23", "L3,2", "M45" → "L2,3" / "M4,5"
        lo, hi = sorted((int(a), int(b)))
        return f"{letter}{lo},{hi}"
    return f"{letter}{a or ''}"


def lookup_edge(name: str) -> Edge:
    """Look an edge up by name: ``"O K"``, ``"Sc L2,3"`` (also ``"Sc L23"``), ``"Dy M5"``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the known edges.

    Examples
    --------
    >>> lookup_edge("Dy M4,5").onset_eV
    1295.0
    >>> lookup_edge("sc l23").components
    (('L3', 402.0), ('L2', 407.0))
    """
    if not isinstance(name, str):
        raise ValueError(f"edge name must be a string like 'O K', got {name!r}")
    parts = name.strip().split(None, 1)
    if len(parts) == 2:
        el = parts[0].capitalize()
        key = (el, _normalise_shell(parts[1]))
        if key in _GROUPS:
            comps = tuple(_GROUPS[key])
            return Edge(el, key[1], comps[0][1], comps)
    raise ValueError(f"unknown edge {name!r}; known edges: {', '.join(known_edges())}")
