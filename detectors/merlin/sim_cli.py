"""``lumiere merlin-sim``: run the simulated Merlin from the command line until interrupted."""
from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from typing import Sequence

from detectors.common.guarded_server import ServerLimits

from .frame_sources import SyntheticEelsSource
from .simulator import MerlinSimulator


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lumiere merlin-sim",
                                     description="Simulated Merlin Medipix3RX (control + data TCP servers).")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback unless --allow-remote)")
    parser.add_argument("--control-port", type=int, default=6341, help="control port (0 = any free port)")
    parser.add_argument("--data-port", type=int, default=6342, help="data port (0 = any free port)")
    parser.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic EELS frames")
    parser.add_argument("--layout", default="Nx1", choices=["Nx1", "1x1", "2x2", "2x2G"])
    parser.add_argument("--cache-frames", type=int, default=0,
                        help="cycle this many pre-encoded frames (throughput tests; 0 = fresh frames)")
    parser.add_argument("--no-realtime", action="store_true", help="send frames as fast as possible")
    parser.add_argument("--file-root", default=".",
                        help="directory FILEDIRECTORY must lie in (relative values are taken from it; default: "
                             "the current directory); FILENAME is always a plain name inside FILEDIRECTORY")
    parser.add_argument("--max-control-connections", type=int, default=2,
                        help="control connections served at a time (a Merlin takes 2); further ones are refused")
    parser.add_argument("--idle-timeout", type=float, default=600.0,
                        help="close a control connection after this many seconds without a request, and the "
                             "data connection after this many seconds without an acquisition")
    parser.add_argument("--world", action="store_true",
                        help="frames from the shared simulated instrument (EELS at its probe, real-time clock, "
                             "Nx1 layout) instead of the synthetic pattern")


def main(argv: Sequence[str] | None = None, stop_event: threading.Event | None = None) -> int:
    """Run the simulator; prints ``control_port=<p> data_port=<p>`` once listening.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (without the program name).
    stop_event : threading.Event, optional
        Stops the simulator when set (tests); otherwise runs until SIGINT/SIGTERM.

    Returns
    -------
    int
        Exit status: 0 after a clean stop, 2 for refused arguments.
    """
    return run(build_parser().parse_args(argv), stop_event)


def run(args: argparse.Namespace, stop_event: threading.Event | None = None) -> int:
    """Run the simulator for parsed arguments (see :func:`main`)."""
    if not _is_loopback(args.host) and not args.allow_remote:
        print(f"refusing to bind non-loopback host {args.host!r} without --allow-remote", file=sys.stderr)
        return 2
    n_chips = 1 if args.layout == "1x1" else 4
    shape = (256, 1024) if args.layout == "Nx1" else (256, 256) if args.layout == "1x1" else None
    source = SyntheticEelsSource(args.seed, shape=shape) if shape else None
    if source is None:
        from .frame_sources import PatternSource
        source = PatternSource((514, 514) if args.layout == "2x2G" else (512, 512))
    realtime = not args.no_realtime
    if args.world:
        from detectors.simulation.clock import SimClock
        from detectors.simulation.world import SimulatedWorld

        if args.layout != "Nx1":
            print("--world produces the EELS camera's Nx1 frames; use --layout Nx1", file=sys.stderr)
            return 2
        world = SimulatedWorld(args.seed, clock=SimClock(None if args.no_realtime else 1.0))
        source, realtime = world.eels_frames, False  # the world paces the exposure on its clock
    try:
        limits = ServerLimits(max_connections=args.max_control_connections, idle_timeout_s=args.idle_timeout)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    stop = stop_event or threading.Event()
    if stop_event is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with MerlinSimulator(args.host, args.control_port, args.data_port, frame_source=source, layout=args.layout,
                         n_chips=n_chips, cache_frames=args.cache_frames, realtime=realtime,
                         file_root=args.file_root, control_limits=limits, data_idle_timeout_s=args.idle_timeout,
                         on_refusal=lambda text: print(f"refused {text}", file=sys.stderr, flush=True)) as sim:
        print(f"control_port={sim.control_port} data_port={sim.data_port}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
