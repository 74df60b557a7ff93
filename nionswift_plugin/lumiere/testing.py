"""Helpers for tests and scripts that drive Lumière inside a headless Swift document."""
from __future__ import annotations

import contextlib
import typing


@contextlib.contextmanager
def swift_document() -> typing.Iterator[tuple[typing.Any, typing.Any, typing.Any]]:
    """(api, document_controller, document_model) of a fresh in-memory Swift document."""
    from nion.swift import Facade
    from nion.swift.test import TestContext

    Facade.initialize()
    test_setup = TestContext.TestSetup()  # keep alive: it owns the event loop
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller_with_application()
        yield Facade.get_api("~1.0", "~1.0"), document_controller, document_controller.document_model
    del test_setup


def recompute(document_controller: typing.Any) -> None:
    """Run every pending computation and the UI-thread tasks they queued."""
    document_controller.document_model.recompute_all()
    document_controller.periodic()
