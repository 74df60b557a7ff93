"""EEGS computation: gain/loss order extraction, |β| per spectrum and the resonance fit of a
wavelength scan (λ × energy data item), as a Swift registered computation.

Computation ``lumiere.eegs.orders``
    inputs: ``scan`` (λ × energy loss: first axis the laser wavelength in nm, second in eV — the
    ``eegs`` result of a wavelength scan), ``laser_off`` (the laser-off spectrum, eV), optional
    ``power`` (the scan's power log, column 1 = µW; the laser-off power is read from the
    laser-off item's metadata), ``order`` (ℓ ≥ 1, default 1).
    outputs (each versus λ in nm): ``gain`` and ``loss`` (order-ℓ counts per ZLP count),
    ``eegs`` (gain of order 1 minus the laser-off background, per ZLP count and per µW when the
    power log is given), ``fit`` (the Lorentzian resonance fitted to ``eegs`` versus photon
    energy, evaluated at the scan's points; centre, FWHM and Q in its metadata and title),
    ``beta`` (|β| of every spectrum, fitted with the J_ℓ² comb of the laser-off ZLP).

The science is :func:`eegs.analysis.analyse_scan` (built on :mod:`analysis.sidebands`), the same
function the EEGS workflow and CLI use.
"""
from __future__ import annotations

import types
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from analysis import sidebands as model
from nionswift_plugin.lumiere.computations_common import InputError, guarded, title_of, xdata_of

__all__ = ["COMPUTATIONS", "MENU_ITEMS", "EEGSOrders", "attach_eegs_orders", "scan_result_from_xdata"]


def _lumiere_metadata(xdata: DataAndMetadata.DataAndMetadata) -> dict:
    meta = dict(xdata.metadata or {})
    return dict(meta.get("lumiere", meta))


def scan_result_from_xdata(scan: DataAndMetadata.DataAndMetadata, laser_off: DataAndMetadata.DataAndMetadata,
                           power: DataAndMetadata.DataAndMetadata | None = None, *,
                           scan_title: str = "the scan") -> types.SimpleNamespace:
    """The fields :func:`eegs.analysis.analyse_scan` reads, from Swift data: checks shapes, units."""
    if len(scan.data_shape) != 2:
        raise InputError(f"{scan_title} has shape {'×'.join(map(str, scan.data_shape))}; a wavelength × "
                         "energy map (λ in nm, energy loss in eV) is needed")
    cal_wl, cal_e = scan.dimensional_calibrations
    if cal_e.units != "eV":
        raise InputError(f"the second axis of {scan_title} is in {cal_e.units or 'no units'!r}, not eV")
    if cal_wl.units != "nm":
        raise InputError(f"the first axis of {scan_title} is in {cal_wl.units or 'no units'!r}: a wavelength "
                         "scan (λ in nm) is needed (a power scan has no resonance to fit)")
    n, m = scan.data_shape
    if n < 5:
        raise InputError(f"{scan_title} has {n} wavelengths; at least 5 are needed for the resonance fit")
    if len(laser_off.data_shape) != 1 or laser_off.data_shape[0] != m:
        raise InputError(f"the laser-off spectrum must be 1-D with the scan's {m} channels, "
                         f"got shape {tuple(laser_off.data_shape)}")
    energy = cal_e.offset + cal_e.scale * np.arange(m)
    wavelength = cal_wl.offset + cal_wl.scale * np.arange(n)
    power_uW = np.ones(n)
    off_power = 0.0
    if power is not None:
        from nionswift_plugin.lumiere.displays import table_from_xdata

        table = table_from_xdata(power)  # a panel's power log is a line plot holding its table
        if table is not None:
            power = DataAndMetadata.new_data_and_metadata(table[1])
        if len(power.data_shape) != 2 or power.data_shape[0] != n or power.data_shape[1] < 2:
            raise InputError(f"the power log must be ({n}, ≥2) with the power in µW in column 1, "
                             f"got shape {tuple(power.data_shape)}")
        power_uW = np.asarray(power.data[:, 1], float)
        off_power = float(_lumiere_metadata(laser_off).get("laser_off_power_uW", 0.0) or 0.0)
    meta = _lumiere_metadata(scan)
    duty = float(meta.get("blanker", {}).get("duty_cycle", 1.0)) if isinstance(meta.get("blanker"), dict) else 1.0
    from lumiere.sinks import Axis

    return types.SimpleNamespace(
        laser_off_spectrum=np.asarray(laser_off.data, float), energy_eV=energy,
        spectra=np.asarray(scan.data, float), wavelength_nm=wavelength, axis_values=wavelength,
        power_uW=power_uW, laser_off_power_uW=off_power, duty_cycle=duty,
        axis=Axis("Wavelength", "nm", cal_wl.scale, cal_wl.offset, navigate=True),
        normalised=power is not None)


