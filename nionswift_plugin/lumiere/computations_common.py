"""Shared plumbing of Lumière's Swift computations: input checks, graphics → physical windows,
calibrated outputs, and one-line error messages.

A registered computation (``Symbolic.register_computation_type``) has ``execute(**inputs)`` run
on a worker thread and ``commit()`` on the UI thread. Swift shows ``str(exception)`` of an
exception raised in ``execute`` as the computation's status (``"Error: …"``) and keeps the last
good outputs. :func:`guarded` turns every failure into a :class:`InputError` with a clear,
single-line message, so the status never shows a traceback and never an empty text.

Conventions (same as :mod:`analysis.eels.axis`): the energy of channel ``k`` is
``offset + scale · k`` (Swift's calibration); a Swift interval graphic at normalised position
``p`` on an ``n``-channel spectrum is at energy ``offset + scale · p · n``, i.e. exactly the value
Swift's inspector shows for it.
"""
from __future__ import annotations

import functools
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

__all__ = ["InputError", "guarded", "xdata_of", "require_si", "require_spectrum",
           "require_image_sequence", "energy_axis_eV", "interval_eV", "interval_position",
           "rect_slices", "nav_xdata", "spectrum_xdata", "title_of"]


class InputError(ValueError):
    """A wrong input of a computation; its text is what the user reads in the status."""


F = typing.TypeVar("F", bound=typing.Callable[..., typing.Any])


def guarded(label: str) -> typing.Callable[[F], F]:
    """Decorate ``execute``: any exception becomes ``InputError("<label>: <message>")``.

    ValueErrors (our analysis functions' way of naming a bad input) keep their message; anything
    else is reported with its type, on one line, without a traceback.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
            try:
                return fn(*args, **kwargs)
            except InputError as e:
                raise InputError(f"{label}: {e}") from None
            except ValueError as e:
                raise InputError(f"{label}: {e}") from None
            except Exception as e:  # the status shows one line, never a traceback
                text = str(e).splitlines()[0] if str(e) else "no details"
                raise InputError(f"{label}: unexpected {type(e).__name__} ({text})") from None

        return typing.cast(F, wrapper)

    return decorate


def title_of(data_item: typing.Any) -> str:
    """The data item's title for messages (``'untitled'`` when it has none)."""
    title = getattr(data_item, "title", "") or ""
    if not title:  # a computation input arrives as a Facade DataSource (a snapshot of the item)
        source = getattr(data_item, "_data_source", None)
        title = getattr(getattr(source, "_DataSource__data_item", None), "title", "") or ""
    return f"'{title}'" if title else "the data item"


def xdata_of(data_item: typing.Any, what: str) -> DataAndMetadata.DataAndMetadata:
    """xdata of a Facade data item (or display data channel); InputError if there is none."""
    if data_item is None:
        raise InputError(f"no {what} given")
    xdata = getattr(data_item, "xdata", None)
    if xdata is None:
        raise InputError(f"{what} {title_of(data_item)} holds no data")
    return typing.cast(DataAndMetadata.DataAndMetadata, xdata)


def _describe(xdata: DataAndMetadata.DataAndMetadata) -> str:
    shape = "×".join(str(s) for s in xdata.data_shape)
    if xdata.is_sequence and xdata.datum_dimension_count == 2:
        return f"an image sequence ({shape})"
    if xdata.collection_dimension_count == 0 and xdata.datum_dimension_count == 2:
        return f"a 2-D image ({shape})"
    if xdata.collection_dimension_count == 0 and xdata.datum_dimension_count == 1:
        return f"a single spectrum ({shape})"
    return f"{len(xdata.data_shape)}-D data ({shape})"


def require_si(data_item: typing.Any, *, units: str = "eV") -> DataAndMetadata.DataAndMetadata:
    """The xdata of a spectrum image: 2 collection axes (y, x) and 1 datum axis in ``units``."""
    xdata = xdata_of(data_item, "spectrum image")
    if not (xdata.collection_dimension_count == 2 and xdata.datum_dimension_count == 1 and not xdata.is_sequence):
        raise InputError(f"{title_of(data_item)} is {_describe(xdata)}; a spectrum image "
                         f"(y, x, {units}) is needed")
    got = xdata.dimensional_calibrations[-1].units
    if got != units:
        raise InputError(f"the spectral axis of {title_of(data_item)} is in {got or 'no units'!r}, "
                         f"not {units}")
    return xdata


def require_spectrum(data_item: typing.Any) -> DataAndMetadata.DataAndMetadata:
    """The xdata of a 1-D spectrum in eV."""
    xdata = xdata_of(data_item, "spectrum")
    if not (len(xdata.data_shape) == 1 and xdata.datum_dimension_count == 1):
        raise InputError(f"{title_of(data_item)} is {_describe(xdata)}; a 1-D spectrum in eV is needed")
    if xdata.dimensional_calibrations[-1].units != "eV":
        raise InputError(f"the axis of {title_of(data_item)} is not in eV")
    return xdata


