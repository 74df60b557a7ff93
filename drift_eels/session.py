"""A complete drift-corrected SI session, as the ``lumiere drift-si`` command runs it.

HAADF survey → drift-corrected SI (:class:`~drift_eels.workflow.DriftCorrectedSI`) → optionally
the same acquisition without correction (the baseline: same parameters, run next on the same
drifting specimen) → one HDF5
file (HyperSpy layout, crash-safe: every completed sequence is on disk) and PNG plots.

On a simulated instrument (every device simulated) the session sets the world up
(:func:`detectors.simulation.setup.configure_simulation`: drift, core-loss spectrometer, beam
current) and, unless given, centres the SI on an oxide grain and the drift reference on a gold
particle (:func:`detectors.simulation.setup.drift_si_targets_nm`). On a real instrument nothing
reads the world: the SI and reference centres must be given (the drift and current arguments are
the simulator's and are ignored), and the energy axis is the site file's calibration.
"""
from __future__ import annotations

import dataclasses
import pathlib
import typing

from detectors.common.checks import check_finite_pair, check_positive
from detectors.instrument import build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.setup import DRIFT_SI_DRIFT_NM_PER_MIN, configure_simulation, drift_si_targets_nm
from drift_eels.parameters import DriftSIParameters, Rect, region_around
from drift_eels.spectrum_image import acquire_survey
from drift_eels.workflow import DriftCorrectedSI, DriftSIResult
from lumiere.outputs import WORKFLOW_STEMS, new_run_files
from lumiere.sinks import CompositeSink, HDF5Sink, Sink
from lumiere.tasks import TaskControl

SURVEY = ScanFrame(size_px=(256, 256), fov_nm=512.0, dwell_s=4e-6)


def session_regions(survey: ScanFrame, si_center_nm: tuple[float, float] | None,
                    reference_center_nm: tuple[float, float] | None, *, si_fov_nm: float,
                    reference_size_nm: float) -> tuple[Rect, Rect]:
    """(SI region, drift reference region) on the survey around the given centres (nm); both are
    required (on a simulated instrument the caller fills them from the simulation)."""
    missing = [flag for flag, c in (("--si-center-nm Y X", si_center_nm), ("--ref-center-nm Y X", reference_center_nm))
               if c is None]
    if missing:
        raise ValueError("on a real instrument the drift-corrected SI needs its regions: give "
                         + " and ".join(missing) + " (microscope frame, nm)")
    return (region_around(survey, si_center_nm, si_fov_nm),
            region_around(survey, reference_center_nm, reference_size_nm))


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
                n_sequences: int = 8, dwell_s: float = 2e-3,
                drift_nm_per_min: float | None = DRIFT_SI_DRIFT_NM_PER_MIN,
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

    The SI covers ``si_fov_nm`` (default 2 nm per pixel) around ``si_center_nm`` (on a simulated
    instrument the default is an oxide grain of the specimen); the reference ``reference_size_nm``
    around ``reference_center_nm`` (simulated default: a gold particle). On a real instrument both
    centres are required (ValueError naming them, before anything moves); ``drift_nm_per_min``,
    ``random_walk_nm_per_sqrt_min`` and ``current_pA`` set the simulator only. Every value is
    validated before the survey is scanned.
    """
    task = task or TaskControl()
    out = pathlib.Path(out_dir)
    # the session's own inputs, before the instrument is built (DriftSIParameters.plan checks the rest)
    if si_fov_nm is not None:
        check_positive("si_fov_nm", si_fov_nm, "nm")
    for name, centre in (("si_center_nm", si_center_nm), ("reference_center_nm", reference_center_nm)):
        if centre is not None:
            check_finite_pair(name, centre, "nm")
    check_positive("reference_size_nm", reference_size_nm, "nm")
    instrument = build_instrument(config)
    try:
        simulated = instrument.fully_simulated
        if simulated:  # the simulator's set-up and targets; a real site gives its own
            configure_simulation(instrument.world, drift_nm_per_min=drift_nm_per_min,
                                 random_walk_nm_per_sqrt_min=random_walk_nm_per_sqrt_min,
                                 current_pA=current_pA)
            si_target, ref_target = drift_si_targets_nm(instrument.world)
            si_center_nm = si_target if si_center_nm is None else si_center_nm
            reference_center_nm = ref_target if reference_center_nm is None else reference_center_nm
        fov = si_fov_nm if si_fov_nm is not None else 2.0 * size_px
        si_rect, ref_rect = session_regions(SURVEY, si_center_nm, reference_center_nm, si_fov_nm=fov,
                                            reference_size_nm=reference_size_nm)
        params = DriftSIParameters(SURVEY, si_rect, ref_rect, si_shape_px=(size_px, size_px),
                                   dwell_s=dwell_s, n_sequences=n_sequences, edges=tuple(edges),
                                   reference_dwell_s=reference_dwell_s, keep_sequences=keep_sequences)
        plan = params.plan(instrument.spectrum_imager.energy_axis_eV())  # before anything moves
        files = new_run_files(out, WORKFLOW_STEMS["drift-si"], plots=PLOTS, overwrite=overwrite)
        path = files.data
        hdf5 = HDF5Sink(path, overwrite=overwrite)
        sink: Sink = hdf5 if extra_sink is None else CompositeSink(hdf5, extra_sink)
        meta = {"drift_nm_per_min": drift_nm_per_min if simulated else None}  # + instrument.metadata()
        span = 0.9 if baseline else 0.97
        survey_image = acquire_survey(instrument.scan, SURVEY, sink, task=task.subtask(0.0, 0.03),
                                      metadata={**instrument.metadata(), "si_region_px": list(si_rect),
                                                "reference_region_px": list(ref_rect)})
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
