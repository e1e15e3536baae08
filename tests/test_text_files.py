"""No control characters in the project's text: a ``\\t`` or ``\\f`` meant for LaTeX
(``\\text``, ``\\frac``) that lost its raw string becomes a tab or a form feed, which
reads fine in an editor and breaks the derivations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for pattern in ("*.py", "*.tex", "*.md", "*.toml")
               for glob in (pattern, f"[!.]*/**/{pattern}") for p in ROOT.glob(glob)
               if "egg-info" not in str(p))
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # tab included


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = [(i + 1, line) for i, line in enumerate(text.splitlines()) if CONTROL.search(line)]
    assert not hits, f"{path.relative_to(ROOT)}: control character on line {hits[0][0]}"
