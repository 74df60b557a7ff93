"""The layers of the README, checked: import-linter's contracts in pyproject.toml, and imports
that must stay lazy so that every module imports on Windows.

``analysis <- detectors <- lumiere core (sinks, tasks) <- eegs, drift_eels <- front ends (lumiere.cli*,
lumiere.demo, lumiere.training) <- nionswift_plugin.lumiere``; nothing below the plug-in imports
``nion.swift`` / ``nion.ui``. The checker runs in a subprocess on an explicit tree so that it reads
these sources, not an installed copy (grimp finds packages through ``sys.path``), and so that a planted
violation in a temporary copy is seen.
"""
from __future__ import annotations

import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("analysis", "detectors", "lumiere", "eegs", "drift_eels", "nionswift_plugin")

#: POSIX-only standard modules: importing one at module level breaks ``import`` on Windows, so they
#: are imported inside the simulator code that needs them (README, project rules)
POSIX_ONLY = frozenset({"tty", "termios", "fcntl", "pty", "resource", "grp", "pwd", "posix", "crypt",
                        "nis", "syslog", "readline"})


def _lint_imports(tree: pathlib.Path) -> subprocess.CompletedProcess:
    """Run import-linter with ``tree/pyproject.toml`` on the packages of ``tree`` (first on sys.path)."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree), COLUMNS="400"),
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "3 kept" in result.stdout, result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> pathlib.Path:
    """The packages and pyproject.toml copied to a temporary directory (no caches)."""
    dest = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.mark.parametrize("path, source, contract", [
    # a kernel reaching up into a workflow
    ("analysis/_planted.py", "import drift_eels.tracker\n", "Layers"),
    # the core reaching into a front end
    ("lumiere/sinks.py", "\nimport lumiere.cli  # planted\n", "Layers"),
    # a driver importing Swift's GUI
    ("detectors/_planted.py", "import nion.swift.model.DocumentModel\n", "nion.swift or nion.ui"),
    # a new lumiere/ module that is neither core nor front end
    ("lumiere/_planted.py", "X = 1\n", "either core or a front end"),
], ids=["analysis-imports-workflow", "core-imports-cli", "driver-imports-swift", "unclassified-lumiere-module"])
def test_a_planted_violation_breaks_a_contract(tree_copy, path, source, contract):
    target = tree_copy / path
    original = target.read_text() if target.exists() else None
    target.write_text((original or "") + source)
    try:
        result = _lint_imports(tree_copy)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert broken and contract in " ".join(broken), result.stdout


def _module_level_imports(tree: ast.Module):
    """(line, top-level module name) of every import executed when the module is imported: module
    level, including inside module-level if/with/try blocks, not inside functions or classes, nor in a
    ``try`` that catches the ImportError (a guarded import is fine on Windows)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Try):
            guarded = any(_catches_import_error(handler) for handler in node.handlers)
            stack.extend((node.handlers if guarded else node.body + node.handlers) + node.orelse + node.finalbody)
        elif isinstance(node, (ast.If, ast.With)):
            stack.extend(node.body + getattr(node, "orelse", []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(name is None or (isinstance(name, ast.Name) and name.id in
                                ("ImportError", "ModuleNotFoundError", "Exception", "BaseException"))
               for name in names)


def test_no_module_imports_a_posix_only_module_at_import_time():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            offenders += [f"{path.relative_to(ROOT)}:{line}: import {name}"
                          for line, name in _module_level_imports(tree) if name in POSIX_ONLY]
    assert not offenders, ("POSIX-only modules imported at module level (the module then fails to import on "
                           "Windows; import them inside the simulator function that needs them):\n"
                           + "\n".join(offenders))


def test_the_posix_check_sees_a_module_level_import():
    tree = ast.parse("import os\nif True:\n    import pty\ntry:\n    import termios\nexcept ImportError:\n"
                     "    pass\ntry:\n    import fcntl\nexcept OSError:\n    pass\ndef f():\n    import tty\n")
    assert sorted(name for _, name in _module_level_imports(tree)) == ["fcntl", "os", "pty"]
