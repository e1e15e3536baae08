"""Two-sided lazy weights (numerics.lazy.TwoSidedGaussian) against weights drawn in full.

The transposed product is exact: for a fixed X and cotangent dY, (X W, dY W^T) is a
linear image of the normals either way, so the covariance of the lazy draw must equal
that of the full one to rounding, at any rank of X. For whole networks (dY then depends
on the forward), lazily drawn and fully drawn networks (independent streams) give
samples of the loss-gradient quantities: every layer's ||dL/dW^Q||^2, ||dL/dW^K||^2,
||dL/dW^V||^2 and ||dL/dX||^2. Equality in distribution is tested by two-sample
Kolmogorov-Smirnov tests on each quantity and on fixed random projections of the
standardized log vector (so the dependence is tested too), Bonferroni over the family
at 1e-3; the same test must tell a lazy draw whose backward complement is 3% too large.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from architecture.spec import Architecture
from numerics.jacobians import gradient_norms
from numerics.lazy import Frame, TwoSidedGaussian, bind, times, times_transposed
from numerics.model import backward, forward, squared_gradient_norms
from numerics.weights import WEIGHT_NAMES, Weights, draws_per_network, sample_weights

N = 3000
CHUNK = 500
FAMILY_ALPHA = 1e-3
PROJECTIONS = 3
QUANTITIES = ("wq", "wk", "wv", "x")
GRADIENTS = (*WEIGHT_NAMES, "x")
RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 16))
TIED = X[[0, 0, 1]]  # two equal tokens: rank two
COTANGENT = RNG.standard_normal((3, 16))
SIGMAS = dict(sigma_q=0.5, sigma_k=0.5, sigma_v=0.3, sigma_o=0.3, sigma_1=0.3, sigma_2=0.2)
CASES = {
    "post-ln softmax, 2 heads + W^O, relu": (Architecture(
        n=3, d=16, d_k=8, d_v=8, d_ff=32, heads=2, depth=2, norm="post", **SIGMAS), X),
    "pre-ln uniform causal, gelu, tied tokens": (Architecture(
        n=3, d=16, d_k=16, d_v=16, d_ff=32, depth=2, norm="pre", activation="gelu",
        attention="uniform", mask="causal", **SIGMAS), TIED),
    "no norm softmax, W^Q W^K in full, tanh": (Architecture(
        n=3, d=16, d_k=2, d_v=16, d_ff=24, depth=3, activation="tanh", **SIGMAS), X),
}


def _samples(arch: Architecture, x: np.ndarray, lazy: bool, seed: int, tamper=None
             ) -> np.ndarray:
    """(N, 3 L + 1): the squared Q, K, V gradient norms of every layer and ||dL/dX||^2."""
    out = []
    for start in range(0, N, CHUNK):
        weights = sample_weights(arch, CHUNK, seed, start, lazy=lazy)
        weights = tamper(weights) if tamper else weights
        _, cache = forward(arch, weights, x)
        norms = squared_gradient_norms(arch, weights, cache, COTANGENT, wrt=QUANTITIES)
        out.append(np.concatenate([norms[k].reshape(CHUNK, -1) for k in QUANTITIES], axis=1))
    return np.concatenate(out)


def _p_values(a: np.ndarray, b: np.ndarray) -> list[float]:
    keep = np.all(a > 0, axis=0) & np.all(b > 0, axis=0)  # uniform attention: dW^Q = 0
    la, lb = np.log(a[:, keep]), np.log(b[:, keep])
    pooled = np.concatenate([la, lb])
    za, zb = ((s - pooled.mean(axis=0)) / pooled.std(axis=0) for s in (la, lb))
    directions = np.random.default_rng(0).standard_normal((za.shape[1], PROJECTIONS))
    columns = [(za[:, k], zb[:, k]) for k in range(za.shape[1])]
    columns += [(za @ u, zb @ u) for u in directions.T]
    return [stats.ks_2samp(u, v).pvalue for u, v in columns]


def _family(p: list[float]) -> float:
    """Bonferroni-adjusted smallest p-value over every test of every case."""
    return min(p) * len(p) * len(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lazy_gradients_have_the_law_of_full_ones(name: str) -> None:
    arch, x = CASES[name]
    p = _p_values(_samples(arch, x, True, 11), _samples(arch, x, False, 12))
    assert _family(p) > FAMILY_ALPHA, (name, sorted(p)[:3])
    assert draws_per_network(arch, lazy=True) < draws_per_network(arch)


def _complement_three_percent_large(weights: Weights) -> Weights:
    return dataclasses.replace(weights, **{
        name: dataclasses.replace(w, g=1.03 * w.g) for name in WEIGHT_NAMES
        if isinstance(w := getattr(weights, name), TwoSidedGaussian)})


def test_a_three_percent_wrong_backward_complement_is_told_apart() -> None:
    arch, x = CASES["post-ln softmax, 2 heads + W^O, relu"]
    p = _p_values(_samples(arch, x, True, 11, _complement_three_percent_large),
                  _samples(arch, x, False, 12))
    assert _family(p) < FAMILY_ALPHA


def _linear_map(draw, count: int) -> np.ndarray:
    """The matrix of a linear map from R^count, column k its value at the k-th unit vector."""
    return np.stack([draw(np.eye(count)[k]).ravel() for k in range(count)], axis=1)


@pytest.mark.parametrize("tokens", ["full rank", "rank one", "a zero token"])
def test_the_two_sided_draw_has_the_exact_joint_covariance(tokens: str) -> None:
    """For fixed X and dY: Cov(X W, dY W^T) from the lazy normals (z, g) equals the
    covariance from a full W, to rounding (both are Gram matrices of linear maps)."""
    n, rows, cols, std = 3, 7, 5, 0.7
    rng = np.random.default_rng(2)
    x = {"full rank": rng.standard_normal((n, rows)),
         "rank one": np.outer(np.ones(n), rng.standard_normal(rows)),
         "a zero token": np.vstack([rng.standard_normal((n - 1, rows)), np.zeros(rows)])}[tokens]
    dy = rng.standard_normal((n, cols))

    def full(flat: np.ndarray) -> np.ndarray:
        w = std * flat.reshape(rows, cols)
        return np.concatenate([(x @ w).ravel(), (dy @ w.T).ravel()])

    def lazy(flat: np.ndarray) -> np.ndarray:
        z, g = flat[:n * cols].reshape(n, cols), flat[n * cols:].reshape(n, rows)
        (w,) = bind(x, TwoSidedGaussian(std, z, g))
        return np.concatenate([times(x, w).ravel(), times_transposed(dy, w).ravel()])

    a, b = _linear_map(full, rows * cols), _linear_map(lazy, n * (rows + cols))
    np.testing.assert_allclose(b @ b.T, a @ a.T, atol=1e-12)


def test_norms_without_gradients_match_the_formed_gradients() -> None:
    arch, x = CASES["post-ln softmax, 2 heads + W^O, relu"]
    for lazy in (False, True):
        weights = sample_weights(arch, 4, 3, lazy=lazy)
        _, cache = forward(arch, weights, x)
        grads = backward(arch, weights, cache, COTANGENT)
        norms = squared_gradient_norms(arch, weights, cache, COTANGENT, wrt=GRADIENTS)
        for name, value in gradient_norms(grads).items():
            np.testing.assert_allclose(norms[name], value**2, rtol=1e-10)
        np.testing.assert_allclose(norms["x"], np.einsum("bij,bij->b", grads.x, grads.x),
                                   rtol=1e-10)


def test_a_bound_weight_multiplies_only_its_token_matrix() -> None:
    w = TwoSidedGaussian(1.0, np.ones((3, 5)), np.ones((3, 7)))
    with pytest.raises(ValueError, match="must be bound"):
        times(X[:, :7], w)
    bound = w.at(Frame.of(X[:, :7]))
    with pytest.raises(ValueError, match="cannot multiply another"):
        times(X[:, 1:8], bound)
    with pytest.raises(ValueError, match="before binding"):
        bound[0]
