#!/usr/bin/env bash
# Install Lumière with its test extras into .venv (created if missing), make sure the Debian packages
# the GUI test needs (Xvfb, Qt's X11 libraries; docs/gui_packages.txt) are present, run the test suite.
# Usage: bash tools/run_tests.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in $(grep -Ev '^\s*(#|$)' docs/gui_packages.txt); do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages for the GUI test: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[test]"
exec .venv/bin/python -m pytest "$@"
