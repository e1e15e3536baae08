"""The harness itself: wrong theory fails, right theory passes, starved runs are
inconclusive, and Holm treats a run as one family."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy as sp

from numerics.estimators import Estimate
from sigprop import registry
from sigprop.budget import Budget
from sigprop.claim import Claim, Derived, Ladder
from sigprop.claims.common import params
from sigprop.harness import verify_claim, verify_claims

STARVED = Budget("starved", detect=0.03, power=0.95, margin_scale=1.0, pilot=20,
                 max_samples=40, identity_draws=2)


def off_by(claim, factor):
    d = claim.derived
    return claim.with_derived(Derived(d.expr * sp.Rational(factor), d.steps, d.evaluator))


def test_correct_theory_passes() -> None:
    assert verify_claim(registry.get("grad.query-norm-uniform"), seed=3).verdict == "pass"


def test_three_percent_wrong_theory_fails_for_every_exact_claim() -> None:
    for claim in registry.claims():
        if claim.kind == "exact":
            result = verify_claim(off_by(claim, "103/100"), seed=4)
            assert result.verdict == "fail", (claim.id, result)


def test_three_percent_wrong_asymptotic_limit_fails() -> None:
    claim = off_by(registry.get("forward.scaled-residual-limit"), "97/100")
    assert verify_claim(claim, seed=5).verdict == "fail"


def test_wrong_identity_fails() -> None:
    claim = off_by(registry.get("grad.value-norm"), "1000001/1000000")
    assert verify_claim(claim, seed=0).verdict == "fail"


def test_wrong_trend_direction_fails() -> None:
    claim = registry.get("grad.query-value-ratio-trend-s")
    flipped = claim.with_derived(claim.derived)
    object.__setattr__(flipped, "trend", type(claim.trend)(
        claim.trend.param, claim.trend.values, -claim.trend.direction, claim.trend.proof))
    assert verify_claim(flipped, seed=0).verdict == "fail"


def test_starved_budget_is_inconclusive_and_says_how_many_samples() -> None:
    # an estimator whose mean sits within the margin but whose spread (cv 0.5) 40 samples
    # cannot resolve; with real draws, 40 samples may land outside the margin, where no
    # number of samples is promised
    claim = registry.get("grad.query-norm-uniform")
    truth = claim.theory()
    noisy = claim.with_estimator(
        lambda p, n, s: Estimate(mean=truth * 1.005, se=truth * 0.5 / n**0.5, n=n))
    result = verify_claim(noisy, budget=STARVED, seed=0)
    assert result.verdict == "inconclusive"
    assert result.samples_needed and result.samples_needed > result.samples


def test_estimates_come_only_through_the_estimator() -> None:
    claim = registry.get("grad.query-norm-uniform")
    truth = claim.theory()
    fake = claim.with_estimator(lambda p, n, s: Estimate(mean=truth * 1.5, se=truth * 1e-3, n=n))
    assert verify_claim(fake, seed=0).verdict == "fail"


def test_holm_family_over_a_run() -> None:
    good = registry.get("forward.attention-gram-update")
    bad = off_by(registry.get("forward.attention-gram-update-diagonal"), "103/100")
    verdicts = [r.verdict for r in verify_claims([(good, None), (bad, None)], seed=2)]
    assert verdicts == ["pass", "fail"]


def _curved_ladder_claim(terms: int, cubic: float):
    """Theory 2; the estimate at width d is 2 (1 + 3/d + 40/d^2 + cubic/d^3): the limit is
    right, but the finite-width discrepancy has large higher orders."""
    def estimator(p, n, s):
        d = p["d"]
        return Estimate(mean=2.0 * (1 + 3 / d + 40 / d**2 + cubic / d**3), se=2e-3 / n**0.5,
                        n=n)

    return Claim(id="toy.curved", title="toy", kind="asymptotic", section="test",
                 statement="2", assumptions=(), params=params(d=16),
                 derive=lambda: Derived(sp.Integer(2)), estimator=estimator,
                 ladder=Ladder("d", (16, 32, 64, 128, 256), rate=1.0, terms=terms))


def test_ladder_fits_one_order_beyond_the_declared() -> None:
    # declared 1/d, data with a large 1/d^2 part: the extra order absorbs the truncation
    quadratic = verify_claim(_curved_ladder_claim(1, cubic=0.0), seed=0)
    assert quadratic.verdict == "pass" and abs(quadratic.rel_error) < 1e-9
    assert "c2 d^-2" in quadratic.detail and "c3" not in quadratic.detail
    # a third order beyond the two fitted: the limit is biased and the fit rejected
    assert verify_claim(_curved_ladder_claim(1, cubic=2000.0), seed=0).verdict == "fail"
    cubic = verify_claim(_curved_ladder_claim(2, cubic=2000.0), seed=0)
    assert cubic.verdict == "pass" and abs(cubic.rel_error) < 1e-9
    assert "c3 d^-3" in cubic.detail


def test_ladder_needs_a_degree_of_freedom_beyond_its_fit() -> None:
    with pytest.raises(ValueError, match="needs at least 5 distinct d values, got 4"):
        Ladder("d", (16, 32, 64, 128), rate=1.0, terms=2)


def test_a_planned_ladder_keeps_the_limits_variance_at_less_cost() -> None:
    """Main runs planned for e_i give n_i proportional to e_i^2: the limit's variance
    sum w_i^2 cv_i^2 / n_i is the one of equal samples planned at cv_i * se_factor, and
    the cost sum n_i c_i (c_i = width) is smaller (by 23% when every cv is the same)."""
    from numerics.stats import extrapolation_se_factor, extrapolation_weights
    from sigprop.harness import _ladder_plan

    ladder = Ladder("d", (16, 32, 64, 128, 256), rate=1.0, terms=2)
    weights = extrapolation_weights(ladder.widths, 1.0, 3)
    factor = extrapolation_se_factor(ladder.widths, 1.0, 3)
    costs = np.asarray(ladder.widths, dtype=float)
    for cvs in ([0.5] * 5, [0.2, 0.4, 0.8, 1.6, 3.2], [3.0, 1.0, 0.3, 0.1, 0.05]):
        cvs = np.asarray(cvs)
        planned = np.asarray(_ladder_plan(ladder, list(cvs))) ** 2
        equal = (cvs * factor) ** 2
        assert np.sum(weights**2 * cvs**2 / planned) == pytest.approx(
            np.sum(weights**2 * cvs**2 / equal), rel=1e-12)
        assert planned @ costs < 0.8 * (equal @ costs)  # wide rungs cost more: not a tie
    flat = Ladder("L", (1, 2, 3, 4), rate=1.0)
    assert _ladder_plan(flat, [1.0, 0.0, math.inf, 1.0])[1:3] == [0.0, math.inf]



def _toy(mean: float, cv: float, noise: bool = True, calls: list[int] | None = None,
         ladder: Ladder | None = None) -> Claim:
    """A claim of theory 1 whose runs are Gaussian sample means of the given per-sample
    mean and coefficient of variation (sd = cv mean): mean + sd Z / sqrt(n), Z drawn from
    the run's seed (or 0 without ``noise``). Exact, or asymptotic on ``ladder``, where
    the mean at width d is mean (1 + 3/d): the discrepancy's limit is mean - 1. No Monte
    Carlo, so thousands of checks are cheap."""
    def estimator(p, n, s):
        if calls is not None:
            calls.append(n)
        at = mean * (1 + 3 / p["d"]) if ladder else mean
        z = np.random.default_rng(s).standard_normal() if noise else 0.0
        return Estimate(mean=at + cv * at * z / math.sqrt(n), se=cv * at / math.sqrt(n), n=n)

    return Claim(id="toy.exact", title="toy", kind="asymptotic" if ladder else "exact",
                 section="test", statement="1", assumptions=(), params=params(d=16),
                 derive=lambda: Derived(sp.Integer(1)), estimator=estimator, ladder=ladder)


def _toy_exact(mean: float, cv: float, noise: bool = True,
               calls: list[int] | None = None) -> Claim:
    return _toy(mean, cv, noise, calls)


TOY_LADDER = Ladder("d", (16, 32, 64, 128, 256), rate=1.0)


def _toy_ladder(mean: float, cv: float, noise: bool = True,
                calls: list[int] | None = None) -> Claim:
    return _toy(mean, cv, noise, calls, TOY_LADDER)


def test_an_exact_check_stops_at_half_its_samples_once_the_verdict_is_decided() -> None:
    """Group-sequential exact checks: the pilot plans N samples; a correct theory passes
    on the first look (pilot + N/2), a theory off by 2.5% is not yet rejected there at
    the family-wise level and fails on the second look, which brings the run to N, and
    one off by 5% fails on the first look."""
    calls: list[int] = []
    right = verify_claim(_toy_exact(1.0, 0.3, noise=False, calls=calls), seed=0)
    assert right.verdict == "pass" and len(calls) == 2
    pilot, half = calls
    calls.clear()
    wrong = verify_claim(_toy_exact(1.025, 0.3, noise=False, calls=calls), seed=0)
    assert wrong.verdict == "fail" and calls[:2] == [pilot, half] and len(calls) == 3
    assert wrong.samples == half + calls[2] in (2 * half - 1, 2 * half)
    # its z is the first look's (planned blind), not the pooled estimate's
    assert wrong.z == pytest.approx(0.025 / (0.3 * 1.025 / math.sqrt(half)))
    assert wrong.z < (wrong.estimate - wrong.theory) / wrong.se
    calls.clear()
    far = verify_claim(_toy_exact(1.05, 0.3, noise=False, calls=calls), seed=0)
    assert far.verdict == "fail" and calls == [pilot, half]


def test_a_ladder_stops_at_half_its_samples_once_the_verdict_is_decided() -> None:
    """Ladders take the exact checks' looks, rung by rung: pilots, then half of every
    rung's plan; the second halves only when the first look leaves the verdict open."""
    rungs = len(TOY_LADDER.widths)
    calls: list[int] = []
    right = verify_claim(_toy_ladder(1.0, 0.3, noise=False, calls=calls), seed=0)
    assert right.verdict == "pass" and len(calls) == 2 * rungs
    halves = calls[rungs:]
    assert right.samples == sum(halves) and right.z == pytest.approx(0.0, abs=1e-9)
    calls.clear()
    wrong = verify_claim(_toy_ladder(1.025, 0.3, noise=False, calls=calls), seed=0)
    assert wrong.verdict == "fail" and calls[rungs:2 * rungs] == halves
    assert len(calls) == 3 * rungs
    assert all(n - 1 <= more <= n for n, more in zip(halves, calls[2 * rungs:], strict=True))
    # the first look's z (planned blind) is nearer zero than the pooled estimate's
    assert 0 < wrong.z < (wrong.estimate - wrong.theory) / wrong.se
    calls.clear()
    far = verify_claim(_toy_ladder(1.05, 0.3, noise=False, calls=calls), seed=0)
    assert far.verdict == "fail" and calls[rungs:] == halves


