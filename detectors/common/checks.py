"""Input checks shared by the CLI, the workflow parameter classes, scripts and the panels.

Every check raises :class:`~detectors.common.errors.ParameterError` (a ``ValueError``) whose
message names the parameter, the bad value and what is allowed, e.g.
``"fov_nm = inf nm is not allowed; expected a finite number > 0 nm"``, before anything moves.
Non-finite numbers (inf, nan) are refused everywhere: an infinite field of view or dwell time
otherwise turns into endless loops or NaN positions sent to the hardware.

Memory: :func:`check_memory` compares the bytes that arrays of given shapes and dtypes will take
with the memory available now (:func:`available_memory_bytes`), so a size that cannot fit is
refused up front instead of failing (or swapping) in the middle of an acquisition.
"""
from __future__ import annotations

import math
import os
import sys
import typing

import numpy as np

from .errors import ParameterError

#: share of the available memory an acquisition may plan to use: the rest is for Python, the
#: HDF5 chunk cache, plots and the other programs on the machine
MEMORY_HEADROOM = 0.8


def _number(name: str, value: typing.Any, unit: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} = {value!r} is not a number{_unit(unit)}") from None


def _unit(unit: str) -> str:
    return f" (unit {unit})" if unit else ""


def _u(unit: str) -> str:
    return f" {unit}" if unit else ""


def check_finite(name: str, value: typing.Any, unit: str = "") -> float:
    """``float(value)`` if finite, else :class:`ParameterError` naming ``name`` and the value."""
    v = _number(name, value, unit)
    if not math.isfinite(v):
        raise ParameterError(f"{name} = {v}{_u(unit)} is not allowed; expected a finite number{_u(unit)}")
    return v


def check_positive(name: str, value: typing.Any, unit: str = "", *, maximum: float | None = None) -> float:
    """``float(value)`` if finite and ``> 0`` (and ``≤ maximum`` if given)."""
    v = _number(name, value, unit)
    top = f" and ≤ {maximum:g}{_u(unit)}" if maximum is not None else ""
    if not (math.isfinite(v) and v > 0 and (maximum is None or v <= maximum)):
        raise ParameterError(f"{name} = {v}{_u(unit)} is not allowed; expected a finite number > 0{_u(unit)}{top}")
    return v


def check_non_negative(name: str, value: typing.Any, unit: str = "") -> float:
    """``float(value)`` if finite and ``≥ 0``."""
    v = _number(name, value, unit)
    if not (math.isfinite(v) and v >= 0):
        raise ParameterError(f"{name} = {v}{_u(unit)} is not allowed; expected a finite number ≥ 0{_u(unit)}")
    return v


def check_fraction(name: str, value: typing.Any) -> float:
    """``float(value)`` if in (0, 1]."""
    v = _number(name, value, "")
    if not (math.isfinite(v) and 0 < v <= 1):
        raise ParameterError(f"{name} = {v} is not allowed; expected a fraction in (0, 1]")
    return v


def check_int(name: str, value: typing.Any, low: int = 1, high: int | None = None) -> int:
    """``int(value)`` if it is an integer (bools refused) in ``[low, high]``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and math.isfinite(value) and value == int(value):
        value, ok = int(value), True
    allowed = f"an integer in [{low}, {high}]" if high is not None else f"an integer ≥ {low}"
    if not ok or not (low <= int(value) and (high is None or int(value) <= high)):
        raise ParameterError(f"{name} = {value!r} is not allowed; expected {allowed}")
    return int(value)


def check_finite_pair(name: str, value: typing.Sequence[typing.Any], unit: str = "") -> tuple[float, float]:
    """Two finite numbers (a position (y, x))."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name} = {value!r} is not allowed; expected two numbers (y, x){_unit(unit)}") from None
    if not all(math.isfinite(_number(name, v, unit)) for v in (a, b)):
        raise ParameterError(f"{name} = ({float(a)}, {float(b)}){_u(unit)} is not allowed; "
                             "expected two finite numbers")
    return float(a), float(b)


def available_memory_bytes() -> int | None:
    """Memory available to a new allocation now, bytes (``None`` if the platform does not say).

    Linux: ``MemAvailable`` of ``/proc/meminfo`` (counts reclaimable caches), else
    ``os.sysconf`` free pages; Windows: ``GlobalMemoryStatusEx().ullAvailPhys``; macOS and others:
    ``os.sysconf`` where it exists.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform == "win32":
        return _windows_available_bytes()
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _windows_available_bytes() -> int | None:
    import ctypes

    class MemoryStatusEx(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    try:
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullAvailPhys)
    except (AttributeError, OSError):
        pass
    return None


def array_bytes(shape: typing.Sequence[int], dtype: typing.Any = np.float32) -> int:
    """Bytes of an array of ``shape`` and ``dtype`` (Python ints: no overflow for huge shapes)."""
    n = 1
    for s in shape:
        n *= int(s)
    return n * np.dtype(dtype).itemsize


def format_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(what: str, arrays: typing.Iterable[tuple[str, typing.Sequence[int], typing.Any]],
                 available_bytes: int | None = None) -> int:
    """Refuse (``ParameterError``) a plan whose arrays do not fit the memory available.

    Parameters
    ----------
    what : str
        The parameter(s) that set the sizes, with their values, e.g. ``"size_px = 100000"``.
    arrays : iterable of (label, shape, dtype)
        The arrays the acquisition will hold at once, e.g. ``("SI cube", (h, w, E), "float32")``.
    available_bytes : int, optional
        Default :func:`available_memory_bytes`; with neither, only the arrays' sizes are
        computed (no refusal).

    Returns
    -------
    int
        The planned bytes.
    """
    arrays = list(arrays)
    need = sum(array_bytes(shape, dtype) for _, shape, dtype in arrays)
    have = available_memory_bytes() if available_bytes is None else available_bytes
    if have is not None and need > MEMORY_HEADROOM * have:
        parts = ", ".join(f"{label} {'×'.join(str(int(s)) for s in shape)} {np.dtype(dtype).name}"
                          for label, shape, dtype in arrays)
        raise ParameterError(f"{what} is not allowed: it needs {format_bytes(need)} of memory ({parts}), more "
                             f"than {MEMORY_HEADROOM:.0%} of the {format_bytes(have)} available; choose "
                             "smaller sizes")
    return need
