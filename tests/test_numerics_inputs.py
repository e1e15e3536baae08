"""Token matrices: rank one, near rank one, exchangeable Gaussian, Gram-matched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numerics.inputs import (
    as_tokens,
    exchangeable_tokens,
    gram_matched_tokens,
    near_rank_one_tokens,
    rank_one_tokens,
)


@given(
    d=st.integers(1, 40),
    n_frac=st.floats(0.0, 1.0),
    rho=st.floats(0.0, 1.0),
    s=st.floats(1e-3, 1e3),
)
def test_gram_matched_tokens_have_the_target_gram(d: int, n_frac: float, rho: float,
                                                  s: float) -> None:
    n = 1 + int(n_frac * (d - 1))
    x = gram_matched_tokens(n, d, rho, s)
    target = s * d * ((1 - rho) * np.eye(n) + rho * np.ones((n, n)))
    assert x.shape == (n, d)
    np.testing.assert_allclose(x @ x.T, target, rtol=0, atol=1e-12 * s * d)


def test_gram_matched_tokens_have_zero_feature_mean_when_n_below_d() -> None:
    x = gram_matched_tokens(5, 9, 0.4, 1.5)
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-14)


def test_gram_matched_rank_one_allows_more_tokens_than_features() -> None:
    x = gram_matched_tokens(12, 3, 1.0, 2.0)
    np.testing.assert_allclose(x @ x.T, 6.0 * np.ones((12, 12)), atol=1e-12)


def test_rank_one_and_near_rank_one_tokens() -> None:
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, 1.0]])
    ones = rank_one_tokens(x, 4)
    assert ones.shape == (2, 4, 3)
    np.testing.assert_array_equal(ones, np.broadcast_to(x[:, None, :], (2, 4, 3)))
    e = np.arange(24.0).reshape(2, 4, 3)
    np.testing.assert_array_equal(near_rank_one_tokens(x, e, 0.25), ones + 0.25 * e)
    np.testing.assert_array_equal(rank_one_tokens(x[0], 2), [x[0], x[0]])


def test_exchangeable_tokens_have_the_model_second_moments() -> None:
    # E x_k.x_k'/(s d) = rho + (1 - rho) delta_kk'.  Each statistic is a mean
    # over 50000 independent samples; a 7-standard-error band fails a correct
    # sampler with p < 1e-11 (CLT), and the band is narrower than 3% of the
    # target, so a 3% error in either moment is detected.
    n, d, rho, s = 3, 8, 0.6, 2.5
    x = exchangeable_tokens(n, d, rho, s, 50_000, seed=5)
    gram = np.einsum("bid,bjd->bij", x, x) / (s * d)
    diag = gram[:, [0, 1, 2], [0, 1, 2]].mean(axis=1)
    off = gram[:, [0, 0, 1], [1, 2, 2]].mean(axis=1)
    for values, target in ((diag, 1.0), (off, rho)):
        band = 7 * values.std(ddof=1) / np.sqrt(values.size)
        assert band < 0.03 * target
        assert abs(values.mean() - target) < band


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gram_matched_tokens(5, 4, 0.5, 1.0), "n must be <= d for rho < 1.*n=5, d=4"),
        (lambda: gram_matched_tokens(3, 4, 1.5, 1.0), r"rho must be in \[0, 1\]"),
        (lambda: gram_matched_tokens(3, 4, -0.1, 1.0), r"rho must be in \[0, 1\]"),
        (lambda: gram_matched_tokens(3, 4, 0.5, 0.0), "s must be > 0"),
        (lambda: gram_matched_tokens(0, 4, 0.5, 1.0), "n must be an integer >= 1"),
        (lambda: exchangeable_tokens(3, 0, 0.5, 1.0, 2, 0), "d must be an integer >= 1"),
        (lambda: exchangeable_tokens(3, 4, float("nan"), 1.0, 2, 0), "rho must be a finite"),
        (lambda: exchangeable_tokens(3, 4, 0.5, -1.0, 2, 0), "s must be > 0"),
        (lambda: near_rank_one_tokens(np.ones(3), np.ones((2, 3)), float("inf")),
         "eps must be a finite"),
        (lambda: rank_one_tokens(np.ones(3), 0), "n must be an integer >= 1"),
        (lambda: as_tokens(np.ones(3)), "X must have shape"),
        (lambda: as_tokens([[1.0, np.nan]]), "X must have finite entries"),
    ],
)
def test_bad_input_is_refused_with_the_parameter_named(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