def test_a_third_look_grows_to_what_the_margin_needs() -> None:
    """Two looks that leave the verdict open with the estimate inside the margin (here the
    first 2.5% off, the second pooled to 1.5% off: neither equivalence nor a fail is
    shown) take a third, grown to 1.2 times what the pooled estimate says the margin
    needs at the third look's level; the pooled run (exact there) then passes."""
    calls: list[int] = []
    bumps = {1: 0.025, 2: 0.005}  # by look; the pilot and the third look are exact

    def estimator(p, n, s):
        at = 1.0 + bumps.get(len(calls), 0.0)
        calls.append(n)
        return Estimate(mean=at, se=0.3 * at / math.sqrt(n), n=n)

    claim = dataclasses.replace(_toy_exact(1.0, 0.3), estimator=estimator)
    result = verify_claim(claim, seed=0)
    assert result.verdict == "pass" and len(calls) == 4
    assert calls[3] > 3 * (calls[1] + calls[2])


def test_a_ladder_whose_first_look_sits_near_the_margin_measures_what_the_margin_needs(
        ) -> None:
    """As an exact check does: a first look whose limit sits 1.5% off (inside the 2% margin
    but too close to it to show equivalence) scales every rung alike to 1.2 times what
    the margin would need were that value the truth, rather than by the plan's other
    half; the pooled rungs (here exact) then pass."""
    rungs = len(TOY_LADDER.widths)
    calls: list[int] = []

    def estimator(p, n, s):
        calls.append(n)
        bump = 0.015 if rungs <= len(calls) - 1 < 2 * rungs else 0.0  # the first look only
        at = (1 + 3 / p["d"]) * (1 + bump)
        return Estimate(mean=at, se=0.3 * at / math.sqrt(n), n=n)

    claim = dataclasses.replace(_toy_ladder(1.0, 0.3), estimator=estimator)
    result = verify_claim(claim, seed=0)
    assert result.verdict == "pass" and len(calls) == 3 * rungs
    first, more = calls[rungs:2 * rungs], calls[2 * rungs:]
    growth = [(f + m) / f for f, m in zip(first, more, strict=True)]
    assert min(growth) > 2.5 and max(growth) - min(growth) < 0.01 * min(growth)


