"""`sigprop figures`: four valid PNGs and summary.md, and one-line errors for bad input."""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import pytest

from sigprop.cli import main
from sigprop.figures import (
    CORR_MC_DEPTHS,
    DEPTH_L,
    FILES,
    NORM_CLAIMS,
    RATIO_MC_N,
    RATIO_MC_RHO,
    RATIO_NS,
    RATIO_RHOS,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def figures_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("figures") / "nested" / "out"  # created by the command
    assert main(["figures", "--budget", "quick", "--seed", "3", "--out", str(out)]) == 0
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first."""
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", [v for v in FILES.values() if v.endswith(".png")])
def test_each_figure_is_a_real_png(figures_dir, name) -> None:
    data = (figures_dir / name).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert data.endswith(b"IEND\xaeB`\x82")  # not truncated
    assert 20_000 < len(data) < 2_000_000  # curves, points and text, not an empty canvas
    width, height = png_size(data)
    assert 600 <= width <= 2000 and 400 <= height <= 1200


def _table_rows(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if re.match(r"\| [^-]", line)][1:]


def test_summary_has_one_table_per_figure(figures_dir) -> None:
    text = (figures_dir / "summary.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == ["1. Token correlation versus depth",
                        "2. Query/value gradient-norm ratio R",
                        "3. Query-gradient norm per layer, deep Post-LN",
                        "4. Accuracy of the uniform-attention approximation"]
    for png in (v for v in FILES.values() if v.endswith(".png")):
        assert f"`{png}`" in text
    expected_rows = {
        "## 1.": 2 * len(NORM_CLAIMS) * len(CORR_MC_DEPTHS),
        "## 2.": len(RATIO_RHOS) * len(RATIO_MC_N) + len(RATIO_NS) * len(RATIO_MC_RHO),
        "## 3.": DEPTH_L,
    }
    for heading, count in expected_rows.items():
        assert len(_table_rows(text, heading)) == count, heading
    assert "--budget quick --seed 3" in text
    assert "nan" not in text.lower()


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_unwritable_output_directory_is_one_line_exit_2(tmp_path, capsys, where) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    out = blocker if where == "file" else blocker / "sub"
    assert main(["figures", "--budget", "quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigprop: error: cannot write"), err


@pytest.mark.parametrize("args, needle", [
    (["--budget", "thorough"], "invalid choice"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--scheduler", "mpi"], "--scheduler must be threads, processes, dask or tcp://HOST:PORT"),
])
def test_bad_options_are_one_line_exit_2(tmp_path, capsys, args, needle) -> None:
    assert main(["figures", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not list((tmp_path / "out").glob("*.png"))


def test_missing_matplotlib_is_one_line_exit_2(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sigprop.figures", None)  # import fails as without it
    assert main(["figures", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs matplotlib" in err, err