def require_image_sequence(data_item: typing.Any) -> DataAndMetadata.DataAndMetadata:
    """The xdata of a stack of 2-D images (a sequence, or any 3-D array read as one)."""
    xdata = xdata_of(data_item, "image sequence")
    if len(xdata.data_shape) != 3 or xdata.datum_dimension_count == 1:
        raise InputError(f"{title_of(data_item)} is {_describe(xdata)}; an image sequence "
                         "(frame, y, x) is needed")
    if xdata.data_shape[0] < 2:
        raise InputError(f"{title_of(data_item)} has {xdata.data_shape[0]} frame; at least 2 are needed")
    return xdata


def energy_axis_eV(xdata: DataAndMetadata.DataAndMetadata) -> np.ndarray:
    """Channel energies ``offset + scale · k`` of the last axis (Swift's calibration)."""
    cal = xdata.dimensional_calibrations[-1]
    if not cal.scale > 0:
        raise InputError(f"the energy axis has a non-positive dispersion ({cal.scale} {cal.units}/channel)")
    return cal.offset + cal.scale * np.arange(xdata.data_shape[-1], dtype=np.float64)


def interval_eV(graphic: typing.Any, xdata: DataAndMetadata.DataAndMetadata, what: str) -> tuple[float, float]:
    """Calibrated (lo, hi) of an interval graphic on a spectrum (or SI) with ``xdata``'s last axis."""
    if getattr(graphic, "graphic_type", "interval-graphic") != "interval-graphic":
        raise InputError(f"the {what} must be an interval graphic, got a {graphic.graphic_type}")
    a, b = sorted(float(v) for v in graphic.interval)
    n = xdata.data_shape[-1]
    cal = xdata.dimensional_calibrations[-1]
    lo, hi = cal.offset + cal.scale * a * n, cal.offset + cal.scale * b * n
    if not hi - lo > 0.5 * abs(cal.scale):
        raise InputError(f"the {what} interval [{lo:.4g}, {hi:.4g}] {cal.units} is empty "
                         "(narrower than half a channel)")
    return lo, hi


def interval_position(xdata: DataAndMetadata.DataAndMetadata, value: float) -> float:
    """Normalised graphic position of a calibrated value on the last axis (inverse of
    :func:`interval_eV`)."""
    cal = xdata.dimensional_calibrations[-1]
    return (value - cal.offset) / cal.scale / xdata.data_shape[-1]


def rect_slices(graphic: typing.Any, shape: tuple[int, int], what: str = "region") -> tuple[slice, slice]:
    """Pixel slices (rows, columns) covered by a rectangle graphic on an image of ``shape``.

    A pixel belongs to the region when its centre is inside the rectangle. InputError when no
    pixel does (an empty region) or the graphic is not a rectangle.
    """
    if getattr(graphic, "graphic_type", "rect-graphic") != "rect-graphic":
        raise InputError(f"the {what} must be a rectangle graphic, got a {graphic.graphic_type}")
    (top, left), (height, width) = graphic.bounds
    if height < 0:
        top, height = top + height, -height
    if width < 0:
        left, width = left + width, -width
    ny, nx = shape
    y0, y1 = int(np.ceil(top * ny - 0.5)), int(np.ceil((top + height) * ny - 0.5))
    x0, x1 = int(np.ceil(left * nx - 0.5)), int(np.ceil((left + width) * nx - 0.5))
    y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, ny), min(x1, nx)
    if y1 <= y0 or x1 <= x0:
        raise InputError(f"the {what} is empty: it covers no pixel centre of the {ny}×{nx} scan")
    return slice(y0, y1), slice(x0, x1)


def nav_xdata(data: np.ndarray, si_xdata: DataAndMetadata.DataAndMetadata, *, units: str = "",
              metadata: dict | None = None,
              slices: tuple[slice, slice] | None = None) -> DataAndMetadata.DataAndMetadata:
    """A map over the SI's scan, with its (y, x) calibrations in nm (shifted to a sub-region)."""
    cals = list(si_xdata.dimensional_calibrations[:2])
    if slices is not None:
        cals = [Calibration.Calibration(c.offset + c.scale * (s.start or 0), c.scale, c.units)
                for c, s in zip(cals, slices)]
    return DataAndMetadata.new_data_and_metadata(
        np.asarray(data, np.float32), intensity_calibration=Calibration.Calibration(units=units),
        dimensional_calibrations=cals, metadata={"lumiere": dict(metadata or {})})


def spectrum_xdata(data: np.ndarray, offset_eV: float, scale_eV: float, *, units: str = "counts",
                   metadata: dict | None = None) -> DataAndMetadata.DataAndMetadata:
    """A 1-D spectrum calibrated in eV."""
    return DataAndMetadata.new_data_and_metadata(
        np.asarray(data, np.float32), intensity_calibration=Calibration.Calibration(units=units),
        dimensional_calibrations=[Calibration.Calibration(offset_eV, scale_eV, "eV")],
        metadata={"lumiere": dict(metadata or {})},
        data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 1))