@pytest.mark.parametrize(("toy", "runs"), [(_toy_exact, 4000), (_toy_ladder, 2000)])
@pytest.mark.parametrize(("offset", "verdict", "bound"), [
    (0.02, "pass", 0.005),  # a theory off by the margin passes at most at ALPHA_EQUIV
    (0.03, "fail", 0.99),   # one off by the budget's detect is caught with its power
])
def test_sequential_checks_keep_their_error_rates(offset: float, verdict: str, bound: float,
                                                  toy, runs: int) -> None:
    """Over ``runs`` seeds of a Gaussian estimator whose mean (for a ladder, its limit) is
    off by ``offset`` (relative), the share of ``verdict`` is within its bound (one-sided
    binomial test at 1e-4: a calibrated design fails it once in 10^4 draws of these
    seeds)."""
    from scipy import stats as sps

    claim = toy(1.0 + offset, 0.5)
    hits = sum(verify_claim(claim, seed=s).verdict == verdict for s in range(runs))
    if verdict == "pass":
        assert sps.binom.sf(hits - 1, runs, bound) > 1e-4, hits
    else:
        assert sps.binom.cdf(hits, runs, bound) > 1e-4, hits


@pytest.mark.parametrize(("toy", "rungs"), [(_toy_exact, 1), (_toy_ladder, len(TOY_LADDER.widths))])
def test_a_correct_theory_mostly_stops_at_the_first_look(toy, rungs: int) -> None:
    """The saving the sequential design is for: planned at power 0.99 for the second
    look's levels, a correct theory passes on the first look when |Z| < 0.99 there, 68%
    of seeds (a ladder a little less: its plan rests on five noisy pilots; the binomial
    interval at 1e-4 over 1000 seeds is 0.62 .. 0.74 around 0.68), and is never failed;
    its z-scores stay standard normal (KS test at 1e-4)."""
    from scipy import stats as sps

    runs, first, zs = 1000, 0, []
    for seed in range(runs):
        calls: list[int] = []
        result = verify_claim(toy(1.0, 0.5, calls=calls), seed=seed)
        assert result.verdict != "fail"
        first += len(calls) == 2 * rungs
        zs.append(result.z)
    assert 0.60 < first / runs < 0.74, first
    # the z calibration reads (the first look's) is N(0, 1) whatever the looks decided
    assert sps.kstest(zs, "norm").pvalue > 1e-4
