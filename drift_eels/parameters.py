"""Parameters of a drift-corrected SI and the plan derived from them, validated before anything moves.

The user draws two rectangles on a HAADF survey (the SI region and a drift reference region),
chooses the SI size, the dwell time per pixel, the number of sequences and the edges to map.
:meth:`DriftSIParameters.plan` checks every value against the survey and the spectrometer's
energy axis and returns a :class:`SequencePlan` with the scan frames of the SI and of the
reference scans. It only *reads* the devices (the energy axis), so a rejected input costs no
beam time: no frame is scanned, no clock advances, the probe shift is untouched.

Rectangles are ``(top, left, height, width)`` in survey pixels (floats allowed), in the survey's
scan frame (rotated like the survey); they are converted to scan frames with the survey's
calibration, so the SI and reference scans share its rotation.
"""
from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np

from analysis.eels.edges import lookup_edge
from analysis.eels.maps import default_windows
from detectors.common.checks import check_memory
from detectors.interfaces import ScanFrame

#: SI sizes offered to the user (square); any size in SI_SIZE_RANGE_PX is accepted
SI_SIZES_PX = (64, 96, 128, 192, 256)
SI_SIZE_RANGE_PX = (16, 512)
#: per-pixel EELS exposure: the Merlin reads out at ≤ 10 kHz in 12-bit mode (0.1 ms) and
#: sequences longer than ~1 s per pixel defeat the purpose of short sequences
DWELL_RANGE_S = (1e-4, 1.0)
REFERENCE_DWELL_RANGE_S = (1e-7, 1e-3)
REFERENCE_SIZE_RANGE_PX = (16, 512)
MAX_SEQUENCES = 10_000
DEFAULT_EDGES = ("Sc L2,3", "Dy M4,5")
#: signal-window widths (eV) that fit the 350–1373 eV core-loss axis (default 10 % of the onset
#: for the others)
DEFAULT_SIGNAL_WIDTHS_EV = {"Sc L2,3": 30.0, "Dy M4,5": 70.0}

Rect = tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class EdgeWindows:
    """One edge to map: name, onset and its background-fit and signal windows (eV)."""

    name: str
    onset_eV: float
    fit_window_eV: tuple[float, float]
    signal_window_eV: tuple[float, float]

    @property
    def signal_width_eV(self) -> float:
        return self.signal_window_eV[1] - self.signal_window_eV[0]

    @property
    def key(self) -> str:
        """Name usable in result names: ``"Sc L2,3"`` → ``"Sc_L23"``."""
        return self.name.replace(" ", "_").replace(",", "")


@dataclasses.dataclass(frozen=True)
class SequencePlan:
    """What a validated :class:`DriftSIParameters` will do (frames in nm, times in s)."""

    parameters: "DriftSIParameters"
    si_frame: ScanFrame
    reference_frame: ScanFrame
    edges: tuple[EdgeWindows, ...]
    energy_eV: np.ndarray

    @property
    def sequence_time_s(self) -> float:
        """EELS exposure time of one sequence (one pass over the SI), s."""
        h, w = self.si_frame.size_px
        return h * w * self.parameters.dwell_s

    @property
    def reference_time_s(self) -> float:
        return self.reference_frame.frame_time_s

    @property
    def total_time_s(self) -> float:
        """Estimated instrument time of the whole acquisition, s (first reference included)."""
        n = self.parameters.n_sequences
        return n * self.sequence_time_s + (n + 1) * self.reference_time_s


