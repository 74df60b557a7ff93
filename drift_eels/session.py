"""A complete drift-corrected SI session, as the ``lumiere drift-si`` command runs it.

HAADF survey → drift-corrected SI (:class:`~drift_eels.workflow.DriftCorrectedSI`) → optionally
the same acquisition without correction (the baseline: same parameters, run next on the same
drifting specimen) → one HDF5
file (HyperSpy layout, crash-safe: every completed sequence is on disk) and PNG plots.

On the simulated instrument :func:`configure_simulation` sets the drift (rate in nm/min along a
fixed direction plus a seeded random walk), the core-loss spectrometer (350 eV offset, 1 eV per
channel: Sc L2,3 … Dy M4,5) and the beam current, and :func:`default_regions` picks an oxide
grain for the SI and a gold particle for the drift reference.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import typing

from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.drift import DriftModel, DriftSettings
from drift_eels.parameters import DriftSIParameters, Rect, region_around
from drift_eels.spectrum_image import acquire_survey
from drift_eels.workflow import DriftCorrectedSI, DriftSIResult
from lumiere.outputs import WORKFLOW_STEMS, new_run_files
from lumiere.sinks import CompositeSink, HDF5Sink, Sink
from lumiere.tasks import TaskControl

CORE_LOSS_OFFSET_EV = 350.0
CORE_LOSS_DISPERSION_EV = 1.0
#: direction of the simulated drift (unit vector, microscope frame (y, x))
DRIFT_DIRECTION = (0.6, 0.8)
SURVEY = ScanFrame(size_px=(256, 256), fov_nm=512.0, dwell_s=4e-6)


def configure_simulation(world: typing.Any, *, drift_nm_per_min: float | None = 2.0,
                         random_walk_nm_per_sqrt_min: float = 0.3, current_pA: float | None = 200.0,
                         seed: int | None = None) -> None:
    """Set the simulated world up for a core-loss drift-corrected SI (see the module docstring).

    ``drift_nm_per_min`` None keeps the configured drift; ``seed`` None keeps the world's seed.
    """
    world.spectrometer.energy_offset_eV = CORE_LOSS_OFFSET_EV
    world.spectrometer.dispersion_eV_per_channel = CORE_LOSS_DISPERSION_EV
    if current_pA is not None:
        world.beam.current_pA = float(current_pA)
    if drift_nm_per_min is not None:
        if not (math.isfinite(drift_nm_per_min) and drift_nm_per_min >= 0):
            raise ValueError(f"drift_nm_per_min = {drift_nm_per_min!r} must be ≥ 0 nm/min")
        if not random_walk_nm_per_sqrt_min >= 0:
            raise ValueError(f"random_walk_nm_per_sqrt_min = {random_walk_nm_per_sqrt_min!r} must be ≥ 0")
        rate = (drift_nm_per_min * DRIFT_DIRECTION[0], drift_nm_per_min * DRIFT_DIRECTION[1])
        world.drift = DriftModel(DriftSettings(rate, random_walk_nm_per_sqrt_min),
                                 seed=world.seed if seed is None else seed)


def default_regions(world: typing.Any, survey: ScanFrame = SURVEY, *, si_fov_nm: float = 128.0,
                    reference_size_nm: float = 96.0) -> tuple[Rect, Rect]:
    """(SI region, drift reference region) on the survey for the simulated specimen: the
    DyScO3 grain nearest the centre (Sc and Dy) and the gold particle near the centre."""
    grains = [g for g in world.specimen.grains if g.material == "DyScO3"]
    g = min(grains, key=lambda g: math.hypot(g.y_nm, g.x_nm))
    p = world.specimen.particles[0]
    return (region_around(survey, (g.y_nm, g.x_nm), si_fov_nm),
            region_around(survey, (p.y_nm, p.x_nm), reference_size_nm))


#: the plots of a session (:func:`drift_eels.plots.session_plots`)
PLOTS = ("survey.png", "haadf_sum.png", "maps.png", "drift_log.png")


@dataclasses.dataclass
class SessionResult:
    hdf5_path: pathlib.Path
    pngs: list[pathlib.Path]
    corrected: DriftSIResult
    uncorrected: DriftSIResult | None
    survey_image: typing.Any
    parameters: DriftSIParameters


def run_session(out_dir: str | pathlib.Path, *, config: str | None = None, size_px: int = 64,
                n_sequences: int = 8, dwell_s: float = 2e-3, drift_nm_per_min: float | None = 2.0,
                random_walk_nm_per_sqrt_min: float = 0.3, current_pA: float | None = 200.0,
                edges: typing.Sequence[str] = ("Sc L2,3", "Dy M4,5"), si_fov_nm: float | None = None,
                si_center_nm: tuple[float, float] | None = None,
                reference_center_nm: tuple[float, float] | None = None,
                reference_size_nm: float = 96.0, reference_dwell_s: float = 2e-5,
                baseline: bool = True, keep_sequences: bool = False,
                task: TaskControl | None = None, extra_sink: Sink | None = None,
                overwrite: bool = False) -> SessionResult:
    """Survey, drift-corrected SI, optional uncorrected baseline; files into ``out_dir``:
    ``drift_si.hspy`` and the :data:`PLOTS`, under the next free numbered names if any exists
    (unless ``overwrite``; :mod:`lumiere.outputs`).

    The SI covers ``si_fov_nm`` (default 2 nm per pixel) around ``si_center_nm`` (default: an
    oxide grain of the simulated specimen); the reference ``reference_size_nm`` around
    ``reference_center_nm`` (default: a gold particle). Every value is validated before the
    survey is scanned.
    """
    task = task or TaskControl()
    out = pathlib.Path(out_dir)
    instrument = build_instrument(config)
    try:
        world = instrument.world
        if world is not None:
            configure_simulation(world, drift_nm_per_min=drift_nm_per_min,
                                 random_walk_nm_per_sqrt_min=random_walk_nm_per_sqrt_min,
                                 current_pA=current_pA)
        fov = si_fov_nm if si_fov_nm is not None else 2.0 * size_px
        if world is not None and (si_center_nm is None or reference_center_nm is None):
            si_rect, ref_rect = default_regions(world, SURVEY, si_fov_nm=fov, reference_size_nm=reference_size_nm)
        else:
            if si_center_nm is None or reference_center_nm is None:
                raise ValueError("on a real instrument give --si-center-nm and --ref-center-nm")
            si_rect = ref_rect = (0.0, 0.0, 1.0, 1.0)
        if si_center_nm is not None:
            si_rect = region_around(SURVEY, si_center_nm, fov)
        if reference_center_nm is not None:
            ref_rect = region_around(SURVEY, reference_center_nm, reference_size_nm)
        params = DriftSIParameters(SURVEY, si_rect, ref_rect, si_shape_px=(size_px, size_px),
                                   dwell_s=dwell_s, n_sequences=n_sequences, edges=tuple(edges),
                                   reference_dwell_s=reference_dwell_s, keep_sequences=keep_sequences)
        plan = params.plan(instrument.spectrum_imager.energy_axis_eV())  # before anything moves
        files = new_run_files(out, WORKFLOW_STEMS["drift-si"], plots=PLOTS, overwrite=overwrite)
        path = files.data
        hdf5 = HDF5Sink(path, overwrite=overwrite)
        sink: Sink = hdf5 if extra_sink is None else CompositeSink(hdf5, extra_sink)
        meta = {"simulated": world is not None, "drift_nm_per_min": drift_nm_per_min if world else None,
                "beam_current_pA": world.beam.current_pA if world is not None else None}
        span = 0.9 if baseline else 0.97
        survey_image = acquire_survey(instrument.scan, SURVEY, sink, task=task.subtask(0.0, 0.03),
                                      metadata={"si_region_px": list(si_rect), "reference_region_px": list(ref_rect)})
        corrected = DriftCorrectedSI.from_instrument(instrument, params, sink, metadata=meta,
                                                     task=task.subtask(0.03, span / (2 if baseline else 1))).run()
        uncorrected = None
        if baseline:
            base = dataclasses.replace(params, correct_drift=False, keep_sequences=False)
            uncorrected = DriftCorrectedSI.from_instrument(
                instrument, base, sink,
                prefix="uncorrected_", metadata=meta,
                task=task.subtask(0.03 + span / 2, span / 2)).run()
        from drift_eels.plots import session_plots
        pngs = session_plots(files.plot, survey_image, SURVEY, plan, corrected, uncorrected, si_rect, ref_rect)
        task.progress(1.0, "done")
        return SessionResult(path, pngs, corrected, uncorrected, survey_image, params)
    finally:
        instrument.close()
