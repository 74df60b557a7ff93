#!/usr/bin/env bash
# Install Lumière with its test extras into .venv (created if missing), make sure the Debian packages
# the GUI test needs (Xvfb, Qt's X11 libraries; docs/gui_packages.txt) are present, run the test suite.
# Usage: bash tools/run_tests.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install_gui_packages.sh

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[test]"
exec .venv/bin/python -m pytest "$@"
