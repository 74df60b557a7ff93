"""The CL spectrometer's camera as a Swift ``camera_module`` ("lumiere_cl_camera").

A CCD behind the Acton spectrometer read in full vertical binning: one 1024-pixel spectrum per
exposure (sensor 1 × 1024, so Swift shows live spectra as 1-D data). The wavelength axis (nm)
comes from the spectrometer through its command layer: the least-squares line through the
pixels' exact wavelengths (``linear_calibration``; off by up to a few pixels at the edges), or,
with :attr:`CLBackend.uniform_axis`, spectra rebinned onto equal wavelength bins
(``resample_to_uniform``, counts conserved) whose linear calibration is exact.

Live view and sequences come from device_kit's ``CameraDevice.Camera``; the synchronized spectrum
image is block-wise like the EELS camera's (``eels_camera_device._SyncState``): each
``acquire_synchronized_continue`` computes ~0.1 s of spectra at the scan's probe positions in one
call and advances the scan's pixel counter by the block. The result of
``scan_hs.grab_synchronized(camera=<CL hardware source>, ...)`` is an (y, x, λ) SI in nm, nm, nm.

:class:`CLBackend` is also what the "CL spectrometer" panel drives (grating, centre wavelength,
slit, exit mirror): every access to the spectrometer's serial line goes through its lock.
"""
from __future__ import annotations

import copy
import threading
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.device_kit import CameraDevice
from nion.instrumentation import camera_base
from nion.utils import Geometry

from detectors.cl import LinearCalibration, resample_to_uniform
from detectors.cl.acton import MIRRORS
from detectors.instrument import Instrument
from nionswift_plugin.lumiere.eels_camera_device import BlockSynchronizedCamera, _SyncState
from nionswift_plugin.lumiere.scan_device import LumiereScanModule
from nionswift_plugin.lumiere.stem_device import INSTRUMENT_ID, Control, LumiereInstrument

CL_CAMERA_ID = "lumiere_cl_camera"
CL_PIXELS = 1024


