"""The two engines must stay independent, or their agreement proves nothing.

``numerics`` may not import ``theory`` or SymPy; ``theory`` may not import
``numerics``. Both may import ``architecture`` (standard library only).
The check walks the import statements of every module (static) and also
imports each engine in a fresh interpreter to see what it drags in (dynamic).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "numerics": {"theory", "sympy", "sigprop"},
    "theory": {"numerics", "sigprop"},
    "architecture": {"theory", "numerics", "sigprop", "sympy", "numpy", "scipy"},
}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level package names imported anywhere in the module at ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_static_imports_respect_layering(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "layering broken:\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_runtime_imports_respect_layering(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(' '.join(sorted({k.split('.')[0] for k in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    bad = set(out) & FORBIDDEN[package]
    assert not bad, f"importing {package} loads {sorted(bad)}"


def test_checker_detects_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom sympy import Symbol\nfrom . import sibling\n")
    assert imported_top_levels(bad) == {"os", "sympy"}
