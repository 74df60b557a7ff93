"""The EELS spectrometer in Swift: the panel "EELS Spectrometer" and the "Spectrometer" row of every
workflow panel.

Both show the energy window of the instrument's one energy calibration (``Instrument.spectrometer``,
what every EELS camera labels its axis with), e.g. ``"−20.0 … 82.3 eV, 0.100 eV/ch"``, and set it
through the EELS spectrometer device (``Instrument.eels_spectrometer``, connected on the first
change), never by writing the calibration:

* preset buttons "Low loss", "Core loss", "EEGS" (:class:`SpectrometerRow`): "Core loss" shows the
  panel's edges (its "Edges" field; else :data:`~drift_eels.parameters.DEFAULT_EDGES`) with their
  background and near-edge windows, "EEGS" the sidebands ±N orders (its "EEGS orders" field, else
  :data:`DEFAULT_EEGS_ORDERS`) at the panel's shortest wavelength (fields "Start λ"/"Stop λ" or
  "EEGS wavelength"; else the laser's shortest), at the finest dispersion that shows them;
* the panel's fields "Energy offset (eV)" and "Dispersion (eV/channel)" and its "Apply" button.

A refused window (a dispersion that is no preset, an offset the drift tube cannot reach, edges no
preset covers) leaves the spectrometer as it was and says why in the panel's status area. The
buttons are disabled while a workflow panel runs. The same controls exist for scripts as
``stem_controller`` names (``EELS_MagneticShift_Offset``, ``EELS_EnergyOffset_eV``,
``EELS_Dispersion_eVperChannel``: :mod:`nionswift_plugin.lumiere.stem_values`).
"""
from __future__ import annotations

import typing

from nion.swift import Panel, Workspace
from nion.ui import Declarative
from nion.utils import Model

from analysis.sidebands import photon_energy_eV
from detectors.calibration import EnergyCalibration
from detectors.common.errors import describe_error
from drift_eels.parameters import DEFAULT_EDGES
from nionswift_plugin.lumiere.workflow_panel import Field, FieldModels, field_widget, text_area

PANEL_ID = "lumiere-eels-spectrometer-panel"
TITLE = "EELS Spectrometer"
#: sidebands shown on each side of the zero-loss peak by "EEGS" when the panel has no orders field
DEFAULT_EEGS_ORDERS = 2


def _instrument() -> typing.Any:
    """The plug-in's instrument, or None when the plug-in is not running."""
    from nionswift_plugin.lumiere.panels import _instrument as registered

    try:
        return registered()
    except RuntimeError:
        return None


def window_text(calibration: EnergyCalibration) -> str:
    """``"−20.0 … 82.3 eV, 0.100 eV/ch"``: the losses at the centres of the first and last channel."""
    first = calibration.energy_offset_eV
    last = first + (calibration.channels - 1) * calibration.dispersion_eV_per_channel
    sign = lambda v: f"{v:.1f}".replace("-", "−")  # noqa: E731 - the typographic minus
    return f"{sign(first)} … {sign(last)} eV, {calibration.dispersion_eV_per_channel:.3f} eV/ch"


