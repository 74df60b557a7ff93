"""``lumiere merlin-sim``: a simulated Merlin on 127.0.0.1 speaking the real control/data protocol."""
from __future__ import annotations

import argparse

from detectors.merlin import sim_cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sim_cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return sim_cli.run(args)
