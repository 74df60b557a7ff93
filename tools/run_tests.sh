#!/usr/bin/env bash
# Install Lumière with its test extras into .venv (created if missing), make sure the Debian packages
# the GUI test needs (Xvfb, Qt's X11 libraries; docs/gui_packages.txt) are present, run the test suite.
# Usage: bash tools/run_tests.sh [--fast] [pytest arguments]
#   --fast: the fast tier: no tests marked slow, swift or gui, a tenth of the hypothesis examples (the "fast"
#           profile of tests/conftest.py), no GUI packages needed; prints how long pytest took.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
if [[ "${1:-}" == "--fast" ]]; then
    fast=1
    shift
fi

if (( ! fast )); then
    bash tools/install_gui_packages.sh
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# a contributor's editable install (CONTRIBUTING.md) stays editable; otherwise install the package
if .venv/bin/python -m pip show lumiere 2>/dev/null | grep -q "^Editable project location"; then
    .venv/bin/python -m pip install -q -e ".[test]" --config-settings editable_mode=strict
else
    .venv/bin/python -m pip install -q ".[test]"
fi
if (( ! fast )); then
    exec .venv/bin/python -m pytest "$@"
fi

start_s=$(date +%s)
status=0
.venv/bin/python -m pytest -m "not slow and not swift and not gui" --hypothesis-profile=fast "$@" || status=$?
echo "fast tier: pytest took $(( $(date +%s) - start_s )) s (exit status $status)"
exit "$status"
