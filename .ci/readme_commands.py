"""Print one of README.md's two fresh-machine commands: ``main`` or ``test``.

.ci/run runs what this prints, and tests/test_readme.py reads the README the
same way, so the README is the only place the commands are written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def bash_blocks(text: str) -> list[str]:
    """The bodies of the ```bash fenced blocks, in order."""
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def command(kind: str, text: str | None = None) -> str:
    """The first block that installs and runs the main job (``main``) or the tests (``test``)."""
    blocks = bash_blocks(README.read_text() if text is None else text)
    for block in blocks:
        installs = "pip install" in block
        if kind == "test" and installs and "pytest" in block:
            return block
        if (kind == "main" and installs and "pytest" not in block
                and re.search(r"\bsigprop (audit|verify)\b", block)):
            return block
    raise SystemExit(f"README.md has no {kind} command (a ```bash block that installs and runs "
                     f"{'the tests' if kind == 'test' else 'sigprop audit or verify'})")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("main", "test"):
        raise SystemExit("usage: readme_commands.py main|test")
    print(command(sys.argv[1]))