class EEGSOrders:
    """Order intensities, |β| per spectrum and the resonance of a wavelength scan."""

    label = "Lumière EEGS Orders, |β| and Resonance"
    inputs = {"scan": {"label": "λ × energy scan"}, "laser_off": {"label": "Laser-off spectrum"},
              "power": {"label": "Power log"}, "order": {"label": "Order ℓ"}}
    outputs = {"gain": {"label": "Gain ℓ / ZLP"}, "loss": {"label": "Loss ℓ / ZLP"},
               "eegs": {"label": "EEGS spectrum"}, "fit": {"label": "Resonance fit"}, "beta": {"label": "|β|"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}
        self._title = ""

    @guarded("EEGS orders")
    def execute(self, scan: typing.Any, laser_off: typing.Any = None, power: typing.Any = None,
                order: int = 1, **kwargs: typing.Any) -> None:
        from eegs.analysis import analyse_scan

        scan_x = xdata_of(scan, "wavelength scan")
        if laser_off is None:
            raise InputError("no laser-off spectrum given; it is needed for the background and the |β| fit")
        off_x = xdata_of(laser_off, "laser-off spectrum")
        power_x = xdata_of(power, "power log") if power is not None else None
        order = int(order or 1)
        if order < 1:
            raise InputError(f"order ℓ = {order}; it must be ≥ 1")
        result = scan_result_from_xdata(scan_x, off_x, power_x, scan_title=title_of(scan))
        analysis = analyse_scan(result, orders=(order,), fit_resonance=True, fit_betas=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            gain = analysis.gain_counts[:, 0] / analysis.zlp_counts
            loss = analysis.loss_counts[:, 0] / analysis.zlp_counts
        summary = analysis.summary()
        per = "1/µW" if result.normalised else ""
        cal = scan_x.dimensional_calibrations[0]
        fit = np.full_like(analysis.gain_per_uW, np.nan)
        self._title = ""
        if analysis.resonance is not None:
            r = analysis.resonance
            fit = model.lorentzian(analysis.photon_energy_eV, r.centre_eV, r.fwhm_eV, r.amplitude, r.offset)
            self._title = (f"EEGS resonance fit: {analysis.resonance_centre_nm:.1f} nm "
                           f"({r.centre_eV:.3f} eV), FWHM {r.fwhm_eV * 1000:.0f} meV, Q = {r.q_factor:.1f}")
        meta = {"order": order, **summary}

        def line(values: np.ndarray, units: str) -> DataAndMetadata.DataAndMetadata:
            return DataAndMetadata.new_data_and_metadata(
                np.nan_to_num(np.asarray(values, np.float32)), intensity_calibration=Calibration.Calibration(units=units),
                dimensional_calibrations=[Calibration.Calibration(cal.offset, cal.scale, "nm")],
                metadata={"lumiere": meta})

        self._out = {"gain": line(gain, ""), "loss": line(loss, ""), "eegs": line(analysis.gain_per_uW, per),
                     "fit": line(fit, per), "beta": line(analysis.beta_abs, "|β|")}

    def commit(self) -> None:
        for name, xdata in self._out.items():
            item = self.computation.get_result(name)
            if item is not None:
                self.computation.set_referenced_xdata(name, xdata)
                if name == "fit" and self._title:
                    item.title = self._title


COMPUTATIONS: dict[str, type] = {"lumiere.eegs.orders": EEGSOrders}


def attach_eegs_orders(api: typing.Any, scan: typing.Any, laser_off: typing.Any, power: typing.Any = None, *,
                       order: int = 1, window: typing.Any = None) -> dict[str, typing.Any]:
    """Attach ``lumiere.eegs.orders`` to a wavelength scan data item; the EEGS spectrum and its
    resonance fit are shown as two layers of one line plot. Returns the Facade objects."""
    library = api.library
    name = scan.title
    out = {"gain": library.create_data_item(f"{name} gain ℓ={order} / ZLP"),
           "loss": library.create_data_item(f"{name} loss ℓ={order} / ZLP"),
           "eegs": library.create_data_item(f"{name} EEGS spectrum"),
           "fit": library.create_data_item(f"{name} resonance fit"),
           "beta": library.create_data_item(f"{name} |β| per spectrum")}
    inputs: dict[str, typing.Any] = {"scan": scan, "laser_off": laser_off, "order": int(order)}
    if power is not None:
        inputs["power"] = power
    computation = library.create_computation("lumiere.eegs.orders", inputs=inputs, outputs=out)
    display_item = out["eegs"].display._display_item
    display_item.append_display_data_channel_for_data_item(out["fit"]._data_item)
    display_item._set_display_layer_properties(0, label="EEGS", fill_color=None, stroke_color="#1E90FF")
    display_item._set_display_layer_properties(1, label="Lorentzian fit", fill_color=None, stroke_color="#F00")
    if window is not None:
        window.display_data_item(out["eegs"])
    return {**out, "computation": computation}


def _menu_action(api: typing.Any, window: typing.Any) -> typing.Any:
    """Menu: the selected wavelength scan, with the most recent laser-off spectrum and power log
    of the library (found by their workflow titles)."""
    scan = window.target_data_item
    if scan is None:
        raise InputError("select the wavelength-scan data item (λ × energy) first")
    items = list(reversed(api.library.data_items))  # most recent first
    laser_off = next((d for d in items if "laser-off" in (d.title or "").lower()), None)
    power = next((d for d in items if "power log" in (d.title or "").lower()), None)
    if laser_off is None:
        raise InputError("no laser-off spectrum data item found (a title containing 'laser-off')")
    return attach_eegs_orders(api, scan, laser_off, power, window=window)


MENU_ITEMS = [("EEGS Orders, |β| and Resonance (wavelength scan)", _menu_action)]
