#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Qt needs to open Nion Swift's window (and Xvfb for the GUI tests):
# docs/gui_packages.txt. Installs only what is missing; uses sudo when not root. Nothing to do on Windows/macOS.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for pkg in $(grep -Ev '^\s*(#|$)' docs/gui_packages.txt); do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages for Qt/Swift: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
