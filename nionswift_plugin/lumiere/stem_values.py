"""Swift's named controls (``GetVal``/``SetVal``/``TryGetVal``, ``GetVal2D``/``SetVal2D``) of the
VG Lumière: the VG column, the EELS spectrometer and the instrument's energy calibration, and the
simulated world's beam and laser. :class:`~nionswift_plugin.lumiere.stem_device.LumiereInstrument`
(Swift's ``stem_controller``) serves them through :class:`VGValueManager`.
"""
from __future__ import annotations

import logging
import threading
import typing

from nion.instrumentation import stem_controller
from nion.utils import Geometry

from detectors.instrument import Instrument

log = logging.getLogger(__name__)


class Control(typing.NamedTuple):
    get: typing.Callable[[], float]
    set: typing.Callable[[float], None] | None


#: Swift name → (VG column control, factor Swift unit → column unit). Swift's units are SI (V, A,
#: m, Pa, °C); the column speaks nm for the probe shift and stage and µm for the apertures.
VG_CONTROLS: dict[str, tuple[str, float]] = {
    "EHT": ("EHT", 1.0), "OL": ("OL", 1.0), "C1": ("C1", 1.0), "C2": ("C2", 1.0),
    "CSH.x": ("CSH.x", 1e9), "CSH.y": ("CSH.y", 1e9),
    "StageX": ("StageX", 1e9), "StageY": ("StageY", 1e9),
    "StageOutX": ("StageX", 1e9), "StageOutY": ("StageY", 1e9),
    # Swift's 2-D stage control (the kit's ``stage_position_m``, ``change_stage_position``)
    "stage_position_m.x": ("StageX", 1e9), "stage_position_m.y": ("StageY", 1e9),
    "BeamBlanked": ("BeamBlanked", 1.0), "C_Blank": ("BeamBlanked", 1.0),
    "GunVacuum": ("GunVacuum", 1.0), "ColumnVacuum": ("ColumnVacuum", 1.0),
    "ObjectiveTemperature": ("ObjectiveTemperature", 1.0),
}


#: Swift's 2-D controls (``GetVal2D``/``SetVal2D``): ``<name>.y`` and ``<name>.x`` are 1-D controls
CONTROLS_2D = ("CSH", "stage_position_m")

#: Focal length of the VG objective, m: inferred [I], the order of a high-resolution STEM polepiece
#: (no measured value in NSLumiere or our references). Only the scale of ``C10`` depends on it.
OBJECTIVE_FOCAL_LENGTH_M = 1.5e-3


def objective_defocus_m(ol_A: float, focus_A: float, focal_length_m: float = OBJECTIVE_FOCAL_LENGTH_M) -> float:
    """Defocus ``C10`` (m) of the objective at current ``ol_A`` whose in-focus current is ``focus_A``.

    How the VG objective maps to metres (inferred [I], no evidence from the instrument): a magnetic
    lens's focal length goes as 1/(NI)², so a small current change moves the focus by
    ``Δf = 2 f · ΔI / I`` (f the focal length). The in-focus current is the HT table's ``OL_A``
    (NSLumiere's saved objective current per kV). Sign (Krivanek's convention, as Nion's ``C10``):
    positive = over-focus = a stronger lens = more current than in focus.
    """
    return 2.0 * focal_length_m * (ol_A - focus_A) / focus_A


def objective_current_A(defocus_m: float, focus_A: float, focal_length_m: float = OBJECTIVE_FOCAL_LENGTH_M) -> float:
    """The objective current giving ``defocus_m`` (inverse of :func:`objective_defocus_m`)."""
    return focus_A * (1.0 + defocus_m / (2.0 * focal_length_m))


