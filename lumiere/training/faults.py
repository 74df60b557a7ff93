"""Faults a scenario (or an instructor) can switch on, and how the software under training reports them.

Each switch goes through the simulators' own fault hooks:

========================  =====================================================================
``drift_burst``           ``world.drift.add_burst`` (what a stage move leaves behind)
``laser_mode_hop``        :meth:`detectors.laser.physics.LaserPhysics.mode_hop`
``laser_power_drop``      :meth:`detectors.laser.physics.LaserPhysics.power_drop`
``merlin_defects``        hot/dead pixels, noisy chip: :class:`detectors.merlin.frame_sources.DefectiveChipSource`
``drop_data_connection``  Merlin simulator ``SimulatorFaults.disconnect_after_frames``
``laser_connection_drop`` the pump supply simulator's ``fault = Fault.DISCONNECT``
``vacuum_trip``           VG column gauge physics (``column_pressure_Pa``) → the column interlock
========================  =====================================================================

What the software does is the real instrument's behaviour: workflows end with the laser shutter
closed and the probe shift restored, every sink result keeps what was acquired (``aborted`` /
``error`` in its metadata), the column interlock blanks the beam; the messages are collected in
``session.messages`` (the training panel and ``lumiere train`` show them).
"""
from __future__ import annotations

import typing

import numpy as np

from .base import TrainingSession

# --- switches ------------------------------------------------------------------------------------


def drift_burst(session: TrainingSession, amplitude_nm: tuple[float, float] = (6.0, -8.0), *,
                tau_s: float = 2.0, at_s: float | None = None) -> None:
    """The specimen jumps by ``amplitude_nm`` (dy, dx) with time constant ``tau_s`` from simulated
    time ``at_s`` (default now), as after a stage move."""
    world = session.world
    world.drift.add_burst(world.clock.now_s() if at_s is None else float(at_s), tuple(amplitude_nm), tau_s=tau_s)


def _laser_physics(session: TrainingSession):
    system = session.instrument.laser_system
    if system is None:
        raise RuntimeError("laser faults need the simulated laser bench")
    return system.physics


def laser_mode_hop(session: TrainingSession, delta_nm: float = 1.5, *, at_s: float | None = None,
                   power_factor: float = 0.4) -> None:
    """The dye laser hops to a neighbouring mode: λ off by ``delta_nm``, power × ``power_factor``."""
    _laser_physics(session).mode_hop(delta_nm, at_s=at_s, power_factor=power_factor)


def laser_power_drop(session: TrainingSession, factor: float = 0.3, *, at_s: float | None = None) -> None:
    """The laser's power falls to ``factor`` of its value from ``at_s`` (default now)."""
    _laser_physics(session).power_drop(factor, at_s=at_s)


def merlin_defects(session: TrainingSession, *, hot_pixels=None, dead_pixels=None,
                   noisy_chip: int | None = None) -> None:
    """Set the Merlin's hot/dead pixels and noisy chip (sessions with a defective-chip source)."""
    source = session.extras.get("merlin_defects")
    if source is None:
        raise RuntimeError("this session's camera has no defect model (use the 'merlin-tune' scenario)")
    if hot_pixels is not None:
        source.hot_pixels = tuple(tuple(p) for p in hot_pixels)
    if dead_pixels is not None:
        source.dead_pixels = tuple(tuple(p) for p in dead_pixels)
    if noisy_chip is not None:
        source.noisy_chip = int(noisy_chip)


def drop_data_connection(session: TrainingSession, after_frames: int = 10) -> None:
    """The Merlin's data connection closes after ``after_frames`` more frames."""
    sim = getattr(session.instrument.eels_camera, "simulator", None)
    if sim is None:
        raise RuntimeError("dropping the data connection needs the simulated Merlin")
    sim.faults.disconnect_after_frames = sim.frames_sent + int(after_frames)


def laser_connection_drop(session: TrainingSession) -> None:
    """The pump supply (shutter, diode) stops answering: its connection is dropped."""
    from detectors.common.simbase import Fault
    system = session.instrument.laser_system
    if system is None:
        raise RuntimeError("needs the simulated laser bench")
    system.pump.fault = Fault.DISCONNECT


def vacuum_trip(session: TrainingSession, pressure_Pa: float = 5e-3) -> None:
    """The column pressure rises above the interlock limit (the next poll trips the interlock)."""
    session.vg_column().physics.column_pressure_Pa = float(pressure_Pa)


FAULTS: dict[str, typing.Callable[..., None]] = {
    "drift_burst": drift_burst, "laser_mode_hop": laser_mode_hop, "laser_power_drop": laser_power_drop,
    "merlin_defects": merlin_defects, "drop_data_connection": drop_data_connection,
    "laser_connection_drop": laser_connection_drop, "vacuum_trip": vacuum_trip,
}


# --- what the software shows ----------------------------------------------------------------------


def watch_interlocks(session: TrainingSession, task=None) -> None:
    """Show every column interlock event as a message and abort ``task`` (the running workflow):
    the column has already made itself safe (beam blanked, HT off for the gun interlock)."""
    vg = session.vg_column()

    def on_event(event) -> None:
        text = f"INTERLOCK {event.interlock}: {event.reason}; done: {', '.join(event.actions)}"
        session.message(text)
        if task is not None:
            task.abort(text)

    vg.column.on_interlock.append(on_event)


def laser_power_messages(power_uW: np.ndarray, wavelength_nm: np.ndarray, *, rel_jump: float = 0.4) -> list[str]:
    """Messages for sudden changes of the logged laser power between neighbouring scan points
    (a power drop or a mode hop; the tuning curve changes slowly)."""
    p = np.asarray(power_uW, dtype=np.float64)
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    out = []
    for i in range(1, p.size):
        a, b = p[i - 1], p[i]
        if np.isfinite(a) and np.isfinite(b) and a > 0 and abs(b - a) / a > rel_jump:
            out.append(f"LASER: power changed from {a:.1f} µW to {b:.1f} µW between {wl[i - 1]:.1f} and "
                       f"{wl[i]:.1f} nm (mode hop or power drop?): points from {wl[i]:.1f} nm are "
                       "normalised by the logged power; check the laser before trusting them")
    return out


def drift_messages(result, *, jump_nm: float = 3.0) -> list[str]:
    """Messages for sudden jumps of the measured drift between sequences of a drift-corrected SI."""
    ms = getattr(result, "measurements", [])
    d = np.array([m.drift_nm for m in ms], dtype=np.float64).reshape(-1, 2)
    out = []
    for i in range(1, len(d)):
        step = float(np.hypot(*(d[i] - d[i - 1])))
        if step > jump_nm:
            out.append(f"DRIFT: the specimen moved {step:.1f} nm between reference scans {i - 1} and {i} "
                       "(drift burst, e.g. after a stage move); the scan was re-centred")
    return out


def describe_error(error: BaseException) -> str:
    """The message shown for an error that ended a workflow."""
    partial = getattr(error, "partial", None)
    extra = f" ({partial.n_received} frames received)" if partial is not None else ""
    return f"{type(error).__name__}: {error}{extra}; devices left safe, acquired data kept"
