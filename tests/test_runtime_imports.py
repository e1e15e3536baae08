"""The runtime needs nothing test-only: every module imports, and the command line
works, with hypothesis and pytest unimportable (a fresh ``pip install -e .`` has
neither). matplotlib is an optional extra: only the figures module may need it, and
``sigprop figures`` then says so in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = r'''
import importlib, importlib.abc, sys
BLOCKED = {"hypothesis", "pytest", "_pytest", "matplotlib"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, Block())
for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[loaded]
'''

IMPORT_ALL = PRELUDE + r'''
import json, pkgutil
OPTIONAL = {"sigprop.figures": "matplotlib"}
report = {"imported": [], "optional": {}}
for package in ("architecture", "theory", "numerics", "sigprop"):
    root = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if name not in OPTIONAL or OPTIONAL[name] not in str(exc):
                raise
            report["optional"][name] = str(exc)
            continue
        report["imported"].append(name)
print(json.dumps(report))
'''


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_every_module_imports_without_test_packages() -> None:
    proc = _run(IMPORT_ALL)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "sigprop.cli" in report["imported"] and "sigprop.harness" in report["imported"]
    assert {"theory.wick", "numerics.model", "architecture.spec"} <= set(report["imported"])
    assert set(report["optional"]) <= {"sigprop.figures"}


def test_cli_runs_without_test_packages() -> None:
    code = PRELUDE + "from sigprop.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    proc = _run(code, "list")
    assert proc.returncode == 0, proc.stderr
    assert "grad.query-value-ratio" in proc.stdout
    proc = _run(code, "figures", "--out", str(ROOT / "build" / "no-figures"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "matplotlib" in proc.stderr, proc.stderr
