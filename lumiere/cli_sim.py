"""``lumiere sim``: the simulated microscope as a process of its own, behind the real wire protocols.

One process, one simulated world (:class:`~detectors.simulation.site_server.SimulatedSite`): the
scan unit, the Merlin, the laser bench, the VG column and the CL spectrometer chosen on the command
line are served on 127.0.0.1 and a site file whose *real* backends point at them is written (or
printed). Any client — ``lumiere si --config SITE``, Swift with ``LUMIERE_CONFIG=SITE``, a test —
then drives a coherent simulated microscope through exactly the code that drives the hardware.
Runs until Ctrl-C or SIGTERM, then stops every server (laser shutter closed).

Output: one line per instrument (where it listens), ``site file: PATH`` (or the site file's TOML
text), then ``ready`` once every server accepts connections.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import signal
import threading

from detectors.common.guarded_server import DEFAULT_SERIAL_SERVER
from detectors.simulation.site_server import SITE_DEVICES, SimulatedSite, site_file_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("devices", nargs="*", metavar="DEVICE", default=list(SITE_DEVICES), type=_device,
                        help=f"instruments to serve, any of: {' '.join(SITE_DEVICES)} (default: all)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the simulated world (specimen, drift, noise; default: [world] seed of --config, 0)")
    parser.add_argument("--site-file", type=pathlib.Path, default=None,
                        help="write the site file pointing at the servers here (default: print it)")
    parser.add_argument("--tcp", action="store_true",
                        help="serve the serial instruments on 127.0.0.1 sockets (socket://127.0.0.1:PORT "
                             "ports) instead of pseudo-terminals" +
                             ("" if DEFAULT_SERIAL_SERVER == "pty" else " (always, on this platform)"))
    parser.add_argument("--config", default=None,
                        help="site file giving the simulated world ([world] drift, [beam], [spectrometer]) and the "
                             "simulators' limits; its backends and ports are ignored")


def _device(name: str) -> str:
    # a type, not choices: argparse would check the default list itself against the choices
    if name not in SITE_DEVICES:
        raise argparse.ArgumentTypeError(f"unknown device {name!r}; choose from {' '.join(SITE_DEVICES)}")
    return name


def run(args: argparse.Namespace, stop_event: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or until ``stop_event`` is set); 0 after a clean stop."""
    serial = "tcp" if args.tcp else DEFAULT_SERIAL_SERVER
    stop = stop_event or threading.Event()
    if stop_event is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with SimulatedSite(args.devices, seed=args.seed, serial=serial, config=args.config) as site:
        world = site.world
        print(f"lumiere sim: one simulated world (seed {world.seed}, wall-clock time), pid {os.getpid()}; "
              f"serial instruments on {'ptys' if serial == 'pty' else 'sockets'}", flush=True)
        for line in site.describe():
            print("  " + line, flush=True)
        comment = (f"written by `lumiere sim` (pid {os.getpid()}, seed {world.seed}); valid while it runs\n"
                   "every backend is real: the clients speak the instruments' wire protocols to the simulators")
        text = site_file_text(site.site_tables(), comment)
        if args.site_file is not None:
            _write_atomically(args.site_file, text)
            print(f"site file: {args.site_file}", flush=True)
        else:
            print(text, flush=True)
        print("ready (Ctrl-C stops)", flush=True)
        while not stop.wait(0.2):
            pass
    print("lumiere sim: stopped", flush=True)
    return 0


def _write_atomically(path: pathlib.Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a site file."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
