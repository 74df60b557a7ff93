"""The contributor's editable install (CONTRIBUTING.md) must leave the plug-in visible to Swift.

Swift finds plug-ins with ``pkgutil.iter_modules(nionswift_plugin.__path__)`` and reads
``<module_finder.path>/<name>/manifest.json`` (``nion.swift.model.PlugInManager.ModuleAdapter``).
setuptools' default ("lenient") editable mode serves the ``nionswift_plugin`` namespace through a path
hook that ``iter_modules`` cannot list, so Swift started without our devices; ``editable_mode=strict``
(a link tree of the sources) is listed. This runs the documented command with ``--prefix`` into a
temporary directory, then looks from a Python that sees only that directory (``-I -S``: no PYTHONPATH, no site-packages),
as Swift would.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # pip builds the editable wheel in an isolated environment (~10 s)

_SWIFTS_VIEW = """
import json, os, pkgutil, site, sys
site.addsitedir(sys.argv[1])
import nionswift_plugin
found = {m.name: getattr(m.module_finder, "path", None) for m in pkgutil.iter_modules(nionswift_plugin.__path__)}
manifest = os.path.join(found["lumiere"], "lumiere", "manifest.json") if found.get("lumiere") else None
print(json.dumps({"found": sorted(found), "manifest": manifest and os.path.exists(manifest) and json.load(open(manifest))}))
"""


def test_strict_editable_install_is_seen_by_swifts_plug_in_discovery(tmp_path):
    # --ignore-installed: without it pip uninstalls the lumiere of the running venv before installing into the
    # prefix, and the README's test command left the quick start's `lumiere` command gone
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-input", "--ignore-installed", "-e", str(ROOT),
                              "--config-settings", "editable_mode=strict", "--prefix", str(tmp_path)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    site_packages = next(tmp_path.glob("lib*/python*/site-packages"), None) or tmp_path / "Lib" / "site-packages"
    view = subprocess.run([sys.executable, "-I", "-S", "-c", _SWIFTS_VIEW, str(site_packages)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert view.returncode == 0, view.stderr
    seen = json.loads(view.stdout)
    assert seen["found"] == ["lumiere"], seen
    assert seen["manifest"] and seen["manifest"]["identifier"] == "lumiere", seen
