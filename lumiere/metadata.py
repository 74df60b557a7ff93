"""Standard (HyperSpy) metadata of our results: ``Acquisition_instrument.TEM``.

exspy's ``EELSModel`` reads the beam energy, the convergence and the collection semi-angles from
``metadata.Acquisition_instrument.TEM`` (``beam_energy`` kV, ``convergence_angle`` mrad,
``Detector.EELS.collection_angle`` mrad), so an SI file carrying them quantifies with no set-up.

Every result that records the instrument (:meth:`detectors.instrument.Instrument.metadata`: high
tension, current, angles, backends; at the top level of its metadata or under ``"microscope"``,
as EEGS results do) gets it: :class:`lumiere.sinks.HDF5Sink` calls
:func:`write_hyperspy_metadata`, which derives the TEM node with :func:`acquisition_instrument`.
A result may also carry the node ready-made under ``"acquisition_instrument"``
(:func:`hyperspy_acquisition_instrument`, from a site file), which wins.
"""
from __future__ import annotations

import typing

__all__ = ["acquisition_instrument", "hyperspy_acquisition_instrument", "beam_energy_and_angles", "incident_electrons",
           "write_hyperspy_metadata", "ACQUISITION_KEY"]

#: key of a result's metadata holding a ready-made Acquisition_instrument dict
ACQUISITION_KEY = "acquisition_instrument"

_DETECTOR_NAMES = {"simulated": "EELS camera (simulated)", "merlin-simulated": "Merlin Medipix3RX (simulated)",
                   "merlin": "Merlin Medipix3RX"}


def _tem(beam_energy_kV: float, convergence_mrad: float, collection_mrad: float, beam_current_pA: float | None,
         detector_backend: str, exposure_s: float | None, dwell_s: float | None, frames: int | None = None) -> dict:
    """HyperSpy's ``{"TEM": ...}`` node in its units (kV, mrad, nA, s); None values are left out.
    ``frames``: how many exposures were summed (HyperSpy's ``Detector.EELS.frame_number``)."""
    eels: dict[str, typing.Any] = {"collection_angle": float(collection_mrad),
                                   "detector_name": _DETECTOR_NAMES.get(detector_backend, detector_backend)}
    if exposure_s is not None:
        eels["exposure"] = float(exposure_s)
    if dwell_s is not None:
        eels["dwell_time"] = float(dwell_s)
    if frames is not None:
        eels["frame_number"] = int(frames)
    tem: dict[str, typing.Any] = {"beam_energy": float(beam_energy_kV), "convergence_angle": float(convergence_mrad),
                                  "microscope": "VG Lumière (Lumière suite)", "Detector": {"EELS": eels}}
    if beam_current_pA is not None:
        tem["beam_current"] = float(beam_current_pA) * 1e-3  # HyperSpy: nA
    return {"TEM": tem}


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
    beam = config["beam"]
    return _tem(beam["high_tension_kV"], beam["convergence_angle_mrad"],
                config["spectrometer"]["collection_angle_mrad"],
                beam["current_pA"] if beam_current_pA is None else beam_current_pA,
                config["eels_camera"]["backend"], exposure_s, dwell_s)


def _lookup(meta: typing.Mapping, *paths: str) -> typing.Any:
    """The first value found at one of the dotted ``paths`` of nested ``meta`` (None if none)."""
    for path in paths:
        node: typing.Any = meta
        for key in path.split("."):
            node = node.get(key) if isinstance(node, typing.Mapping) else None
        if node is not None:
            return node
    return None


def acquisition_instrument(metadata: typing.Mapping) -> dict | None:
    """HyperSpy's ``Acquisition_instrument`` of one result from its Lumière metadata.

    Uses ``metadata["acquisition_instrument"]`` if given; otherwise the instrument's record
    (:meth:`~detectors.instrument.Instrument.metadata`: ``high_tension_V``, ``beam_current_pA``,
    ``convergence_angle_mrad``, ``collection_angle_mrad``, ``devices.eels_camera.backend``) at the
    top level or under ``"microscope"``, the exposure from ``exposure_s`` (or ``camera.exposure_s``,
    ``parameters.exposure_s``), the dwell from ``scan.dwell_s`` and the number of summed exposures
    (``frame_number``) from ``n_sequences`` (drift-corrected SIs). None when the result does not
    record the instrument (e.g. a map computed from a file).

    Examples
    --------
    >>> meta = {"high_tension_V": 100e3, "beam_current_pA": 50.0, "convergence_angle_mrad": 10.0,
    ...         "collection_angle_mrad": 25.0, "devices": {"eels_camera": {"backend": "simulated"}},
    ...         "exposure_s": 0.01, "scan": {"dwell_s": 0.01}}
    >>> tem = acquisition_instrument(meta)["TEM"]
    >>> tem["beam_energy"], tem["beam_current"], tem["Detector"]["EELS"]["exposure"]
    (100.0, 0.05, 0.01)
    """
    ready = metadata.get(ACQUISITION_KEY)
    if ready:
        return dict(ready)
    inst = metadata if "high_tension_V" in metadata else metadata.get("microscope")
    if not isinstance(inst, typing.Mapping) or inst.get("high_tension_V") is None \
            or inst.get("convergence_angle_mrad") is None or inst.get("collection_angle_mrad") is None:
        return None
    timing = _timing(metadata)
    return _tem(float(inst["high_tension_V"]) * 1e-3, inst["convergence_angle_mrad"], inst["collection_angle_mrad"],
                inst.get("beam_current_pA"), str(_lookup(inst, "devices.eels_camera.backend") or "unknown"),
                timing.get("exposure"), timing.get("dwell_time"), timing.get("frame_number"))