@dataclasses.dataclass(frozen=True)
class DriftSIParameters:
    """User choices for a drift-corrected EELS SI.

    Parameters
    ----------
    survey : ScanFrame
        The HAADF survey the regions were drawn on (its geometry: fov, centre, rotation).
    si_region_px : (top, left, height, width)
        SI region on the survey, survey pixels. The SI frame is centred on it and covers it
        with square pixels (the larger of height/ny, width/nx sets the pixel size).
    reference_region_px : (top, left, height, width)
        Drift reference region on the survey, survey pixels (specimen detail that stays in view:
        a particle, a grain edge, the carbon film). May overlap the SI region.
    si_shape_px : (ny, nx)
        SI size in pixels, each in :data:`SI_SIZE_RANGE_PX` (UI choices :data:`SI_SIZES_PX`).
    dwell_s : float
        EELS exposure per pixel and sequence, s, in :data:`DWELL_RANGE_S`.
    n_sequences : int
        Number of short sequences summed into the SI (≥ 1).
    edges : sequence of str
        Edges to map (names for :func:`analysis.eels.lookup_edge`), default Sc L2,3 and Dy M4,5.
    signal_widths_eV : dict, optional
        Signal-window width per edge name; default :data:`DEFAULT_SIGNAL_WIDTHS_EV`, else 10 % of
        the onset.
    reference_dwell_s : float
        HAADF dwell of the reference scans, s.
    reference_pixel_size_nm : float, optional
        Sampling of the reference scans; default the SI pixel size, so the drift is measured in
        (sub-)pixels of the SI.
    correct_drift : bool
        False runs the same acquisition (same reference scans, same timing) without re-centring
        and without registration of the sequences: the uncorrected baseline.
    feed_forward : bool
        Re-centre before every section of rows from the drift predicted at that section's time
        (True) or once per sequence at its start.
    rows_per_section : int
        SI rows per call of the spectrum imager (abort latency, re-centring granularity).
    predictor_history : int
        Reference measurements used by the linear drift prediction.
    search_radius_px : float
        Radius (reference pixels) of the registration search window around the predicted shift,
        used once two measurements give a velocity.
    min_quality : float
        Reference registrations with a peak significance below this are logged but not used for
        the prediction (see :class:`analysis.registration.ShiftResult`).
    keep_sequences : bool
        Also write every sequence's raw SI (``si_sequences``, N × h × w × E) to the sink.
    restore_probe_shift : bool
        Put the probe shift back to its value at the start when the run ends (also on abort
        or error); otherwise it is left at the last applied value (recorded in the metadata).
    """

    survey: ScanFrame
    si_region_px: Rect
    reference_region_px: Rect
    si_shape_px: tuple[int, int] = (64, 64)
    dwell_s: float = 2e-3
    n_sequences: int = 8
    edges: tuple[str, ...] = DEFAULT_EDGES
    signal_widths_eV: dict[str, float] | None = None
    reference_dwell_s: float = 2e-5
    reference_pixel_size_nm: float | None = None
    correct_drift: bool = True
    feed_forward: bool = True
    rows_per_section: int = 4
    predictor_history: int = 6
    search_radius_px: float = 8.0
    min_quality: float = 0.0
    keep_sequences: bool = False
    restore_probe_shift: bool = True

    def plan(self, energy_eV: np.ndarray | None = None) -> SequencePlan:
        """Validate every value and derive the scan frames.

        Parameters
        ----------
        energy_eV : (n_E,) array, optional
            The spectrometer's energy axis (``SpectrumImager.energy_axis_eV()``), used to check
            that every edge's windows fit. Without it the edges are only looked up.

        Raises
        ------
        ValueError
            The first invalid value, named with its value and what is allowed.
        """
        ny, nx = (int(v) for v in self.si_shape_px)
        lo, hi = SI_SIZE_RANGE_PX
        if (ny, nx) != tuple(self.si_shape_px) or not (lo <= ny <= hi and lo <= nx <= hi):
            raise ValueError(f"si_shape_px = {tuple(self.si_shape_px)} is not allowed; expected two "
                             f"integers in [{lo}, {hi}] (e.g. {SI_SIZES_PX})")
        if not (isinstance(self.n_sequences, (int, np.integer)) and 1 <= self.n_sequences <= MAX_SEQUENCES):
            raise ValueError(f"n_sequences = {self.n_sequences!r} is not allowed; expected an "
                             f"integer in [1, {MAX_SEQUENCES}]")
        _check_range("dwell_s", self.dwell_s, DWELL_RANGE_S, "s")
        _check_range("reference_dwell_s", self.reference_dwell_s, REFERENCE_DWELL_RANGE_S, "s")
        if not (isinstance(self.rows_per_section, (int, np.integer)) and self.rows_per_section >= 1):
            raise ValueError(f"rows_per_section = {self.rows_per_section!r} must be an integer ≥ 1")
        if not (isinstance(self.predictor_history, (int, np.integer)) and self.predictor_history >= 2):
            raise ValueError(f"predictor_history = {self.predictor_history!r} must be an integer ≥ 2")
        if not (math.isfinite(self.search_radius_px) and self.search_radius_px > 0):
            raise ValueError(f"search_radius_px = {self.search_radius_px!r} must be > 0 px")
        survey = self.survey
        sh, sw = survey.size_px
        ps = survey.pixel_size_nm
        # --- SI frame --------------------------------------------------------------------
        top, left, height, width = _check_rect("si_region_px", self.si_region_px, survey)
        p_si = max(height / ny, width / nx) * ps
        cy, cx = _rect_centre(survey, top, left, height, width)
        si_frame = ScanFrame(size_px=(ny, nx), fov_nm=p_si * max(ny, nx), center_nm=(cy, cx),
                             rotation_rad=survey.rotation_rad, dwell_s=float(self.dwell_s),
                             flyback_px=0)
        # the square-pixel frame can be larger than the drawn region along its shorter side
        eh, ew = ny * p_si / ps, nx * p_si / ps
        ctop, cleft = top + height / 2 - eh / 2, left + width / 2 - ew / 2
        if ctop < -1e-6 or cleft < -1e-6 or ctop + eh > sh + 1e-6 or cleft + ew > sw + 1e-6:
            raise ValueError(
                f"the {ny}×{nx} px SI of {p_si:.3g} nm pixels covers {eh:.1f}×{ew:.1f} survey px "
                f"from ({ctop:.1f}, {cleft:.1f}): larger than the {sh}×{sw} px survey "
                f"({survey.fov_nm:g} nm field of view); choose a region whose aspect matches "
                f"{ny}:{nx} inside the survey")
        # --- reference frame -------------------------------------------------------------
        rtop, rleft, rheight, rwidth = _check_rect("reference_region_px", self.reference_region_px, survey)
        p_ref = self.reference_pixel_size_nm if self.reference_pixel_size_nm is not None else p_si
        if not (math.isfinite(p_ref) and p_ref > 0):
            raise ValueError(f"reference_pixel_size_nm = {p_ref!r} must be > 0 nm")
        rny, rnx = int(round(rheight * ps / p_ref)), int(round(rwidth * ps / p_ref))
        rlo, rhi = REFERENCE_SIZE_RANGE_PX
        if not (rlo <= rny <= rhi and rlo <= rnx <= rhi):
            raise ValueError(
                f"reference_region_px = {tuple(self.reference_region_px)} sampled at "
                f"{p_ref:.3g} nm/px gives a {rny}×{rnx} px reference scan; expected each side in "
                f"[{rlo}, {rhi}] px (draw a larger/smaller region or set reference_pixel_size_nm)")
        rcy, rcx = _rect_centre(survey, rtop, rleft, rheight, rwidth)
        reference_frame = ScanFrame(size_px=(rny, rnx), fov_nm=p_ref * max(rny, rnx),
                                    center_nm=(rcy, rcx), rotation_rad=survey.rotation_rad,
                                    dwell_s=float(self.reference_dwell_s), flyback_px=survey.flyback_px)
        edges = self._edges(energy_eV)
        if energy_eV is not None:
            check_si_memory(f"si_shape_px = ({ny}, {nx})", (ny, nx), len(energy_eV), cubes=DRIFT_SI_CUBES)
        return SequencePlan(self, si_frame, reference_frame, edges,
                            np.asarray(energy_eV, dtype=np.float64) if energy_eV is not None else np.zeros(0))

    def _edges(self, energy_eV: np.ndarray | None) -> tuple[EdgeWindows, ...]:
        if isinstance(self.edges, str) or len(self.edges) == 0:
            raise ValueError(f"edges = {self.edges!r}: give a non-empty list of edge names such as "
                             f"{list(DEFAULT_EDGES)}")
        widths = dict(DEFAULT_SIGNAL_WIDTHS_EV)
        widths.update(self.signal_widths_eV or {})
        if energy_eV is not None:
            e = np.asarray(energy_eV, dtype=np.float64)
            if e.ndim != 1 or e.size < 2:
                raise ValueError(f"energy axis must have ≥ 2 channels, got shape {e.shape}")
            d = float(e[1] - e[0])
            lo_ax, hi_ax = float(e[0]) - d / 2, float(e[-1]) + d / 2
        out = []
        for name in self.edges:
            edge = lookup_edge(name)  # ValueError naming the edge and listing the known ones
            fit_w, sig_w = default_windows(edge.onset_eV)
            width = widths.get(name, widths.get(edge.name))
            if width is not None:
                if not width > 0:
                    raise ValueError(f"signal width of {edge.name} = {width!r} eV must be > 0")
                sig_w = (edge.onset_eV, edge.onset_eV + float(width))
            if energy_eV is not None:
                for what, (a, b) in (("background fit", fit_w), ("signal", sig_w)):
                    if a < lo_ax - 1e-9 or b > hi_ax + 1e-9:
                        raise ValueError(
                            f"edge {edge.name} (onset {edge.onset_eV:g} eV): its {what} window "
                            f"[{a:g}, {b:g}] eV is outside the energy range [{lo_ax:g}, {hi_ax:g}] eV "
                            "of the spectrometer; change the energy offset/dispersion or the edge")
            out.append(EdgeWindows(edge.name, edge.onset_eV, fit_w, sig_w))
        if len({e.key for e in out}) != len(out):
            raise ValueError(f"edges = {list(self.edges)} names an edge twice")
        return tuple(out)


