"""The verification harness: one claim, one parameter point, one verdict.

Verdicts:

- ``fail``: the theory lies outside the estimate's confidence interval at the
  family-wise level: Holm's step-down procedure over the discrepancy p-values
  of every check in the run, at ``alpha_fw`` (default 1e-6);
- ``pass``: equivalence shown: two one-sided tests at ``ALPHA_EQUIV`` each,
  i.e. the whole (1 - 2 ALPHA_EQUIV) confidence interval of the estimate lies
  within the relative margin delta of the theory;
- ``inconclusive``: neither; ``samples_needed`` says how many samples would
  bring the interval inside the margin if the current mean held.

Identity claims are checked to float64 precision on random instances (no
statistics); asymptotic claims by extrapolating the relative discrepancy
across a ladder of widths to infinite width, fitting one order of the expansion
beyond the claim's declared ones so that the limit's error carries the
truncation; trends by their symbolic proof
and by the sign of the numeric differences along the trend.

Exact and asymptotic claims are measured in up to three looks (``_exact``,
``_asymptotic``): half the planned samples, then the rest only when the first half
leaves the verdict open, then what the margin needs only when two looks leave it open
with the estimate inside the margin; every test spends a share of its level on each
look (``sigprop.budget.SPEND``, weighted Bonferroni).
"""

from __future__ import annotations

import itertools
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from numerics.estimators import Estimate
from numerics.stats import (
    confidence_interval,
    extrapolate_to_zero,
    extrapolation_gof,
    extrapolation_weights,
    holm,
    normal_quantile,
    samples_for_relative_precision,
    samples_to_detect,
    tost,
    tost_relative,
    z_test,
)
from sigprop.budget import ALPHA_EQUIV, ALPHA_FAIL, SPEND, Budget, get_budget
from sigprop.claim import Claim, Ladder
from sigprop.expressions import describe_point
from sigprop.params import Point
from sigprop.scheduler import run_each

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class Result:
    """The outcome of checking one claim at one parameter point."""

    claim_id: str
    kind: str
    params: Point
    verdict: str
    theory: float
    estimate: float
    se: float
    ci: tuple[float, float]
    rel_error: float
    margin: float
    p_fail: float
    p_equiv: float
    samples: int
    samples_needed: int | None
    seconds: float
    detail: str = ""
    rows: tuple[dict, ...] = field(default_factory=tuple)
    #: (estimate - theory) / se of the measurement whose size was planned blind to the
    #: theory: the first look of an exact check or a ladder (whether or not a second
    #: followed), the whole measurement otherwise; N(0, 1) for a correct theory. None when
    #: that se is 0.
    z: float | None = None

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["ci"] = list(self.ci)
        out["rows"] = [dict(r) for r in self.rows]
        return out


def check_seed(seed: int, claim_id: str, stage: int) -> int:
    """A 63-bit seed for (run seed, claim, stage), stable across runs and platforms."""
    state = np.random.SeedSequence([int(seed), zlib.crc32(claim_id.encode()), stage])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _seed(claim: Claim, seed: int, stage: int) -> int:
    """The seed of a claim's measurement at ``stage``: from its stream (default its id)."""
    return check_seed(seed, claim.stream or claim.id, stage)


def _z(p: float) -> float:
    return -normal_quantile(p)


def planned_samples(cv: float, claim: Claim, budget: Budget, family_size: int,
                    share: float = 1.0) -> int:
    """Samples for the budget's detection power and the equivalence margin, every test at
    ``share`` of its level (the look that judges them; see :mod:`sigprop.budget` for the
    formulas)."""
    if cv == 0.0:
        return budget.pilot
    n_detect = samples_to_detect(cv, budget.detect, share * ALPHA_FAIL / family_size,
                                 budget.power)
    n_equiv = samples_for_relative_precision(
        cv, claim.margin * budget.margin_scale, share * ALPHA_EQUIV, budget.power
    )
    return int(min(max(n_detect, n_equiv, budget.pilot), budget.max_samples))


def samples_for_margin(est: Estimate, theory: float, margin: float,
                       size: float | None = None, share: float = 1.0) -> int | None:
    """Samples that would put the (1 - 2 share ALPHA_EQUIV) CI inside the margin (relative
    to ``size``, default |theory|) if the present mean held; None when the mean itself is
    outside the margin."""
    room = margin * (abs(theory) if size is None else size) - abs(est.mean - theory)
    if room <= 0 or est.n < 2:
        return None
    sd = est.se * math.sqrt(est.n)
    return math.ceil((_z(share * ALPHA_EQUIV) * sd / room) ** 2) + 1