class VGValueManager:
    """Swift's named controls (``GetVal``/``SetVal``/``TryGetVal``) on the VG column, the
    instrument's energy calibration and (simulated instruments only) the world.

    Column controls go through the VG command layer (:class:`~detectors.vg_lumiere.VGColumn`, its
    drivers and interlocks): ``EHT`` (V; setting it pushes the per-HT lens and spectrometer
    settings), ``OL``/``C1``/``C2`` (A), ``CSH.x``/``CSH.y`` (m; the column's nm), ``StageX``/
    ``StageY`` (alias ``StageOutX``/``StageOutY``; m), ``OA.x``… (aperture motors; m), ``BeamBlanked``
    (alias ``C_Blank``; 0/1), read-only ``GunVacuum``/``ColumnVacuum`` (Pa) and
    ``ObjectiveTemperature`` (°C).

    Swift's own names (as nionswift-usim and the instrumentation kit use them): ``C10`` — defocus,
    m, the objective current relative to the HT table's in-focus current
    (:func:`objective_defocus_m`); the kit's ``defocus_m``, the acquisition panel's "defocus"
    control and the ``stem.defocus`` metadata read it. ``stage_position_m`` — 2-D (``GetVal2D``/
    ``SetVal2D``, the kit's ``change_stage_position``; also ``stage_position_m.x``/``.y``), m,
    the stage.

    The EELS spectrometer (:attr:`Instrument.eels_spectrometer`, connected on the first set):
    ``EELS_MagneticShift_Offset`` (Swift's acquisition panel's "energy offset" control and
    usim's name; also the kit's ``ZLPoffset``) and ``EELS_EnergyOffset_eV`` — the energy offset,
    eV (loss at channel 0); ``EELS_Dispersion_eVperChannel`` — eV per channel, one of the
    presets. Reading them reads the instrument's energy calibration, which the spectrometer sets;
    setting them moves the spectrometer (out-of-range values are refused, naming the range).
    ``eels_x_scale``/``eels_x_offset`` (eV; ``eels_y_*`` fixed) are that calibration itself, as
    the camera labels its axis: setting them corrects the labels only (a site without a
    spectrometer device; the next spectrometer change sets them again).

    Only with a simulated world (absent on a real site): ``BeamCurrent`` (A), ``ZLPFWHM`` (eV),
    ``LaserWavelength`` (nm), ``LaserPower`` (µW).

    A refused request (unknown name, read-only control, value out of range, interlock, silent
    device) makes ``SetVal`` return False and ``TryGetVal`` return (False, None); the reason is
    logged and kept in :attr:`last_error`. Interlock trips (from any request or the monitor) are
    logged and appended to :attr:`interlock_events`.
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.last_error: str | None = None
        self.interlock_events: list[typing.Any] = []
        self._column_hooked = False
        self._lock = threading.Lock()
        spec = instrument.spectrometer

        def setter(obj: typing.Any, attr: str, scale: float = 1.0) -> typing.Callable[[float], None]:
            return lambda v: setattr(obj, attr, float(v) * scale)

        self.controls: dict[str, Control] = {
            "eels_x_scale": Control(lambda: spec.dispersion_eV_per_channel,
                                    lambda v: spec.set(dispersion_eV_per_channel=float(v))),
            "eels_x_offset": Control(lambda: spec.energy_offset_eV, lambda v: spec.set(energy_offset_eV=float(v))),
            "eels_y_scale": Control(lambda: 1.0, None),
            "eels_y_offset": Control(lambda: 0.0, None),
            "C10": Control(self._defocus_m, self._set_defocus_m),
        }
        offset = Control(lambda: spec.energy_offset_eV, self._set_energy_offset_eV)
        for name in ("EELS_MagneticShift_Offset", "ZLPoffset", "EELS_EnergyOffset_eV"):
            self.controls[name] = offset
        self.controls["EELS_Dispersion_eVperChannel"] = Control(lambda: spec.dispersion_eV_per_channel,
                                                                self._set_dispersion_eV_per_channel)
        world = instrument.world
        if world is not None:  # the simulated beam and laser: nothing real reads or has them
            beam, laser = world.beam, world.laser
            self.controls.update({
                "BeamCurrent": Control(lambda: beam.current_pA * 1e-12, setter(beam, "current_pA", 1e12)),
                "ZLPFWHM": Control(lambda: beam.zlp_fwhm_eV, setter(beam, "zlp_fwhm_eV")),
                "LaserWavelength": Control(lambda: laser.wavelength_nm, None),
                "LaserPower": Control(lambda: laser.power_uW, None),
            })

    # -- the column ------------------------------------------------------------------------
    @property
    def column(self) -> typing.Any:
        column = self.instrument.column
        with self._lock:
            if not self._column_hooked:
                column.on_interlock.append(self._on_interlock)
                self._column_hooked = True
        return column

    def _on_interlock(self, event: typing.Any) -> None:
        self.interlock_events.append(event)
        log.error("VG interlock %s: %s; %s", event.interlock, event.reason,
                  ", ".join(event.actions) or "no action")

    # -- Swift's names on the column and the spectrometer -----------------------------------------
    def _focus_current_A(self) -> float:
        column = self.column
        eht = column.get("EHT")
        table = column.config.ht.table
        if eht not in table:
            raise ValueError(f"C10: no in-focus objective current at EHT = {eht:g} V (HT off or not in the HT "
                             f"table, which has {', '.join(f'{v:g}' for v in sorted(table))} V)")
        return float(table[eht].OL_A)

    def _defocus_m(self) -> float:
        focus = self._focus_current_A()
        return objective_defocus_m(self.column.get("OL"), focus)

    def _set_defocus_m(self, value_m: float) -> None:
        focus = self._focus_current_A()
        ol = self.column.control("OL")
        low, high = (objective_defocus_m(i, focus) for i in (ol.low or 0.0, ol.high or 0.0))
        v = float(value_m)
        if not low <= v <= high:  # in C10's terms (NaN fails too); the column would name the current
            raise ValueError(f"C10 = {v:g} m is out of range; allowed {low:.4g}–{high:.4g} m (objective "
                             f"{ol.allowed}, in focus at {focus:g} A)")
        self.column.set("OL", objective_current_A(v, focus))

    def _set_energy_offset_eV(self, value_eV: float) -> None:
        self.instrument.eels_spectrometer.energy_offset_eV = float(value_eV)

    def _set_dispersion_eV_per_channel(self, value: float) -> None:
        self.instrument.eels_spectrometer.dispersion_eV_per_channel = float(value)

    def vg_name(self, name: str) -> tuple[str, float] | None:
        """(column control, factor) for a Swift name, or None if the column does not have it."""
        if name in VG_CONTROLS:
            return VG_CONTROLS[name]
        if name.endswith((".x", ".y")) and name[:-2] in ("OA", "CA", "SA", "VOA"):
            return name, 1e6  # aperture motors: m ↔ µm (names from the column's config)
        return None

    def known_names(self) -> list[str]:
        return sorted(set(VG_CONTROLS) | set(self.controls))

    def _refuse(self, message: str) -> None:
        self.last_error = message
        log.warning("%s", message)

    def get_value(self, name: str) -> float | None:
        control = self.controls.get(name)
        if control is not None:
            try:
                return control.get()
            except Exception as e:  # noqa: BLE001 - C10 reads the column: its refusals → (False, None)
                self._refuse(f"GetVal {name}: {type(e).__name__}: {e}")
                return None
        vg = self.vg_name(name)
        if vg is None:  # panels probe names freely: not worth a warning
            self.last_error = f"GetVal {name}: no control named {name!r}; known: {', '.join(self.known_names())}"
            log.debug("%s", self.last_error)
            return None
        try:
            return self.column.get(vg[0]) / vg[1]
        except Exception as e:  # noqa: BLE001 - every refusal of the column → (False, None), logged
            self._refuse(f"GetVal {name}: {type(e).__name__}: {e}")
            return None

    def set_value(self, name: str, value: float) -> bool:
        control = self.controls.get(name)
        if control is not None:
            if control.set is None:
                self._refuse(f"SetVal {name}: read-only control")
                return False
            try:
                control.set(value)
            except Exception as e:  # noqa: BLE001 - range, preset, device, interlock errors → False
                self._refuse(f"SetVal {name} = {value!r}: {e}")
                return False
            return True
        vg = self.vg_name(name)
        if vg is None:
            self._refuse(f"SetVal {name}: no control named {name!r}; known: {', '.join(self.known_names())}")
            return False
        try:
            self.column.set(vg[0], float(value) * vg[1])
        except Exception as e:  # noqa: BLE001 - range, read-only, interlock, device errors → False
            self._refuse(f"SetVal {name} = {value!r}: {type(e).__name__}: {e}")
            return False
        return True

    def inform_value(self, name: str, value: float) -> bool:
        return self.set_value(name, value)

    def get_value_2d(self, s: str, default_value: Geometry.FloatPoint | None = None, *,
                     axis: stem_controller.AxisType | None = None) -> Geometry.FloatPoint:
        y, x = self.get_value(f"{s}.y"), self.get_value(f"{s}.x")
        if y is None or x is None:
            if default_value is None:
                known = f"known: {', '.join(CONTROLS_2D)}" if s not in CONTROLS_2D else f"{self.last_error}"
                raise KeyError(f"2-D control {s!r} cannot be read; {known}")
            return default_value
        return Geometry.FloatPoint(y=y, x=x)

    def set_value_2d(self, s: str, value: Geometry.FloatPoint, *, axis: stem_controller.AxisType | None = None) -> bool:
        return self.set_value(f"{s}.y", value.y) and self.set_value(f"{s}.x", value.x)

    def inform_control_2d(self, s: str, value: Geometry.FloatPoint, *, axis: stem_controller.AxisType) -> bool:
        return self.set_value_2d(s, value)

    def get_reference_setting_index(self, settings_control: str) -> int:
        return 0
