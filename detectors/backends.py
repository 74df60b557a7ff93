"""The built-in backends of every device kind, registered in :mod:`detectors.registry`.

Each entry is a name, a factory building the device from a :class:`~detectors.registry.BuildContext`
and whether it is simulated; a real device's entry validates the addresses it needs at load time.
A new backend registers the same way from its own package (see CONTRIBUTING.md).
"""
from __future__ import annotations

import typing

from detectors.cl import SimulatedCLSpectrometer, connect_cl_spectrometer
from detectors.cl.connect import check_address as check_cl_address
from detectors.eels_spectrometer import SimulatedEELSSpectrometer, connect_eels_spectrometer
from detectors.eels_spectrometer.connect import check_addresses as check_eels_spectrometer_addresses
from detectors.laser.bench import connect_bench
from detectors.laser.simulated import SimulatedLaserBench
from detectors.merlin.camera import connect_merlin_camera, simulated_merlin_camera
from detectors.registry import BuildContext, register_backend
from detectors.scan import SimulatedScanGenerator, SimulatedScanUnit, TcpScanGenerator
from detectors.scan.adapters import SynchronizedSpectrumImager
from detectors.simulation.devices import SimulatedEELSCamera, SimulatedSpectrumImager
from detectors.vg_lumiere import SimulatedVGColumn, connect_column
from detectors.vg_lumiere.connect import check_addresses as check_vg_addresses

#: Reply timeout of the simulated instruments' drivers (laser bench, EELS spectrometer). The real
#: instruments' 0.5 s models the serial link; the simulators answer from a thread of this process,
#: which a busy Swift (render threads, kernels, a loaded 2-core machine) can keep from running that
#: long: once seen in a GUI test ("timed out waiting for 14 bytes from serial port /dev/pts/…; received b''").
SIMULATED_REPLY_TIMEOUT_S = 2.0


# -- scan generator: the world directly, the world behind our TCP scan protocol on 127.0.0.1
#    (in-process simulator), or a scan unit at host:port (detectors/scan/README.md) -------------
def _simulated_scan(ctx: BuildContext) -> SimulatedScanGenerator:
    return SimulatedScanGenerator(ctx.simulated_world("scan generator"), ctx.probe_shift,
                                  n_outputs=ctx.settings["n_outputs"])


def _tcp_simulated_scan(ctx: BuildContext) -> TcpScanGenerator:
    unit = SimulatedScanUnit(_simulated_scan(ctx), timeout_s=ctx.settings["timeout_s"])
    ctx.closers.append(unit.stop)  # the unit owns its client: stopping it closes both
    return unit.start()


def _tcp_scan(ctx: BuildContext) -> TcpScanGenerator:
    s = ctx.settings
    return TcpScanGenerator.connect(s["host"], s["port"], s["timeout_s"])


register_backend("scan", "simulated", _simulated_scan, simulated=True)
register_backend("scan", "tcp-simulated", _tcp_simulated_scan, simulated=True)
register_backend("scan", "tcp", _tcp_scan, simulated=False)


# -- EELS camera: the world directly, a Merlin simulator on 127.0.0.1 fed by the world, or a real
#    Merlin; the Merlins' energy axis is the instrument's calibration (the real one never asks the world)
def _world_imager(ctx: BuildContext, generator: typing.Any, camera: typing.Any) -> SimulatedSpectrumImager:
    # the camera is the world itself: the SI is computed there, whole sections at once
    return SimulatedSpectrumImager(ctx.simulated_world("EELS camera"), ctx.probe_shift)


def _merlin_simulator_imager(ctx: BuildContext, generator: typing.Any, camera: typing.Any
                             ) -> SynchronizedSpectrumImager:
    # the world's beam follows the generator's visits (commanded positions + probe shift), as the
    # real unit moves the real beam on the camera's triggers
    world = ctx.simulated_world("Merlin")

    def follow(visits: typing.Any) -> None:
        dy, dx = ctx.probe_shift.get_shift_nm()
        world.queue_probe_positions(visits.y_nm + dy, visits.x_nm + dx)

    return SynchronizedSpectrumImager(generator, camera, follow_beam=follow)


