"""The devices an EEGS workflow drives, their limits, their metadata and the shutter guard.

:class:`EEGSDevices` gathers the interfaces (EELS camera, tunable laser, pump supply with the
shutter, power meters, attenuator, sync box, scan) and the time base. Workflows check every
requested value against :meth:`EEGSDevices.limits` *before* any command is sent and run inside
:func:`shutter_guard`, which closes the laser shutter however they end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
import typing

import numpy as np

from detectors.interfaces import EELSCamera, ProbeShift, ScanDevice
from detectors.laser.attenuator import Attenuator
from detectors.laser.blanker import BeamSync
from detectors.laser.credo import TunableLaser
from detectors.common.errors import DeviceError, LimitError, check_range
from detectors.laser.power_meter import PowerMeter
from detectors.laser.pump import PumpSupply

T = typing.TypeVar("T")


class ShutterError(DeviceError):
    """The laser shutter could not be confirmed closed (e.g. the pump supply's connection is
    lost). The message says what failed; the light may still reach the specimen."""

    device_kind = "laser shutter"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Allowed ranges, checked before anything moves. Units in the names."""

    wavelength_nm: tuple[float, float]
    meter_wavelength_nm: tuple[float, float]
    max_current_A: float
    angle_deg: tuple[int, int]
    max_power_uW: float
    max_exposure_s: float = 60.0

    def check_wavelength(self, wavelength_nm: float) -> float:
        wl = check_range("wavelength", wavelength_nm, *self.wavelength_nm, "nm")
        check_range("power meter wavelength", wl, *self.meter_wavelength_nm, "nm")
        return wl

    def check_current(self, current_A: float) -> float:
        return check_range("diode current", current_A, 0.0, self.max_current_A, "A")

    def check_angle(self, angle_deg: float) -> int:
        if int(angle_deg) != angle_deg:
            raise LimitError(f"attenuator angle {angle_deg}° is not an integer number of degrees")
        return int(check_range("attenuator angle", angle_deg, *self.angle_deg, "°"))

    def check_power(self, power_uW: float) -> float:
        if not power_uW > 0:
            raise LimitError(f"power set point {power_uW} µW must be > 0 µW")
        return check_range("power set point", power_uW, 0.0, self.max_power_uW, "µW")

    def check_exposure(self, exposure_s: float, spectra: int) -> None:
        check_range("exposure", exposure_s, 1e-6, self.max_exposure_s, "s")
        if int(spectra) != spectra or spectra < 1:
            raise LimitError(f"spectra per point {spectra} must be an integer ≥ 1")


