"""Sequence stacks for trying and testing ``lumiere reprocess`` without an acquisition.

:func:`write_sequence_stack` writes ``si_sequences`` / ``haadf_sequences`` in the layout
:class:`~drift_eels.workflow.DriftCorrectedSI` uses with ``keep_sequences``, one sequence in
memory at a time; :func:`write_synthetic_stack` fills it analytically (cheap, any size: the
tests' and the benchmark's stack larger than a worker's memory).
"""
from __future__ import annotations

import math
import pathlib
import typing

import numpy as np

from lumiere.sinks import Axis, HDF5Sink

SequenceFn = typing.Callable[[int], tuple[np.ndarray, np.ndarray]]


def write_sequence_stack(path: str | pathlib.Path, n: int, sequence: SequenceFn, *, pixel_nm: float = 1.0,
                         energy_offset_eV: float = 350.0, dispersion_eV: float = 1.0) -> None:
    """Write ``n`` sequences; ``sequence(k)`` returns sequence k's (si (y, x, E), haadf (y, x))."""
    sink = HDF5Sink(path)
    si, haadf = sequence(0)
    img = [Axis("y", "nm", pixel_nm, 0.0, True), Axis("x", "nm", pixel_nm, 0.0, True)]
    seq = Axis("sequence", "", 1.0, 0.0, True)
    energy = Axis("Energy loss", "eV", dispersion_eV, energy_offset_eV)
    sink.create("si_sequences", (n,) + si.shape, [seq, *img, energy], signal_type="EELS")
    sink.create("haadf_sequences", (n,) + haadf.shape, [seq, *img])
    for k in range(n):
        si, haadf = sequence(k) if k else (si, haadf)
        sink.write("si_sequences", k, si)
        sink.write("haadf_sequences", k, haadf)
    sink.finish()


def write_synthetic_stack(path: str | pathlib.Path, n: int = 20, size: int = 64, channels: int = 2048,
                          *, pixel_nm: float = 1.0) -> np.ndarray:
    """An n × size × size × channels float32 stack (20 × 64 × 64 × 2048: 671 MB), noise-free:
    two phases (Gaussian grains; a power-law background on 350 … 1373.5 eV with a Sc L2,3 and a
    Dy M4,5 step), small particles in the HAADF; sequence k shows it translated by a known
    sub-pixel drift. Returns the drifts (n, 2), px, in the convention of
    :func:`analysis.registration.measure_shift` (the first sequence: 0)."""
    e = 350.0 + 1023.5 / (channels - 1) * np.arange(channels)
    edges = (200.0 * (e >= 402) + 50.0 * (e >= 1295)).astype(np.float32)
    background = (1e9 * e ** -3).astype(np.float32)
    shifts = np.array([(1.3 * math.sin(k), 2.1 * math.cos(k)) for k in range(n)]) * size / 64
    shifts -= shifts[0]
    s = size / 64
    particles = [(10 * s, 12 * s), (20 * s, 50 * s), (45 * s, 15 * s), (52 * s, 44 * s), (30 * s, 30 * s),
                 (12 * s, 40 * s)]

    def sequence(k: int) -> tuple[np.ndarray, np.ndarray]:
        yy, xx = np.mgrid[:size, :size] - shifts[k][:, None, None]

        def blob(cy: float, cx: float, sigma: float) -> np.ndarray:
            return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2)).astype(np.float32)
        grain1, grain2 = blob(26 * s, 32 * s, 6.0 * s), blob(45 * s, 19 * s, 4.5 * s)
        haadf = 100 + 900 * grain1 + 400 * grain2 + sum(2000 * blob(y, x, 1.5) for y, x in particles)
        si = background * (1 + grain2[..., None]) + grain1[..., None] * edges
        return si, haadf

    write_sequence_stack(path, n, sequence, pixel_nm=pixel_nm, energy_offset_eV=float(e[0]),
                         dispersion_eV=float(e[1] - e[0]))
    return shifts
