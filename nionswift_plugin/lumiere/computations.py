"""Registration of every Lumière computation with Swift, and the "Lumière" menu.

:func:`register_computations` is called once from the plug-in's ``run()``. Computation types are
registered with ``Symbolic.register_computation_type`` (what ``api.register_computation_type``
does), so data items saved with a Lumière computation recompute when the project is reopened.
"""
from __future__ import annotations

import typing

from nion.swift.model import Symbolic

from nionswift_plugin.lumiere import computations_eels

_menu_handler: typing.Callable[..., None] | None = None


def computation_types() -> dict[str, type]:
    """Every Lumière computation id → class (EELS, EEGS, drift, decomposition when available)."""
    types: dict[str, type] = dict(computations_eels.COMPUTATIONS)
    for module_name in ("computations_eegs", "computations_drift", "computations_decomposition", "computations_quant"):
        try:
            module = __import__(f"nionswift_plugin.lumiere.{module_name}", fromlist=["COMPUTATIONS"])
        except ImportError:  # an optional part whose analysis has not landed
            continue
        types.update(getattr(module, "COMPUTATIONS", {}))
    return types


def register_computations() -> None:
    """Register the computation types and, in the GUI, the "Lumière" menu."""
    global _menu_handler
    for computation_id, cls in computation_types().items():
        Symbolic.register_computation_type(computation_id, typing.cast(typing.Any, cls))
    from nion.swift import Application

    app = getattr(Application, "app", None)
    if app is not None and _menu_handler is None:
        from nionswift_plugin.lumiere import menus

        _menu_handler = app.register_menu_handler(menus.build_menus)


def unregister_computations() -> None:
    """Remove the menu handler (the computation types stay known, as for every Swift plug-in)."""
    global _menu_handler
    from nion.swift import Application

    app = getattr(Application, "app", None)
    if app is not None and _menu_handler is not None:
        try:
            app.unregister_menu_handler(_menu_handler)
        except ValueError:
            pass
    _menu_handler = None
