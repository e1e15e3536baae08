"""Tests for numerics.stats: the tests themselves are calibrated by simulation.

Every simulation-based assertion compares a count of events with the
central (or one-sided) ``1 - FALSE_FAIL`` region of its exact binomial (or
chi-square) distribution, so a correct implementation fails it with probability
< FALSE_FAIL = 1e-6. Each comment names the bug the assertion would catch.
Normal data are simulated through their sufficient statistics (sample mean
~ N(mu, sd^2/n), (n-1) s^2 / sd^2 ~ chi2(n-1)), which is exact and fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from numerics.estimators import Estimate, estimate_from_samples
from numerics.stats import (
    binomial_ci,
    confidence_interval,
    extrapolate_to_zero,
    fit_power_law,
    holm,
    holm_adjusted,
    samples_for_relative_precision,
    samples_to_detect,
    tost,
    tost_relative,
    z_test,
)

FALSE_FAIL = 1e-6  # per-assertion probability that a correct implementation fails


def accept_region(trials: int, p: float) -> tuple[float, float]:
    """Central region holding Bin(trials, p) with probability >= 1 - FALSE_FAIL."""
    return stats.binom.interval(1 - FALSE_FAIL, trials, p)


def normal_estimates(
    rng: np.random.Generator, mu: float, sd: float, n: int, reps: int
) -> list[Estimate]:
    """``reps`` estimates from n normal samples each, se estimated (dof n - 1)."""
    means = rng.normal(mu, sd / np.sqrt(n), reps)
    s = sd * np.sqrt(rng.chisquare(n - 1, reps) / (n - 1))
    return [Estimate(m, se, n, dof=n - 1) for m, se in zip(means, s / np.sqrt(n), strict=True)]


def known_se_estimates(
    rng: np.random.Generator, mu: float, se: float, n: int, reps: int
) -> list[Estimate]:
    """``reps`` normal estimates with the true se (dof None)."""
    return [Estimate(m, se, n) for m in rng.normal(mu, se, reps)]


# ---------------------------------------------------------------- z test / CI


def test_z_test_false_rejection_rate_with_t_reference() -> None:
    # 20000 datasets of 10 normal samples: the t test with 9 dof is exact, so
    # rejections ~ Bin(20000, 0.05). Using z instead of t would give 8.2%, a
    # one-sided p-value 2.5% or 10%: all outside the region [~4.3%, ~5.7%].
    rng = np.random.default_rng(101)
    reps = 20_000
    data = rng.normal(3.0, 2.0, size=(reps, 10))
    rejections = sum(z_test(estimate_from_samples(row), 3.0) <= 0.05 for row in data)
    lo, hi = accept_region(reps, 0.05)
    assert lo <= rejections <= hi


def test_z_test_false_rejection_rate_with_normal_reference() -> None:
    # Known se, dof None: the z test is exact; rejections ~ Bin(10000, 0.05).
    rng = np.random.default_rng(102)
    reps = 10_000
    rejections = sum(z_test(e, 1.0) <= 0.05 for e in known_se_estimates(rng, 1.0, 0.1, 50, reps))
    lo, hi = accept_region(reps, 0.05)
    assert lo <= rejections <= hi


def test_confidence_interval_quantiles_and_duality_with_z_test() -> None:
    # Hand oracles: z_0.975 = 1.959963984540054, t_0.975(9) = 2.262157162798205.
    lo, hi = confidence_interval(Estimate(1.0, 0.5, 100), 0.95)
    assert (lo, hi) == pytest.approx((1.0 - 0.5 * 1.959963984540054, 1.0 + 0.5 * 1.959963984540054))
    lo, hi = confidence_interval(Estimate(1.0, 0.5, 10, dof=9), 0.95)
    assert hi - 1.0 == pytest.approx(0.5 * 2.262157162798205, rel=1e-12)
    # value inside the level-c interval  <=>  z_test p-value > 1 - c
    rng = np.random.default_rng(103)
    for est in normal_estimates(rng, 0.0, 1.0, 6, 200) + known_se_estimates(rng, 0.0, 1.0, 6, 200):
        lo, hi = confidence_interval(est, 0.9)
        for value in (lo - 1e-9, hi + 1e-9, (lo + hi) / 2, lo + 1e-9):
            assert (lo < value < hi) == (z_test(est, value) > 0.1)


def test_zero_se_gives_exact_answers() -> None:
    est = Estimate(2.0, 0.0, 5)
    assert z_test(est, 2.0) == 1.0
    assert z_test(est, 2.1) == 0.0
    assert tost_relative(est, 2.1, 0.1) == 0.0
    assert tost_relative(est, 2.5, 0.1) == 1.0
    assert confidence_interval(est, 0.99) == (2.0, 2.0)


# ---------------------------------------------------------------- TOST


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_tost_size_at_the_margin_is_alpha(side: float) -> None:
    # Truth on a margin edge, 8 normal samples (t with 7 dof). The pass rate is
    # exactly alpha minus P(the far one-sided test fails), which is < 1e-16 here
    # (the far edge is 11 standard errors away; noncentral t tail). z quantiles instead of t would
    # pass 7.2%, a CI at 1 - alpha instead of 1 - 2 alpha 2.5%: both caught.
    rng = np.random.default_rng(111 if side > 0 else 112)
    reps, value, margin = 10_000, 1.0, 0.1
    ests = normal_estimates(rng, value * (1 + side * margin), 0.05, 8, reps)
    passes = sum(tost_relative(e, value, margin) <= 0.05 for e in ests)
    lo, hi = accept_region(reps, 0.05)
    assert lo <= passes <= hi


def exact_tost_power(n: int, cv: float, margin: float, alpha: float) -> float:
    """Pass probability of a known-se relative TOST when truth = value (hand oracle)."""
    z = stats.norm.ppf(1 - alpha)
    return max(0.0, 2 * stats.norm.cdf(np.sqrt(n) * margin / cv - z) - 1)


@pytest.mark.parametrize(
    ("cv", "margin", "alpha", "power"),
    [(1.0, 0.05, 0.05, 0.8), (0.3, 0.02, 1e-6, 0.9), (2.0, 0.1, 0.01, 0.5), (0.01, 0.5, 0.1, 0.8)],
)
def test_samples_for_relative_precision_is_the_smallest_n_with_the_power(
    cv: float, margin: float, alpha: float, power: float
) -> None:
    n = samples_for_relative_precision(cv, margin, alpha, power)
    assert n >= 2
    assert exact_tost_power(n, cv, margin, alpha) >= power
    if n > 2:
        assert exact_tost_power(n - 1, cv, margin, alpha) < power


def test_tost_passes_with_the_promised_power_when_truth_equals_theory() -> None:
    # n from samples_for_relative_precision; known se, so the pass rate is
    # exactly exact_tost_power(n) >= 0.8. Two-sided binomial region around it:
    # catches z_{1-beta} for z_{1-beta/2} (power 0.6) and z_{1-alpha/2} for
    # z_{1-alpha} (power 0.87), or a TOST that is too strict or too lenient.
    rng = np.random.default_rng(121)
    cv, margin, alpha, power, reps, value = 1.0, 0.05, 0.05, 0.8, 10_000, 2.0
    n = samples_for_relative_precision(cv, margin, alpha, power)
    exact = exact_tost_power(n, cv, margin, alpha)
    ests = known_se_estimates(rng, value, cv * value / np.sqrt(n), n, reps)
    passes = sum(tost_relative(e, value, margin) <= alpha for e in ests)
    lo, hi = accept_region(reps, exact)
    assert lo <= passes <= hi
    assert passes >= stats.binom.ppf(FALSE_FAIL, reps, power)  # at least the requested power


def test_tost_rejects_equivalence_when_truth_is_off_by_twice_the_margin() -> None:
    # Same n, truth = value (1 + 2 margin): a pass needs m < value (1 + margin) - z se,
    # probability Phi(-margin value / se - z_{1-alpha}) ~ 2e-6 (the lower test
    # failing too is ~1e-40). Taking the min of the one-sided p-values instead
    # of the max would pass ~all of them.
    rng = np.random.default_rng(122)
    cv, margin, alpha, reps, value = 1.0, 0.05, 0.05, 10_000, 2.0
    n = samples_for_relative_precision(cv, margin, alpha, 0.8)
    se = cv * value / np.sqrt(n)
    p_pass = stats.norm.cdf(-margin * value / se - stats.norm.ppf(1 - alpha))
    ests = known_se_estimates(rng, value * (1 + 2 * margin), se, n, reps)
    passes = sum(tost_relative(e, value, margin) <= alpha for e in ests)
    assert passes <= stats.binom.isf(FALSE_FAIL, reps, p_pass)


def test_tost_matches_the_confidence_interval_inclusion_rule() -> None:
    # p <= alpha  <=>  the 1 - 2 alpha interval lies inside (lower, upper).
    rng = np.random.default_rng(123)
    for est in normal_estimates(rng, 1.0, 0.3, 5, 300) + known_se_estimates(rng, 1.0, 0.1, 5, 300):
        ci_lo, ci_hi = confidence_interval(est, 0.9)
        p = tost(est, 0.8, 1.2)
        if min(abs(ci_lo - 0.8), abs(ci_hi - 1.2)) > 1e-9:
            assert (p <= 0.05) == (ci_lo > 0.8 and ci_hi < 1.2)
        assert tost_relative(est, 1.0, 0.2) == p


# ---------------------------------------------------------------- Holm


@pytest.mark.parametrize(
    ("pvalues", "adjusted", "rejected"),
    [
        # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02], [True, False, False, True]),
        # thresholds 0.05/4, 0.05/3, 0.05/2, 0.05: first three pass
        ([0.001, 0.0125, 0.02, 0.5], [0.004, 0.0375, 0.04, 0.5], [True, True, True, False]),
        # step-down stops at the first: 0.02 > 0.05/3 (step-up Hochberg would reject all)
        ([0.02, 0.03, 0.04], [0.06, 0.06, 0.06], [False, False, False]),
        # capped at 1, ties, a single hypothesis
        ([0.6, 0.7], [1.0, 1.0], [False, False]),
        ([0.01, 0.01], [0.02, 0.02], [True, True]),
        ([0.05], [0.05], [True]),
    ],
)
def test_holm_hand_worked_examples(
    pvalues: list[float], adjusted: list[float], rejected: list[bool]
) -> None:
    assert holm_adjusted(pvalues) == pytest.approx(adjusted, rel=1e-12)
    assert holm(pvalues, 0.05) == rejected


def test_holm_family_wise_error_with_independent_nulls_is_exact() -> None:
    # m independent true nulls: Holm rejects something iff min p <= alpha/m,
    # probability 1 - (1 - alpha/m)^m = 0.0489 (region about +-0.8 points). No
    # adjustment would give 40%, thresholds alpha/(m - j) off by one 5.4%+.
    # The hand-worked examples pin down the step-down order itself.
    rng = np.random.default_rng(131)
    reps, m, alpha = 20_000, 10, 0.05
    pvals = rng.uniform(size=(reps, m))
    errors = sum(any(holm(row, alpha)) for row in pvals)
    lo, hi = accept_region(reps, 1 - (1 - alpha / m) ** m)
    assert lo <= errors <= hi


def test_holm_controls_family_wise_error_with_dependence_and_true_effects() -> None:
    # 5 true nulls with equicorrelated (rho = 0.5) z statistics plus 5 false nulls
    # with strong effects: FWER <= alpha by Holm's theorem, so errors are
    # stochastically below Bin(reps, alpha). Holm also rejects at least what
    # Bonferroni rejects in every family.
    rng = np.random.default_rng(132)
    reps, alpha = 20_000, 0.05
    shared = rng.normal(size=(reps, 1))
    z_null = np.sqrt(0.5) * shared + np.sqrt(0.5) * rng.normal(size=(reps, 5))
    z_alt = rng.normal(size=(reps, 5)) + np.array([2.0, 3.0, 4.0, 5.0, 6.0])
    pvals = 2 * stats.norm.sf(np.abs(np.hstack([z_null, z_alt])))
    errors = 0
    for row in pvals:
        decisions = holm(row, alpha)
        errors += any(decisions[:5])
        assert all(d or p > alpha / 10 for d, p in zip(decisions, row, strict=True))
    assert errors <= stats.binom.isf(FALSE_FAIL, reps, alpha)


# ---------------------------------------------------------------- sample sizes


def detection_power(n: int, cv: float, rel_error: float, alpha: float, far_tail: bool) -> float:
    """Rejection probability of the known-se two-sided z test (hand oracle).

    The near tail ``Phi(shift - z)`` is what the sample-size formula inverts;
    ``far_tail`` adds ``Phi(-shift - z)`` for the exact probability.
    """
    shift = np.sqrt(n) * abs(rel_error) / cv
    z = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.cdf(shift - z) + far_tail * stats.norm.cdf(-shift - z)


@pytest.mark.parametrize(
    ("cv", "rel_error", "alpha", "power"),
    [(1.0, 0.03, 0.05, 0.9), (0.5, -0.03, 1e-6, 0.8), (3.0, 0.2, 0.01, 0.5), (0.01, 1.0, 0.2, 0.6)],
)
def test_samples_to_detect_is_the_smallest_n_with_the_power(
    cv: float, rel_error: float, alpha: float, power: float
) -> None:
    n = samples_to_detect(cv, rel_error, alpha, power)
    assert n >= 2
    assert detection_power(n, cv, rel_error, alpha, far_tail=False) >= power
    if n > 2:
        assert detection_power(n - 1, cv, rel_error, alpha, far_tail=False) < power


def test_samples_to_detect_delivers_the_power_by_simulation() -> None:
    # Truth off by 3%; known se; rejections ~ Bin(reps, exact power >= 0.9),
    # region about +-1.5 points. A one-sided z_{1-alpha} in the formula gives
    # power 0.83, z_{(1+power)/2} for z_{power} 0.95: both caught.
    rng = np.random.default_rng(141)
    cv, rel_error, alpha, power, reps, value = 1.0, 0.03, 0.05, 0.9, 10_000, -4.0
    n = samples_to_detect(cv, rel_error, alpha, power)
    se = cv * abs(value) / np.sqrt(n)
    ests = known_se_estimates(rng, value * (1 + rel_error), se, n, reps)
    rejections = sum(z_test(e, value) <= alpha for e in ests)
    lo, hi = accept_region(reps, detection_power(n, cv, rel_error, alpha, far_tail=True))
    assert lo <= rejections <= hi
    assert rejections >= stats.binom.ppf(FALSE_FAIL, reps, power)


# ---------------------------------------------------------------- binomial CI


def test_binomial_ci_solves_the_clopper_pearson_tail_equations() -> None:
    for k, n in [(1, 10), (7, 20), (50, 100), (999, 1000)]:
        lo, hi = binomial_ci(k, n, 0.95)
        assert stats.binom.sf(k - 1, n, lo) == pytest.approx(0.025, rel=1e-8)
        assert stats.binom.cdf(k, n, hi) == pytest.approx(0.025, rel=1e-8)
    # k = 0: hi solves (1 - hi)^n = 0.025 (hand oracle); k = n mirrors it.
    assert binomial_ci(0, 10, 0.95) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)), rel=1e-10)
    assert binomial_ci(10, 10, 0.95) == pytest.approx((0.025 ** (1 / 10), 1.0), rel=1e-10)


def test_binomial_ci_coverage_is_at_least_the_level() -> None:
    # Exact coverage sum_k Bin(k; n, p) 1[lo_k <= p <= hi_k] on a grid of p.
    n, level = 25, 0.9
    bounds = np.array([binomial_ci(k, n, level) for k in range(n + 1)])
    ks = np.arange(n + 1)
    for p in np.linspace(0.001, 0.999, 199):
        covered = (bounds[:, 0] <= p) & (p <= bounds[:, 1])
        assert stats.binom.pmf(ks, n, p)[covered].sum() >= level - 1e-12


# ---------------------------------------------------------------- fits

WIDTHS = np.array([32.0, 64.0, 128.0, 256.0, 512.0])


def test_fit_power_law_recovers_noise_free_data() -> None:
    values = -3.0 * WIDTHS**-0.5
    fit = fit_power_law(WIDTHS, values, 0.01 * np.abs(values))
    assert fit.exponent == pytest.approx(-0.5, rel=1e-12)
    assert fit.intercept == pytest.approx(np.log(3.0), rel=1e-12)
    assert fit.dof == 3 and fit.chi2 == pytest.approx(0.0, abs=1e-20)
    assert fit.exponent_estimate.mean == fit.exponent


def test_fit_power_law_exponent_ci_covers_at_the_nominal_rate() -> None:
    # values = 3 w^-1 + se * noise with 1-3% relative ses. The log transform adds
    # O(rel_se^2) ~ 1e-3 errors (a few % of one se), so the 95% interval of the
    # exponent covers -1 at 95% up to ~1e-3: region is +-1.5 points for 5000 fits.
    # The chi2 sum over all fits must look like chi2(3 * reps) (catches wrong weights).
    rng = np.random.default_rng(151)
    reps = 5_000
    truth = 3.0 * WIDTHS**-1.0
    ses = truth * np.array([0.01, 0.015, 0.02, 0.025, 0.03])
    noisy = truth + ses * rng.normal(size=(reps, WIDTHS.size))
    covered, chi2_sum = 0, 0.0
    for values in noisy:
        fit = fit_power_law(WIDTHS, values, ses)
        lo, hi = confidence_interval(fit.exponent_estimate, 0.95)
        covered += lo <= -1.0 <= hi
        chi2_sum += fit.chi2
    lo, hi = accept_region(reps, 0.95)
    assert lo <= covered <= hi
    dof = 3 * reps
    assert stats.chi2.ppf(FALSE_FAIL / 2, dof) <= chi2_sum <= stats.chi2.isf(FALSE_FAIL / 2, dof)


def test_extrapolate_to_zero_recovers_a_known_intercept() -> None:
    values = 0.25 + 4.0 * WIDTHS**-0.5
    est = extrapolate_to_zero(WIDTHS, values, np.full(5, 1e-3), rate=0.5)
    assert est.mean == pytest.approx(0.25, rel=1e-12)
    assert est.n == 5 and est.dof is None


def test_extrapolate_to_zero_ci_covers_at_the_nominal_rate() -> None:
    # Linear model in x^-rate with normal noise: the intercept is exactly normal
    # with the reported se, so 95% intervals cover ~ Bin(reps, 0.95).
    rng = np.random.default_rng(161)
    reps, rate, limit = 5_000, 1.0, 0.1
    ses = np.array([0.02, 0.01, 0.01, 0.005, 0.005])
    noisy = limit + 2.0 / WIDTHS**rate + ses * rng.normal(size=(reps, WIDTHS.size))
    covered = 0
    for values in noisy:
        lo, hi = confidence_interval(extrapolate_to_zero(WIDTHS, values, ses, rate), 0.95)
        covered += lo <= limit <= hi
    lo, hi = accept_region(reps, 0.95)
    assert lo <= covered <= hi


def test_two_term_expansion_removes_the_bias_a_one_term_fit_keeps() -> None:
    # discrepancy c1/d + c2/d^2 with a limit of exactly 0 (the Post-LN ladder's shape)
    widths = np.array([16.0, 32.0, 64.0, 128.0])
    values = 2.7 / widths + 6.6 / widths**2
    ses = np.full(4, 1e-3)
    one = extrapolate_to_zero(widths, values, ses, rate=1.0)
    two = extrapolate_to_zero(widths, values, ses, rate=1.0, terms=2)
    assert one.mean < -0.004  # biased by the second-order part
    assert abs(two.mean) < 1e-12
    assert two.se > one.se


def test_two_term_ci_covers_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(162)
    reps, limit = 5_000, -0.03
    ses = np.array([0.02, 0.01, 0.01, 0.005, 0.005])
    truth = limit + 2.0 / WIDTHS + 40.0 / WIDTHS**2
    covered = 0
    for values in truth + ses * rng.normal(size=(reps, WIDTHS.size)):
        lo, hi = confidence_interval(extrapolate_to_zero(WIDTHS, values, ses, 1.0, terms=2), 0.95)
        covered += lo <= limit <= hi
    lo, hi = accept_region(reps, 0.95)
    assert lo <= covered <= hi


def test_se_factor_is_the_se_of_the_limit_for_unit_point_ses() -> None:
    from numerics.stats import extrapolation_se_factor

    widths = np.array([16.0, 32.0, 64.0, 128.0])
    for terms in (1, 2):
        factor = extrapolation_se_factor(widths, 1.0, terms)
        est = extrapolate_to_zero(widths, np.zeros(4), np.full(4, 0.01), 1.0, terms)
        assert est.se == pytest.approx(0.01 * factor, rel=1e-12)
    # resolving a second order costs precision: the limit's se grows
    assert extrapolation_se_factor(widths, 1.0, 2) > extrapolation_se_factor(widths, 1.0, 1)


# ---------------------------------------------------------------- bad input

EST = Estimate(1.0, 0.1, 10)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: confidence_interval(EST, 1.0), r"level must be in \(0, 1\)"),
        (lambda: confidence_interval((1.0, 0.1), 0.9), "est must be an Estimate"),
        (lambda: z_test(EST, np.nan), "value must be a finite"),
        (lambda: tost_relative(EST, 1.0, 0.0), "margin must be > 0"),
        (lambda: tost_relative(EST, 0.0, 0.1), "value must be nonzero"),
        (lambda: tost(EST, 1.0, 1.0), "upper must be > lower"),
        (lambda: holm([0.1, 0.2], 0.0), r"alpha must be in \(0, 1\)"),
        (lambda: holm([], 0.05), "pvalues must hold at least 1"),
        (lambda: holm_adjusted([0.1, 1.5]), r"pvalues must be in \[0, 1\]"),
        (lambda: holm_adjusted([0.1, np.nan]), "pvalues must be finite"),
        (lambda: samples_for_relative_precision(0.0, 0.1, 0.05, 0.8), "cv must be > 0"),
        (lambda: samples_for_relative_precision(1.0, -0.1, 0.05, 0.8), "margin must be > 0"),
        (lambda: samples_for_relative_precision(1.0, 0.1, 1.5, 0.8), r"alpha must be in \(0, 1\)"),
        (lambda: samples_for_relative_precision(1.0, 0.1, 0.05, 1.0), r"power must be in"),
        (lambda: samples_to_detect(1.0, 0.0, 0.05, 0.8), "rel_error must be nonzero"),
        (lambda: samples_to_detect(np.inf, 0.1, 0.05, 0.8), "cv must be a finite"),
        (lambda: binomial_ci(11, 10), r"k must be an integer in \[0, n=10\]"),
        (lambda: binomial_ci(1, 0), "n must be an integer >= 1"),
        (lambda: binomial_ci(1, 10, 0.0), r"level must be in \(0, 1\)"),
        (lambda: fit_power_law(WIDTHS[:2], [1.0, 2.0], [0.1, 0.1]), "at least 3 points"),
        (lambda: fit_power_law(WIDTHS, np.ones(4), np.ones(5)), "must have the shape of widths"),
        (lambda: fit_power_law(-WIDTHS, np.ones(5), np.ones(5)), "widths must be > 0"),
        (lambda: fit_power_law(WIDTHS, np.zeros(5), np.ones(5)), "values must be nonzero"),
        (lambda: fit_power_law(WIDTHS, np.ones(5), np.zeros(5)), "ses must be > 0"),
        (lambda: fit_power_law(np.ones(5), np.ones(5), np.ones(5)), "2 distinct values"),
        (lambda: extrapolate_to_zero(WIDTHS, np.ones(5), np.ones(5), 0.0), "rate must be > 0"),
        (lambda: extrapolate_to_zero(WIDTHS, [1, 1, 1, np.inf, 1], np.ones(5), 1), "values must"),
        (lambda: extrapolate_to_zero(WIDTHS, np.ones(5), np.ones(5), 1, terms=0),
         "terms must be an integer >= 1"),
        (lambda: extrapolate_to_zero(WIDTHS[:3], np.ones(3), np.ones(3), 1, terms=3),
         "at least terms"),
    ],
)
def test_bad_input_raises_one_line_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_extrapolation_gof_flags_a_wrong_rate() -> None:
    from numerics.stats import extrapolation_gof

    widths = np.array([16.0, 32.0, 64.0, 128.0, 256.0])
    ses = np.full(widths.size, 1e-3)
    right = 0.02 + 3.0 / widths  # shrinks at rate 1, no noise
    wrong = 0.02 + 30.0 / widths**2  # shrinks at rate 2
    assert extrapolation_gof(widths, right, ses, rate=1.0) > 0.99
    # chi2 of the rate-1 fit to rate-2 data is huge at these ses: p far below any level
    assert extrapolation_gof(widths, wrong, ses, rate=1.0) < 1e-12
