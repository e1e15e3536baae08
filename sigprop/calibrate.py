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
(sample sizes being planned blind to the theory, :mod:`sigprop.budget`) on the very
same Monte Carlo draws as the correct theory, so a detection rate says "on data that
confirm the right formula, the wrong one is rejected"; the later looks of an exact check
or a ladder, taken only when the earlier ones leave the verdict open, add draws of the
same streams.
Estimates are memoised per (point, samples, seed); only the theory side is
recomputed for each mistake, which makes the slow ladder checks of the
asymptotic claims affordable. Each rate is still over independent seeds.

3. z-scores: z = (estimate - theory) / se of the correct theory on each seed, of the
   first look, the measurement whose size is planned blind to the theory (for an
   asymptotic claim, of its extrapolated limit). For a calibrated normal
   statistic |z| > 2.5 happens on 1.24% of seeds; the report gives each claim's largest
   |z| and how many seeds exceed 2.5.

The unit of work is one (claim, seed, budget): the correct theory and every planted
mistake on that seed, in one task so that they share the memo. Tasks run on any
:mod:`sigprop.scheduler` backend and are assembled in claim and seed order, so the
report does not depend on the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, partial

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from scipy import stats as sps

from numerics.estimators import Estimate
from numerics.stats import binomial_ci
from sigprop import registry
from sigprop.budget import ALPHA_FAIL, get_budget
from sigprop.claim import Claim
from sigprop.harness import Result, expected_work, verify_claim
from sigprop.mutations import CLASSES, Mutation, plant
from sigprop.params import Point
from sigprop.scheduler import Scheduler

DIAGNOSTIC_ALPHA = 0.05
#: run seeds of calibration are SEED0, SEED0 + 1, ... (apart from a user's seed 0, 1, ...)
SEED0 = 10_000
#: |z| above which a seed counts as extreme, and the share of seeds a normal z puts there
Z_EXTREME = 2.5
Z_EXTREME_SHARE = float(2 * sps.norm.sf(Z_EXTREME))


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
class ZScores:
    """z = (estimate - theory) / se of the correct theory, one per seed with se > 0: of
    the measurement planned blind to the theory (``Result.z``: an exact check's first
    look, since stopping after it when the verdict is decided would leave the reported
    estimates' z short of its tails)."""

    values: list[float] = field(default_factory=list)

    def add(self, result: Result) -> None:
        if result.z is not None:
            self.values.append(result.z)

    @property
    def max_abs(self) -> float | None:
        return max((abs(z) for z in self.values), default=None)

    @property
    def extreme(self) -> int:
        """Seeds with |z| > Z_EXTREME."""
        return sum(abs(z) > Z_EXTREME for z in self.values)

    def as_dict(self) -> dict:
        return {"z": self.values, "seeds": len(self.values),
                "max_abs": self.max_abs,
                f"over_{Z_EXTREME:g}": self.extreme,
                "expected_share_over": Z_EXTREME_SHARE}


@dataclass
class Calibration:
    budget: str
    seeds: int
    false_fail: Rate = field(default_factory=Rate)
    diagnostic: Rate = field(default_factory=Rate)
    detection: dict[str, dict[str, Rate | str]] = field(default_factory=dict)
    effects: dict[str, dict[str, str]] = field(default_factory=dict)
    z_scores: dict[str, ZScores] = field(default_factory=dict)

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
            "z_scores": {cid: z.as_dict() for cid, z in self.z_scores.items()},
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


@cache
def _mutants(claim: Claim, budget: str) -> dict[str, Mutation | str]:
    """Every class's planted mistake in ``claim`` that ``budget`` promises to see (or why
    there is none), planted once per process."""
    point, floor = claim.point(), get_budget(budget).detect
    return {kind: plant(claim, kind, point, floor) for kind in CLASSES}


@dataclass(frozen=True)
class SeedTask:
    """Calibration's unit of work: one claim (by id) on one run seed at one budget."""

    claim_id: str
    seed: int
    budget: str


@dataclass(frozen=True)
class SeedOutcome:
    """What one seed says: the correct theory's Result and each planted mistake's verdict."""

    correct: Result
    planted: dict[str, str]


