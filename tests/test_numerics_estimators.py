"""Tests for numerics.estimators: streaming moments, batch means, ratio / delta method.

Simulation-based assertions are calibrated: each states the probability that a
correct implementation fails it (< 1e-6), from binomial / chi-square theory.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal, stats

from numerics.estimators import (
    Estimate,
    RunningMoments,
    batch_means,
    delta_method,
    difference_from_moments,
    estimate_from_samples,
    ratio_estimate,
    ratio_from_moments,
)
from numerics.stats import z_test

FALSE_FAIL = 1e-6  # per-assertion probability that a correct implementation fails


def test_merge_of_halves_equals_whole_batch() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(1001, 4)) @ rng.normal(size=(4, 4)) + 1e3
    whole = RunningMoments().update(x)
    merged = RunningMoments().update(x[:377]).merge(RunningMoments().update(x[377:]))
    for moments in (whole, merged):
        assert moments.count == 1001
        np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(moments.covariance, np.cov(x.T), rtol=1e-12)
        np.testing.assert_allclose(moments.variance, x.var(axis=0, ddof=1), rtol=1e-12)
        np.testing.assert_allclose(
            moments.standard_error, x.std(axis=0, ddof=1) / np.sqrt(1001), rtol=1e-12
        )


def test_streaming_in_uneven_chunks_equals_batch() -> None:
    rng = np.random.default_rng(12)
    x = rng.gamma(2.0, size=500) - 7.0
    stream = RunningMoments()
    edges = [0, 1, 2, 5, 50, 51, 300, 500]
    for lo, hi in itertools.pairwise(edges):
        stream.update(x[lo:hi])
    assert stream.count == 500
    assert stream.mean == pytest.approx(x.mean(), rel=1e-12)
    assert stream.variance == pytest.approx(x.var(ddof=1), rel=1e-12)
    assert stream.covariance.shape == (1, 1)
    est = stream.estimate()
    assert est == Estimate(stream.mean, stream.standard_error, 500, dof=499)
    direct = estimate_from_samples(x)
    assert (direct.n, direct.dof) == (est.n, est.dof)
    assert direct.mean == pytest.approx(est.mean, rel=1e-12)
    assert direct.se == pytest.approx(est.se, rel=1e-12)


@given(
    data=st.lists(
        st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=2, max_size=60
    ),
    cut=st.integers(0, 60),
)
def test_merge_matches_batch_for_any_split(data: list[float], cut: int) -> None:
    x = np.array(data)
    cut = min(cut, len(data))
    parts = [RunningMoments().update(p) for p in (x[:cut], x[cut:]) if p.size]
    merged = parts[0] if len(parts) == 1 else parts[0].merge(parts[1])
    scale = max(1.0, float(np.max(np.abs(x))))
    assert abs(merged.mean - x.mean()) <= 1e-12 * scale
    assert abs(merged.variance - x.var(ddof=1)) <= 1e-12 * scale**2


def test_merge_with_empty_stream_and_diagonal_mode() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(size=(200, 3))
    full = RunningMoments().update(x)
    assert RunningMoments().merge(full).covariance == pytest.approx(full.covariance, rel=1e-15)
    diag = RunningMoments(full_covariance=False).update(x[:70])
    diag = diag.merge(RunningMoments(full_covariance=False).update(x[70:]))
    np.testing.assert_allclose(diag.variance, x.var(axis=0, ddof=1), rtol=1e-12)
    with pytest.raises(ValueError, match="full_covariance"):
        _ = diag.covariance
    with pytest.raises(ValueError, match="full_covariance"):
        full.merge(diag)


def test_stable_for_a_large_offset() -> None:
    # Values 1e9 + noise: the textbook sum-of-squares formula loses every digit,
    # the pairwise (Chan) update keeps them. Exact answer from rational arithmetic.
    rng = np.random.default_rng(14)
    x = 1e9 + rng.normal(size=4000)
    exact = [Fraction(v) for v in x]
    mean = sum(exact) / len(exact)
    exact_var = float(sum((v - mean) ** 2 for v in exact) / (len(exact) - 1))
    stream = RunningMoments()
    for chunk in np.array_split(x, 37):
        stream.update(chunk)
    assert stream.variance == pytest.approx(exact_var, rel=1e-9)
    textbook = (np.sum(x * x) - x.sum() ** 2 / x.size) / (x.size - 1)
    assert abs(textbook - exact_var) > 1e-3 * exact_var  # the data really are hard


def test_estimate_of_a_vector_component() -> None:
    rng = np.random.default_rng(15)
    x = rng.normal(size=(50, 2)) + np.array([1.0, -2.0])
    moments = RunningMoments().update(x)
    est = moments.estimate(1)
    assert est.mean == pytest.approx(x[:, 1].mean(), rel=1e-12)
    assert est.se == pytest.approx(x[:, 1].std(ddof=1) / np.sqrt(50), rel=1e-12)
    assert est.dof == 49


def ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int]) -> np.ndarray:
    """Stationary AR(1) rows ``y_t = phi y_{t-1} + e_t`` with unit innovations."""
    innovations = rng.normal(size=shape)
    start = rng.normal(size=(shape[0], 1)) / np.sqrt(1 - phi**2)
    out, _ = signal.lfilter([1.0], [1.0, -phi], innovations, axis=1, zi=phi * start)
    return out


def test_batch_means_is_calibrated_on_an_autocorrelated_sequence() -> None:
    # AR(1) with phi = 0.5 has mean 0 and integrated autocorrelation (1+phi)/(1-phi) = 3.
    # With 10 batches of 500 (>> correlation time) the batch-means t statistic is
    # t_9 up to O(1/500) corrections (about 0.1 binomial sd here), so the
    # rejection rate at 0.05 is 0.05. Acceptance region: the central
    # 1 - FALSE_FAIL interval of Bin(reps, 0.05).
    # Power: an se that ignores the correlation rejects about 26% of the time.
    rng = np.random.default_rng(21)
    reps, n_batches, size, phi = 10_000, 10, 500, 0.5
    rejections = naive_rejections = 0
    for block in range(4):
        seqs = ar1(rng, phi, (reps // 4, n_batches * size))
        for seq in seqs:
            est = batch_means(seq, n_batches)
            assert est.dof == n_batches - 1 and est.n == n_batches * size
            rejections += z_test(est, 0.0) <= 0.05
            if block == 0:
                naive_rejections += z_test(estimate_from_samples(seq), 0.0) <= 0.05
    lo, hi = stats.binom.interval(1 - FALSE_FAIL, reps, 0.05)
    assert lo <= rejections <= hi
    # Naive iid se, 2500 sequences: expected ~650 rejections vs at most ~200 if calibrated.
    assert naive_rejections > stats.binom.isf(FALSE_FAIL, reps // 4, 0.05)


def test_batch_means_uses_complete_batches_only() -> None:
    x = np.arange(23, dtype=float)
    est = batch_means(x, 4)  # batches of 5, last 3 values dropped
    means = x[:20].reshape(4, 5).mean(axis=1)
    assert est.mean == pytest.approx(means.mean(), rel=1e-15)
    assert est.se == pytest.approx(means.std(ddof=1) / 2, rel=1e-12)
    assert (est.n, est.dof) == (20, 3)


def test_ratio_se_matches_the_spread_of_repeated_ratio_estimates() -> None:
    # num = 2 + 0.9u + 0.5v, den = 4 + u: R = 0.5 and the per-sample delta-method
    # variance var_num - 2R cov + R^2 var_den = 1.06 - 0.9 + 0.25 = 0.41 (dropping
    # the covariance term would give 1.31). Over reps independent repeats,
    # (reps-1) var_emp / var_true ~ chi2(reps-1) (ratios are normal up to O(1/n));
    # the predicted variance mean(se^2) has relative noise ~ sqrt(2/(n reps)) = 5e-4
    # and O(cv_den^2/n) ~ 2e-4 bias, far below the chi2 band (+-5%).
    # False-fail probability FALSE_FAIL; detects an se off by more than ~5%.
    rng = np.random.default_rng(31)
    reps, n = 20_000, 400
    u = rng.normal(size=(reps, n))
    num = 2.0 + 0.9 * u + 0.5 * rng.normal(size=(reps, n))
    den = 4.0 + u
    ests = [ratio_estimate(a, b) for a, b in zip(num, den, strict=True)]
    ratios = np.array([e.mean for e in ests])
    predicted = np.mean([e.se**2 for e in ests])
    # Hand oracle 0.41 / (n mean_den^2); 1% is > 10 times the noise + bias above.
    assert predicted == pytest.approx(0.41 / (n * 16.0), rel=0.01)
    ratio = np.var(ratios, ddof=1) / predicted
    lo = stats.chi2.ppf(FALSE_FAIL / 2, reps - 1) / (reps - 1)
    hi = stats.chi2.isf(FALSE_FAIL / 2, reps - 1) / (reps - 1)
    assert lo <= ratio <= hi


def test_ratio_from_streamed_moments_matches_paired_samples() -> None:
    rng = np.random.default_rng(32)
    x = rng.normal(size=(300, 3)) + np.array([1.0, 5.0, 2.0])
    moments = RunningMoments().update(x[:100]).merge(RunningMoments().update(x[100:]))
    streamed = ratio_from_moments(moments, numerator=2, denominator=1)
    direct = ratio_estimate(x[:, 2], x[:, 1])
    assert streamed.mean == pytest.approx(direct.mean, rel=1e-12)
    assert streamed.se == pytest.approx(direct.se, rel=1e-10)
    assert direct.mean == pytest.approx(x[:, 2].mean() / x[:, 1].mean(), rel=1e-12)


def test_delta_method_on_a_product() -> None:
    # f(a, b) = a b: se^2 = b^2 Caa + 2ab Cab + a^2 Cbb.
    means = np.array([2.0, 3.0])
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    se = delta_method(means, cov, lambda m: np.array([m[1], m[0]]))
    assert se == pytest.approx(np.sqrt(9 * 0.04 + 2 * 6 * 0.01 + 4 * 0.09), rel=1e-14)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: RunningMoments().update([]), "batch must hold at least 1"),
        (lambda: RunningMoments().update([1.0, np.nan]), "batch must be finite"),
        (lambda: RunningMoments().update(np.ones((2, 2, 2))), "batch must be a 1-D or 2-D"),
        (lambda: RunningMoments().update(np.ones((3, 2))).update(np.ones((3, 3))), "2-vector"),
        (lambda: RunningMoments().update([1.0, 2.0]).update(np.ones((3, 1))), "scalar"),
        (lambda: RunningMoments().mean, "count must be >= 1"),
        (lambda: RunningMoments().update([1.0]).variance, "count must be >= 2"),
        (lambda: RunningMoments().update(np.ones((3, 2))).estimate(), "component must be"),
        (
            lambda: RunningMoments().update(np.ones((3, 2))).estimate(2),
            r"component must be .*\[0, 1\]",
        ),
        (lambda: RunningMoments().merge([1.0]), "other must be a RunningMoments"),
        (lambda: estimate_from_samples([1.0]), "x must hold at least 2"),
        (lambda: estimate_from_samples([1.0, np.inf]), "x must be finite"),
        (lambda: estimate_from_samples(["a", "b"]), "x must be an array of real numbers"),
        (lambda: batch_means(np.ones(10), 1), r"n_batches must be in \[2, "),
        (lambda: batch_means(np.ones(10), 11), r"n_batches must be in \[2, "),
        (lambda: batch_means(np.ones(10), 2.5), "n_batches must be an integer >= 1"),
        (lambda: ratio_estimate([1.0, 2.0], [1.0, 2.0, 3.0]), "den must have the same shape"),
        (lambda: ratio_estimate([1.0, 2.0], [1.0, -1.0]), "nonzero mean"),
        (lambda: ratio_estimate([1.0, np.nan], [1.0, 2.0]), "num must be finite"),
        (lambda: ratio_from_moments(RunningMoments().update(np.ones((3, 2))), 0, 0), "differ"),
        (lambda: ratio_from_moments(RunningMoments().update(np.ones((3, 2))), 0, 2), "denominator"),
        (lambda: difference_from_moments(RunningMoments().update(np.ones((3, 2))), 0, 2),
         r"second must be an integer in \[0, 1\]"),
        (lambda: difference_from_moments(RunningMoments().update(np.ones((1, 2))), 0, 1),
         "count must be >= 2 for a covariance"),
        (lambda: delta_method([1.0, 2.0], np.eye(3), lambda m: m), r"cov must have shape \(2, 2\)"),
        (lambda: delta_method([1.0, 2.0], [[1, 1], [0, 1]], lambda m: m), "symmetric"),
        (lambda: delta_method([1.0, 2.0], np.eye(2), lambda m: m[:1]), "grad must return"),
        (lambda: delta_method([1.0, 2.0], -np.eye(2), lambda m: m), "semi-definite"),
        (lambda: Estimate(np.nan, 1.0, 3), "mean must be a finite"),
        (lambda: Estimate(0.0, -1.0, 3), "se must be >= 0"),
        (lambda: Estimate(0.0, 1.0, 0), "n must be an integer >= 1"),
        (lambda: Estimate(0.0, 1.0, 3, dof=0), "dof must be > 0"),
    ],
)
def test_bad_input_raises_one_line_value_error(call, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
