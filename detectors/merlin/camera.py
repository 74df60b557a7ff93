"""The Merlin as an EELS camera (the :class:`detectors.interfaces.EELSCamera` protocol).

Speaks the real control (6341) and data (6342) protocols through :class:`MerlinControl` and
:class:`MerlinDataClient`; spectra are reduced on arrival by the fused decode → correct → bin
kernel (:func:`receive_spectra`), so no full frame is stored unless frames are asked for. The
energy axis comes from the spectrometer (the Merlin knows nothing about eV).

:func:`simulated_merlin_camera` serves the shared simulated world through an in-process
:class:`MerlinSimulator` on 127.0.0.1 and connects this same client to it: the simulated
instrument can exercise the real wire path end to end.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import typing

import numpy as np

from analysis.kernels import CorrectionMaps, compile_encoded_kernels

from .control import MerlinControl
from .errors import MerlinError
from .receiver import AcquisitionResult, MerlinDataClient
from .settings import MerlinSettings
from .simulator import MerlinSimulator
from .streaming import receive_spectra


class MerlinEELSCamera:
    """EELS camera on a Merlin (Nx1, 4 chips in a row: 256 × 1024 pixels).

    Parameters
    ----------
    control, data : MerlinControl, MerlinDataClient
        Connected clients (the data client stays connected across acquisitions).
    energy_axis : callable () -> ndarray
        Channel centres in eV (energy loss), from the spectrometer.
    settings : MerlinSettings, optional
        Counter depth, thresholds, … applied before each acquisition (frame count and
        exposure are set per call).
    maps : CorrectionMaps, optional
        Dark, gain and bad pixels for the fused correction.
    timeout_s : float
        Extra time allowed beyond ``n × exposure`` for an acquisition to arrive.
    """

    rows = 256
    columns = 1024

    def __init__(self, control: MerlinControl, data: MerlinDataClient, energy_axis: typing.Callable[[], np.ndarray],
                 *, settings: MerlinSettings | None = None, maps: CorrectionMaps | None = None,
                 timeout_s: float = 10.0) -> None:
        self.control = control
        self.data = data
        self._energy_axis = energy_axis
        self.settings = settings or MerlinSettings()
        self.maps = maps
        self.timeout_s = timeout_s
        self.last_result: AcquisitionResult | None = None
        self._lock = threading.Lock()
        self._closers: list[typing.Callable[[], None]] = []
        compile_encoded_kernels()  # now, not inside the first acquisition's deadline

    def energy_axis_eV(self) -> np.ndarray:
        return self._energy_axis()

    def read_settings(self) -> MerlinSettings:
        """The detector's current settings (waits for a running acquisition to end)."""
        with self._lock:
            return self.control.read_settings()

    def apply_settings(self, settings: MerlinSettings) -> None:
        """Send ``settings`` to the detector now and use them for the next acquisitions."""
        with self._lock:
            self._wait_idle()
            self.control.apply(settings)
            self.settings = settings

    def _wait_idle(self) -> None:
        """Wait until the detector reports idle: after the last frame of an acquisition arrives
        the Merlin still finishes its run for a moment and answers SETs with 'busy' (code 1)."""
        deadline = time.monotonic() + self.timeout_s
        while self.control.detector_status() != 0:
            if time.monotonic() > deadline:
                raise MerlinError(f"the Merlin stayed busy for {self.timeout_s} s (DETECTORSTATUS ≠ 0)",
                                  device=self.control.device)
            time.sleep(0.001)

    def header_metadata(self) -> dict:
        """The last acquisition's HDR and first MQ1 header, for data-item metadata."""
        result = self.last_result
        if result is None:
            return {}
        meta: dict = {"frames_received": int(result.n_received), "dropped": int(result.dropped)}
        for key, header in (("acquisition_header", result.acquisition_header),
                            ("frame_header", result.first_frame_header)):
            if header is not None:
                meta[key] = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                             for k, v in vars(header).items() if not k.startswith("_")}
        return meta

    def _start(self, n: int, exposure_s: float) -> None:
        if n < 1:
            raise ValueError(f"number of frames must be ≥ 1, got {n}")
        if not 0 < exposure_s <= 60:
            raise ValueError(f"exposure {exposure_s!r} s outside (0, 60] s")
        settings = dataclasses.replace(self.settings, num_frames=n, acquisition_time_ms=exposure_s * 1e3,
                                       acquisition_period_ms=exposure_s * 1e3)
        self._wait_idle()
        self.control.apply(settings)
        self.control.start_acquisition()

    def acquire_spectra(self, n: int, exposure_s: float, out: np.ndarray | None = None) -> np.ndarray:
        """``n`` corrected spectra (n, 1024) summed over the 256 rows; missing frames stay 0 and
        raise :class:`MerlinError` (with ``partial`` holding what arrived)."""
        with self._lock:
            spectra = np.zeros((n, self.columns), np.float32) if out is None else out
            self._start(n, exposure_s)
            self.last_result = receive_spectra(self.data, spectra, self.maps, n_frames=n,
                                               total_timeout_s=n * exposure_s + self.timeout_s)
            self._check_complete(self.last_result)
            return spectra

    def acquire_frames(self, n: int, exposure_s: float) -> np.ndarray:
        """``n`` raw frames (n, 256, 1024) of counts."""
        with self._lock:
            self._start(n, exposure_s)
            self.last_result = self.data.receive(n, store_frames=True, total_timeout_s=n * exposure_s + self.timeout_s)
            self._check_complete(self.last_result)
            assert self.last_result.frames is not None
            return self.last_result.frames

    @staticmethod
    def _check_complete(result: AcquisitionResult) -> None:
        if not result.complete:
            error = MerlinError(f"acquisition incomplete: {result.n_received} of {result.n_frames} frames "
                                f"received, {result.dropped} dropped")
            error.partial = result
            raise error

    def close(self) -> None:
        for close in (self.data.close, self.control.close, *self._closers):
            try:
                close()
            except OSError:
                pass


def connect_merlin_camera(host: str, control_port: int, data_port: int, energy_axis: typing.Callable[[], np.ndarray],
                          *, timeout_s: float = 5.0, settings: MerlinSettings | None = None) -> MerlinEELSCamera:
    """Connect to a Merlin (real or simulated) and return the EELS camera."""
    control = MerlinControl(host, control_port, timeout_s=timeout_s).connect()
    data = MerlinDataClient(host, data_port, idle_timeout_s=timeout_s).connect()
    return MerlinEELSCamera(control, data, energy_axis, settings=settings, timeout_s=timeout_s)


def simulated_merlin_camera(frame_source: typing.Callable[[int, float], np.ndarray],
                            energy_axis: typing.Callable[[], np.ndarray], *,
                            settings: MerlinSettings | None = None) -> MerlinEELSCamera:
    """A Merlin simulator on 127.0.0.1 (free ports) fed by ``frame_source``, and a camera
    connected to it through the real clients. Closing the camera stops the simulator."""
    # realtime=False: the frame source (the world) paces the exposure on its own clock
    simulator = MerlinSimulator("127.0.0.1", frame_source=frame_source, realtime=False).start()
    camera = connect_merlin_camera("127.0.0.1", simulator.control_port, simulator.data_port, energy_axis,
                                   settings=settings)
    camera._closers.append(simulator.stop)
    camera.simulator = simulator  # type: ignore[attr-defined]
    return camera
