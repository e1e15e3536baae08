"""README.md must keep its two fresh-machine commands, and CI must run the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_install_and_verify_command() -> None:
    blocks = bash_blocks((ROOT / "README.md").read_text())
    assert any("pip install" in b and "sigprop verify" in b for b in blocks)


def test_ci_runs_the_readme_test_command() -> None:
    blocks = bash_blocks((ROOT / "README.md").read_text())
    test_cmds = [b for b in blocks if "pip install" in b and "pytest" in b]
    assert test_cmds, "README.md lacks an install-and-test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmds[0] in ci, ".ci/run does not run the README's test command verbatim"