def _merlin(ctx: BuildContext) -> typing.Any:
    s = ctx.settings
    return connect_merlin_camera(s["host"], s["control_port"], s["data_port"], ctx.spectrometer.energy_axis_eV,
                                 timeout_s=s["timeout_s"])


register_backend("camera", "simulated", lambda ctx: SimulatedEELSCamera(ctx.simulated_world("EELS camera")),
                 simulated=True, spectrum_imager=_world_imager)
register_backend("camera", "merlin-simulated",
                 lambda ctx: simulated_merlin_camera(ctx.simulated_world("Merlin").eels_frames,
                                                     ctx.spectrometer.energy_axis_eV),
                 simulated=True, spectrum_imager=_merlin_simulator_imager)
register_backend("camera", "merlin", _merlin, simulated=False)


# -- laser bench: the real drivers over the simulators' ptys/socket on the world's clock, or the
#    [laser.*] ports on the wall clock ------------------------------------------------------------
def _simulated_laser(ctx: BuildContext) -> typing.Any:
    if ctx.laser_system is None:
        raise RuntimeError("the simulated laser bench needs the simulated world")
    server = SimulatedLaserBench(ctx.laser_system, timeout_s=SIMULATED_REPLY_TIMEOUT_S)
    ctx.closers.append(server.stop)
    ctx.simulator = server
    return server.start()


register_backend("laser", "simulated", _simulated_laser, simulated=True)
register_backend("laser", "serial", lambda ctx: connect_bench(ctx.settings, sleep=ctx.clock.sleep,
                                                              monotonic=ctx.clock.now_s), simulated=False)


# -- VG column, CL spectrometer, EELS spectrometer: simulators on ptys/sockets, or the serial/TCP
#    ports of their tables (required there, and checked wherever given) ---------------------------
register_backend("vg", "simulated",
                 lambda ctx: SimulatedVGColumn(ctx.simulated_world("VG column"), ctx.settings,
                                               probe_shift=ctx.probe_shift),
                 simulated=True, validate=lambda config: check_vg_addresses(config, required=False))
register_backend("vg", "serial", lambda ctx: connect_column(ctx.settings), simulated=False,
                 validate=lambda config: check_vg_addresses(config, required=True))


def _simulated_cl(ctx: BuildContext) -> SimulatedCLSpectrometer:
    cl = SimulatedCLSpectrometer(ctx.simulated_world("CL spectrometer"), ctx.settings)
    cl.camera.probe_shift = ctx.probe_shift  # the CL camera follows the scan's probe shift
    return cl


register_backend("cl", "simulated", _simulated_cl, simulated=True,
                 validate=lambda config: check_cl_address(config, required=False))
register_backend("cl", "serial", lambda ctx: connect_cl_spectrometer(ctx.settings), simulated=False,
                 validate=lambda config: check_cl_address(config, required=True))


def _serial_eels_spectrometer(ctx: BuildContext) -> typing.Any:
    driver = connect_eels_spectrometer(ctx.settings)
    driver.energy_calibration = ctx.spectrometer  # the driver publishes after every change
    return driver


register_backend("eels_spectrometer", "simulated",
                 lambda ctx: SimulatedEELSSpectrometer(ctx.simulated_world("EELS spectrometer"), ctx.settings,
                                                       timeout_s=SIMULATED_REPLY_TIMEOUT_S),
                 simulated=True, validate=lambda config: check_eels_spectrometer_addresses(config, required=False))
register_backend("eels_spectrometer", "serial", _serial_eels_spectrometer, simulated=False,
                 validate=lambda config: check_eels_spectrometer_addresses(config, required=True))