#: (h, w, E) float32 cubes a drift-corrected SI holds at once: the sequence being acquired, the
#: aligned sum, and the corrected result kept while the uncorrected baseline runs
DRIFT_SI_CUBES = ("sequence SI", "aligned sum", "corrected result")
#: a plain SI: the cube; a sparse one adds its low-rank reconstruction
SI_CUBES = ("SI cube",)
SPARSE_SI_CUBES = ("SI cube", "low-rank reconstruction")


def check_si_memory(what: str, shape_px: tuple[int, int], n_energy: int,
                    cubes: typing.Sequence[str] = SI_CUBES) -> int:
    """Refuse an SI whose (h, w, E) float32 cubes do not fit the available memory, before the
    first byte is written; returns the planned bytes.

    ``what`` names the size parameter and its value for the message (``"--size 100000"``,
    ``"si_shape_px = (512, 512)"``); see :func:`detectors.common.checks.check_memory`.
    """
    h, w = shape_px
    return check_memory(what, [(label, (h, w, n_energy), np.float32) for label in cubes])


def _check_range(name: str, value: typing.Any, bounds: tuple[float, float], unit: str) -> None:
    lo, hi = bounds
    try:
        ok = math.isfinite(float(value)) and lo <= float(value) <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} = {value!r} {unit} is not allowed; expected {lo:g} ≤ {name} ≤ {hi:g} {unit}")


