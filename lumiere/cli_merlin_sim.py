"""``lumiere merlin-sim``: a simulated Merlin on 127.0.0.1 speaking the real control/data protocol."""
from __future__ import annotations

import argparse

from detectors.merlin import sim_cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sim_cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    for option, port in (("--control-port", args.control_port), ("--data-port", args.data_port)):
        if not 0 <= port <= 65535:  # else socket.bind's OverflowError after the first server started
            raise ValueError(f"{option} {port} is not allowed; expected a TCP port 0–65535 (0 = any free port)")
    if args.cache_frames < 0:
        raise ValueError(f"--cache-frames {args.cache_frames} is not allowed; expected an integer ≥ 0")
    return sim_cli.run(args)
