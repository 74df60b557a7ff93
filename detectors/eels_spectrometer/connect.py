"""The real spectrometer: the driver over the serial port and TCP address a config names.

The simulated spectrometer (:class:`~.simulated.SimulatedEELSSpectrometer`) builds the same driver
through :func:`driver_from_transports` over its simulators' pty/socket.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from detectors.common.config_tables import check_serial_address, check_tcp_address
from detectors.common.errors import ConnectionLost
from detectors.common.transport import SerialTransport, SocketTransport, Transport

from .config import EELSSpectrometerConfig
from .driver import EELSSpectrometerDriver
from .presets import PresetTable
from .protocol import DriftTubeSupply, LensUnit


def check_addresses(config: EELSSpectrometerConfig, where: str = "eels_spectrometer", *,
                    required: bool = True) -> None:
    """Raise ``ValueError`` naming the first missing or malformed key (``port``, ``baudrate``,
    ``drift_tube_host``, ``drift_tube_port``). ``required=False`` checks only what is given
    (the simulated backend)."""
    if required or config.port:
        check_serial_address(f"{where}.port", config.port, f"{where}.baudrate", config.baudrate)
    if required or config.drift_tube_host or config.drift_tube_port:
        check_tcp_address(f"{where}.drift_tube_host", config.drift_tube_host,
                          f"{where}.drift_tube_port", config.drift_tube_port)


def driver_from_transports(lens: Transport, drift_tube: Transport, config: EELSSpectrometerConfig,
                           presets: PresetTable | None = None, *, initialise: bool = True,
                           owned: tuple[Transport, ...] = (),
                           after_drift_tube_write: Callable[[int], None] | None = None) -> EELSSpectrometerDriver:
    """The driver on two open transports; with ``initialise`` the configured preset and 0 V are
    sent (a silent lens unit raises ``DeviceTimeout`` naming it; ``owned`` are closed then).
    ``after_drift_tube_write``: see :class:`~.protocol.DriftTubeSupply` (the simulator's sync)."""
    driver = EELSSpectrometerDriver(
        LensUnit(lens, config.timeout_s, config.reply_gap_s),
        DriftTubeSupply(drift_tube, config.drift_tube_counts_per_V, config.drift_tube_range_V,
                        after_drift_tube_write),
        presets if presets is not None else config.presets(), config, owned)
    if initialise:
        try:
            driver.initialise()
        except BaseException:
            driver.close()
            raise
    return driver


def connect_eels_spectrometer(config: EELSSpectrometerConfig | Mapping[str, Any], *,
                              initialise: bool = True) -> EELSSpectrometerDriver:
    """Open the lens unit's ``config.port`` (``baudrate`` 8N1) and the drift-tube supply at
    ``drift_tube_host``:``drift_tube_port``, load the presets and return the driver.

    Raises ``ValueError`` (a key missing or malformed, a bad settings file), ``ConnectionLost``
    (a port cannot be opened; the message names the unit) or ``DeviceTimeout`` (the lens unit is
    silent; the message names it and the port).
    """
    if not isinstance(config, EELSSpectrometerConfig):
        config = EELSSpectrometerConfig.from_dict(config)
    check_addresses(config)
    presets = config.presets()  # a bad file, HT or preset fails before anything is opened
    try:
        lens = SerialTransport(config.port, config.baudrate, config.timeout_s)
    except ConnectionLost as exc:
        raise ConnectionLost(f"EELS spectrometer lens unit: {exc}") from exc
    try:
        drift = SocketTransport(config.drift_tube_host, config.drift_tube_port, config.timeout_s,
                                config.drift_tube_connect_timeout_s)
    except ConnectionLost as exc:
        lens.close()
        raise ConnectionLost(f"EELS drift-tube supply: {exc}") from exc
    return driver_from_transports(lens, drift, config, presets, initialise=initialise, owned=(lens, drift))