class SpectrometerRow:
    """The "Spectrometer" row of a panel: the window now and the preset buttons.

    Attaches to ``handler`` (what the declarative bindings and events name): the model
    ``spectrometer_window`` (the window text) and the click handlers
    ``spectrometer_low_loss_clicked``, ``spectrometer_core_loss_clicked``,
    ``spectrometer_eegs_clicked``. Reads the handler's field models (``handler.models``:
    ``edges``, ``start_nm``/``stop_nm``/``eegs_wavelength_nm``, ``eegs_orders``) when it has them,
    reports in ``handler.status`` and refuses while ``handler.running`` is true. ``on_change`` is
    called (UI thread) after the panel changed the window.
    """

    def __init__(self, handler: typing.Any, on_change: typing.Callable[[], None] | None = None) -> None:
        self.handler = handler
        self.on_change = on_change
        self.window = Model.PropertyModel("(no instrument)")
        handler.spectrometer_window = self.window
        handler.spectrometer_low_loss_clicked = self.low_loss_clicked
        handler.spectrometer_core_loss_clicked = self.core_loss_clicked
        handler.spectrometer_eegs_clicked = self.eegs_clicked
        self._remove_listener: typing.Callable[[], None] | None = None
        instrument = _instrument()
        if instrument is not None:
            self.window.value = window_text(instrument.spectrometer)
            # the window follows whoever sets it (a script, another panel, Swift's acquisition panel)
            self._remove_listener = instrument.spectrometer.add_listener(self._calibration_changed)

    def widget(self, u: Declarative.DeclarativeUI) -> typing.Any:
        """Label "Spectrometer", the window, then the buttons "Low loss", "Core loss", "EEGS"."""
        enabled = {"enabled": "@binding(idle)"} if hasattr(self.handler, "idle") else {}
        buttons = [u.create_push_button(text=text, on_clicked=f"spectrometer_{name}_clicked", **enabled)
                   for text, name in (("Low loss", "low_loss"), ("Core loss", "core_loss"), ("EEGS", "eegs"))]
        return u.create_column(
            u.create_row(u.create_label(text="Spectrometer"), u.create_stretch(),
                         u.create_label(text="@binding(spectrometer_window.value)"), spacing=8),
            u.create_row(*buttons, u.create_stretch(), spacing=8), spacing=2)

    # -- what the panel asks for -------------------------------------------------------------------
    def _field(self, name: str) -> str | None:
        model = getattr(self.handler, "models", {}).get(name)
        return model.value if model is not None else None

    def edges(self) -> list[str]:
        """The panel's edges ("Sc L2,3; Dy M4,5"), else the drift-corrected SI's defaults."""
        text = self._field("edges")
        if text is None:
            return list(DEFAULT_EDGES)
        edges = [e.strip() for e in text.split(";") if e.strip()]
        if not edges:
            raise ValueError(f"Edges = {text!r}: give edge names separated by ';' such as 'Sc L2,3; Dy M4,5'")
        return edges

    def eegs_parameters(self, instrument: typing.Any) -> tuple[float, int]:
        """(photon energy eV, orders): the shortest wavelength of the panel (its sidebands reach
        furthest), else the laser's shortest; the panel's orders, else :data:`DEFAULT_EEGS_ORDERS`."""
        wavelengths = []
        for name, label in (("start_nm", "Start λ"), ("stop_nm", "Stop λ"), ("eegs_wavelength_nm", "EEGS wavelength")):
            text = self._field(name)
            if text is not None:
                wavelengths.append(Field(name, label, 0.0, float, "nm").parse(text))
        if not wavelengths:
            wavelengths = [float(instrument.config["laser"]["wavelength_min_nm"])]
        if not min(wavelengths) > 0:
            raise ValueError(f"wavelength {min(wavelengths)} nm must be > 0 nm")
        text = self._field("eegs_orders")
        orders = DEFAULT_EEGS_ORDERS if text is None else Field("eegs_orders", "EEGS orders", 0, int).parse(text)
        return float(photon_energy_eV(min(wavelengths))), orders

    # -- the buttons -------------------------------------------------------------------------------
    def low_loss_clicked(self, widget: typing.Any = None) -> None:
        self.apply("low loss", lambda s, n: s.low_loss(n))

    def core_loss_clicked(self, widget: typing.Any = None) -> None:
        self.apply("core loss", lambda s, n: s.core_loss(self.edges(), n),
                   lambda: f" for {', '.join(self.edges())}")

    def eegs_clicked(self, widget: typing.Any = None) -> None:
        def eegs(s: typing.Any, n: int) -> typing.Any:
            return s.eegs(*self.eegs_parameters(_instrument()), n)

        def what() -> str:
            hw, orders = self.eegs_parameters(_instrument())
            return f" for ±{orders} orders of {hw:.3f} eV"

        self.apply("EEGS", eegs, what)

    def apply(self, name: str, action: typing.Callable[[typing.Any, int], typing.Any],
              what: typing.Callable[[], str] = lambda: "") -> bool:
        """Run ``action(spectrometer, channels)``; report the window or why it was refused."""
        running = getattr(self.handler, "running", None)
        if running is not None and running.value:
            self.report("Spectrometer not changed: a run is in progress (abort it first).")
            return False
        instrument = _instrument()
        if instrument is None:
            self.report("Spectrometer not changed: the Lumière instrument is not running.")
            return False
        try:
            setting = action(instrument.eels_spectrometer, instrument.spectrometer.channels)
            detail = what()
        except Exception as e:  # noqa: BLE001 - a refused window or a silent unit: one line in the panel
            self.report(f"Spectrometer not changed ({name}): {describe_error(e)}")
            return False
        self.refresh()
        if self.on_change is not None:
            self.on_change()
        preset = f" (preset {setting.preset})" if getattr(setting, "preset", "") else ""
        self.report(f"Spectrometer: {name}{detail}: {self.window.value}{preset}.")
        return True

    def report(self, text: str) -> None:
        status = getattr(self.handler, "status", None)
        if status is not None:
            status.value = text

    def refresh(self) -> None:
        instrument = _instrument()
        if instrument is not None:
            self.window.value = window_text(instrument.spectrometer)

    def _calibration_changed(self, calibration: EnergyCalibration) -> None:
        text = window_text(calibration)  # any thread: the model is set on the UI thread
        document_controller = getattr(self.handler, "document_controller", None)
        try:
            document_controller.queue_task(lambda: setattr(self.window, "value", text))
        except Exception:  # noqa: BLE001 - a panel closed without closing its handler: stop listening
            self.close()

    def close(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None


#: the panel's fields: the window by hand, and what its "Core loss" and "EEGS" buttons show
FIELDS = (
    Field("energy_offset_eV", "Energy offset", -20.0, float, "eV"),
    Field("dispersion_eV_per_channel", "Dispersion", 0.1, float, "eV/channel"),
    Field("edges", "Edges (; separated)", "Sc L2,3; Dy M4,5; O K", str),
    Field("eegs_wavelength_nm", "EEGS wavelength", 590.0, float, "nm"),
    Field("eegs_orders", "EEGS orders", DEFAULT_EEGS_ORDERS, int),
)


class SpectrometerHandler(Declarative.Handler):
    """Panel "EELS Spectrometer": energy offset and dispersion (button "Apply"), the window now
    and the presets (:class:`SpectrometerRow`), a status area."""

    def __init__(self, document_controller: typing.Any) -> None:
        super().__init__()
        self.document_controller = document_controller
        self.field_models = FieldModels(self, FIELDS)
        self.models = self.field_models.models
        self.status = Model.PropertyModel("")
        self.row = SpectrometerRow(self, on_change=self.read_fields)  # the offset the DAC step allows
        self.read_fields()
        u = Declarative.DeclarativeUI()
        self.ui_view = u.create_column(
            *(field_widget(u, f) for f in FIELDS[:2]),
            u.create_row(u.create_push_button(text="Apply", on_clicked="apply_clicked"), u.create_stretch(),
                         spacing=8),
            self.row.widget(u), *(field_widget(u, f) for f in FIELDS[2:]),
            text_area(u, "status.value"), u.create_stretch(), spacing=6, margin=8)

    def read_fields(self) -> None:
        """Offset and dispersion fields from the instrument's calibration."""
        instrument = _instrument()
        if instrument is not None:
            cal = instrument.spectrometer
            self.models["energy_offset_eV"].value = f"{cal.energy_offset_eV:.2f}"
            self.models["dispersion_eV_per_channel"].value = f"{cal.dispersion_eV_per_channel:g}"

    def apply_clicked(self, widget: typing.Any = None) -> None:
        try:
            p = self.field_models.parse(FIELDS[:2])
        except ValueError as e:
            self.status.value = f"Spectrometer not changed: {e}"
            return
        self.row.apply("offset and dispersion",
                       lambda s, n: s.set_window(p["energy_offset_eV"], p["dispersion_eV_per_channel"]))

    def close(self) -> None:
        self.row.close()
        self.field_models.close()
        super().close()


class SpectrometerPanel(Panel.Panel):
    def __init__(self, document_controller: typing.Any, panel_id: str, properties: typing.Mapping[str, typing.Any]) -> None:
        super().__init__(document_controller, panel_id, TITLE)
        self.handler = SpectrometerHandler(document_controller)
        self.widget = Declarative.DeclarativeWidget(document_controller.ui, document_controller.event_loop, self.handler)

    def close(self) -> None:
        self.handler.close()
        super().close()


def register() -> None:
    Workspace.WorkspaceManager().register_panel(SpectrometerPanel, PANEL_ID, TITLE, ["left", "right"], "right", {})


def unregister() -> None:
    Workspace.WorkspaceManager().unregister_panel(PANEL_ID)
