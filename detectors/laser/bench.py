"""The whole laser bench as one object of connected drivers, and connecting it from the config."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .attenuator import ServoAttenuator
from .blanker import BlankerBox
from .config import LaserConfig
from .credo import SirahCredo
from .power_meter import ThorlabsPM100, read_transmission
from .pump import SpectraPhysicsPump
from detectors.common.transport import SerialTransport, SocketTransport, Transport

#: how each instrument of the bench is named in its errors ("pump supply on serial port COM4: …")
DEVICE_NAMES = {"laser": "laser", "pump": "pump supply", "meter_in": "power meter (in)",
                "meter_out": "power meter (out)", "attenuator": "attenuator", "blanker": "sync box"}


@dataclasses.dataclass
class LaserBench:
    """Connected drivers of the whole bench (real or simulated instruments behind them)."""

    laser: SirahCredo
    pump: SpectraPhysicsPump
    meter_in: ThorlabsPM100
    meter_out: ThorlabsPM100
    attenuator: ServoAttenuator
    blanker: BlankerBox

    def set_wavelength_nm(self, wavelength_nm: float, wait: bool = True) -> float:
        """Tune the laser and update both meters' wavelength correction; returns settle time, s."""
        self.laser.check_wavelength(wavelength_nm)
        settle = self.laser.set_wavelength_nm(wavelength_nm, wait=wait)
        for meter in (self.meter_in, self.meter_out):
            meter.set_wavelength_nm(wavelength_nm)
        return settle

    def transmission(self) -> tuple[float, float, float]:
        """``(P_in_uW, P_out_uW, P_out / P_in)``."""
        return read_transmission(self.meter_in, self.meter_out)

    def make_safe(self) -> None:
        """Close the shutter, ramp the pump down, switch the diode off."""
        self.pump.make_safe()

    def transports(self) -> list[Transport]:
        return [self.laser.transport, self.pump.channel.transport, self.meter_in.channel.transport,
                self.meter_out.channel.transport, self.attenuator.channel.transport,
                self.blanker.channel.transport]

    def close(self) -> None:
        """Close every transport (does not change the instruments' state)."""
        for transport in self.transports():
            transport.close()


def connect_bench(config: LaserConfig, *, sleep: Callable[[float], None] = time.sleep,
                  monotonic: Callable[[], float] = time.monotonic) -> LaserBench:
    """Open every instrument named in ``config`` (serial ports, the sync box's host:port).

    Parameters
    ----------
    config : LaserConfig
        ``credo.port``, ``pump.port``, ``meter.port_in``, ``meter.port_out``,
        ``attenuator.port`` (serial device paths or pyserial URLs) and ``blanker.host``/``port``.
    sleep, monotonic : callables
        Time base for polling and ramps (wall clock for hardware).

    Raises
    ------
    ValueError
        A port is not configured.
    ConnectionLost
        A port cannot be opened (already opened transports are closed again).
    """
    ports = {"credo.port": config.credo.port, "pump.port": config.pump.port,
             "meter.port_in": config.meter.port_in, "meter.port_out": config.meter.port_out,
             "attenuator.port": config.attenuator.port}
    missing = [name for name, port in ports.items() if not port]
    if missing:
        raise ValueError(f"laser config has no serial port for {', '.join(missing)}")
    opened: list[Transport] = []

    def serial(port: str, baudrate: int, timeout_s: float, device: str) -> Transport:
        opened.append(SerialTransport(port, baudrate=baudrate, timeout_s=timeout_s))
        opened[-1].name = f"{device} on {opened[-1].name}"  # names the instrument in its errors
        return opened[-1]

    try:
        c = config
        names = DEVICE_NAMES
        laser = SirahCredo(serial(c.credo.port, c.credo.baudrate, c.credo.timeout_s, names["laser"]),
                           c.credo, sleep=sleep, monotonic=monotonic)
        pump = SpectraPhysicsPump(serial(c.pump.port, c.pump.baudrate, c.pump.timeout_s, names["pump"]),
                                  c.pump, sleep=sleep)
        meter_in = ThorlabsPM100(serial(c.meter.port_in, c.meter.baudrate, c.meter.timeout_s,
                                        names["meter_in"]), c.meter)
        meter_out = ThorlabsPM100(serial(c.meter.port_out, c.meter.baudrate, c.meter.timeout_s,
                                         names["meter_out"]), c.meter)
        attenuator = ServoAttenuator(serial(c.attenuator.port, c.attenuator.baudrate,
                                            c.attenuator.timeout_s, names["attenuator"]), c.attenuator)
        opened.append(SocketTransport(c.blanker.host, c.blanker.port, c.blanker.timeout_s))
        opened[-1].name = f"{DEVICE_NAMES['blanker']} at {opened[-1].name}"
        blanker = BlankerBox(opened[-1], c.blanker)
    except BaseException:
        for transport in opened:
            transport.close()
        raise
    return LaserBench(laser, pump, meter_in, meter_out, attenuator, blanker)
