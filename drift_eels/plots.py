"""PNG plots of a drift-corrected SI session (matplotlib, Agg backend; imported lazily)."""
from __future__ import annotations

import pathlib
import typing

import numpy as np

from detectors.interfaces import ScanFrame
from drift_eels.parameters import Rect, SequencePlan
from drift_eels.workflow import DriftSIResult


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    return matplotlib, plt


def session_plots(path_for: typing.Callable[[str], pathlib.Path], survey_image: np.ndarray, survey: ScanFrame, plan: SequencePlan,
                  corrected: DriftSIResult, uncorrected: DriftSIResult | None,
                  si_rect: Rect, ref_rect: Rect) -> list[pathlib.Path]:
    """survey.png (regions), haadf_sum.png, maps.png (corrected vs uncorrected), drift_log.png,
    each written to ``path_for(name)`` (:meth:`lumiere.outputs.RunFiles.plot`)."""
    matplotlib, plt = _plt()
    paths: list[pathlib.Path] = []

    def save(fig: typing.Any, name: str) -> None:
        paths.append(path_for(name))
        fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(survey_image, cmap="gray")
    for (top, left, h, w), colour, label in ((si_rect, "tab:orange", "SI"), (ref_rect, "tab:cyan", "drift reference")):
        ax.add_patch(matplotlib.patches.Rectangle((left - 0.5, top - 0.5), w, h, fill=False, color=colour))
        ax.text(left, top - 2, label, color=colour, fontsize=8)
    ax.set(title="HAADF survey", xlabel="x (px)", ylabel="y (px)")
    save(fig, "survey.png")

    r = plan.si_frame.fov_nm / 2
    extent = (-r, r, r, -r)
    runs = [("corrected", corrected)] + ([("uncorrected", uncorrected)] if uncorrected is not None else [])
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 4), squeeze=False)
    for ax, (label, res) in zip(axes[0], runs):
        ax.imshow(np.nan_to_num(res.haadf), cmap="gray", extent=extent)
        ax.set(title=f"summed HAADF, {label} ({res.sequences_done} seq.)", xlabel="x (nm)", ylabel="y (nm)")
    save(fig, "haadf_sum.png")

    edges = [e.name for e in plan.edges]
    fig, axes = plt.subplots(len(runs), len(edges), figsize=(4.5 * len(edges), 4 * len(runs)), squeeze=False)
    for i, (label, res) in enumerate(runs):
        for j, edge in enumerate(edges):
            m = res.maps.get(edge)
            ax = axes[i, j]
            if m is None:
                ax.set_axis_off()
                continue
            shown = ax.imshow(m.signal, cmap="inferno", extent=extent)
            fig.colorbar(shown, ax=ax, shrink=0.8, label="counts")
            ax.set(title=f"{edge}, {label} (median SNR {np.nanmedian(m.snr):.1f})", xlabel="x (nm)", ylabel="y (nm)")
    save(fig, "maps.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, res, style in (("corrected run", corrected, "-"),) + (
            (("uncorrected run", uncorrected, ":"),) if uncorrected is not None else ()):
        log = res.drift_log()
        if not len(log):
            continue
        ax.plot(log[:, 0], log[:, 1], "o" + style, color="tab:blue", label=f"measured dy ({label})")
        ax.plot(log[:, 0], log[:, 2], "s" + style, color="tab:orange", label=f"measured dx ({label})")
        ax.plot(log[:, 0], log[:, 3], "^" + style, color="tab:green", label=f"|d| ({label})")
        if res is corrected:
            ax.plot(log[:, 4], log[:, 5], "x--", color="tab:blue", label="applied dy (probe shift)")
            ax.plot(log[:, 4], log[:, 6], "x--", color="tab:orange", label="applied dx (probe shift)")
    ax.set(title="Drift log", xlabel="time from the first reference (s)", ylabel="drift (nm)")
    ax.legend(fontsize=7)
    save(fig, "drift_log.png")
    return paths