def pooled(a: Estimate, b: Estimate) -> Estimate:
    """The sample-size weighted mean of two independent estimates of one mean."""
    n = a.n + b.n
    mean = (a.n * a.mean + b.n * b.mean) / n
    se = math.hypot(a.n * a.se, b.n * b.se) / n
    return Estimate(mean=mean, se=se, n=n)


def _pilot(claim: Claim, point: Point, budget: Budget, seed: int, stage: int
           ) -> tuple[Estimate, float]:
    """The pilot run of a measurement and its coefficient of variation per sample,
    cv = sd / max(|pilot mean|, claim.scale) (inf when that scale is 0)."""
    pilot = claim.estimate(point, budget.pilot, _seed(claim, seed, stage))
    sd = pilot.se * math.sqrt(pilot.n)
    scale = max(abs(pilot.mean), claim.scale)
    return pilot, (sd / scale if scale > 0 else (0.0 if sd == 0 else math.inf))


def _measure(claim: Claim, point: Point, budget: Budget, seed: int, family_size: int,
             stage: int) -> Estimate:
    """Pilot run, power calculation, then an independent main run (the pilot itself when
    its cv is 0 or inf: nothing to plan).

    The measurement is blind: the sample size comes from the pilot alone
    (cv = sd / |pilot mean|), never from the theory value, so the Monte Carlo
    result at (claim, point, budget, seed) is the same whatever theory it is
    compared with. A wrong theory cannot buy itself a smaller or larger run,
    and calibration can compare a planted mistake with the correct theory on
    the very same draws."""
    pilot, cv = _pilot(claim, point, budget, seed, stage)
    if cv == 0.0 or not math.isfinite(cv):
        return pilot
    n = planned_samples(cv, claim, budget, family_size)
    return claim.estimate(point, n, _seed(claim, seed, stage + 1))


@dataclass
class _Looks:
    """The p-values of a check's two tests over its looks, adjusted by weighted Bonferroni
    (min over the looks k of p_k / SPEND[k]), and whether they decide the verdict: the
    equivalence passes at ALPHA_EQUIV, or the fail is rejected at the strictest Holm
    level of the run."""

    family_size: int
    p_fail: float = math.inf
    p_equiv: float = math.inf
    taken: int = 0

    def add(self, p_fail: float, p_equiv: float) -> None:
        share = SPEND[self.taken]
        self.taken += 1
        self.p_fail = min(self.p_fail, p_fail / share)
        self.p_equiv = min(self.p_equiv, p_equiv / share)

    @property
    def decided(self) -> bool:
        return self.p_equiv < ALPHA_EQUIV or self.p_fail < ALPHA_FAIL / self.family_size

    @property
    def last(self) -> bool:
        return self.taken == len(SPEND)

    def p_values(self) -> dict[str, float]:
        return dict(p_fail=min(1.0, self.p_fail), p_equiv=min(1.0, self.p_equiv))


def _exact(claim: Claim, point: Point, budget: Budget, seed: int, family_size: int) -> dict:
    """Exact claims, in up to three looks (a group-sequential design, ``SPEND``).

    The pilot plans N samples (``planned_samples``, blind to the theory, at the levels of
    the second look). The first look measures half of them and stops once the verdict is
    decided (``_Looks``). Otherwise the second adds the other half (or, when the first
    look shows that the margin needs more, as heavy tails do, up to 1.2 times what it
    needs), and a third, if the verdict is still open with the estimate inside the
    margin, grows the run to 1.2 times what the pooled estimate says the margin needs.
    Each test rejects at look k when its p-value there is below SPEND[k] times its
    level, so a theory off by the margin passes with probability at most ALPHA_EQUIV, and
    a correct one fails with at most the family-wise level: a correct theory usually
    stops at half the samples, a wrong one is measured in full."""
    theory = claim.theory(point)
    margin = claim.margin * budget.margin_scale
    size = max(abs(theory), claim.scale)
    low, high = theory - margin * size, theory + margin * size
    pilot, cv = _pilot(claim, point, budget, seed, 0)
    if cv == 0.0 or not math.isfinite(cv):  # nothing to plan: the pilot is the first look
        est, planned = pilot, pilot.n
    else:
        planned = planned_samples(cv, claim, budget, family_size, SPEND[1])
        est = claim.estimate(point, math.ceil(planned / 2), _seed(claim, seed, 1))
    if est.se == 0.0:
        close = abs(est.mean - theory) <= claim.tolerance * max(1.0, abs(theory))
        return dict(theory=theory, est=est, margin=margin, p_fail=1.0 if close else 0.0,
                    p_equiv=0.0 if close else 1.0, needed=None)
    looks = _Looks(family_size)
    looks.add(z_test(est, theory), tost(est, low, high))
    first_z = (est.mean - theory) / est.se
    while not looks.decided and not looks.last:
        needed = samples_for_margin(est, theory, margin, size, SPEND[looks.taken])
        grows = needed is not None and needed <= budget.max_samples
        if looks.taken == 1:  # the plan's other half, or what the margin needs
            target = int(1.2 * needed) if grows and planned < 1.2 * needed else planned
        elif grows and 1.2 * needed > est.n:
            target = int(1.2 * needed)
        else:
            break
        est = pooled(est, claim.estimate(point, max(budget.pilot, target - est.n),
                                         _seed(claim, seed, 1 + looks.taken)))
        looks.add(z_test(est, theory), tost(est, low, high))
    return dict(theory=theory, est=est, margin=margin, **looks.p_values(), size=size,
                z=first_z, needed=samples_for_margin(est, theory, margin, size))


def _identity(claim: Claim, point: Point, budget: Budget, seed: int, family_size: int) -> dict:
    theory = claim.theory(point)
    draws = budget.identity_draws
    est = claim.estimate(point, draws, _seed(claim, seed, 0))
    scale = max(1.0, abs(theory))
    worst = abs(est.mean - theory) / scale
    detail = f"|estimate - theory| / max(1, |theory|) = {worst:.2e}"
    if claim.residuals is not None:
        res = np.asarray(claim.residuals(point, draws, _seed(claim, seed, 1)))
        detail += f"; max relative residual over {res.size} random instances = {res.max():.2e}"
        worst = max(worst, float(res.max()))
    ok = worst <= claim.tolerance
    detail += f" (tolerance {claim.tolerance:.0e})"
    return dict(theory=theory, est=est, margin=claim.tolerance, p_fail=1.0 if ok else 0.0,
                p_equiv=0.0 if ok else 1.0, needed=None, detail=detail)


def _ladder_plan(ladder: Ladder, cvs: Sequence[float]) -> list[float]:
    """Per rung, the cv to plan its main run for, so that the extrapolated limit is as
    precise as the budget plans a single quantity, at the least cost.

    The limit is sum_i w_i y_i (``extrapolation_weights``) and rung i's relative se is
    cv_i / sqrt(n_i), so Var(limit) = sum_i w_i^2 cv_i^2 / n_i. A sample at rung i costs
    c_i, taken proportional to its width (a deterministic proxy, so that the plan, like
    the numbers, does not depend on the machine). The cheapest n_i for a given variance
    are proportional to |w_i| cv_i / sqrt(c_i) (Lagrange); since the budget's samples
    grow like cv^2, planning rung i for e_i^2 = |w_i| cv_i / sqrt(c_i) * sum_j |w_j| cv_j
    sqrt(c_j) gives them, with Var(limit) = 1/K when the budget plans K cv^2 samples.
    Equal cvs and costs reduce to the same samples at every rung. A rung of cv 0 or inf
    has nothing to plan and keeps it."""
    weights = extrapolation_weights(ladder.widths, ladder.rate, ladder.fit_terms)
    costs = np.asarray(ladder.widths, dtype=float)
    usable = [math.isfinite(cv) and cv > 0 for cv in cvs]
    total = sum(abs(w) * cv * math.sqrt(c)
                for w, cv, c, ok in zip(weights, cvs, costs, usable, strict=True) if ok)
    return [math.sqrt(abs(w) * cv / math.sqrt(c) * total) if ok else cv
            for w, cv, c, ok in zip(weights, cvs, costs, usable, strict=True)]


def _ladder_fit(claim: Claim, ladder: Ladder, theories: Sequence[float],
                estimates: Sequence[Estimate], margin: float) -> dict:
    """The extrapolated limit of the rungs' relative discrepancies and its tests: the
    limit is fitted with one order beyond the declared expansion, so its se carries the
    truncation of the declared one (the declared-order fit is reported beside it); the
    verdict's tests are the limit's z-test and the fit's chi-squared, Bonferroni, and the
    equivalence of 1 + limit to 1 within the margin."""
    rows, disc, ses = [], [], []
    for w, theory, est in zip(ladder.widths, theories, estimates, strict=True):
        size = max(abs(theory), claim.scale)
        rel, rel_se = (est.mean - theory) / size, est.se / size
        disc.append(rel)
        ses.append(max(rel_se, 1e-15))
        rows.append({ladder.param: w, "theory": theory, "estimate": est.mean, "se": est.se,
                     "rel_discrepancy": rel, "rel_se": rel_se})
    widths, orders = ladder.widths, ladder.fit_terms
    limit = extrapolate_to_zero(widths, disc, ses, ladder.rate, orders)
    declared = extrapolate_to_zero(widths, disc, ses, ladder.rate, ladder.terms)
    gof = extrapolation_gof(widths, disc, ses, ladder.rate, orders)
    shifted = Estimate(mean=1.0 + limit.mean, se=limit.se, n=limit.n, dof=limit.dof)
    expansion = " + ".join(["c0"] + [f"c{k} {ladder.param}^-{k * ladder.rate:g}"
                                      for k in range(1, orders + 1)])
    detail = (f"relative discrepancy extrapolated to {ladder.param} -> inf with rate "
              f"{ladder.param}^-{ladder.rate:g}: {limit.mean:+.2e} +- {limit.se:.1e}; "
              f"fit of {expansion} (one order beyond the {ladder.terms} declared, whose fit "
              f"gives {declared.mean:+.2e} +- {declared.se:.1e}: truncation estimate "
              f"{limit.mean - declared.mean:+.1e}): chi2 p = {gof:.3g}")
    return dict(limit=limit, p_fail=min(1.0, 2 * min(z_test(limit, 0.0), gof)),
                p_equiv=tost_relative(shifted, 1.0, margin), detail=detail, rows=tuple(rows))


def _margin_factor(limit: Estimate, margin: float, share: float) -> float | None:
    """How many times its samples an extrapolated relative discrepancy needs for its
    (1 - 2 share ALPHA_EQUIV) CI to fit inside the margin, were its present value the
    truth (every rung scaled alike: the limit's se falls as one over the root of the
    factor); None when the value itself is outside the margin."""
    room = margin - abs(limit.mean)
    if room <= 0 or limit.se == 0:
        return None
    return (_z(share * ALPHA_EQUIV) * limit.se / room) ** 2


def _asymptotic(claim: Claim, point: Point, budget: Budget, seed: int, family_size: int) -> dict:
    """Asymptotic claims: the relative discrepancy on every rung of the ladder,
    extrapolated (``_ladder_fit``), in up to three looks like an exact check.

    All pilots first; then main runs planned together (``_ladder_plan``) so that the
    extrapolated limit has the budget's power at the least cost, at the second look's
    levels, Bonferroni-corrected over the two tests. The first look measures half of
    every rung's plan and stops when the verdict is decided (``_Looks``); otherwise the
    second measures the other halves (or, as for exact checks, when the first look shows
    that the margin needs more, every rung up to 1.2 times what it needs:
    ``_margin_factor``), and a third, if the verdict is still open with the limit inside
    the margin, grows every rung alike to 1.2 times what the pooled limit says the margin
    needs; the fit is redone on the pooled rungs after each. A rung of cv 0 or inf has
    nothing to plan: its pilot is its measurement at every look."""
    ladder = claim.ladder
    assert ladder is not None
    rungs = len(ladder.widths)
    points = [claim.point(ladder.at(point, w)) for w in ladder.widths]
    theories = [claim.theory(pw) for pw in points]
    pilots = [_pilot(claim, pw, budget, seed, 2 * i) for i, pw in enumerate(points)]
    plan = _ladder_plan(ladder, [cv for _, cv in pilots])
    planned = [planned_samples(cv, claim, budget, 2 * family_size, SPEND[1])
               if 0 < cv < math.inf else 0 for cv in plan]
    estimates = []
    for i, (pw, n, (pilot, _)) in enumerate(zip(points, planned, pilots, strict=True)):
        estimates.append(claim.estimate(pw, math.ceil(n / 2), _seed(claim, seed, 2 * i + 1))
                         if n else pilot)
    margin = claim.margin * budget.margin_scale
    fit = _ladder_fit(claim, ladder, theories, estimates, margin)
    limit = fit["limit"]
    first_z = limit.mean / limit.se if limit.se > 0 else None
    looks = _Looks(family_size)
    looks.add(fit["p_fail"], fit["p_equiv"])
    while not looks.decided and not looks.last:
        grow = _margin_factor(limit, margin, SPEND[looks.taken])
        grows = grow is not None and all(grow * e.n <= budget.max_samples for e in estimates)
        if looks.taken == 1:  # the plan's other halves, or what the margin needs
            targets = [max(n, math.ceil(1.2 * grow * e.n)) if grows and n else n
                       for n, e in zip(planned, estimates, strict=True)]
        elif grows and 1.2 * grow > 1:
            targets = [math.ceil(1.2 * grow * e.n) if n else 0
                       for n, e in zip(planned, estimates, strict=True)]
        else:
            break
        for i, (pw, n) in enumerate(zip(points, targets, strict=True)):
            if n:
                more = claim.estimate(pw, max(2, n - estimates[i].n),
                                      _seed(claim, seed, (1 + looks.taken) * rungs + i))
                estimates[i] = pooled(estimates[i], more)
        fit = _ladder_fit(claim, ladder, theories, estimates, margin)
        limit = fit["limit"]
        looks.add(fit["p_fail"], fit["p_equiv"])
    # reported estimate: the widest rung's theory times the extrapolated (1 + discrepancy),
    # so the table's relative error is the infinite-width discrepancy the verdict is about
    theory = theories[-1]
    size = max(abs(theory), claim.scale)
    extrapolated = Estimate(mean=theory + size * limit.mean, se=size * limit.se,
                            n=sum(est.n for est in estimates))
    return dict(theory=theory, est=extrapolated, margin=margin, size=size,
                **looks.p_values(), needed=None, detail=fit["detail"], rows=fit["rows"],
                z=first_z)


def _trend(claim: Claim, point: Point, budget: Budget, seed: int, family_size: int) -> dict:
    trend = claim.trend
    assert trend is not None
    proved, _ = trend.proof(point)
    rows, ests = [], []
    for i, v in enumerate(trend.values):
        pv = claim.point({**point, trend.param: v})
        theory = claim.theory(pv)
        est = _measure(claim, pv, budget, seed, family_size * len(trend.values),
                       stage=2 * i)
        ests.append(est)
        rows.append({trend.param: v, "theory": theory, "estimate": est.mean, "se": est.se})
    p_wrong, p_right = [], []
    for a, b in itertools.pairwise(ests):
        step = trend.direction * (b.mean - a.mean)
        se = math.hypot(a.se, b.se)
        z = step / se if se > 0 else math.copysign(math.inf, step)
        p_wrong.append(float(sps.norm.cdf(z)))
        p_right.append(float(sps.norm.sf(z)))
    k = max(1, len(p_wrong))
    p_fail = 0.0 if not proved else min(1.0, k * min(p_wrong, default=1.0))
    p_equiv = 1.0 if not proved else max(p_right, default=1.0)
    word = "increases" if trend.direction > 0 else "decreases"
    detail = (f"symbolic proof that it {word} in {trend.param}: "
              f"{'holds' if proved else 'FAILS'}; numeric steps in the right direction: "
              f"{sum(p < ALPHA_EQUIV for p in p_right)}/{len(p_right)}")
    first = rows[0]
    return dict(theory=first["theory"], est=ests[0], margin=0.0, p_fail=p_fail,
                p_equiv=p_equiv, needed=None, detail=detail, rows=tuple(rows))


_CHECKS = {"exact": _exact, "identity": _identity, "asymptotic": _asymptotic,
           "trend": _trend}


@dataclass(frozen=True)
class _Raw:
    claim: Claim
    point: Point
    data: dict
    seconds: float


def _run(claim: Claim, params: Mapping[str, object] | None, budget: Budget, seed: int,
         family_size: int) -> _Raw:
    point = claim.point(params)
    t0 = time.perf_counter()
    try:
        data = _CHECKS[claim.kind](claim, point, budget, seed, family_size)
    except (OverflowError, ZeroDivisionError, FloatingPointError) as exc:
        raise ValueError(f"{claim.id} cannot be checked at {describe_point(point)}: "
                         f"the arithmetic overflows ({exc})") from None
    if not math.isfinite(data["theory"]):
        raise ValueError(f"{claim.id}: the theory is not a finite number at "
                         f"{describe_point(point)}")
    return _Raw(claim, point, data, time.perf_counter() - t0)


