"""PCA / NMF of a spectrum image as a Swift registered computation.

Computation ``lumiere.decomposition``
    inputs: ``si`` (y, x, eV), ``method`` (``"pca"`` — streaming PCA with Poisson weighting — or
    ``"nmf"`` — online NMF), ``components`` (number k, default 4), optional ``signal_interval``
    (interval on the SI's spectra: decompose only that energy range).
    outputs: ``loadings`` (k spectra, eV; a 1-D collection of spectra) and ``scores``
    (k score maps, nm; a sequence over the component index).

The SI is fed one scan row at a time, the way the streaming classes of
:mod:`analysis.decomposition` run live during a scan; :func:`decompose_si` is the recipe,
callable without Swift.
"""
from __future__ import annotations

import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from analysis.decomposition import OnlineNMF, StreamingPCA
from nionswift_plugin.lumiere.computations_common import InputError, guarded, interval_eV, require_si

__all__ = ["COMPUTATIONS", "MENU_ITEMS", "Decomposition", "decompose_si", "attach_decomposition"]

NMF_PASSES = 2


def decompose_si(si: np.ndarray, method: str = "pca", n_components: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Loadings (k, n_E) and score maps (k, ny, nx) of an SI, streamed row by row.

    PCA: :class:`StreamingPCA` with Poisson (Keenan–Kotula) weighting, scores in the weighted
    space. NMF: :class:`OnlineNMF`, ``NMF_PASSES`` passes over the rows, scores by
    ``transform`` (non-negative).
    """
    si = np.asarray(si)
    ny, nx, n = si.shape
    method = (method or "pca").lower()
    if method == "pca":
        model: typing.Any = StreamingPCA(n_components, n, block_size=nx, poisson=True)
        passes = 1
    elif method == "nmf":
        model = OnlineNMF(n_components, n)
        passes = NMF_PASSES
    else:
        raise ValueError(f"method must be 'pca' or 'nmf', got {method!r}")
    for _ in range(passes):
        for row in si:
            model.partial_fit(np.asarray(row, np.float64))
    scores = model.transform(si.reshape(-1, n).astype(np.float64))
    return np.asarray(model.components_), scores.T.reshape(n_components, ny, nx)


class Decomposition:
    """PCA or NMF loadings and score maps of an SI."""

    label = "Lumière PCA / NMF"
    inputs = {"si": {"label": "Spectrum image"}, "method": {"label": "Method (pca | nmf)"},
              "components": {"label": "Components"}, "signal_interval": {"label": "Energy range"}}
    outputs = {"loadings": {"label": "Loadings"}, "scores": {"label": "Score maps"}}

    def __init__(self, computation: typing.Any, **kwargs: typing.Any) -> None:
        self.computation = computation
        self._out: dict[str, DataAndMetadata.DataAndMetadata] = {}

    @guarded("Decomposition")
    def execute(self, si: typing.Any, method: str = "pca", components: int = 4, signal_interval: typing.Any = None,
                **kwargs: typing.Any) -> None:
        xdata = require_si(si)
        ny, nx, n = xdata.data_shape
        k = int(components or 0)
        if not 1 <= k <= min(n, ny * nx, 32):
            raise InputError(f"components = {k}; it must be 1–{min(n, ny * nx, 32)}")
        cal = xdata.dimensional_calibrations[-1]
        channels = slice(None)
        if signal_interval is not None:
            lo, hi = interval_eV(signal_interval, xdata, "energy range")
            k0 = max(int(np.ceil((lo - cal.offset) / cal.scale)), 0)
            k1 = min(int(np.ceil((hi - cal.offset) / cal.scale)), n)  # centres in [lo, hi)
            if k1 - k0 < k:
                raise InputError(f"the energy range [{lo:.4g}, {hi:.4g}] eV holds {k1 - k0} channels; "
                                 f"at least {k} are needed")
            channels = slice(k0, k1)
        data = np.asarray(xdata.data)[..., channels]
        if not np.all(np.isfinite(data)):
            raise InputError("the SI holds NaN or infinite values (pixels not acquired yet?)")
        loadings, scores = decompose_si(data, method, k)
        start = channels.start or 0
        meta = {"method": (method or "pca").lower(), "components": k, "channels": [start, start + data.shape[-1]]}
        self._out = {
            "loadings": DataAndMetadata.new_data_and_metadata(
                loadings.astype(np.float32),
                dimensional_calibrations=[Calibration.Calibration(units=""),
                                          Calibration.Calibration(cal.offset + cal.scale * start, cal.scale, "eV")],
                metadata={"lumiere": meta}, data_descriptor=DataAndMetadata.DataDescriptor(False, 1, 1)),
            "scores": DataAndMetadata.new_data_and_metadata(
                scores.astype(np.float32),
                dimensional_calibrations=[Calibration.Calibration(units="")] + list(xdata.dimensional_calibrations[:2]),
                metadata={"lumiere": meta}, data_descriptor=DataAndMetadata.DataDescriptor(True, 0, 2))}

    def commit(self) -> None:
        for name, xdata in self._out.items():
            if self.computation.get_result(name) is not None:
                self.computation.set_referenced_xdata(name, xdata)


COMPUTATIONS: dict[str, type] = {"lumiere.decomposition": Decomposition}


def attach_decomposition(api: typing.Any, si: typing.Any, *, method: str = "pca", components: int = 4,
                         signal_interval: typing.Any = None, window: typing.Any = None) -> dict[str, typing.Any]:
    """Attach ``lumiere.decomposition`` to an SI data item. Returns the Facade objects."""
    require_si(si)
    library = api.library
    label = (method or "pca").upper()
    out = {"loadings": library.create_data_item(f"{si.title} {label} loadings"),
           "scores": library.create_data_item(f"{si.title} {label} score maps")}
    inputs: dict[str, typing.Any] = {"si": si, "method": method, "components": int(components)}
    if signal_interval is not None:
        inputs["signal_interval"] = signal_interval
    computation = library.create_computation("lumiere.decomposition", inputs=inputs, outputs=out)
    if window is not None:
        window.display_data_item(out["scores"])
    return {**out, "computation": computation}


def _menu(method: str) -> typing.Callable[[typing.Any, typing.Any], typing.Any]:
    def action(api: typing.Any, window: typing.Any) -> typing.Any:
        si = window.target_data_item
        if si is None:
            raise InputError("select a spectrum image first")
        return attach_decomposition(api, si, method=method, window=window)
    return action


MENU_ITEMS = [("PCA of SI (4 components)", _menu("pca")), ("NMF of SI (4 components)", _menu("nmf"))]
