"""``lumiere demo``: a short headless experiment on the simulated instrument.

(On a site with real devices it scans the centre of the field of view on the site file's energy
axis; the simulation's set-up is applied only when every device is simulated.)

A HAADF survey of the default field of view, then a small core-loss EELS spectrum image over the
DyScO3 grain (Sc L2,3 … Dy M4,5 on one 1024-channel axis), written to ``DIR/demo.hspy`` (HyperSpy)
with PNG plots beside it (existing files are kept: numbered names, :mod:`lumiere.outputs`).
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from analysis.eels.maps import elemental_map
from detectors.instrument import Instrument, build_instrument
from detectors.interfaces import ScanFrame
from detectors.simulation.setup import configure_simulation, drift_si_targets_nm
from drift_eels.parameters import check_si_memory
from drift_eels.spectrum_image import (acquire_spectrum_image, acquire_survey, check_si_inputs, image_axes,
                                       survey_region)
from lumiere.outputs import WORKFLOW_STEMS, RunFiles, new_run_files
from lumiere.sinks import HDF5Sink
from lumiere.tasks import TaskControl

#: edges mapped by the demo, with signal-window widths that fit on the 350–1373 eV axis
DEMO_EDGES = {"Sc L2,3": 30.0, "Dy M4,5": 70.0}

#: the demo's plots
PLOTS = ("haadf_survey.png", "si_sum_spectrum.png", "si_maps.png")
#: the SI: 48 × 48 px over 160 nm (3.3 nm/px) at 10 ms and ≥ 100 pA on the DyScO3 grain. Its
#: Dy M4,5 map has a median per-pixel SNR of 10.6 on the grain (where the Dy areal density is
#: above half its maximum; 5.3 with the former 32 px × 5 ms); ~13 s of wall time in all.
DEMO_SI_SIZE_PX = 48
DEMO_EXPOSURE_S = 0.010


@dataclasses.dataclass
class DemoResult:
    hdf5_path: pathlib.Path
    pngs: list[pathlib.Path]
    haadf: np.ndarray
    si: np.ndarray
    energy_eV: np.ndarray


def run_demo(out_dir: str | pathlib.Path, *, config: str | None = None, si_size_px: int = DEMO_SI_SIZE_PX,
             exposure_s: float = DEMO_EXPOSURE_S, task: TaskControl | None = None, overwrite: bool = False) -> DemoResult:
    """Run the demo experiment and write its files into ``out_dir`` (never replacing a file
    unless ``overwrite``)."""
    if si_size_px < 2:
        raise ValueError(f"si_size_px must be ≥ 2, got {si_size_px}")
    task = task or TaskControl()
    instrument = build_instrument(config)
    try:
        # every input checked before the output directory is made (the SI checks again, for scripts)
        check_si_inputs(exposure_s, 4, 0, "pca")
        check_si_memory(f"si_size_px = {si_size_px}", (si_size_px, si_size_px),
                        instrument.spectrum_imager.energy_axis_eV().size)
        files = new_run_files(out_dir, WORKFLOW_STEMS["demo"], plots=PLOTS, overwrite=overwrite)
        return _run(instrument, files, si_size_px, exposure_s, task, overwrite)
    finally:
        instrument.close()


def _run(instrument: Instrument, files: RunFiles, si_size_px: int, exposure_s: float,
         task: TaskControl, overwrite: bool) -> DemoResult:
    sink = HDF5Sink(files.data, overwrite=overwrite)
    survey_frame = ScanFrame(size_px=(256, 256), fov_nm=512.0, dwell_s=4e-6)
    haadf = acquire_survey(instrument.scan, survey_frame, sink, task=task.subtask(0.0, 0.1),
                           metadata=instrument.metadata())
    if instrument.fully_simulated:
        world = instrument.world
        # the core-loss axis 350–1373 eV holds Sc L2,3 (402 eV), O K (532 eV) and Dy M4,5 (1295 eV)
        configure_simulation(world, drift_nm_per_min=None, current_pA=max(world.beam.current_pA, 100.0))
        centre, _ = drift_si_targets_nm(world)  # the DyScO3 grain: Sc and Dy both mapped
    else:  # a real site: the centre of the field of view, on the site file's energy axis
        centre = (0.0, 0.0)
    si_frame = ScanFrame(size_px=(si_size_px, si_size_px), fov_nm=160.0, center_nm=centre, dwell_s=exposure_s)
    si, si_haadf = acquire_spectrum_image(instrument.spectrum_imager, si_frame, exposure_s, sink,
                                          task=task.subtask(0.1, 0.85),
                                          metadata={**instrument.metadata(),
                                                    "in_survey": survey_region(si_frame, survey_frame)})
    energy = instrument.spectrum_imager.energy_axis_eV()
    maps = {}
    for edge, width in DEMO_EDGES.items():
        result = elemental_map(si, energy, edge, signal_width_eV=width)
        name = "map_" + edge.replace(" ", "_").replace(",", "")
        axes = [dataclasses.replace(a, navigate=False) for a in image_axes(si_frame)]
        sink.create(name, si_frame.size_px, axes, title=f"{edge} map (counts)", metadata={
            **instrument.metadata(), "exposure_s": exposure_s, "edge": edge, "fit_window_eV": list(result.fit_window_eV),
            "signal_window_eV": list(result.signal_window_eV), "background": "power law, two-area"})
        sink.write(name, slice(None), result.signal)
        sink.finish(name)
        maps[edge] = result
    pngs = _plots(files, haadf, survey_frame, si_frame, si, si_haadf, energy, maps)
    task.progress(1.0, "done")
    return DemoResult(files.data, pngs, haadf, si, energy)


def _plots(files: RunFiles, haadf: np.ndarray, survey: ScanFrame, si_frame: ScanFrame, si: np.ndarray,
           si_haadf: np.ndarray, energy: np.ndarray, maps: dict) -> list[pathlib.Path]:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    paths = []
    half = survey.fov_nm / 2
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(haadf, cmap="gray", extent=(-half, half, half, -half))
    sy, sx = si_frame.center_nm
    r = si_frame.fov_nm / 2
    ax.add_patch(matplotlib.patches.Rectangle((sx - r, sy - r), 2 * r, 2 * r, fill=False, color="tab:orange"))
    ax.set(title="HAADF survey (SI region in orange)", xlabel="x (nm)", ylabel="y (nm)")
    paths.append(files.plot("haadf_survey.png"))
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    total = np.nansum(si, axis=(0, 1))
    ax.semilogy(energy, np.clip(total, 1, None))
    for label, e in (("Sc L2,3", 402), ("O K", 532), ("Dy M4,5", 1295)):
        ax.axvline(e, color="0.6", lw=0.8)
        ax.text(e + 5, total.max(), label, va="top", fontsize=8)
    ax.set(title="Summed spectrum of the SI", xlabel="Energy loss (eV)", ylabel="Counts")
    paths.append(files.plot("si_sum_spectrum.png"))
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)

    r = si_frame.fov_nm / 2
    extent = (-r, r, r, -r)
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(4 * (1 + len(maps)), 4))
    axes[0].imshow(si_haadf, cmap="gray", extent=extent)
    axes[0].set(title="HAADF during the SI", xlabel="x (nm)", ylabel="y (nm)")
    for ax, (edge, result) in zip(axes[1:], maps.items()):
        shown = ax.imshow(result.signal, cmap="inferno", extent=extent)
        fig.colorbar(shown, ax=ax, shrink=0.8, label="counts")
        ax.set(title=f"{edge} (median SNR {np.nanmedian(result.snr):.1f})", xlabel="x (nm)")
    paths.append(files.plot("si_maps.png"))
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths
