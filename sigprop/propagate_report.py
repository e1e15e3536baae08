"""Reports of ``sigprop propagate``: a terminal table per layer, JSON, and a plot of theory
lines beside Monte Carlo points against depth."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sigprop.budget import ALPHA_EQUIV, ALPHA_FAIL
from sigprop.propagate import MARGIN, Comparison, PropagateResult

STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "approximate": "cyan"}


def _pm(mean: float, se: float) -> str:
    return "n/a" if not math.isfinite(mean) else f"{mean:.5g} ± {2 * se:.2g}"


def _verdict(c: Comparison) -> str:
    text = "approx." if c.verdict == "approximate" else c.verdict
    return f"[{STYLE[c.verdict]}]{text} {c.gap:+.2%} ± {2 * c.gap_se:.1%}[/]"


def print_table(result: PropagateResult, console: Console) -> None:
    table = Table(title=f"sigprop propagate: {result.model.depth} blocks, n = "
                  f"{result.model.n}, d = {result.model.d} (budget {result.budget}, "
                  f"{result.samples} networks; ± is 2 se)")
    for col in ("layer", "map", "E||xbar||^2 theory", "Monte Carlo", "rho theory",
                "Monte Carlo", "Gram: verdict, gap", "rho: verdict, gap"):
        table.add_column(col, justify="left" if ":" in col or col == "map" else "right")
    for index, (layer, th) in enumerate(zip(result.layers, result.theory, strict=True)):
        norm, rho = layer["mean_norm"], layer["correlation"]
        table.add_row(str(index + 1), th.how, f"{norm.theory:.5g}", _pm(norm.estimate, norm.se),
                      f"{rho.theory:.5f}", _pm(rho.estimate, rho.se), _verdict(layer["gram"]),
                      _verdict(rho))
    console.print(table)
    first = result.layers[0]
    for name in ("query_norm", "key_norm", "value_norm"):
        if name in first:
            c = first[name]
            console.print(f"layer 1 E||dS/dW^{name[0].upper()}||^2: theory {c.theory:.5g}, "
                          f"Monte Carlo {_pm(c.estimate, c.se)}, {c.how}: {_verdict(c)}")
    counts = {v: result.verdicts.count(v) for v in STYLE}
    console.print(
        f"{len(result.verdicts)} comparisons: " + ", ".join(f"{k} {v}" for k, v in
                                                            counts.items() if v)
        + f"; wall time {result.seconds:.1f} s. Exact maps: fail = Holm at {ALPHA_FAIL:g}, "
        f"pass = {1 - 2 * ALPHA_EQUIV:.0%} CI within {MARGIN:.0%} (times the budget's scale). "
        "Gap: (Monte Carlo - theory) / scale (the Gram's largest, over its mean diagonal "
        "entry). Large-width maps and the uniform-attention assumption are 'approx.'.")


def to_json(result: PropagateResult) -> str:
    return json.dumps(result.as_dict(), indent=2) + "\n"


def plot(result: PropagateResult, path: Path) -> None:
    """Correlation and mean-token norm against depth: theory lines, Monte Carlo points with
    2 se bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = range(1, result.model.depth + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name, label in ((axes[0], "correlation", r"$\rho^\ell$"),
                            (axes[1], "mean_norm", r"$\mathbb{E}\|\bar x^\ell\|^2$")):
        comps = [layer[name] for layer in result.layers]
        ax.plot(depth, [c.theory for c in comps], "-", color="C0", label="theory")
        ax.errorbar(depth, [c.estimate for c in comps], yerr=[2 * c.se for c in comps],
                    fmt="o", ms=3, color="C1", label="Monte Carlo ± 2 se")
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.legend()
    arch = result.arch
    fig.suptitle(f"L={arch['L']}, n={arch['n']}, d={arch['d']}, norm={arch['norm']}, "
                 f"mlp={arch['mlp']}, attention={arch['attention']}, mask={arch['mask']}, "
                 f"alpha_1={arch['alpha_1']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