class CLBackend:
    """The simulated CL spectrometer + CCD of an :class:`Instrument` (started on first use)."""

    name = "Lumière CL (Acton + CCD, simulated)"

    def __init__(self, instrument: Instrument, *, uniform_axis: bool = False) -> None:
        self.instrument = instrument
        self.world = instrument.world
        #: rebin spectra onto equal wavelength bins (exact linear axis) instead of the fitted line
        self.uniform_axis = uniform_axis
        self.lock = threading.RLock()
        self._edges: np.ndarray | None = None
        self._calibration: LinearCalibration | None = None

    @property
    def cl(self) -> typing.Any:
        return self.instrument.cl

    # -- calibration ---------------------------------------------------------------------------
    def refresh_calibration(self) -> LinearCalibration:
        """Read grating and centre wavelength from the spectrometer; recompute the nm axis."""
        with self.lock:
            spectrometer = self.cl.spectrometer
            config = spectrometer.config
            grating = config.grating(spectrometer.grating_index())
            center = spectrometer.wavelength_nm()
            self._edges = config.geometry.pixel_edges_nm(grating, center)
            if self.uniform_axis:
                self._calibration = resample_to_uniform(np.zeros(CL_PIXELS), self._edges)[1]
            else:
                self._calibration = config.geometry.linear_calibration(grating, center)
            return self._calibration

    def calibration(self) -> LinearCalibration:
        with self.lock:
            return self._calibration or self.refresh_calibration()

    def nm_calibration(self, binning: int = 1, left: int = 0) -> Calibration.Calibration:
        c = self.calibration()
        scale = c.scale_nm * binning
        # the centre of a binned pixel: mean of its pixels
        return Calibration.Calibration(c.offset_nm + c.scale_nm * (left + (binning - 1) / 2), scale, "nm")

    def _to_axis(self, counts: np.ndarray) -> np.ndarray:
        if not self.uniform_axis:
            return counts
        if self._edges is None:
            self.refresh_calibration()
        return resample_to_uniform(counts, self._edges)[0].astype(np.float32)

    # -- spectra -------------------------------------------------------------------------------
    def frame(self, exposure_s: float) -> np.ndarray:
        """One (1, 1024) spectrum at the parked probe (the CCD in full vertical binning)."""
        return self._to_axis(self.cl.camera.acquire_spectrum(exposure_s))[None, :]

    def block(self, y_nm: np.ndarray, x_nm: np.ndarray, exposure_s: float, summed: bool) -> np.ndarray:
        """Spectra at these probe positions, one exposure each: (n, 1024), or (n, 1, 1024) frames.
        In real time the caller paces blocks; on a virtual clock the block's time passes here."""
        world = self.world
        camera = self.cl.camera
        with world.lock:
            times = world.clock.now_s() + (np.arange(y_nm.size) + 0.5) * exposure_s
            out = world.camera_frame_noise(camera.expected_counts(y_nm, x_nm, times, exposure_s))
            if world.clock.is_virtual:
                world.clock.advance(y_nm.size * exposure_s)
        out = self._to_axis(out)
        return out if summed else out[:, None, :]

    def metadata(self) -> dict:
        c = self.calibration()
        return {"camera": "CL (simulated CCD)", "cl_calibration": {
            "offset_nm": c.offset_nm, "scale_nm": c.scale_nm, "max_error_px": c.max_error_px,
            "uniform_axis": self.uniform_axis}}

    # -- spectrometer settings (panel) ---------------------------------------------------------
    def status(self) -> dict[str, typing.Any]:
        with self.lock:
            s = self.cl.spectrometer
            index = s.grating_index()
            grating = s.config.grating(index)
            return {"grating": index, "grating_text": f"{grating.lines_per_mm:g} l/mm, blaze {grating.blaze_nm:g} nm",
                    "center_nm": s.wavelength_nm(), "slit_um": s.slit_um(), "exit_mirror": s.exit_mirror(),
                    "gratings": len(s.config.gratings)}

    def check(self, grating: typing.Any, center_nm: typing.Any, slit_um: typing.Any, exit_mirror: typing.Any) -> tuple[int, float, float, str]:
        """Validate everything before anything is sent; ValueError names the bad value."""
        config = self.cl.spectrometer.config
        n = len(config.gratings)
        try:
            g = float(grating)
        except (TypeError, ValueError):
            raise ValueError(f"Grating = {grating!r}; allowed: an integer 1–{n}") from None
        if g != int(g) or not 1 <= g <= n:
            raise ValueError(f"Grating = {grating}; allowed: an integer 1–{n}")
        lo, hi = config.wavelength_range_nm
        center = _number("Centre wavelength", center_nm, lo, hi, "nm")
        lo, hi = config.slit_range_um
        slit = _number("Slit", slit_um, lo, hi, "µm")
        mirror = str(exit_mirror).strip().upper()
        if mirror not in MIRRORS:
            raise ValueError(f"Exit mirror = {exit_mirror!r}; allowed: {', '.join(MIRRORS)}")
        return int(g), center, slit, mirror

    def apply(self, grating: int, center_nm: float, slit_um: float, exit_mirror: str) -> LinearCalibration:
        """Turn the turret (if needed), move to the centre, set the slit and mirror; the new axis."""
        with self.lock:
            s = self.cl.spectrometer
            if s.grating_index() != grating:
                s.set_grating(grating)
            s.goto_nm(center_nm)
            s.set_slit_um(slit_um)
            if s.exit_mirror() != exit_mirror:
                s.set_exit_mirror(exit_mirror)
            return self.refresh_calibration()


def _number(label: str, value: typing.Any, lo: float, hi: float, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} = {value!r} is not a number; allowed {lo:g}–{hi:g} {unit}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{label} = {v:g} {unit} outside the allowed {lo:g}–{hi:g} {unit}")
    return v


class CLSimulator:
    """device_kit's ``CameraSimulatorLike`` over the CL backend (live spectra)."""

    def __init__(self, backend: CLBackend) -> None:
        self.backend = backend

    def close(self) -> None:
        pass

    def get_dimensional_calibrations(self, readout_area: Geometry.IntRect | None,
                                     binning_shape: Geometry.IntSize | None) -> typing.Sequence[Calibration.Calibration]:
        bx = binning_shape.width if binning_shape else 1
        left = readout_area.left if readout_area else 0
        return [Calibration.Calibration(), self.backend.nm_calibration(bx, left)]

    def get_frame_data(self, readout_area: Geometry.IntRect, binning_shape: Geometry.IntSize, exposure_s: float,
                       scan_context: typing.Any, probe_position: Geometry.FloatPoint | None) -> DataAndMetadata.DataAndMetadata:
        frame = self.backend.frame(exposure_s)[:, readout_area.left:readout_area.right]
        return DataAndMetadata.new_data_and_metadata(
            frame, intensity_calibration=Calibration.Calibration(units="counts"),
            dimensional_calibrations=self.get_dimensional_calibrations(readout_area, binning_shape),
            metadata={"lumiere": self.backend.metadata()})


