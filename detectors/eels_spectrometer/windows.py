"""Energy windows for experiments, as pure functions: low loss, core loss, EEGS.

Each returns ``(energy_offset_eV, dispersion_eV_per_channel)`` — the finest preset dispersion
whose window of ``n_channels`` covers the experiment's loss interval, and an offset the drift tube
reaches that centres the interval where it can (:func:`~.presets.plan_window`). The driver's
:meth:`~.driver.EELSSpectrometerDriver.low_loss` / ``core_loss`` / ``eegs`` set what these return;
a Swift panel can show them before anything is sent. Nothing here talks to a device.

``dispersions_eV`` are the presets' dispersions at the high tension in use (default: those of
``config``'s table at ``config.high_tension_kV``); the reachable offsets follow from the drift
tube's range and the ZLP channel of ``config`` (:func:`offset_range_eV`).
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

from analysis.eels.edges import lookup_edge
from analysis.eels.maps import default_windows
from detectors.common.errors import LimitError, check_range

from .config import EELSSpectrometerConfig
from .presets import plan_window

#: photon energies an EEGS window is planned for (visible to near-IR lasers and beyond), eV
PHOTON_ENERGY_RANGE_EV = (0.1, 10.0)
MAX_EEGS_ORDERS = 50


def offset_range_eV(config: EELSSpectrometerConfig, dispersion_eV_per_channel: float) -> tuple[float, float]:
    """Lowest and highest energy offset (loss at channel 0, eV) the drift tube reaches at a dispersion:
    ``V − zlp_channel · dispersion`` for V at the ends of ``drift_tube_range_V``."""
    lo, hi = config.drift_tube_range_V
    zero = config.zlp_channel * dispersion_eV_per_channel
    return lo - zero, hi - zero


def _dispersions(config: EELSSpectrometerConfig, dispersions_eV: Sequence[float] | None) -> tuple[float, ...]:
    if dispersions_eV is not None:
        return tuple(dispersions_eV)
    return tuple(sorted({p.dispersion_eV_per_channel for p in config.presets().presets(config.high_tension_kV)}))


def window_for(low_eV: float, high_eV: float, n_channels: int, config: EELSSpectrometerConfig | None = None,
               dispersions_eV: Sequence[float] | None = None) -> tuple[float, float]:
    """``(energy_offset_eV, dispersion_eV_per_channel)`` showing the losses ``low_eV``–``high_eV``;
    ``LimitError`` naming the interval and the widest window if no preset shows it."""
    config = config or EELSSpectrometerConfig()
    d, offset = plan_window(low_eV, high_eV, n_channels, _dispersions(config, dispersions_eV),
                            lambda disp: offset_range_eV(config, disp))
    return offset, d


def low_loss_window(n_channels: int, config: EELSSpectrometerConfig | None = None,
                    dispersions_eV: Sequence[float] | None = None) -> tuple[float, float]:
    """The zero-loss peak and the plasmons: ``config.low_loss_window_eV`` (default −5 … 60 eV)."""
    config = config or EELSSpectrometerConfig()
    return window_for(*config.low_loss_window_eV, n_channels, config, dispersions_eV)


def core_loss_interval_eV(edges: Sequence[str | float], pre_edge_eV: float, post_edge_eV: float
                          ) -> tuple[float, float]:
    """Loss interval showing every edge: from ``pre_edge_eV`` before the lowest onset (and, for a
    named edge, its default background-fit window, [0.93, 0.98]·onset, so a map of it can be
    computed) to ``post_edge_eV`` beyond the highest sub-shell onset (Dy M4,5: M4 at 1332 eV).

    ``edges`` are names (``"Sc L2,3"``, see :func:`analysis.eels.lookup_edge`) or onsets in eV.
    """
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) or len(edges) == 0:
        raise LimitError(f"edges = {edges!r} is not allowed; expected a non-empty list of edge names "
                         "(such as 'Sc L2,3') or onsets > 0 eV")
    lows, highs = [], []
    for edge in edges:
        if isinstance(edge, str):
            info = lookup_edge(edge)  # ValueError naming the edge and listing the known ones
            fit_window, _ = default_windows(info.onset_eV)
            lows.append(min(info.onset_eV - pre_edge_eV, fit_window[0]))
            highs.append(max(onset for _, onset in info.components) + post_edge_eV)
        elif isinstance(edge, numbers.Real) and not isinstance(edge, bool) and math.isfinite(edge) and edge > 0:
            lows.append(float(edge) - pre_edge_eV)
            highs.append(float(edge) + post_edge_eV)
        else:
            raise LimitError(f"edge {edge!r} in edges = {list(edges)!r} is not allowed; expected an edge name "
                             "(such as 'Sc L2,3') or an onset > 0 eV")
    return min(lows), max(highs)


def core_loss_window(edges: Sequence[str | float], n_channels: int, config: EELSSpectrometerConfig | None = None,
                     dispersions_eV: Sequence[float] | None = None) -> tuple[float, float]:
    """Every edge with its pre-edge background and near-edge structure (:func:`core_loss_interval_eV`
    with ``config.pre_edge_eV``/``post_edge_eV``). Sc L2,3 + Dy M4,5 + O K on 1024 channels:
    1 eV/channel from about 366 eV."""
    config = config or EELSSpectrometerConfig()
    return window_for(*core_loss_interval_eV(edges, config.pre_edge_eV, config.post_edge_eV),
                      n_channels, config, dispersions_eV)


def eegs_interval_eV(photon_energy_eV: float, orders: int) -> tuple[float, float]:
    """±(orders + ½)·ħω: the gain and loss sidebands −N … N with half an order of margin."""
    hw = check_range("photon energy", photon_energy_eV, *PHOTON_ENERGY_RANGE_EV, "eV")
    if isinstance(orders, bool) or not isinstance(orders, numbers.Integral) or not 1 <= orders <= MAX_EEGS_ORDERS:
        raise LimitError(f"orders = {orders!r} is not allowed; expected an integer 1–{MAX_EEGS_ORDERS}")
    half = (int(orders) + 0.5) * hw
    return -half, half


def eegs_window(photon_energy_eV: float, orders: int, n_channels: int, config: EELSSpectrometerConfig | None = None,
                dispersions_eV: Sequence[float] | None = None) -> tuple[float, float]:
    """The finest dispersion showing the sidebands ±1 … ±``orders`` of ``photon_energy_eV`` around
    the zero-loss peak. 2.1 eV, 3 orders, 1024 channels, built-in presets: 0.05 eV/channel (at
    0.025 the drift tube, ≥ 0 V, cannot bring −7.35 eV into the window)."""
    return window_for(*eegs_interval_eV(photon_energy_eV, orders), n_channels, config, dispersions_eV)