def beam_energy_and_angles(metadata: typing.Mapping, config_path: str | None = None) -> tuple[float, float, float]:
    """(beam energy kV, convergence mrad, collection mrad) of a result (:func:`acquisition_instrument`),
    or of the site file ``config_path`` (None: ``LUMIERE_CONFIG`` or the default instrument) when
    the result does not record them."""
    acq = acquisition_instrument(metadata)
    if acq is None:
        from detectors.config import load_config

        acq = hyperspy_acquisition_instrument(load_config(config_path))
    tem = acq["TEM"]
    eels = tem["Detector"]["EELS"]
    return float(tem["beam_energy"]), float(tem["convergence_angle"]), float(eels["collection_angle"])


ELEMENTARY_CHARGE_C = 1.602176634e-19


def incident_electrons(metadata: typing.Mapping) -> float | None:
    """Electrons per pixel (or spectrum), beam current × exposure / e, from a result's
    ``beam_current_pA`` and ``exposure_s`` — I_low's stand-in without a low-loss SI; None when
    either is missing (a real instrument records no measured current).

    >>> round(incident_electrons({"beam_current_pA": 100.0, "exposure_s": 0.01}))
    6241509
    """
    current, exposure = metadata.get("beam_current_pA"), metadata.get("exposure_s")
    if current in (None, "None") or not exposure:
        return None
    return float(current) * 1e-12 * float(exposure) / ELEMENTARY_CHARGE_C


def write_hyperspy_metadata(experiment: typing.Any, metadata: dict, signal_type: str) -> None:
    """Write the standard metadata of one result into its HDF5 group (HyperSpy layout).

    ``experiment`` is the h5py group ``/Experiments/<name>``. Writes
    ``metadata/Acquisition_instrument`` (:func:`acquisition_instrument`; for a result that does not
    record the instrument, e.g. an EEGS fit table or a laser-off reference, the beam, angles and
    detector of an earlier result of the same file — one run, one instrument — with this
    result's own exposure, dwell and frame count, if it records them) and
    ``metadata/Signal/quantity`` from ``metadata["quantity"]`` when present,
    and marks the energy axis of an ``"EELS"`` signal as binned (counts per channel), which
    HyperSpy's models need to scale per-eV cross sections by the channel width.
    """
    if metadata.get("quantity"):  # HyperSpy's intensity name and unit, e.g. "Areal density (atoms/nm^2)"
        experiment["metadata"].require_group("Signal").attrs["quantity"] = str(metadata["quantity"])
    acq = acquisition_instrument(metadata)
    if acq:
        _write(experiment["metadata"].require_group("Acquisition_instrument"), acq)
    else:
        _copy_run_instrument(experiment, metadata)
    if signal_type == "EELS":
        n_axes = len([k for k in experiment if k.startswith("axis-")])
        if n_axes:
            experiment[f"axis-{n_axes - 1}"].attrs["is_binned"] = True


def _timing(metadata: typing.Mapping) -> dict:
    """HyperSpy's Detector.EELS exposure (s), dwell_time (s), frame_number of one result."""
    found = {"exposure": _lookup(metadata, "exposure_s", "camera.exposure_s", "parameters.exposure_s"),
             "dwell_time": _lookup(metadata, "scan.dwell_s"), "frame_number": _lookup(metadata, "n_sequences")}
    return {k: v for k, v in found.items() if v is not None}


def _copy_run_instrument(experiment: typing.Any, metadata: typing.Mapping) -> None:
    for sibling in experiment.parent.values():
        tem = sibling.get("metadata/Acquisition_instrument/TEM")
        if sibling == experiment or tem is None:
            continue
        target = experiment["metadata"].require_group("Acquisition_instrument")
        target.copy(tem, "TEM")
        eels = target["TEM"].require_group("Detector/EELS")
        for key in ("exposure", "dwell_time", "frame_number"):  # the other result's own
            eels.attrs.pop(key, None)
        eels.attrs.update(_timing(metadata))
        return


def _write(group: typing.Any, d: dict) -> None:
    for key, value in d.items():
        if isinstance(value, dict):
            _write(group.require_group(key), value)
        elif value is not None:
            group.attrs[key] = value