class CLCalibrator:
    """``camera_base.CameraCalibrator``: the nm axis from the spectrometer (counts, no angles).

    Live frames of the 1-row sensor arrive as 1-D spectra (device_kit squeezes them), so a
    (1, N) readout gets the single nm calibration."""

    def __init__(self, backend: CLBackend) -> None:
        self.backend = backend

    def get_signal_calibrations(self, frame_parameters: camera_base.CameraFrameParameters, data_shape: typing.Sequence[int],
                                **kwargs: typing.Any) -> typing.Sequence[Calibration.Calibration]:
        nm = self.backend.nm_calibration()
        if len(data_shape) == 1 or data_shape[0] == 1:
            return (nm,)
        return (Calibration.Calibration(), nm)

    def get_intensity_calibration(self, camera_frame_parameters: camera_base.CameraFrameParameters,
                                  **kwargs: typing.Any) -> Calibration.Calibration:
        return Calibration.Calibration(units="counts")

    def get_counts_per_electron(self, **kwargs: typing.Any) -> float | None:
        return None

    def get_pixel_angle(self, **kwargs: typing.Any) -> float | None:
        return None


class LumiereCLCamera(BlockSynchronizedCamera, CameraDevice.Camera):
    """The CL camera (see module docstring); ``camera_type`` "cl", sensor 1 × 1024."""

    def __init__(self, instrument: LumiereInstrument, scan_module: LumiereScanModule, backend: CLBackend,
                 camera_id: str = CL_CAMERA_ID) -> None:
        super().__init__(camera_id, "cl", backend.name, CLSimulator(backend), instrument)
        self.lumiere = instrument.lumiere
        self.backend = backend
        self.scan_module = scan_module
        self._sync: _SyncState | None = None
        self._sync_cancel = threading.Event()
        # the wavelength axis as named controls, for camera_base's calibration_controls
        instrument.vg_values.controls.update({
            "cl_x_scale": Control(lambda: self.backend.calibration().scale_nm, None),
            "cl_x_offset": Control(lambda: self.backend.calibration().offset_nm, None),
            "cl_y_scale": Control(lambda: 1.0, None),
            "cl_y_offset": Control(lambda: 0.0, None),
        })

    @property
    def binning_values(self) -> typing.List[int]:
        return [1]

    def get_expected_dimensions(self, binning: int) -> typing.Tuple[int, int]:
        return 1, CL_PIXELS // (binning or 1)

    @property
    def calibration_controls(self) -> typing.Mapping[str, typing.Union[str, int, float]]:
        controls = dict(super().calibration_controls)
        controls.update({"x_units_value": "nm", "y_units_value": ""})
        return controls

    def get_camera_calibrator(self, *, instrument_controller: typing.Any, **kwargs: typing.Any) -> CLCalibrator:
        return CLCalibrator(self.backend)

    def set_frame_parameters(self, frame_parameters: camera_base.CameraFrameParameters) -> None:
        super().set_frame_parameters(_unbinned(frame_parameters))

    def start_live(self) -> None:
        self.backend.refresh_calibration()
        super().start_live()

    def _sync_parameters(self, params: camera_base.CameraFrameParameters) -> camera_base.CameraFrameParameters:
        self.backend.refresh_calibration()
        return _unbinned(params)


def _unbinned(frame_parameters: camera_base.CameraFrameParameters) -> camera_base.CameraFrameParameters:
    """The CCD is read in full vertical binning; no horizontal binning (binning 1 always)."""
    if (frame_parameters.binning or 1) == 1:
        return frame_parameters
    frame_parameters = copy.deepcopy(frame_parameters)
    frame_parameters.binning = 1
    return frame_parameters


def create_cl_camera(stem: LumiereInstrument, scan_module: LumiereScanModule) -> tuple[LumiereCLCamera, CameraDevice.CameraModule]:
    camera = LumiereCLCamera(stem, scan_module, CLBackend(stem.lumiere))
    settings = CameraDevice.CameraSettings(CL_CAMERA_ID, 0.1)
    for i in range(3):  # device_kit's default modes bin by 2
        fp = settings.get_frame_parameters(i)
        fp.binning = 1
        settings.set_frame_parameters(i, fp)
    module = CameraDevice.CameraModule(INSTRUMENT_ID, camera, settings)
    return camera, module
