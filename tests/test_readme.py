"""README.md keeps its two fresh-machine commands, and CI runs exactly those."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTRACT = ROOT / ".ci" / "readme_commands.py"
commands = runpy.run_path(str(EXTRACT))


def test_readme_has_the_main_and_the_test_command() -> None:
    main = commands["command"]("main")
    test = commands["command"]("test")
    assert main.startswith("python3 -m pip install -e . && sigprop ")
    assert "pytest" in test and "--hypothesis-profile=ci" in test


def test_extractor_prints_what_ci_runs() -> None:
    for kind in ("main", "test"):
        out = subprocess.run([sys.executable, str(EXTRACT), kind], capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == commands["command"](kind)


def test_ci_runs_both_readme_commands_in_fresh_venvs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 .ci/readme_commands.py" in ci
    assert "run_fresh main" in ci and "run_fresh test" in ci
    assert "python3 -m venv" in ci


def test_extractor_refuses_a_readme_without_the_command() -> None:
    with pytest.raises(SystemExit, match="no main command"):
        commands["command"]("main", "```bash\npython3 -m pytest\n```\n")
