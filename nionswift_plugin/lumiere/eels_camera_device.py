"""The simulated EELS camera (Merlin geometry, 256 × 1024) as a Swift ``camera_module``.

Live view, sequences and settings come from device_kit's ``CameraDevice.Camera`` driven by
:class:`WorldEELSSimulator`. Synchronized spectrum imaging is overridden: instead of one frame and
one scan pixel at a time (which cannot keep up at 1 ms), each ``acquire_synchronized_continue``
computes a whole block of spectra in one vectorised call on the world, waits out the rest of the
block's exposure time and advances the scan's pixel counter by the block (the external clock).
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
from nionswift_plugin.lumiere.stem_device import LumiereInstrument, LumiereScanModule, scan_frame_from_nion

EELS_CAMERA_ID = "lumiere_eels_camera"


class WorldEELSSimulator:
    """``CameraSimulatorLike``: 2-D camera frames of the world at the current probe position."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument

    def close(self) -> None:
        pass

    def get_dimensional_calibrations(self, readout_area: Geometry.IntRect | None,
                                     binning_shape: Geometry.IntSize | None) -> typing.Sequence[Calibration.Calibration]:
        spec = self.instrument.world.spectrometer
        bx = binning_shape.width if binning_shape else 1
        by = binning_shape.height if binning_shape else 1
        left = readout_area.left if readout_area else 0
        return [Calibration.Calibration(0.0, float(by), ""),
                Calibration.Calibration(spec.energy_offset_eV + left * spec.dispersion_eV_per_channel,
                                        spec.dispersion_eV_per_channel * bx, "eV")]

    def get_frame_data(self, readout_area: Geometry.IntRect, binning_shape: Geometry.IntSize, exposure_s: float,
                       scan_context: typing.Any, probe_position: Geometry.FloatPoint | None) -> DataAndMetadata.DataAndMetadata:
        world = self.instrument.world
        with world.lock:
            t0 = world.clock.now_s()
            spectrum = world.eels_counts(np.array([world.beam.probe_y_nm]), np.array([world.beam.probe_x_nm]),
                                         np.array([t0 + exposure_s / 2]), exposure_s, noise=False)[0]
            expected = world.nondispersive_profile()[:, None] * spectrum[None, :]
            frame = world.camera_frame_noise(expected)
        frame = frame[readout_area.top:readout_area.bottom, readout_area.left:readout_area.right]
        by, bx = binning_shape.height, binning_shape.width
        if by > 1 or bx > 1:
            h, w = frame.shape[0] // by, frame.shape[1] // bx
            frame = frame[:h * by, :w * bx].reshape(h, by, w, bx).sum(axis=(1, 3))
        return DataAndMetadata.new_data_and_metadata(
            frame, intensity_calibration=Calibration.Calibration(units="counts"),
            dimensional_calibrations=self.get_dimensional_calibrations(readout_area, binning_shape))


class LumiereEELSCamera(CameraDevice.Camera):
    """EELS camera with a block-vectorised synchronized acquisition (see module docstring)."""

    def __init__(self, instrument: LumiereInstrument, scan_module: LumiereScanModule) -> None:
        super().__init__(EELS_CAMERA_ID, "eels", "Lumière EELS (simulated Merlin)",
                         WorldEELSSimulator(instrument.lumiere), instrument)
        self.lumiere = instrument.lumiere
        self.scan_module = scan_module
        self._sync: _SyncState | None = None
        self._sync_cancel = threading.Event()

    @property
    def binning_values(self) -> typing.List[int]:
        return [1, 2, 4]

    def acquire_synchronized_begin(self, camera_frame_parameters: camera_base.CameraFrameParameters,
                                   collection_shape: DataAndMetadata.ShapeType, **kwargs: typing.Any) -> camera_base.PartialData:
        if camera_frame_parameters.processing not in ("sum_project", None, ""):
            return super().acquire_synchronized_begin(camera_frame_parameters, collection_shape, **kwargs)
        self.set_frame_parameters(camera_frame_parameters)
        self._sync_cancel.clear()
        self._sync = _SyncState(self, camera_frame_parameters, tuple(collection_shape))
        return camera_base.PartialData(self._sync.xdata, False, False, None, 0)

    def acquire_synchronized_continue(self, *, update_period: float = 1.0, **kwargs: typing.Any) -> camera_base.PartialData:
        if self._sync is None:
            return super().acquire_synchronized_continue(update_period=update_period, **kwargs)
        sync = self._sync
        if self._sync_cancel.is_set():
            return camera_base.PartialData(sync.xdata, True, True, None, sync.done)
        sync.acquire_block(update_period)
        return camera_base.PartialData(sync.xdata, sync.done == sync.count, False, None, sync.done)

    def acquire_synchronized_end(self, **kwargs: typing.Any) -> None:
        if self._sync is None:
            return super().acquire_synchronized_end(**kwargs)
        self._sync = None

    def acquire_synchronized_cancel(self) -> None:
        self._sync_cancel.set()
        super().acquire_synchronized_cancel()


