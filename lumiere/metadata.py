"""Standard (HyperSpy) metadata of our results: ``Acquisition_instrument.TEM`` from the site file.

exspy's ``EELSModel`` reads the beam energy, the convergence and the collection semi-angles from
``metadata.Acquisition_instrument.TEM`` (``beam_energy`` kV, ``convergence_angle`` mrad,
``Detector.EELS.collection_angle`` mrad), so an SI file carrying them quantifies with no set-up.
Workflows put :func:`hyperspy_acquisition_instrument`'s dict into a result's metadata under
``"acquisition_instrument"``; :class:`lumiere.sinks.HDF5Sink` writes it where HyperSpy looks
(:func:`write_hyperspy_metadata`).
"""
from __future__ import annotations

import typing

__all__ = ["hyperspy_acquisition_instrument", "write_hyperspy_metadata", "ACQUISITION_KEY"]

#: key of a result's metadata holding the Acquisition_instrument dict
ACQUISITION_KEY = "acquisition_instrument"

_DETECTOR_NAMES = {"simulated": "EELS camera (simulated)", "merlin-simulated": "Merlin Medipix3RX (simulated)",
                   "merlin": "Merlin Medipix3RX"}


def hyperspy_acquisition_instrument(config: typing.Any = None, *, exposure_s: float | None = None,
                                    dwell_s: float | None = None, beam_current_pA: float | None = None) -> dict:
    """HyperSpy's ``Acquisition_instrument`` for the instrument of a site configuration.

    Parameters
    ----------
    config : detectors.config.SiteConfig, optional
        ``[beam] high_tension_kV``, ``convergence_angle_mrad``, ``current_pA``; ``[spectrometer]
        collection_angle_mrad``; ``[eels_camera] backend`` (detector name). Default: the default
        (simulated) instrument.
    exposure_s, dwell_s : per-spectrum exposure and per-pixel dwell, s (omitted when None)
    beam_current_pA : overrides the configured current (e.g. the simulated world's)

    Returns
    -------
    dict ``{"TEM": {"beam_energy": kV, "convergence_angle": mrad, "beam_current": nA,
    "microscope": ..., "Detector": {"EELS": {"collection_angle": mrad, "detector_name": ...,
    "exposure": s, "dwell_time": s}}}}`` (HyperSpy's metadata conventions and units).

    Examples
    --------
    >>> tem = hyperspy_acquisition_instrument(exposure_s=0.01)["TEM"]
    >>> tem["beam_energy"], tem["convergence_angle"], tem["Detector"]["EELS"]["collection_angle"]
    (100.0, 10.0, 25.0)
    """
    if config is None:
        from detectors.config import load_config

        config = load_config()
    beam, spec = config["beam"], config["spectrometer"]
    current = beam["current_pA"] if beam_current_pA is None else beam_current_pA
    eels: dict[str, typing.Any] = {
        "collection_angle": float(spec["collection_angle_mrad"]),
        "detector_name": _DETECTOR_NAMES.get(config["eels_camera"]["backend"], config["eels_camera"]["backend"]),
    }
    if exposure_s is not None:
        eels["exposure"] = float(exposure_s)
    if dwell_s is not None:
        eels["dwell_time"] = float(dwell_s)
    return {"TEM": {"beam_energy": float(beam["high_tension_kV"]),
                    "convergence_angle": float(beam["convergence_angle_mrad"]),
                    "beam_current": float(current) * 1e-3,  # HyperSpy: nA
                    "microscope": "VG Lumière (Lumière suite)",
                    "Detector": {"EELS": eels}}}


def write_hyperspy_metadata(experiment: typing.Any, metadata: dict, signal_type: str) -> None:
    """Write the standard metadata of one result into its HDF5 group (HyperSpy layout).

    ``experiment`` is the h5py group ``/Experiments/<name>``. Writes
    ``metadata/Acquisition_instrument`` from ``metadata["acquisition_instrument"]`` and
    ``metadata/Signal/quantity`` from ``metadata["quantity"]`` when present,
    and marks the energy axis of an ``"EELS"`` signal as binned (counts per channel), which
    HyperSpy's models need to scale per-eV cross sections by the channel width.
    """
    if metadata.get("quantity"):  # HyperSpy's intensity name and unit, e.g. "Areal density (atoms/nm^2)"
        experiment["metadata"].require_group("Signal").attrs["quantity"] = str(metadata["quantity"])
    acq = metadata.get(ACQUISITION_KEY)
    if acq:
        _write(experiment["metadata"].require_group("Acquisition_instrument"), acq)
    if signal_type == "EELS":
        n_axes = len([k for k in experiment if k.startswith("axis-")])
        if n_axes:
            experiment[f"axis-{n_axes - 1}"].attrs["is_binned"] = True


def _write(group: typing.Any, d: dict) -> None:
    for key, value in d.items():
        if isinstance(value, dict):
            _write(group.require_group(key), value)
        elif value is not None:
            group.attrs[key] = value
