"""EEGS map: EEGS at every probe position of a small scan (line or area) at a fixed wavelength.

At each position of a :class:`~detectors.interfaces.ScanFrame` (row by row) the probe is parked,
``spectra_per_point`` spectra are recorded and summed while the power meters are read; then, with
the shutter closed, a laser-off pass records the reference at every position (the sidebands are
copies of the *local* spectrum, so the |β| fit needs the local reference). Same safety as the
scans: limits first, shutter closed however it ends, the sink finished with what was acquired.

Results: ``name`` (h, w, channels) counts on (y nm, x nm, energy loss eV), one write per scan
row; ``name + "_power"`` (h, w) µW; ``name + "_laser_off"`` (h, w, channels). :func:`analyse_map`
gives the gain and |β| maps.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from analysis import sidebands as model
from detectors.common.checks import check_int, check_memory, check_non_negative, check_positive
from detectors.common.errors import ParameterError
from detectors.interfaces import ScanFrame
from lumiere.sinks import Axis, Sink, mark_stopped
from lumiere.tasks import TaskControl

from .analysis import fit_beta_spectra, zlp_fwhm_eV
from .devices import EEGSDevices, close_shutter, shutter_guard
from .scans import MAX_POINTS, _plain, acquire_summed


@dataclasses.dataclass(frozen=True)
class EEGSMapParameters:
    """An EEGS map: ``frame`` (positions in the microscope frame, nm) at ``wavelength_nm``."""

    frame: ScanFrame
    wavelength_nm: float
    spectra_per_point: int = 4
    exposure_s: float = 0.05
    diode_current_A: float | None = 6.0
    attenuator_angle_deg: int | None = None
    laser_off_reference: bool = True

    def __post_init__(self) -> None:
        # finite values and signs; the laser's limits are checked by EEGSMap.validate()
        check_positive("wavelength_nm", self.wavelength_nm, "nm")
        check_int("spectra_per_point", self.spectra_per_point, 1)
        check_positive("exposure_s", self.exposure_s, "s")
        if self.diode_current_A is not None:
            check_non_negative("diode_current_A", self.diode_current_A, "A")
        h, w = self.frame.size_px
        if h * w > MAX_POINTS:
            raise ParameterError(f"frame size_px = ({h}, {w}) gives {h * w} positions; the limit is {MAX_POINTS}")


@dataclasses.dataclass
class EEGSMapResult:
    energy_eV: np.ndarray
    wavelength_nm: float
    positions_nm: tuple[np.ndarray, np.ndarray]
    spectra: np.ndarray
    power_uW: np.ndarray
    laser_off: np.ndarray | None
    laser_off_power_uW: float
    metadata: dict


def _frame_axes(frame: ScanFrame) -> list[Axis]:
    p = frame.pixel_size_nm
    h, w = frame.size_px
    return [Axis("y", "nm", p, -(h / 2 - 0.5) * p, navigate=True),
            Axis("x", "nm", p, -(w / 2 - 0.5) * p, navigate=True)]


class EEGSMap:
    """EEGS at every probe position of ``params.frame`` (see the module docstring); needs
    ``devices.scan`` to park the probe."""

    kind = "EEGS map"

    def __init__(self, devices: EEGSDevices, params: EEGSMapParameters, *, name: str = "eegs_map") -> None:
        if devices.scan is None:
            raise ValueError("an EEGS map needs a scan device to move the probe (devices.scan)")
        self.devices = devices
        self.params = params
        self.name = name
        self.result: EEGSMapResult | None = None
        self.validate()

    def validate(self) -> None:
        """Every limit, before any command is sent (:class:`LimitError` names value and limit)."""
        p, limits = self.params, self.devices.limits()
        limits.check_exposure(p.exposure_s, p.spectra_per_point)
        limits.check_wavelength(p.wavelength_nm)
        if p.diode_current_A is not None:
            limits.check_current(p.diode_current_A)
        if p.attenuator_angle_deg is not None:
            limits.check_angle(p.attenuator_angle_deg)
        h, w = p.frame.size_px
        n_ch = np.asarray(self.devices.camera.energy_axis_eV()).size
        # spectra, and the laser-off pass's as well (float64, filled while the map runs)
        check_memory(f"frame size_px = ({h}, {w})",
                     [("EEGS map", (h, w, n_ch), np.float64)] * (2 if p.laser_off_reference else 1))

    def run(self, sink: Sink, task: TaskControl | None = None) -> EEGSMapResult:
        task = task or TaskControl()
        self.validate()
        d, p = self.devices, self.params
        h, w = p.frame.size_px
        ys, xs = p.frame.positions_nm()
        energy = np.asarray(d.camera.energy_axis_eV(), float)
        n_ch = energy.size
        result = EEGSMapResult(energy, p.wavelength_nm, (ys, xs), np.full((h, w, n_ch), np.nan),
                               np.full((h, w), np.nan), None, math.nan,
                               {"workflow": self.kind, "parameters": _plain(
                                   {**dataclasses.asdict(p), "frame": dataclasses.asdict(p.frame)})})
        self.result = result
        passes = 2 if p.laser_off_reference else 1
        e_axis = Axis("Energy loss", "eV", float(energy[1] - energy[0]), float(energy[0]))
        axes = _frame_axes(p.frame)
        created: list[str] = []
        try:
            with shutter_guard(d.pump):
                task.check_abort()
                if p.attenuator_angle_deg is not None:
                    d.attenuator.set_angle_deg(p.attenuator_angle_deg)
                d.set_wavelength_nm(p.wavelength_nm, abort=lambda: task.aborted)
                task.check_abort()
                d.laser_on(p.diode_current_A)
                result.metadata.update(d.metadata())
                result.metadata["camera"].update(exposure_s=p.exposure_s, spectra_per_point=p.spectra_per_point)
                result.metadata["frame_positions_y_nm"] = [float(v) for v in ys.ravel()]
                result.metadata["frame_positions_x_nm"] = [float(v) for v in xs.ravel()]
                sink.create(self.name, (h, w, n_ch), axes + [e_axis], metadata=result.metadata,
                            title=self.kind, signal_type="EELS")
                created.append(self.name)
                sink.create(self.name + "_power", (h, w), [dataclasses.replace(a, navigate=False) for a in axes],
                            metadata={"units": "µW"}, title=f"{self.kind} laser power (µW)")
                created.append(self.name + "_power")
                for i in range(h):
                    for j in range(w):
                        task.check_abort()
                        d.scan.set_probe_position_nm(float(ys[i, j]), float(xs[i, j]))
                        spectrum, power, _ = d.read_powers_during(
                            lambda: acquire_summed(d.camera, p.spectra_per_point, p.exposure_s, task))
                        result.spectra[i, j] = spectrum
                        result.power_uW[i, j] = power
                    sink.write(self.name, i, result.spectra[i].astype(np.float32))
                    sink.write(self.name + "_power", i, result.power_uW[i].astype(np.float32))
                    task.progress((i + 1) / (passes * h), f"EEGS map row {i + 1}/{h}")
                if p.laser_off_reference:
                    close_shutter(d.pump)
                    result.laser_off_power_uW, _ = d.read_powers_uW()
                    result.laser_off = np.full((h, w, n_ch), np.nan)
                    key = self.name + "_laser_off"
                    sink.create(key, (h, w, n_ch), axes + [e_axis], title=f"{self.kind} laser off",
                                metadata={"laser_off_power_uW": result.laser_off_power_uW},
                                signal_type="EELS")
                    created.append(key)
                    for i in range(h):
                        for j in range(w):
                            task.check_abort()
                            d.scan.set_probe_position_nm(float(ys[i, j]), float(xs[i, j]))
                            result.laser_off[i, j] = acquire_summed(d.camera, p.spectra_per_point,
                                                                    p.exposure_s, task)
                        sink.write(key, i, result.laser_off[i].astype(np.float32))
                        task.progress((h + i + 1) / (2 * h), f"laser-off row {i + 1}/{h}")
                    sink.update_metadata(self.name, {"laser_off_power_uW": result.laser_off_power_uW})
        except BaseException as exc:
            mark_stopped(sink, created, exc)
            raise
        finally:
            for key in created:
                sink.finish(key)
        return result


@dataclasses.dataclass
class EEGSMapAnalysis:
    """Gain of order 1 per ZLP count per µW (laser-off background removed) and fitted |β|, (h, w)."""

    gain_per_uW: np.ndarray
    beta_abs: np.ndarray
    beta_err: np.ndarray
    zlp_fwhm_eV: float


def analyse_map(result: EEGSMapResult, *, fit_betas: bool = True) -> EEGSMapAnalysis:
    """Gain and |β| at every position of an :class:`EEGSMap` result (needs the laser-off pass)."""
    if result.laser_off is None:
        raise ValueError("the map has no laser-off reference; it is needed for the analysis")
    e = result.energy_eV
    h, w, n = result.spectra.shape
    on = result.spectra.reshape(-1, n)
    off = result.laser_off.reshape(-1, n)
    hw = model.photon_energy_eV(result.wavelength_nm)
    fwhm = zlp_fwhm_eV(e, np.nansum(off, axis=0))
    window = min(0.45 * hw, 3 * fwhm)
    gain = np.full(h * w, np.nan)
    beta = np.full(h * w, np.nan)
    err = np.full(h * w, np.nan)
    power = result.power_uW.ravel() - result.laser_off_power_uW
    for k in range(h * w):
        if not (np.all(np.isfinite(on[k])) and np.all(np.isfinite(off[k]))):
            continue
        pair, _ = model.align_spectra(e, np.stack([on[k], off[k]]), window, hw)
        oi = model.order_intensities(e, pair, hw, fwhm, (1,))
        excess = oi.gain[0, 0] / oi.zlp[0] - oi.gain[1, 0] / oi.zlp[1]
        gain[k] = excess / power[k] if power[k] > 0 else np.nan
        if fit_betas:
            b, s = fit_beta_spectra(e, pair[:1], pair[1], hw, fwhm_eV=fwhm, aligned=True,
                                    duty_cycle=float(result.metadata.get("blanker", {}).get("duty_cycle", 1.0)))
            beta[k], err[k] = b[0], s[0]
    return EEGSMapAnalysis(gain.reshape(h, w), beta.reshape(h, w), err.reshape(h, w), fwhm)


def write_map_analysis(sink: Sink, analysis: EEGSMapAnalysis, frame: ScanFrame, name: str = "eegs_map") -> None:
    """Write ``name + "_gain"`` (µW⁻¹) and ``name + "_beta"`` (h, w) images."""
    axes = [dataclasses.replace(a, navigate=False) for a in _frame_axes(frame)]
    for key, data, title in ((name + "_gain", analysis.gain_per_uW, "EEGS gain per µW"),
                             (name + "_beta", analysis.beta_abs, "EEGS |β|")):
        sink.create(key, data.shape, axes, dtype="float64", title=title,
                    metadata={"zlp_fwhm_eV": analysis.zlp_fwhm_eV})
        sink.write(key, slice(None), data)
        sink.finish(key)
