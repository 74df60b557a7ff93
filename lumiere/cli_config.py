"""``lumiere config [FILE]``: validate a site configuration and print the effective values."""
from __future__ import annotations

import argparse

from detectors.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default=None, help="site TOML file (default: built-in defaults)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"# {config.source}")
    for section, values in config.values.items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {value!r}")
        print()
    return 0
