"""The "Lumière" menu of Swift's document windows: one item per computation.

Each item acts on the selected data item (the *target* of the window), builds its computation
with the ``attach_*`` function of the computation module (the same function scripts call), and
shows the result. A wrong selection (a 2-D image where an SI is needed, an unknown edge) is
reported in a message box with one clear sentence.
"""
from __future__ import annotations

import typing

from nion.swift import Facade

from nionswift_plugin.lumiere import computations_eels
from nionswift_plugin.lumiere.computations_common import InputError

Action = typing.Callable[[typing.Any, typing.Any], typing.Any]  # (api, window) -> anything


def _api() -> typing.Any:
    return Facade.get_api("~1.0", "~1.0")


def _target(window: typing.Any) -> typing.Any:
    item = window.target_data_item
    if item is None:
        raise InputError("select a data item first")
    return item


def _report(window: typing.Any, message: str) -> None:
    window.show_confirmation_message_box(message, lambda: None, accepted_text="OK")


def run_action(document_controller: typing.Any, action: Action) -> typing.Any:
    """Run ``action(api, window)``; an InputError becomes a message to the user. Returns the
    action's result (None after an error)."""
    window = Facade.DocumentWindow(document_controller)
    try:
        return action(_api(), window)
    except (InputError, ValueError) as e:
        _report(window, f"Lumière: {e}")
        return None


def elemental_map_action(edge: str | None = None) -> Action:
    """Menu action: ask for an edge name (unless given) and attach the elemental map."""

    def action(api: typing.Any, window: typing.Any) -> typing.Any:
        si = _target(window)
        computations_eels.require_si(si)
        if edge is not None:
            return computations_eels.attach_elemental_map(api, si, edge, window=window)

        def accepted(text: str) -> None:
            try:
                computations_eels.attach_elemental_map(api, si, text, window=window)
            except (InputError, ValueError) as e:
                _report(window, f"Lumière: {e}")

        window.show_get_string_message_box("Lumière elemental map – edge (e.g. Sc L2,3, O K, Dy M4,5):",
                                           "Sc L2,3", accepted)
        return None

    return action


def _thickness(api: typing.Any, window: typing.Any) -> typing.Any:
    return computations_eels.attach_thickness_map(api, _target(window), window=window)


def _align_zlp(api: typing.Any, window: typing.Any) -> typing.Any:
    return computations_eels.attach_zlp_alignment(api, _target(window), window=window)


def _si_sum(api: typing.Any, window: typing.Any) -> typing.Any:
    si = _target(window)
    computations_eels.require_si(si)
    display = window.target_display
    rects = [g for g in (display.selected_graphics if display else []) if g.graphic_type == "rect-graphic"]
    made = computations_eels.attach_si_sum(api, si, rects[0] if rects else None)
    window.display_data_item(made["spectrum"])
    return made


def menu_items() -> list[tuple[str, Action]]:
    """(title, action) of every item of the Lumière menu, in order (None title = separator)."""
    items: list[tuple[str, Action]] = [
        ("Summed Spectrum of SI (selected rectangle)", _si_sum),
        ("Elemental Map (edge by name)…", elemental_map_action()),
        ("Thickness Map t/λ", _thickness),
        ("Align ZLP of SI", _align_zlp),
    ]
    for module_name in ("computations_eegs", "computations_drift", "computations_decomposition", "computations_quant"):
        try:
            module = __import__(f"nionswift_plugin.lumiere.{module_name}", fromlist=["MENU_ITEMS"])
        except ImportError:
            continue
        items.extend(getattr(module, "MENU_ITEMS", []))
    return items


def build_menus(document_controller: typing.Any) -> None:
    """Menu handler (``Application.register_menu_handler``): adds the "Lumière" menu."""
    menu = document_controller.get_or_create_menu("lumiere_menu", "Lumière", "window_menu")
    for title, action in menu_items():
        menu.add_menu_item(title, lambda a=action: run_action(document_controller, a))