@dataclasses.dataclass
class EEGSDevices:
    """What an EEGS workflow drives.

    Parameters
    ----------
    camera : EELSCamera
        ``acquire_spectra(n, exposure_s)`` → (n, channels) counts summed over the non-dispersive
        axis; ``energy_axis_eV()``.
    laser : TunableLaser
        Wavelength in nm; ``wait_until_holding``.
    pump : PumpSupply
        Shutter, diode, diode current (A).
    meter : PowerMeter
        The meter the gain is normalised by (µW), e.g. the one before the column.
    attenuator : Attenuator
        Servo angle, integer degrees (larger = less light).
    blanker : BeamSync, optional
        Gating of the light to the beam (duty cycle).
    meter_out : PowerMeter, optional
        Second meter (after the column), logged beside ``meter``.
    scan : ScanDevice, optional
        For the probe position (metadata, EEGS maps) and the drift tracking's images.
    probe_shift : ProbeShift, optional
        The beam shift the drift tracking follows the specimen with (nm).
    max_power_uW : float
        Largest allowed power set point, µW.
    microscope : dict
        Static metadata (high tension, beam current, ``simulated`` and the backend of every device).
    sleep, now_s : callables
        Time base of live tasks: the instrument's clock (the wall clock as soon as one device is
        real; the simulated world's clock on a fully simulated instrument).
    """

    camera: EELSCamera
    laser: TunableLaser
    pump: PumpSupply
    meter: PowerMeter
    attenuator: Attenuator
    blanker: BeamSync | None = None
    meter_out: PowerMeter | None = None
    scan: ScanDevice | None = None
    probe_shift: ProbeShift | None = None
    max_power_uW: float = math.inf
    microscope: dict = dataclasses.field(default_factory=dict)
    sleep: typing.Callable[[float], None] = time.sleep
    now_s: typing.Callable[[], float] = time.monotonic

    @classmethod
    def from_instrument(cls, instrument: typing.Any) -> "EEGSDevices":
        """The EEGS devices of a :class:`detectors.instrument.Instrument` (opens its laser bench)."""
        bench = instrument.laser_bench
        microscope = {k: v for k, v in instrument.metadata().items() if k != "spectrometer"}
        sleep, now_s = instrument.clock.sleep, instrument.clock.now_s
        return cls(camera=instrument.eels_camera, laser=bench.laser, pump=bench.pump,
                   meter=bench.meter_in, attenuator=bench.attenuator, blanker=bench.blanker,
                   meter_out=bench.meter_out, scan=instrument.scan, probe_shift=instrument.beam_shift,
                   max_power_uW=instrument.laser_config.lock.max_power_uW,
                   microscope=microscope, sleep=sleep, now_s=now_s)

    def limits(self) -> Limits:
        """The limits of every device, from their configuration (no command is sent)."""
        meter_cfg = getattr(self.meter, "config", None)
        meter_range = ((meter_cfg.min_wavelength_nm, meter_cfg.max_wavelength_nm)
                       if meter_cfg is not None else (0.0, math.inf))
        return Limits(tuple(self.laser.wavelength_range_nm), meter_range,
                      float(self.pump.max_current_A), tuple(self.attenuator.angle_range_deg),
                      float(self.max_power_uW))

    def set_wavelength_nm(self, wavelength_nm: float, *, timeout_s: float | None = None,
                          abort: typing.Callable[[], bool] | None = None) -> float:
        """Tune, wait until the laser holds (or ``abort()``), set the meters' wavelength
        correction; returns the settle time, s."""
        self.laser.set_wavelength_nm(wavelength_nm, wait=False)
        settle = self.laser.wait_until_holding(timeout_s, abort=abort)
        for meter in (self.meter, self.meter_out):
            if meter is not None:
                meter.set_wavelength_nm(wavelength_nm)
        return settle

    def read_powers_uW(self) -> tuple[float, float]:
        """``(P_meter_uW, P_meter_out_uW)`` (NaN without a second meter)."""
        p = self.meter.read_power_uW()
        p_out = self.meter_out.read_power_uW() if self.meter_out is not None else math.nan
        return p, p_out

    def read_powers_during(self, acquire: typing.Callable[[], T]) -> tuple[T, float, float]:
        """Run ``acquire()`` (an exposure) while both meters are read once in a helper thread,
        so the power reading costs no time beside the exposure.

        Returns ``(acquire(), P_meter_uW, P_meter_out_uW)``; an error of either side is raised
        after both finished (the acquisition's first)."""
        box: dict = {}

        def read() -> None:
            try:
                box["powers"] = self.read_powers_uW()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = e

        reader = threading.Thread(target=read, name="eegs-power-reading", daemon=True)
        reader.start()
        try:
            value = acquire()
        finally:
            reader.join()
        if "error" in box:
            raise box["error"]
        return (value,) + box["powers"]

    def laser_on(self, diode_current_A: float | None) -> None:
        """Diode on, current to ``diode_current_A`` (ramped; None = leave), shutter open."""
        if diode_current_A is not None:
            self.pump.set_diode(True)
            ramp = getattr(self.pump, "ramp_current_A", None)
            if ramp is not None:
                ramp(diode_current_A, steps=4, interval_s=0.05)
            else:
                self.pump.set_current_A(diode_current_A)
        self.pump.set_shutter(True)

    def probe_position_nm(self) -> tuple[float, float] | None:
        return tuple(self.scan.probe_position_nm()) if self.scan is not None else None

    def metadata(self) -> dict:
        """Laser, blanker, camera, microscope and probe state (queries the devices)."""
        energy = np.asarray(self.camera.energy_axis_eV(), dtype=float)
        meta: dict = {
            "laser": {"wavelength_nm": float(self.laser.wavelength_nm()),
                      "wavelength_range_nm": list(self.laser.wavelength_range_nm),
                      "diode_on": bool(self.pump.diode_on()),
                      "diode_current_A": float(self.pump.current_A(1)),
                      "shutter_open": bool(self.pump.shutter_open()),
                      "attenuator_angle_deg": int(self.attenuator.angle_deg()),
                      "max_power_uW": float(self.max_power_uW)},
            "camera": {"energy_offset_eV": float(energy[0]),
                       "dispersion_eV_per_channel": float(energy[1] - energy[0]),
                       "channels": int(energy.size)},
            "microscope": dict(self.microscope),
        }
        if self.blanker is not None:
            timing = self.blanker.timing()
            gating = bool(self.blanker.gating_on()) if hasattr(self.blanker, "gating_on") else None
            meta["blanker"] = {"delay_ns": timing.delay_ns, "width_ns": timing.width_ns,
                               "rate_Hz": timing.rate_Hz, "gating": gating,
                               "duty_cycle": timing.duty_cycle if gating else 1.0}
        else:
            meta["blanker"] = {"gating": False, "duty_cycle": 1.0}
        probe = self.probe_position_nm()
        if probe is not None:
            meta["microscope"]["probe_position_nm"] = [float(probe[0]), float(probe[1])]
        return meta


def close_shutter(pump: PumpSupply) -> None:
    """Close the shutter and read it back.

    Raises
    ------
    ShutterError
        The pump supply did not answer (connection lost, timeout, bad reply) or still reports
        the shutter open. The message says so in words: the light may still be on.
    """
    try:
        pump.set_shutter(False)
        still_open = pump.shutter_open()
    except DeviceError as e:
        raise ShutterError(
            "LASER SHUTTER STATE UNKNOWN: could not close the shutter because the connection to "
            f"the pump supply (shutter) failed ({type(e).__name__}: {e}); close the shutter by "
            "hand") from e
    if still_open:
        raise ShutterError("LASER SHUTTER STILL OPEN: the pump supply reports the shutter open "
                           "after the close command; close it by hand")


@contextlib.contextmanager
def shutter_guard(pump: PumpSupply, enabled: bool = True) -> typing.Iterator[None]:
    """Close the laser shutter when the block ends, however it ends (return, abort, exception,
    lost connection). If the shutter cannot be closed, :class:`ShutterError` is raised, chained
    to the exception that ended the block (if any), whose text it repeats."""
    try:
        yield
    except BaseException as exc:
        if enabled:
            try:
                close_shutter(pump)
            except ShutterError as shutter_error:
                raise ShutterError(f"{shutter_error} — after: {type(exc).__name__}: {exc}") from exc
        raise
    else:
        if enabled:
            close_shutter(pump)
