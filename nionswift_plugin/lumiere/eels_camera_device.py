"""The EELS camera (Merlin geometry, 256 × 1024) as a Swift ``camera_module``.

Live view, sequences and settings come from device_kit's ``CameraDevice.Camera``. Synchronized
spectrum imaging is overridden: instead of one frame and one scan pixel at a time (which cannot
keep up at 1 ms), each ``acquire_synchronized_continue`` steps the scan generator through ~0.1 s of
visits (:meth:`LumiereScanDevice.synchronized_block`: the external clock), acquires their spectra in
one call to the backend and places them at the visited pixels. With a pixel order set on the scan
device the visits follow it: unvisited pixels stay 0 in the SI and in the scan's images.

Two backends behind one seam (:class:`CameraBackend`):

* :class:`WorldBackend` computes spectra straight from the simulated world (fast; the default);
* :class:`MerlinBackend` goes through a Merlin — real, or the simulated one serving the world —
  with the real control/data protocol and the fused correction kernel; its HDR/MQ1 headers go into
  the data-item metadata.
"""
from __future__ import annotations

import threading
import time
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.device_kit import CameraDevice
from nion.instrumentation import camera_base
from nion.utils import Geometry

from detectors.instrument import Instrument
from detectors.merlin.camera import MerlinEELSCamera
from nionswift_plugin.lumiere.scan_device import LumiereScanModule, SyncScan
from nionswift_plugin.lumiere.stem_device import LumiereInstrument


class CameraBackend(typing.Protocol):
    name: str

    def frame(self, exposure_s: float) -> np.ndarray:
        """One (256, 1024) frame of counts at the parked probe."""

    def block(self, y_nm: np.ndarray, x_nm: np.ndarray, exposure_s: float, summed: bool) -> np.ndarray:
        """One frame per probe position: (n, 1024) summed spectra or (n, 256, 1024) frames."""

    def metadata(self) -> dict: ...


class WorldBackend:
    """Spectra computed directly from the simulated world (vectorised over a block)."""

    name = "Lumière EELS (simulated Merlin geometry)"

    def __init__(self, instrument: Instrument) -> None:
        self.world = instrument.world

    def frame(self, exposure_s: float) -> np.ndarray:
        world = self.world
        with world.lock:
            t = np.array([world.clock.now_s() + exposure_s / 2])
            spectrum = world.eels_counts(np.array([world.beam.probe_y_nm]), np.array([world.beam.probe_x_nm]),
                                         t, exposure_s, noise=False)[0]
            return world.camera_frame_noise(world.nondispersive_profile()[:, None] * spectrum[None, :])

    def block(self, y_nm: np.ndarray, x_nm: np.ndarray, exposure_s: float, summed: bool) -> np.ndarray:
        """In real time the caller paces blocks against its own schedule; on a virtual clock the
        block's exposure time passes here."""
        world = self.world
        with world.lock:
            times = world.clock.now_s() + (np.arange(y_nm.size) + 0.5) * exposure_s
            if summed:
                out = world.eels_counts(y_nm, x_nm, times, exposure_s)
            else:
                expected = world.eels_counts(y_nm, x_nm, times, exposure_s, noise=False)
                out = world.camera_frame_noise(expected[:, None, :] * world.nondispersive_profile()[None, :, None])
            if world.clock.is_virtual:
                world.clock.advance(y_nm.size * exposure_s)
        return out

    def metadata(self) -> dict:
        return {"camera": "simulated (world)"}


class MerlinBackend:
    """A Merlin over TCP. On the simulator the probe positions of a block are queued in the world
    (as the scan generator would step the beam on the Merlin's triggers)."""

    name = "Merlin EELS (Medipix3RX)"

    def __init__(self, camera: MerlinEELSCamera, instrument: Instrument) -> None:
        self.camera = camera
        #: the world only behind the simulated Merlin (a real Merlin's positions are the real beam's)
        self.world = instrument.world if instrument.simulated.get("eels_camera", False) else None

    def frame(self, exposure_s: float) -> np.ndarray:
        return self.camera.acquire_frames(1, exposure_s)[0].astype(np.float32)

    def block(self, y_nm: np.ndarray, x_nm: np.ndarray, exposure_s: float, summed: bool) -> np.ndarray:
        if self.world is not None:
            self.world.queue_probe_positions(y_nm, x_nm)
        if summed:
            return self.camera.acquire_spectra(y_nm.size, exposure_s)
        return self.camera.acquire_frames(y_nm.size, exposure_s).astype(np.float32)

    def metadata(self) -> dict:
        return {"camera": "Merlin", "merlin": self.camera.header_metadata(),
                "merlin_settings": {k: (v if isinstance(v, (int, float, bool, str)) else str(v))
                                    for k, v in vars(self.camera.settings).items()}}


