"""Scripting facade: one entry point for Swift scripts and plain Python.

In Swift (console, or a script run from File ▸ Run Script… that defines
``script_main(api_broker)``)::

    from nionswift_plugin.lumiere import scripting
    lumiere = scripting.connect(api)            # api = api_broker.get_api("~1.0")
    si = lumiere.run_spectrum_image(size_px=32, fov_nm=128.0, exposure_ms=5.0)
    maps = lumiere.elemental_map(si.data_items["si"], "Sc L2,3")

From plain Python (no Swift; the simulated instrument on its virtual clock)::

    with scripting.connect() as lumiere:
        si = lumiere.run_spectrum_image(size_px=16)
        print(si.arrays["si"].shape)

Workflows (the same ones the panels run) write into data items as they acquire (with an api) and
always into memory (``result.arrays``), optionally into an HDF5 file; progress is printed (in
Swift's Run Script dialog: its output pane) or sent to a callable. Computations (elemental map,
t/λ, ZLP alignment, EEGS orders, sequence alignment, PCA/NMF) attach Swift's live computations
to data items, exactly as the "Lumière" menu does.

Thread rules: Run Script executes scripts on a worker thread and hands them a *queued* api whose
calls run on the UI thread; the console runs on the UI thread with the plain api. The facade
works with both: every document change goes through the api given (for the queued api, Swift
marshals it), and what the queued api does not offer (``create_computation``) is run on the UI
thread through ``api.queue_task``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import threading
import time
import typing

import numpy as np

from detectors.interfaces import ScanFrame
from lumiere.outputs import new_file
from lumiere.sinks import Axis, CompositeSink, HDF5Sink, MemorySink, Sink
from lumiere.tasks import TaskControl
from nionswift_plugin.lumiere.scripting_support import (ApiDataItemSink, OfflineItem, ProgressFn,
                                                        printing_progress, run_offline)

__all__ = ["Lumiere", "connect", "default_instrument", "RunResult", "ApiDataItemSink", "OfflineItem", "run_offline"]

_default_instrument: typing.Any = None


def connect(api: typing.Any = None, **kwargs: typing.Any) -> "Lumiere":
    """The Lumière facade for a Swift ``api`` object (None: plain Python). See :class:`Lumiere`."""
    if "instrument" not in kwargs and _default_instrument is not None:
        kwargs["instrument"] = _default_instrument
    return Lumiere(api, **kwargs)


@contextlib.contextmanager
def default_instrument(instrument: typing.Any) -> typing.Iterator[typing.Any]:
    """Make :func:`connect` use ``instrument`` (e.g. a virtual-clock simulated instrument for
    tests and training) unless a script passes its own."""
    global _default_instrument
    previous, _default_instrument = _default_instrument, instrument
    try:
        yield instrument
    finally:
        _default_instrument = previous


@dataclasses.dataclass
class RunResult:
    """What a workflow produced: numpy arrays (always), data items (with an api), a summary."""

    arrays: dict[str, np.ndarray]
    axes: dict[str, list[Axis]]
    data_items: dict[str, typing.Any]
    summary: str = ""
    value: typing.Any = None  #: the workflow's own return value (e.g. an EEGSScanResult)
    metadata: dict[str, dict] = dataclasses.field(default_factory=dict)
    hdf5_path: pathlib.Path | None = None  #: the file written (a numbered name if the one asked for existed)

    def xdata(self, name: str) -> typing.Any:
        """A result as calibrated ``DataAndMetadata`` (nm, eV, λ in nm)."""
        from nionswift_plugin.lumiere.swift_sink import xdata_from_result

        return xdata_from_result(self.arrays[name], self.axes[name], self.metadata.get(name))

    def item(self, name: str) -> typing.Any:
        """The result to hand to a computation: its Swift data item, or (plain Python) an
        :class:`OfflineItem` with the same ``data``/``xdata``/``title``."""
        if name in self.data_items:
            return self.data_items[name]
        return OfflineItem(self.xdata(name), name)


class Lumiere:
    """The Lumière devices and workflows, for a Swift script or plain Python.

    Parameters
    ----------
    api : Swift api object, optional
        What Swift gives a script (``api_broker.get_api("~1.0")``) or the console's ``api``.
        Without it results stay in memory (and in an HDF5 file if asked).
    instrument : detectors.instrument.Instrument, optional
        Default: in Swift the plug-in's registered instrument; otherwise a new simulated instrument
        (virtual clock), closed by :meth:`close`.
    config : str, optional
        Site file for a new instrument (plain Python).
    progress : callable(fraction, message) or None
        Progress of every workflow; default: a text line every 10 % via ``print``.
    """

    def __init__(self, api: typing.Any = None, *, instrument: typing.Any = None, config: str | None = None,
                 progress: ProgressFn | None | str = "print") -> None:
        self.api = api
        self._owns_instrument = False
        if instrument is None:
            import nionswift_plugin.lumiere as plugin

            devices = plugin.devices()
            if devices is not None:
                instrument = devices.instrument
            else:
                from detectors.instrument import build_instrument

                instrument = build_instrument(config)
                self._owns_instrument = True
        self.instrument = instrument
        self._progress = progress
        self.task: TaskControl | None = None

    # -- devices ------------------------------------------------------------------------------
    @property
    def world(self) -> typing.Any:
        """The simulated world (None on real hardware)."""
        return getattr(self.instrument, "world", None)

    @property
    def stem_controller(self) -> typing.Any:
        """Swift's registered Lumière stem controller (None outside Swift)."""
        import nionswift_plugin.lumiere as plugin

        devices = plugin.devices()
        return devices.stem_controller if devices is not None else None

    def hardware_source(self, hardware_source_id: str = "lumiere_scan") -> typing.Any:
        """A Lumière hardware source through the api (``lumiere_scan``, ``lumiere_eels_camera``)."""
        if self.api is None:
            raise RuntimeError("hardware sources need Swift's api (connect(api))")
        return self.api.get_hardware_source_by_id(hardware_source_id, version="1.0")

    def close(self) -> None:
        """Abort a running workflow; close the instrument if this facade created it."""
        if self.task is not None:
            self.task.abort("facade closed")
        if self._owns_instrument:
            self.instrument.close()

    def __enter__(self) -> "Lumiere":
        return self

    def __exit__(self, *exc: typing.Any) -> None:
        self.close()

    def abort(self) -> None:
        """Abort the running workflow (from another thread); devices are left safe."""
        if self.task is not None:
            self.task.abort("aborted from a script")

    # -- plumbing -----------------------------------------------------------------------------
    def _run(self, label: str, hdf5_path: str | pathlib.Path | None,
             work: typing.Callable[[Sink, TaskControl], tuple[typing.Any, str]]) -> RunResult:
        memory = MemorySink()
        sinks: list[Sink] = [memory]
        api_sink = ApiDataItemSink(self.api, title_prefix=f"{label}: ") if self.api is not None else None
        if api_sink is not None:
            sinks.append(api_sink)
        if hdf5_path is not None:
            hdf5_path = new_file(hdf5_path)  # never replaces a file: the next free numbered name
            sinks.append(HDF5Sink(hdf5_path))
        progress = self._progress
        if progress == "print":
            progress = printing_progress(label)
        self.task = TaskControl(typing.cast(typing.Optional[ProgressFn], progress))
        try:
            value, summary = work(CompositeSink(*sinks) if len(sinks) > 1 else memory, self.task)
        finally:
            self.task = None
        return RunResult({k: r.data for k, r in memory.results.items()},
                         {k: r.axes for k, r in memory.results.items()},
                         dict(api_sink.data_items) if api_sink else {}, summary, value,
                         {k: dict(r.metadata) for k, r in memory.results.items()},
                         pathlib.Path(hdf5_path) if hdf5_path is not None else None)

    def _on_ui(self, fn: typing.Callable[[typing.Any], typing.Any]) -> typing.Any:
        """Run ``fn(plain_api)`` on Swift's UI thread (directly with a plain api; through
        ``queue_task`` with Run Script's queued api, re-wrapping the results)."""
        if self.api is None:
            raise RuntimeError("computations need Swift's api (connect(api))")
        proxy = getattr(self.api, "_proxy", None)
        if proxy is None:
            return fn(self.api)
        from nion.swift import FacadeQueued

        box: dict[str, typing.Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn(proxy)
            except BaseException as e:  # re-raised in the script's thread
                box["error"] = e
            finally:
                done.set()

        self.api.queue_task(run)
        done.wait()
        if "error" in box:
            raise box["error"]
        return FacadeQueued.convert_to_facade(box.get("value"), self.api._queue_task)

    @staticmethod
    def _plain(item: typing.Any) -> typing.Any:
        return getattr(item, "_proxy", item)

    # -- workflows ----------------------------------------------------------------------------
    def run_spectrum_image(self, size_px: int | tuple[int, int] = 32, fov_nm: float = 128.0,
                           center_nm: tuple[float, float] = (0.0, 0.0), exposure_ms: float = 5.0, *,
                           rotation_rad: float = 0.0, hdf5_path: str | pathlib.Path | None = None) -> RunResult:
        """EELS spectrum image of a region (as the "Lumière SI" panel): results ``si`` (y, x, eV)
        and ``si_haadf`` (y, x), calibrated in nm and eV."""
        from drift_eels.spectrum_image import acquire_spectrum_image

        shape = (size_px, size_px) if isinstance(size_px, int) else tuple(size_px)
        frame = ScanFrame(typing.cast(tuple[int, int], shape), float(fov_nm), tuple(center_nm),
                          rotation_rad, dwell_s=exposure_ms / 1000)

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            si, _ = acquire_spectrum_image(self.instrument.spectrum_imager, frame, exposure_ms / 1000, sink, task=task,
                                           metadata=self.instrument.metadata())  # HyperSpy TEM in the file
            return si, f"{si.shape[0]}×{si.shape[1]} SI, {si.shape[2]} channels"

        return self._run("Lumière SI", hdf5_path, work)

    def run_image_sequence(self, n_frames: int = 8, size_px: int = 64, fov_nm: float = 128.0,
                           center_nm: tuple[float, float] = (0.0, 0.0), dwell_us: float = 2.0, *,
                           interval_s: float = 0.0, hdf5_path: str | pathlib.Path | None = None) -> RunResult:
        """A HAADF image series (``haadf_sequence``: frame × y × x, nm; frames ``interval_s`` apart
        on the instrument's clock), e.g. for the sequence-alignment computation."""
        if not 2 <= n_frames <= 10_000:
            raise ValueError(f"n_frames = {n_frames} outside 2–10000")
        frame = ScanFrame((size_px, size_px), float(fov_nm), tuple(center_nm), dwell_s=dwell_us * 1e-6)
        p = frame.pixel_size_nm
        offset = -(size_px / 2 - 0.5) * p

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            axes = [Axis("time", "s", frame.frame_time_s + interval_s, 0.0, navigate=True),
                    Axis("y", "nm", p, offset), Axis("x", "nm", p, offset)]
            sink.create("haadf_sequence", (n_frames, size_px, size_px), axes, title="HAADF sequence",
                        metadata={"scan": {"fov_nm": fov_nm, "center_nm": list(center_nm), "rotation_rad": 0.0,
                                           "pixel_size_nm": p, "dwell_s": frame.dwell_s}})
            sleep = self.instrument.clock.sleep
            try:
                for k in range(n_frames):
                    task.check_abort()
                    sink.write("haadf_sequence", k, self.instrument.scan.acquire_frame(frame))
                    task.progress((k + 1) / n_frames, f"frame {k + 1}/{n_frames}")
                    if interval_s > 0 and k + 1 < n_frames:
                        sleep(interval_s)
            finally:
                sink.finish("haadf_sequence")
            return None, f"{n_frames} frames of {size_px}×{size_px} px"

        return self._run("Lumière sequence", hdf5_path, work)

    def _eegs_devices(self) -> typing.Any:
        from eegs import EEGSDevices

        return EEGSDevices.from_instrument(self.instrument)

    def run_eegs_wavelength_scan(self, start_nm: float, stop_nm: float, step_nm: float, *,
                                 spectra_per_point: int = 10, exposure_s: float = 0.1,
                                 hdf5_path: str | pathlib.Path | None = None, **parameters: typing.Any) -> RunResult:
        """EEGS wavelength scan (:class:`eegs.WavelengthScan`): results ``eegs`` (λ nm × eV),
        ``eegs_power`` (power log) and ``eegs_laser_off``; ``value`` is the EEGSScanResult."""
        from eegs import WavelengthScan, WavelengthScanParameters

        params = WavelengthScanParameters(start_nm, stop_nm, step_nm, spectra_per_point=spectra_per_point,
                                          exposure_s=exposure_s, **parameters)

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            result = WavelengthScan(self._eegs_devices(), params).run(sink, task)
            return result, f"{len(result.axis_values)} wavelengths"

        return self._run("EEGS λ scan", hdf5_path, work)

    def run_eegs_power_scan(self, wavelength_nm: float, *, angles_deg: typing.Sequence[int] | None = None,
                            setpoints_uW: typing.Sequence[float] | None = None, spectra_per_point: int = 10,
                            exposure_s: float = 0.1, hdf5_path: str | pathlib.Path | None = None,
                            **parameters: typing.Any) -> RunResult:
        """EEGS power scan at fixed λ (:class:`eegs.PowerScan`), by attenuator angles or power set
        points (µW): results ``eegs_power`` (point × eV), ``eegs_power_power`` (power log) and
        ``eegs_power_laser_off``."""
        from eegs import PowerScan, PowerScanParameters

        params = PowerScanParameters(wavelength_nm, tuple(angles_deg) if angles_deg is not None else None,
                                     tuple(setpoints_uW) if setpoints_uW is not None else None,
                                     spectra_per_point=spectra_per_point, exposure_s=exposure_s, **parameters)

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            result = PowerScan(self._eegs_devices(), params).run(sink, task)
            return result, f"{len(result.axis_values)} power points"

        return self._run("EEGS power scan", hdf5_path, work)

    def run_drift_corrected_si(self, parameters: typing.Any = None, *, hdf5_path: str | pathlib.Path | None = None,
                               **kwargs: typing.Any) -> RunResult:
        """Drift-corrected EELS SI (:class:`drift_eels.DriftCorrectedSI`, as the drift-SI panel).

        Give a :class:`drift_eels.DriftSIParameters` or its fields as keywords (``survey``,
        ``si_region_px``, ``reference_region_px``, ``si_shape_px``, ``dwell_s``, ``n_sequences``,
        ``edges`` …; without regions, on a simulated instrument: an oxide grain and a gold particle
        of the simulated specimen, :func:`detectors.simulation.setup.drift_si_targets_nm`; a real
        one refuses). Results (``si``, ``haadf``, ``count_map``, ``map_<edge>``, ``snr_<edge>``,
        ``drift_log`` …) grow after every sequence, so an elemental-map computation attached to
        the ``si`` data item updates live.
        """
        from drift_eels import DriftCorrectedSI, DriftSIParameters

        if parameters is None:
            if "si_region_px" not in kwargs or "reference_region_px" not in kwargs:
                if not self.instrument.fully_simulated:
                    raise ValueError("on a real instrument give si_region_px and reference_region_px (survey pixels)")
                from detectors.simulation.setup import drift_si_targets_nm
                from drift_eels.parameters import region_around
                from drift_eels.session import SURVEY

                kwargs.setdefault("survey", SURVEY)
                si_centre, ref_centre = drift_si_targets_nm(self.world)
                si_region = region_around(kwargs["survey"], si_centre, 128.0)
                ref_region = region_around(kwargs["survey"], ref_centre, 96.0)
                kwargs.setdefault("si_region_px", si_region)
                kwargs.setdefault("reference_region_px", ref_region)
            parameters = DriftSIParameters(**kwargs)
        elif kwargs:
            raise TypeError(f"give either parameters or keywords, not both ({sorted(kwargs)})")

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            result = DriftCorrectedSI.from_instrument(self.instrument, parameters, sink, task=task).run()
            return result, f"{result.sequences_done} sequences, SI {result.si.shape}"

        return self._run("Lumière drift-corrected SI", hdf5_path, work)

    def run_cl_spectrum_image(self, size_px: int | tuple[int, int] = 32, fov_nm: float = 128.0,
                              center_nm: tuple[float, float] = (0.0, 0.0), exposure_ms: float = 5.0, *,
                              rotation_rad: float = 0.0, hdf5_path: str | pathlib.Path | None = None) -> RunResult:
        """Cathodoluminescence spectrum image of a region with the CL spectrometer as it is set
        (grating, centre λ: "CL spectrometer" panel): result ``cl_si`` (y, x, λ) in nm, nm, nm."""
        from drift_eels.spectrum_image import acquire_cl_spectrum_image

        shape = (size_px, size_px) if isinstance(size_px, int) else tuple(size_px)
        frame = ScanFrame(typing.cast(tuple[int, int], shape), float(fov_nm), tuple(center_nm),
                          rotation_rad, dwell_s=exposure_ms / 1000)

        def work(sink: Sink, task: TaskControl) -> tuple[typing.Any, str]:
            si = acquire_cl_spectrum_image(self.instrument.cl, frame, sink, task=task)
            return si, f"{si.shape[0]}×{si.shape[1]} CL SI, {si.shape[2]} wavelengths"

        return self._run("Lumière CL SI", hdf5_path, work)

    # -- computations (Swift; plain Python runs the same classes offline) ----------------------
    def _computation(self, attach: typing.Callable[[typing.Any], typing.Any], cls_path: str,
                     **offline_inputs: typing.Any) -> dict[str, typing.Any]:
        """With an api: ``attach(api)`` on the UI thread (live Swift computation). Without: the
        computation class run once here on the given items (same numbers)."""
        if self.api is not None:
            return typing.cast(dict, self._on_ui(attach))
        module_name, class_name = cls_path.rsplit(".", 1)
        module = __import__(f"nionswift_plugin.lumiere.{module_name}", fromlist=[class_name])
        return run_offline(getattr(module, class_name), **offline_inputs)

    def elemental_map(self, si: typing.Any, edge: str, *, method: str = "two-area") -> dict[str, typing.Any]:
        """Elemental map of ``edge`` (by name) of an SI data item: ``map``, ``uncertainty``,
        ``snr`` (+ in Swift the summed spectrum with draggable windows and background layers; see
        :func:`~nionswift_plugin.lumiere.computations_eels.attach_elemental_map`)."""
        from nionswift_plugin.lumiere.computations_eels import attach_elemental_map

        return self._computation(lambda api: attach_elemental_map(api, self._plain(si), edge, method=method),
                                 "computations_eels.ElementalMap", si=si, edge=edge, method=method)

    def thickness_map(self, si: typing.Any) -> dict[str, typing.Any]:
        """t/λ map of a low-loss SI data item: ``thickness``."""
        from nionswift_plugin.lumiere.computations_eels import attach_thickness_map

        return self._computation(lambda api: attach_thickness_map(api, self._plain(si)),
                                 "computations_eels.Thickness", si=si)

    def align_zlp(self, si: typing.Any) -> dict[str, typing.Any]:
        """ZLP alignment of an SI data item: ``aligned``, ``zlp_shift``."""
        from nionswift_plugin.lumiere.computations_eels import attach_zlp_alignment

        return self._computation(lambda api: attach_zlp_alignment(api, self._plain(si)),
                                 "computations_eels.AlignZLP", si=si)

    def eegs_orders(self, scan: typing.Any, laser_off: typing.Any, power: typing.Any = None,
                    *, order: int = 1) -> dict[str, typing.Any]:
        """EEGS order extraction, |β| per spectrum and resonance fit of a λ × energy data item
        (with its laser-off reference and optional power log): ``gain``, ``loss``, ``eegs``,
        ``fit``, ``beta``."""
        from nionswift_plugin.lumiere.computations_eegs import attach_eegs_orders

        return self._computation(
            lambda api: attach_eegs_orders(api, self._plain(scan), self._plain(laser_off),
                                           self._plain(power) if power is not None else None, order=order),
            "computations_eegs.EEGSOrders", scan=scan, laser_off=laser_off, power=power, order=order)

    def align_sequence(self, sequence: typing.Any) -> dict[str, typing.Any]:
        """Drift alignment of an image-sequence data item: ``aligned_sum``, ``drift_y``, ``drift_x`` (nm)."""
        from nionswift_plugin.lumiere.computations_drift import attach_sequence_alignment

        return self._computation(lambda api: attach_sequence_alignment(api, self._plain(sequence)),
                                 "computations_drift.AlignSequence", sequence=sequence)

    def decompose(self, si: typing.Any, *, method: str = "pca", components: int = 4) -> dict[str, typing.Any]:
        """PCA or NMF of an SI data item: ``loadings``, ``scores``."""
        from nionswift_plugin.lumiere.computations_decomposition import attach_decomposition

        return self._computation(lambda api: attach_decomposition(api, self._plain(si), method=method,
                                                                  components=components),
                                 "computations_decomposition.Decomposition", si=si, method=method,
                                 components=components)

    @staticmethod
    def status(items: typing.Mapping[str, typing.Any]) -> str:
        """The status line of the computation in ``items`` ("" offline): "Error: …" for a wrong
        input, else Swift's "Last: … (… ms)"."""
        computation = getattr(items.get("computation"), "_computation", None)
        return str(computation.status) if computation is not None else ""

    def wait(self, items: typing.Mapping[str, typing.Any], timeout_s: float = 60.0) -> bool:
        """Wait until every data item in ``items`` holds data (a script on Run Script's worker
        thread waiting for Swift's computations). True when they do; False on timeout or when
        the computation reports an error (read it with :meth:`status`). With a plain api
        (console, UI thread) or offline it only checks, since waiting there would block Swift."""
        def ready() -> bool:
            return all(getattr(v, "data", None) is not None for k, v in items.items() if k != "computation"
                       and hasattr(v, "data"))

        def failed() -> bool:
            return self.status(items).startswith("Error")

        if self.api is None or getattr(self.api, "_proxy", None) is None:
            return ready()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return True
            if failed():
                return False
            time.sleep(0.05)
        return ready()