class _SyncState:
    """One synchronized acquisition in progress."""

    def __init__(self, camera: LumiereEELSCamera, params: camera_base.CameraFrameParameters,
                 collection_shape: tuple[int, ...]) -> None:
        self.camera = camera
        self.world = camera.lumiere.world
        self.exposure_s = params.exposure_ms / 1000.0
        self.binning = params.binning or 1
        self.summed = params.processing == "sum_project"
        self.collection_shape = collection_shape
        self.count = int(np.prod(collection_shape))
        self.done = 0
        self.positions: tuple[np.ndarray, np.ndarray] | None = None
        self.schedule_start_wall = 0.0
        rows, cols = camera.get_expected_dimensions(self.binning)
        datum = (cols,) if self.summed else (rows, cols)
        self.data = np.zeros(collection_shape + datum, np.float32)
        simulator = typing.cast(WorldEELSSimulator, camera.simulator)
        calibrations = simulator.get_dimensional_calibrations(None, Geometry.IntSize(self.binning, self.binning))
        datum_cal = calibrations[1:] if self.summed else calibrations
        self.xdata = DataAndMetadata.new_data_and_metadata(
            self.data, intensity_calibration=Calibration.Calibration(units="counts"),
            dimensional_calibrations=[Calibration.Calibration() for _ in collection_shape] + list(datum_cal),
            data_descriptor=DataAndMetadata.DataDescriptor(False, len(collection_shape), len(datum)))

    def _scan_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Probe positions (flat) of the scan this acquisition is synchronized with."""
        device = self.camera.scan_module.device
        deadline = time.monotonic() + 5.0
        while not device.is_scanning and time.monotonic() < deadline:
            time.sleep(0.002)
        frame = scan_frame_from_nion(device.current_frame_parameters)
        frame = self.camera.lumiere.probe_shift.apply(frame)
        y, x = frame.positions_nm()
        y, x = y.ravel(), x.ravel()
        if y.size != self.count:  # a scan shape Swift did not tell us about: repeat the last position
            y = np.resize(y, self.count)
            x = np.resize(x, self.count)
        return y, x

    def acquire_block(self, update_period: float) -> None:
        if self.positions is None:
            self.positions = self._scan_positions()
            self.schedule_start_wall = time.monotonic()
        # a real detector keeps exposing while the host handles the previous block: pace against
        # the acquisition's own schedule, not block by block, so host overhead is absorbed
        speed = self.world.clock.speed or 1.0
        start_wall = self.schedule_start_wall + self.done * self.exposure_s / speed
        n = min(self.count - self.done, max(1, int(min(update_period, 0.1) / self.exposure_s)))
        block = slice(self.done, self.done + n)
        world = self.world
        with world.lock:
            t0 = world.clock.now_s()
            times = t0 + (np.arange(n) + 0.5) * self.exposure_s
            y, x = self.positions[0][block], self.positions[1][block]
            flat = self.data.reshape((self.count,) + self.data.shape[len(self.collection_shape):])
            if self.summed:
                spectra = world.eels_counts(y, x, times, self.exposure_s)
                flat[block] = _bin_columns(spectra, self.binning)
            else:
                expected = world.eels_counts(y, x, times, self.exposure_s, noise=False)
                frames = expected[:, None, :] * world.nondispersive_profile()[None, :, None]
                frames = world.camera_frame_noise(frames)
                flat[block] = _bin_frames(frames, self.binning)
            world.pace(start_wall, n * self.exposure_s)
        self.done += n
        self.camera.scan_module.scan_box._advance_pixel(n)


def _bin_columns(spectra: np.ndarray, b: int) -> np.ndarray:
    if b == 1:
        return spectra
    w = spectra.shape[-1] // b
    return spectra[..., :w * b].reshape(spectra.shape[:-1] + (w, b)).sum(-1)


def _bin_frames(frames: np.ndarray, b: int) -> np.ndarray:
    if b == 1:
        return frames
    n, h, w = frames.shape
    return frames[:, :h // b * b, :w // b * b].reshape(n, h // b, b, w // b, b).sum(axis=(2, 4))
