"""``sigprop calibrate``: the verifier measures itself.

1. False-fail rate: every selected claim is verified with its correct theory
   over many seeds. At the production level (Holm, alpha_fw = 1e-6 for a
   family of one) a false fail should essentially never happen; since a rate
   of 1e-6 cannot be measured with hundreds of runs, the same runs are also
   read at a diagnostic level alpha = 0.05 (a fail when the discrepancy
   p-value is below 0.05), where the rate is measurable: its Clopper-Pearson
   interval must be consistent with (not above) 0.05.
2. Detection rate: for every claim and every planted-mistake class of
   :mod:`sigprop.mutations`, the wrong theory is verified over the seeds;
   the share of "fail" verdicts is the detection rate (target >= 95%).

The design is paired: a planted mistake is verified on the same seeds, hence
(the measurement being blind to the theory, :func:`sigprop.harness._measure`)
on the very same Monte Carlo draws as the correct theory, so a detection rate
says "on data that confirm the right formula, the wrong one is rejected".
Estimates are memoised per (point, samples, seed); only the theory side is
recomputed for each mistake, which makes the slow ladder checks of the
asymptotic claims affordable. Each rate is still over independent seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from scipy import stats as sps

from numerics.estimators import Estimate
from numerics.stats import binomial_ci
from sigprop.budget import ALPHA_FAIL, get_budget
from sigprop.claim import Claim
from sigprop.harness import verify_claim
from sigprop.mutations import CLASSES, plant
from sigprop.params import Point

DIAGNOSTIC_ALPHA = 0.05
#: run seeds of calibration are SEED0, SEED0 + 1, ... (apart from a user's seed 0, 1, ...)
SEED0 = 10_000


@dataclass
class Rate:
    hits: int = 0
    runs: int = 0

    def ci(self) -> tuple[float, float]:
        return binomial_ci(self.hits, self.runs, 0.95) if self.runs else (0.0, 1.0)

    def as_dict(self) -> dict:
        lo, hi = self.ci()
        return {"hits": self.hits, "runs": self.runs,
                "rate": self.hits / self.runs if self.runs else None, "ci95": [lo, hi]}


@dataclass
class Calibration:
    budget: str
    seeds: int
    false_fail: Rate = field(default_factory=Rate)
    diagnostic: Rate = field(default_factory=Rate)
    detection: dict[str, dict[str, Rate | str]] = field(default_factory=dict)
    effects: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def false_fail_ok(self) -> bool:
        """Neither rate significantly above its nominal level (one-sided binomial, 5%)."""
        checks = ((self.false_fail, ALPHA_FAIL), (self.diagnostic, DIAGNOSTIC_ALPHA))
        return all(r.runs == 0 or sps.binomtest(r.hits, r.runs, p, "greater").pvalue >= 0.05
                   for r, p in checks)

    @property
    def detection_ok(self) -> bool:
        rates = [r for per in self.detection.values() for r in per.values()
                 if isinstance(r, Rate)]
        return all(r.hits >= 0.95 * r.runs for r in rates)

    @property
    def ok(self) -> bool:
        return self.false_fail_ok and self.detection_ok

    def as_dict(self) -> dict:
        return {
            "budget": self.budget, "seeds": self.seeds, "ok": self.ok,
            "false_fail": {"alpha_fw": ALPHA_FAIL, **self.false_fail.as_dict()},
            "diagnostic": {"alpha": DIAGNOSTIC_ALPHA, **self.diagnostic.as_dict()},
            "detection": {cid: {k: (v.as_dict() if isinstance(v, Rate) else v)
                                for k, v in per.items()}
                          for cid, per in self.detection.items()},
            "planted": self.effects,
        }


def _memoised(claim: Claim) -> Claim:
    """``claim`` whose estimator remembers every (point, samples, seed) it ran."""
    memo: dict[tuple, Estimate] = {}

    def estimator(point: Point, samples: int, seed: int) -> Estimate:
        key = (tuple(sorted(point.items())), samples, seed)
        if key not in memo:
            memo[key] = claim.estimator(point, samples, seed)
        return memo[key]

    return claim.with_estimator(estimator)


def calibrate(claims: list[Claim], seeds: int = 20, budget: str = "standard",
              console: Console | None = None) -> Calibration:
    b = get_budget(budget)
    report = Calibration(budget, seeds)
    checkable = [c for c in claims if c.kind in ("exact", "asymptotic", "identity")]
    mutants = {}
    for c in checkable:
        point = c.point()
        mutants[c.id] = {k: plant(c, k, point, b.detect) for k in CLASSES}
    checkable = [_memoised(c) for c in checkable]
    total = sum(seeds * (1 + sum(not isinstance(m, str) for m in per.values()))
                for per in mutants.values())
    with Progress(console=console, transient=True, disable=console is None) as bar:
        task = bar.add_task("calibrating", total=total)
        for c in checkable:
            report.detection[c.id], report.effects[c.id] = {}, {}
            for s in range(seeds):
                bar.update(task, description=f"{c.id}: correct theory, seed {s}")
                r = verify_claim(c, None, b, seed=SEED0 + s)
                report.false_fail.runs += 1
                report.false_fail.hits += r.verdict == "fail"
                if c.kind != "identity":
                    report.diagnostic.runs += 1
                    report.diagnostic.hits += r.p_fail < DIAGNOSTIC_ALPHA
                bar.advance(task)
            for kind, m in mutants[c.id].items():
                if isinstance(m, str):
                    report.detection[c.id][kind] = m
                    continue
                report.effects[c.id][kind] = f"{m.description} ({m.effect:+.2%})"
                rate = Rate()
                wrong = c.with_derived(m.derived)
                for s in range(seeds):
                    bar.update(task, description=f"{c.id}: {kind}, seed {s}")
                    rate.runs += 1
                    rate.hits += verify_claim(wrong, None, b, seed=SEED0 + s).verdict == "fail"
                    bar.advance(task)
                report.detection[c.id][kind] = rate
    return report


def print_calibration(report: Calibration, console: Console) -> None:
    ff, dg = report.false_fail, report.diagnostic
    lo, hi = ff.ci()
    console.print(f"False fails with correct theory ({report.budget} budget, {report.seeds} seeds "
                  f"per claim): {ff.hits}/{ff.runs} at alpha_fw = {ALPHA_FAIL:g} "
                  f"(95% CI {lo:.3g} .. {hi:.3g})")
    lo, hi = dg.ci()
    console.print(f"Diagnostic level alpha = {DIAGNOSTIC_ALPHA}: {dg.hits}/{dg.runs} "
                  f"discrepancy p-values below alpha (95% CI {lo:.3g} .. {hi:.3g}; "
                  f"nominal {DIAGNOSTIC_ALPHA})")
    table = Table(title="Detection of planted mistakes (share of fail verdicts)")
    table.add_column("claim")
    for kind in CLASSES:
        table.add_column(kind, justify="right")
    for cid, per in report.detection.items():
        cells = []
        for kind in CLASSES:
            v = per.get(kind, "")
            cells.append(f"{v.hits}/{v.runs}" if isinstance(v, Rate) else "n/a")
        table.add_row(cid, *cells)
    console.print(table)
    for cid, per in report.effects.items():
        for kind, text in per.items():
            console.print(f"  {cid} {kind}: {text}", highlight=False)
    for cid, per in report.detection.items():
        for kind, v in per.items():
            if isinstance(v, str):
                console.print(f"  {cid} {kind}: n/a, {v}", highlight=False)
    verdict = "[green]calibrated[/]" if report.ok else "[bold red]NOT calibrated[/]"
    console.print(f"false-fail rate within nominal: {report.false_fail_ok}; every planted "
                  f"mistake detected in >= 95% of runs: {report.detection_ok} -> {verdict}")
