"""The real CL spectrometer: the Acton driver over the serial port a :class:`~.config.CLConfig` names.

The simulated spectrometer (:class:`~.simulated.SimulatedCLSpectrometer`) uses the same driver over
its simulator's pty. There is no driver for the CL camera (the CCD) yet: :attr:`CLSpectrometer.camera`
says so.
"""
from __future__ import annotations

from typing import Any, Mapping

from detectors.common.config_tables import check_serial_address
from detectors.common.errors import DeviceTimeout
from detectors.common.transport import SerialTransport, Transport

from .acton import ActonSpectrometer
from .config import CLConfig


def check_address(config: CLConfig, where: str = "cl", *, required: bool = True) -> None:
    """Raise ``ValueError`` naming ``cl.port``/``cl.baudrate`` if missing or malformed
    (``required=False``: only if a port is given)."""
    if not required and not config.port:
        return
    check_serial_address(f"{where}.port", config.port, f"{where}.baudrate", config.baudrate)


class CLSpectrometer:
    """Connected real CL spectrometer (same attributes as the simulated one, minus the simulator).

    Attributes
    ----------
    spectrometer : ActonSpectrometer
        ``goto_nm``, ``set_grating``, ``set_slit_um``, ``pixel_wavelengths_nm`` …
    transport : Transport
    config : CLConfig
    """

    def __init__(self, spectrometer: ActonSpectrometer, transport: Transport) -> None:
        self.spectrometer = spectrometer
        self.transport = transport
        self.config = spectrometer.config

    @property
    def camera(self) -> Any:
        raise RuntimeError("no CL camera (CCD) backend for real hardware yet: only the spectrometer "
                           f"is connected ({self.transport.name or 'serial port'}); use the simulated "
                           "backend for CL spectra")

    def close(self) -> None:
        """Close the serial port (the spectrometer keeps its state; safe to call twice)."""
        self.transport.close()

    def __enter__(self) -> "CLSpectrometer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_cl_spectrometer(config: CLConfig | Mapping[str, Any], *, check: bool = True) -> CLSpectrometer:
    """Open ``config.port`` (``config.baudrate``, 8N1) and return the connected spectrometer.

    With ``check`` the centre wavelength is read once, so a silent port fails now with a
    :class:`DeviceTimeout` naming the spectrometer and the port. Raises ``ValueError`` (a key is
    missing or malformed) or ``ConnectionLost`` (the port cannot be opened).
    """
    if not isinstance(config, CLConfig):
        config = CLConfig.from_dict(config)
    check_address(config)
    transport = SerialTransport(config.port, config.baudrate, config.timeout_s)
    port_name = transport.name
    transport.name = f"CL spectrometer on {port_name}"  # names the instrument in its errors
    spectrometer = ActonSpectrometer(transport, config)
    if check:
        try:
            spectrometer.wavelength_nm()
        except DeviceTimeout as exc:
            transport.close()
            raise DeviceTimeout(f"CL spectrometer did not answer on {port_name}: {exc}",
                                device="CL spectrometer") from exc
        except BaseException:
            transport.close()
            raise
    return CLSpectrometer(spectrometer, transport)