class BackendSimulator:
    """device_kit's ``CameraSimulatorLike`` over a backend: live view frames."""

    def __init__(self, backend: CameraBackend, instrument: Instrument) -> None:
        self.backend = backend
        #: the instrument's energy calibration (the world's spectrometer on a simulator)
        self.spectrometer = instrument.spectrometer

    def close(self) -> None:
        pass

    def get_dimensional_calibrations(self, readout_area: Geometry.IntRect | None,
                                     binning_shape: Geometry.IntSize | None) -> typing.Sequence[Calibration.Calibration]:
        spec = self.spectrometer
        bx = binning_shape.width if binning_shape else 1
        by = binning_shape.height if binning_shape else 1
        left = readout_area.left if readout_area else 0
        return [Calibration.Calibration(0.0, float(by), ""),
                Calibration.Calibration(spec.energy_offset_eV + left * spec.dispersion_eV_per_channel,
                                        spec.dispersion_eV_per_channel * bx, "eV")]

    def get_frame_data(self, readout_area: Geometry.IntRect, binning_shape: Geometry.IntSize, exposure_s: float,
                       scan_context: typing.Any, probe_position: Geometry.FloatPoint | None) -> DataAndMetadata.DataAndMetadata:
        frame = self.backend.frame(exposure_s)
        frame = frame[readout_area.top:readout_area.bottom, readout_area.left:readout_area.right]
        frame = _bin_frames(frame[None], binning_shape.height, binning_shape.width)[0]
        return DataAndMetadata.new_data_and_metadata(
            frame, intensity_calibration=Calibration.Calibration(units="counts"),
            dimensional_calibrations=self.get_dimensional_calibrations(readout_area, binning_shape),
            metadata={"lumiere": self.backend.metadata()})


class BlockSynchronizedCamera:
    """Mixin for a device_kit camera whose synchronized acquisition runs block-wise through
    :class:`_SyncState` (needs ``backend``, ``lumiere`` and ``scan_module`` attributes). Processing
    other than a plain or summed readout (masked sums) falls back to device_kit's frame-by-frame
    path, in raster order only: with a pixel order it is refused (ValueError)."""

    _sync: "_SyncState | None" = None
    _sync_cancel: threading.Event

    def _sync_parameters(self, params: camera_base.CameraFrameParameters) -> camera_base.CameraFrameParameters:
        """Adjust the frame parameters before a synchronized acquisition (hook)."""
        return params

    def acquire_synchronized_begin(self, camera_frame_parameters: camera_base.CameraFrameParameters,
                                   collection_shape: DataAndMetadata.ShapeType, **kwargs: typing.Any) -> camera_base.PartialData:
        camera_frame_parameters = self._sync_parameters(camera_frame_parameters)
        if camera_frame_parameters.processing not in ("sum_project", None, ""):
            if self.scan_module.device.pixel_order is not None:  # type: ignore[attr-defined]
                # device_kit's frame-by-frame path stores frame k at pixel k: a sparse order would
                # put every spectrum at the wrong pixel
                raise ValueError(f"a pixel order (sparse scan) needs a plain or summed readout; processing "
                                 f"{camera_frame_parameters.processing!r} would store the frames in raster order")
            return super().acquire_synchronized_begin(camera_frame_parameters, collection_shape, **kwargs)  # type: ignore[misc]
        self.set_frame_parameters(camera_frame_parameters)  # type: ignore[attr-defined]
        self._sync_cancel.clear()
        self._sync = _SyncState(self, camera_frame_parameters, tuple(collection_shape))  # type: ignore[arg-type]
        return camera_base.PartialData(self._sync.xdata, False, False, None, 0)

    def acquire_synchronized_continue(self, *, update_period: float = 1.0, **kwargs: typing.Any) -> camera_base.PartialData:
        if self._sync is None:
            return super().acquire_synchronized_continue(update_period=update_period, **kwargs)  # type: ignore[misc]
        sync = self._sync
        if self._sync_cancel.is_set():
            return camera_base.PartialData(sync.xdata, True, True, None, sync.valid)
        sync.acquire_block(update_period)
        return camera_base.PartialData(sync.xdata, sync.complete, False, None, sync.valid)

    def acquire_synchronized_end(self, **kwargs: typing.Any) -> None:
        if self._sync is None:
            return super().acquire_synchronized_end(**kwargs)  # type: ignore[misc]
        self._sync = None

    def acquire_synchronized_cancel(self) -> None:
        self._sync_cancel.set()
        super().acquire_synchronized_cancel()  # type: ignore[misc]


class LumiereEELSCamera(BlockSynchronizedCamera, CameraDevice.Camera):
    """EELS camera with a block-wise synchronized acquisition (see module docstring)."""

    def __init__(self, instrument: LumiereInstrument, scan_module: LumiereScanModule, backend: CameraBackend,
                 camera_id: str) -> None:
        super().__init__(camera_id, "eels", backend.name, BackendSimulator(backend, instrument.lumiere), instrument)
        self.lumiere = instrument.lumiere
        self.backend = backend
        self.scan_module = scan_module
        self._sync = None
        self._sync_cancel = threading.Event()

    @property
    def binning_values(self) -> typing.List[int]:
        return [1, 2, 4]