def run_seed(task: SeedTask, claims: Mapping[str, Claim] | None = None) -> SeedOutcome:
    """Verify the correct theory and every planted mistake of ``task``'s claim on its seed.

    One task, one memo: the mistakes are compared with the Monte Carlo estimates the
    correct theory drew. The claim is ``claims[task.claim_id]`` or, without ``claims``
    (in a worker process), the registry's."""
    claim = claims[task.claim_id] if claims is not None else registry.get(task.claim_id)
    memo = _memoised(claim)
    correct = verify_claim(memo, None, task.budget, seed=task.seed)
    planted = {kind: verify_claim(memo.with_derived(m.derived), None, task.budget,
                                  seed=task.seed).verdict
               for kind, m in _mutants(claim, task.budget).items() if not isinstance(m, str)}
    return SeedOutcome(correct, planted)


def _registered(claim: Claim) -> bool:
    return claim.id in registry.ids() and registry.get(claim.id) is claim


def calibrate(claims: list[Claim], seeds: int = 20, budget: str = "standard",
              console: Console | None = None, scheduler: str = "threads") -> Calibration:
    """Verify every checkable claim's correct theory and planted mistakes on ``seeds``
    run seeds, one task per (claim, seed) on ``scheduler`` (see :mod:`sigprop.scheduler`).
    Any scheduler but ``threads`` looks the claims up in the registry by id, so it takes
    registered claims only."""
    get_budget(budget)  # a bad name fails here, before any worker starts
    report = Calibration(budget, seeds)
    checkable = [c for c in claims if c.kind in ("exact", "asymptotic", "identity")]
    pool = Scheduler(scheduler)
    if pool.in_process:
        run = partial(run_seed, claims={c.id: c for c in checkable})
    else:
        stray = next((c.id for c in checkable if not _registered(c)), None)
        if stray is not None:
            raise ValueError(f"claim {stray} is not registered: only --scheduler threads can "
                             "calibrate it")
        run = run_seed
    for c in checkable:
        _mutants(c, budget)  # planted here first: in-process workers share them
    tasks = [SeedTask(c.id, SEED0 + s, budget) for c in checkable for s in range(seeds)]
    with Progress(console=console, transient=True, disable=console is None) as bar, pool:
        progress = bar.add_task("calibrating", total=len(tasks))

        def done(task: SeedTask) -> None:
            bar.update(progress, advance=1,
                       description=f"calibrating: {task.claim_id} seed {task.seed - SEED0}")

        work = {c.id: expected_work(c) for c in checkable}
        outcomes = iter(pool.map(run, tasks, done=done, cost=lambda t: work[t.claim_id]))
    for c in checkable:
        mutants = _mutants(c, budget)
        report.effects[c.id] = {k: f"{m.description} ({m.effect:+.2%})"
                                for k, m in mutants.items() if not isinstance(m, str)}
        rates = {k: Rate() for k in report.effects[c.id]}
        z = ZScores() if c.kind != "identity" else None
        for _ in range(seeds):
            outcome = next(outcomes)
            r = outcome.correct
            report.false_fail.runs += 1
            report.false_fail.hits += r.verdict == "fail"
            if z is not None:
                report.diagnostic.runs += 1
                report.diagnostic.hits += r.p_fail < DIAGNOSTIC_ALPHA
                z.add(r)
            for kind, verdict in outcome.planted.items():
                rates[kind].runs += 1
                rates[kind].hits += verdict == "fail"
        report.detection[c.id] = {k: m if isinstance(m, str) else rates[k]
                                  for k, m in mutants.items()}
        if z is not None:
            report.z_scores[c.id] = z
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
    if report.z_scores:
        table = Table(title="Correct theory: z = (estimate - theory) / se per seed",
                      caption=f"|z| > {Z_EXTREME:g} is expected on {Z_EXTREME_SHARE:.2%} of seeds")
        for col in ("claim", "seeds", "max |z|", f"|z| > {Z_EXTREME:g}"):
            table.add_column(col, justify="left" if col == "claim" else "right")
        for cid, z in report.z_scores.items():
            top = "n/a" if z.max_abs is None else f"{z.max_abs:.2f}"
            table.add_row(cid, str(len(z.values)), top, str(z.extreme))
        console.print(table)
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
