"""PySide6 must not drain Python 3.11's reference count of None.

shiboken6 6.12.0 returns None without a reference from every ``void`` Qt method (−1 on
``sys.getrefcount(None)`` per call); Swift's painting makes thousands of them per repaint, so a
live session ends in "Fatal Python error: none_dealloc". setup.cfg excludes that release; this test
fails if the installed PySide6 has the bug (e.g. a later release with the same defect).
"""
from __future__ import annotations

import sys

from PySide6 import QtCore


def test_void_qt_methods_keep_the_refcount_of_none():
    point = QtCore.QPointF(0.0, 0.0)
    before = sys.getrefcount(None)
    for i in range(200):
        point.setX(float(i))
    after = sys.getrefcount(None)
    assert after - before > -50, f"None lost {before - after} references in 200 void calls (PySide6 bug)"