class _SyncState:
    """One synchronized acquisition in progress."""

    def __init__(self, camera: LumiereEELSCamera, params: camera_base.CameraFrameParameters,
                 collection_shape: tuple[int, ...]) -> None:
        self.camera = camera
        self.clock = camera.lumiere.clock
        self.exposure_s = params.exposure_ms / 1000.0
        self.binning = params.binning or 1
        self.summed = params.processing == "sum_project"
        self.collection_shape = collection_shape
        self.count = int(np.prod(collection_shape))
        self.done = 0  # visits acquired
        self.valid = 0  # leading pixels (row-major) that are final: what Swift may copy
        self.complete = False
        self.scan: SyncScan | None = None
        self.schedule_start_wall = 0.0
        rows, cols = camera.get_expected_dimensions(self.binning)
        datum = (cols,) if self.summed else (rows, cols)
        self.data = np.zeros(collection_shape + datum, np.float32)
        simulator = typing.cast(BackendSimulator, camera.simulator)
        calibrations = simulator.get_dimensional_calibrations(None, Geometry.IntSize(self.binning, self.binning))
        datum_cal = calibrations[1:] if self.summed else calibrations
        self.xdata = DataAndMetadata.new_data_and_metadata(
            self.data, intensity_calibration=Calibration.Calibration(units="counts"),
            dimensional_calibrations=[Calibration.Calibration() for _ in collection_shape] + list(datum_cal),
            data_descriptor=DataAndMetadata.DataDescriptor(False, len(collection_shape), len(datum)))

    def _sync_scan(self) -> SyncScan:
        """The scan frame this acquisition is synchronized with (waits for the scan to start)."""
        device = self.camera.scan_module.device
        deadline = time.monotonic() + 5.0
        while not device.is_scanning and time.monotonic() < deadline:
            time.sleep(0.002)
        sync = device.sync_scan()
        if sync.count != self.count:
            raise RuntimeError(f"synchronized scan of {sync.count} pixels {sync.frame.size_px} but the camera "
                               f"was asked for {self.count} {self.collection_shape}")
        return sync

    def acquire_block(self, update_period: float) -> None:
        """The next ~0.1 s of visits: the scan generator steps them (its channels' signals land in
        the scan's images), the backend exposes one frame per visit at the visited position (probe
        shift included) and the spectra go to the visited pixels, in visit order."""
        if self.scan is None:
            self.scan = self._sync_scan()
            self.schedule_start_wall = time.monotonic()
        scan = self.scan
        n = min(scan.n_visits - self.done, max(1, int(min(update_period, 0.1) / self.exposure_s)))
        visits = self.camera.scan_module.device.synchronized_block(n, self.exposure_s).visits
        dy, dx = self.camera.lumiere.probe_shift.get_shift_nm()
        flat = self.data.reshape((self.count,) + self.data.shape[len(self.collection_shape):])
        spectra = self.camera.backend.block(visits.y_nm + dy, visits.x_nm + dx, self.exposure_s, self.summed)
        if self.summed:
            flat[visits.order] = _bin_columns(spectra, self.binning)
        else:
            flat[visits.order] = _bin_frames(spectra, self.binning, self.binning)
        # a real detector keeps exposing while the host handles the previous block: pace against
        # the acquisition's own schedule, so host overhead between blocks is absorbed
        if not getattr(self.clock, "is_virtual", False):  # the wall clock: speed 1
            speed = getattr(self.clock, "speed", None) or 1.0
            ahead = self.schedule_start_wall + (self.done + n) * self.exposure_s / speed - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        self.done += n
        self.complete = self.done >= scan.n_visits
        self.valid = scan.valid_count()
        metadata = dict(self.xdata.metadata)
        metadata["lumiere"] = self.camera.backend.metadata()
        if scan.order is not None:
            metadata["lumiere"] = dict(metadata["lumiere"], pixel_order={"visits": int(scan.n_visits)})
        self.xdata._set_metadata(metadata)
        self.camera.scan_module.scan_box.set_pixels_done(self.valid)


def _bin_columns(spectra: np.ndarray, b: int) -> np.ndarray:
    if b == 1:
        return spectra
    w = spectra.shape[-1] // b
    return spectra[..., :w * b].reshape(spectra.shape[:-1] + (w, b)).sum(-1)


def _bin_frames(frames: np.ndarray, by: int, bx: int) -> np.ndarray:
    if by == 1 and bx == 1:
        return frames
    n, h, w = frames.shape
    return frames[:, :h // by * by, :w // bx * bx].reshape(n, h // by, by, w // bx, bx).sum(axis=(2, 4))