def _check_rect(name: str, rect: typing.Sequence[float], survey: ScanFrame) -> Rect:
    try:
        top, left, height, width = (float(v) for v in rect)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {rect!r}: expected (top, left, height, width) in survey pixels") from None
    sh, sw = survey.size_px
    if not all(math.isfinite(v) for v in (top, left, height, width)) or height <= 0 or width <= 0:
        raise ValueError(f"{name} = {tuple(rect)}: height and width must be > 0 survey pixels")
    if top < 0 or left < 0 or top + height > sh or left + width > sw:
        raise ValueError(f"{name} = {tuple(rect)} (top, left, height, width) reaches outside the "
                         f"{sh}×{sw} px survey frame ({survey.fov_nm:g} nm field of view)")
    return top, left, height, width


def _rect_centre(survey: ScanFrame, top: float, left: float, height: float, width: float) -> tuple[float, float]:
    """Microscope position (nm) of the centre of a survey-pixel rectangle."""
    sh, sw = survey.size_px
    p = survey.pixel_size_nm
    cy, cx = survey.to_microscope_nm((top + height / 2 - sh / 2) * p, (left + width / 2 - sw / 2) * p)
    return float(cy), float(cx)


def region_around(survey: ScanFrame, center_nm: tuple[float, float], size_nm: float | tuple[float, float]) -> Rect:
    """Survey-pixel rectangle (top, left, height, width) of a region centred on a microscope
    position (nm) — a helper for scripts and tests that think in nm rather than survey pixels.

    Examples
    --------
    >>> region_around(ScanFrame(size_px=(256, 256), fov_nm=512.0), (0.0, 20.0), 64.0)
    (112.0, 122.0, 32.0, 32.0)
    """
    h_nm, w_nm = (size_nm, size_nm) if np.isscalar(size_nm) else size_nm
    p = survey.pixel_size_nm
    c, s = math.cos(survey.rotation_rad), math.sin(survey.rotation_rad)
    dy, dx = center_nm[0] - survey.center_nm[0], center_nm[1] - survey.center_nm[1]
    v, u = c * dy - s * dx, s * dy + c * dx  # inverse of ScanFrame.to_microscope_nm
    sh, sw = survey.size_px
    cy_px, cx_px = v / p + sh / 2, u / p + sw / 2
    return (float(cy_px - h_nm / p / 2), float(cx_px - w_nm / p / 2), float(h_nm / p), float(w_nm / p))
