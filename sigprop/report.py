"""Reports of a verification run: a terminal table, JSON and Markdown."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sigprop.budget import ALPHA_EQUIV, ALPHA_FAIL
from sigprop.harness import Result

VERDICT_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}
COLUMNS = ("claim", "kind", "theory", "estimate ± CI half-width", "rel. error", "margin",
           "verdict", "samples", "time")


def _num(x: float) -> str:
    return f"{x:.6g}"


def row_cells(r: Result) -> tuple[str, ...]:
    """The table cells of one result (shared by the terminal and Markdown tables)."""
    half = (r.ci[1] - r.ci[0]) / 2
    est = _num(r.estimate) if half == 0 else f"{_num(r.estimate)} ± {half:.2g}"
    margin = f"{r.margin:.0e}" if r.kind == "identity" else f"{r.margin:.1%}"
    if r.kind == "trend":
        margin = "sign"
    return (r.claim_id, r.kind, _num(r.theory), est, f"{r.rel_error:+.2e}", margin,
            r.verdict, str(r.samples), f"{r.seconds:.2f}s")


def summary_line(results: Sequence[Result], seconds: float) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICT_STYLE}
    return (f"{len(results)} checks: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['inconclusive']} inconclusive; wall time {seconds:.1f} s")


def print_table(results: Sequence[Result], console: Console, seconds: float,
                budget: str) -> None:
    table = Table(title=f"sigprop verify (budget {budget}; fail: Holm at {ALPHA_FAIL:g}; "
                        f"pass: {1 - 2 * ALPHA_EQUIV:.0%} CI inside the margin)")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("claim", "kind", "verdict") else "right")
    for r in results:
        cells = [escape(c) for c in row_cells(r)]
        cells[6] = f"[{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]"
        table.add_row(*cells)
    console.print(table)
    for r in results:
        if r.verdict != "pass" or r.kind in ("asymptotic", "trend", "identity"):
            note = r.detail
            if r.samples_needed:
                note += f" About {r.samples_needed} samples would decide it."
            if note:
                console.print(f"  [bold]{r.claim_id}[/]: {escape(note)}", highlight=False)
    console.print(summary_line(results, seconds))


def to_json(results: Sequence[Result], meta: dict[str, Any]) -> str:
    payload = {
        "meta": {**meta, "python": platform.python_version(), "alpha_fail": ALPHA_FAIL,
                 "alpha_equiv": ALPHA_EQUIV},
        "results": [r.as_dict() for r in results],
    }
    return json.dumps(payload, indent=2, sort_keys=False)


def to_markdown(results: Sequence[Result], seconds: float, budget: str) -> str:
    lines = [f"# sigprop verify ({budget} budget)", "",
             f"Fail: Holm family-wise level {ALPHA_FAIL:g}. Pass: the "
             f"{1 - 2 * ALPHA_EQUIV:.0%} confidence interval lies inside the margin.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in results]
    notes = [f"- `{r.claim_id}`: {r.detail}" for r in results if r.detail]
    lines += ["", summary_line(results, seconds)]
    if notes:
        lines += ["", "## Details", "", *notes]
    return "\n".join(lines) + "\n"