def _decide(raws: Sequence[_Raw], alpha_fw: float) -> list[Result]:
    rejected = holm([r.data["p_fail"] for r in raws], alpha_fw) if raws else []
    out = []
    for raw, rej in zip(raws, rejected, strict=True):
        d, est = raw.data, raw.data["est"]
        if rej:
            verdict = "fail"
        elif d["p_equiv"] < ALPHA_EQUIV:
            verdict = "pass"
        else:
            verdict = "inconclusive"
        ci = confidence_interval(est, 1 - 2 * ALPHA_EQUIV) if est.se > 0 else (est.mean,) * 2
        theory = d["theory"]
        size = d.get("size", abs(theory))
        rel = (est.mean - theory) / size if size != 0 else est.mean - theory
        out.append(Result(
            claim_id=raw.claim.id, kind=raw.claim.kind, params=raw.point, verdict=verdict,
            theory=theory, estimate=est.mean, se=est.se, ci=(float(ci[0]), float(ci[1])),
            rel_error=rel, margin=d["margin"], p_fail=d["p_fail"], p_equiv=d["p_equiv"],
            samples=est.n, samples_needed=d["needed"] if verdict == "inconclusive" else None,
            seconds=raw.seconds, detail=d.get("detail", ""), rows=d.get("rows", ()),
            z=d.get("z", (est.mean - theory) / est.se if est.se > 0 else None),
        ))
    return out


def verify_claim(claim: Claim, params: Mapping[str, object] | None = None,
                 budget: str | Budget = "standard", seed: int = 0,
                 alpha_fw: float = ALPHA_FAIL) -> Result:
    """Check one claim at ``params`` (None: its default point); a family of one."""
    budget = get_budget(budget) if isinstance(budget, str) else budget
    return _decide([_run(claim, params, budget, seed, 1)], alpha_fw)[0]


def expected_work(claim: Claim) -> float:
    """A rough guess of a claim's work, to start the long ones first: a ladder's rungs
    cost about their widths (as ``_ladder_plan`` takes them), any other check one."""
    return float(sum(claim.ladder.widths)) if claim.ladder is not None else 1.0


def _run_registered(task: tuple[str, Mapping[str, object] | None, Budget, int, int]
                    ) -> tuple[Point, dict, float]:
    """One registered claim checked by a worker (looked up by id: claims hold functions
    that do not pickle); its point, raw numbers and seconds."""
    from sigprop import registry

    claim_id, params, budget, seed, family_size = task
    raw = _run(registry.get(claim_id), params, budget, seed, family_size)
    return raw.point, raw.data, raw.seconds


def verify_claims(jobs: Sequence[tuple[Claim, Mapping[str, object] | None]],
                  budget: str | Budget = "standard", seed: int = 0,
                  alpha_fw: float = ALPHA_FAIL, progress: Progress | None = None,
                  scheduler: str = "threads") -> list[Result]:
    """Check several (claim, params) jobs as one family: Holm over all of them.

    With ``threads`` the claims run one after another here (each one's Monte Carlo on
    threads); any other scheduler (``sigprop.scheduler``) runs each claim as a task, with
    the same numbers (every check is seeded by run seed, claim stream and stage), and
    takes registered claims only."""
    budget = get_budget(budget) if isinstance(budget, str) else budget
    names = [claim.id for claim, _ in jobs]
    if scheduler == "threads":
        raws = run_each(scheduler, lambda job: _run(*job, budget, seed, len(jobs)), jobs,
                        names, progress)
        return _decide(raws, alpha_fw)
    from sigprop import registry

    stray = next((c.id for c, _ in jobs if c.id not in registry.ids()
                  or registry.get(c.id) is not c), None)
    if stray is not None:
        raise ValueError(f"claim {stray} is not registered: only --scheduler threads can "
                         "verify it")
    tasks = [(claim.id, None if params is None else dict(params), budget, seed, len(jobs))
             for claim, params in jobs]
    outcomes = run_each(scheduler, _run_registered, tasks, names, progress,
                        cost=lambda task: expected_work(registry.get(task[0])))
    return _decide([_Raw(claim, *outcome) for (claim, _), outcome in zip(jobs, outcomes,
                                                                          strict=True)],
                   alpha_fw)
