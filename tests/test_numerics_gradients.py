"""Analytic gradients and Jacobian norms against finite differences; rank-one inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from architecture import Architecture
from numerics.inputs import near_rank_one_tokens, rank_one_tokens
from numerics.jacobians import (
    attention_jacobian_norms,
    gradient_norms,
    layer_jacobian_norms,
)
from numerics.layers import softmax_rows
from numerics.model import backward, forward
from numerics.weights import sample_weights

STEP = 1e-6
PARAMS = ("wq", "wk", "wv", "wo", "w1", "w2", "x")


def per_network_loss(arch, weights, x, dy) -> np.ndarray:
    y, _ = forward(arch, weights, x)
    return np.einsum("bnd,bnd->b", y, dy)


def numeric_gradient(arch, weights, x, dy, name: str) -> np.ndarray:
    """Central differences of <Y, dY>, one entry at a time in every network at once."""
    base = x if name == "x" else getattr(weights, name)
    grad = np.empty_like(base)
    for idx in np.ndindex(base.shape[1:]):
        losses = []
        for step in (STEP, -STEP):
            moved = base.copy()
            moved[(slice(None), *idx)] += step
            if name == "x":
                losses.append(per_network_loss(arch, weights, moved, dy))
            else:
                losses.append(per_network_loss(arch, weights.replace(**{name: moved}), x, dy))
        grad[(slice(None), *idx)] = (losses[0] - losses[1]) / (2 * STEP)
    return grad


CASES = [
    dict(norm=norm, activation=act, attention=att, temperature=temp)
    for norm, act, att, temp in itertools.product(
        ("none", "pre", "post"), ("linear", "relu", "gelu", "tanh"), ("softmax", "uniform"),
        ("inv_sqrt_dk", "inv_dk"))
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c.values()))
def test_gradients_match_central_differences(case: dict) -> None:
    arch = Architecture(n=3, d=4, d_k=3, d_v=2, d_ff=5, heads=2, depth=2, alpha_1=0.7,
                        alpha_2=0.9, sigma_q=1.2, sigma_k=1.1, sigma_v=0.8, **case)
    weights = sample_weights(arch, 2, seed=17)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, arch.n, arch.d))
    dy = rng.standard_normal((2, arch.n, arch.d))
    _, cache = forward(arch, weights, x)
    grads = backward(arch, weights, cache, dy)
    for name in PARAMS:
        analytic = getattr(grads, name)
        numeric = numeric_gradient(arch, weights, x, dy, name)
        if case["attention"] == "uniform" and name in ("wq", "wk"):
            assert np.all(analytic == 0.0)
            assert np.all(numeric == 0.0)
            continue
        error = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
        assert error < 1e-6, f"{name}: relative error {error:.2e}"


def explicit_jacobian_norm(f, w: np.ndarray) -> float:
    """||df/dw||_F^2 with the Jacobian built column by column from central differences."""
    columns = []
    for j in range(w.size):
        step = np.zeros(w.size)
        step[j] = STEP
        step = step.reshape(w.shape)
        columns.append(((f(w + step) - f(w - step)) / (2 * STEP)).ravel())
    return float(np.sum(np.square(columns)))


def one_head(x, wq, wk, wv, tau) -> np.ndarray:
    return softmax_rows(tau * (x @ wq) @ (x @ wk).T) @ x @ wv


@pytest.mark.parametrize(("n", "d", "d_k", "d_v", "tau"),
                         [(3, 4, 2, 3, 0.7), (5, 3, 4, 2, 1.0), (4, 6, 3, 6, 0.3)])
def test_jacobian_norms_match_the_explicit_jacobian(n, d, d_k, d_v, tau) -> None:
    rng = np.random.default_rng(n * d)
    x = rng.standard_normal((n, d))
    wq, wk = rng.standard_normal((2, d, d_k))
    wv = rng.standard_normal((d, d_v))
    norms = attention_jacobian_norms(x, wq, wk, wv, tau)
    expected = (
        explicit_jacobian_norm(lambda w: one_head(x, w, wk, wv, tau), wq),
        explicit_jacobian_norm(lambda w: one_head(x, wq, w, wv, tau), wk),
        explicit_jacobian_norm(lambda w: one_head(x, wq, wk, w, tau), wv),
    )
    np.testing.assert_allclose([norms.query, norms.key, norms.value], expected, rtol=1e-7)


def test_jacobian_norms_at_zero_query_weights_match_the_explicit_jacobian() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    wq = np.zeros((5, 3))
    wk, wv = rng.standard_normal((2, 5, 3))
    norms = attention_jacobian_norms(x, wq, wk, wv, 0.5)
    expected = explicit_jacobian_norm(lambda w: one_head(x, w, wk, wv, 0.5), wq)
    np.testing.assert_allclose(norms.query, expected, rtol=1e-7)
    assert norms.key == 0.0


def well_scaled(norm: str, depth: int = 6) -> Architecture:
    d, d_ff = 16, 32
    return Architecture(n=6, d=d, d_k=8, d_v=d, d_ff=d_ff, depth=depth, norm=norm,
                        alpha_1=0.5, alpha_2=0.5, sigma_q=1.0, sigma_k=1.0,
                        sigma_v=d**-0.5, sigma_1=d**-0.5, sigma_2=d_ff**-0.5)


@pytest.mark.parametrize("norm", ["none", "pre", "post"])
def test_rank_one_input_kills_query_and_key_gradients_in_every_layer(norm: str) -> None:
    arch = well_scaled(norm)
    weights = sample_weights(arch, 4, seed=2)
    rng = np.random.default_rng(3)
    x = rank_one_tokens(rng.standard_normal((4, arch.d)), arch.n)
    _, cache = forward(arch, weights, x)
    norms = gradient_norms(backward(arch, weights, cache, rng.standard_normal(x.shape)))
    assert np.all(norms["wv"] > 1e-3)
    assert np.max(norms["wq"] / norms["wv"]) < 1e-12
    assert np.max(norms["wk"] / norms["wv"]) < 1e-12
    jac = layer_jacobian_norms(arch, weights, cache)
    assert np.max(np.sqrt(jac.query / jac.value)) < 1e-12
    assert np.max(np.sqrt(jac.key / jac.value)) < 1e-12


@pytest.mark.parametrize("norm", ["none", "pre", "post"])
def test_near_rank_one_query_and_key_gradients_are_quadratic_in_eps(norm: str) -> None:
    """X = 1x^T + eps E: the gradients are O(eps^2), not O(eps).

    The softmax Jacobian J_i kills constant vectors on both sides, so in
    dQ = tau J dA K both dA's variation over keys and K's deviation from its
    mean are O(eps); likewise dW^K = U^T dL^T Q, whose O(eps) part is
    x (sum_j dK_j)^T = 0 because rows of dL sum to zero.  Halving eps
    therefore divides the norms by 4.
    """
    arch = well_scaled(norm)
    weights = sample_weights(arch, 3, seed=5)
    rng = np.random.default_rng(6)
    token, direction = rng.standard_normal((3, arch.d)), rng.standard_normal((3, arch.n, arch.d))
    dy = rng.standard_normal((3, arch.n, arch.d))
    norms = []
    for eps in (1e-5, 5e-6):
        _, cache = forward(arch, weights, near_rank_one_tokens(token, direction, eps))
        norms.append(gradient_norms(backward(arch, weights, cache, dy)))
    for name in ("wq", "wk"):
        np.testing.assert_allclose(norms[0][name] / norms[1][name], 4.0, rtol=2e-3)
    np.testing.assert_allclose(norms[0]["wv"] / norms[1]["wv"], 1.0, rtol=1e-3)


def test_layer_jacobian_norms_use_each_layers_attention_input() -> None:
    arch = Architecture(n=4, d=5, d_k=3, d_v=2, d_ff=6, heads=2, depth=3, norm="pre")
    weights = sample_weights(arch, 2, seed=8)
    x = np.random.default_rng(9).standard_normal((4, 5))
    _, cache = forward(arch, weights, x)
    stacked = layer_jacobian_norms(arch, weights, cache)
    assert stacked.query.shape == (2, 3, 2)
    u = cache.attention_inputs
    for b, layer, head in itertools.product(range(2), range(3), range(2)):
        single = attention_jacobian_norms(u[b, layer], weights.wq[b, layer, head],
                                          weights.wk[b, layer, head], weights.wv[b, layer, head],
                                          arch.tau)
        for field in ("query", "key", "value"):
            np.testing.assert_allclose(getattr(stacked, field)[b, layer, head],
                                       getattr(single, field), rtol=1e-12)
    uniform = layer_jacobian_norms(arch.replace(attention="uniform"), weights,
                                   forward(arch.replace(attention="uniform"), weights, x)[1])
    assert np.all(uniform.query == 0.0)
    assert np.all(uniform.value > 0.0)


def test_gradient_norms_are_per_layer_frobenius_norms() -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=2, depth=2)
    weights = sample_weights(arch, 2, seed=1)
    x = np.random.default_rng(0).standard_normal((3, 4))
    grads = backward(arch, weights, forward(arch, weights, x)[1], np.ones((3, 4)))
    norms = gradient_norms(grads)
    assert set(norms) == {"wq", "wk", "wv", "wo", "w1", "w2"}
    for name, values in norms.items():
        array = getattr(grads, name)
        expected = [[np.linalg.norm(array[b, layer]) for layer in range(2)] for b in range(2)]
        np.testing.assert_allclose(values, expected, rtol=1e-13)


@pytest.mark.parametrize("norm", ["none", "pre", "post"])
@pytest.mark.parametrize("wanted", [("wq", "wk", "wv"), ("wq",), ("w1", "x"), ("wv", "wo")])
def test_backward_computes_only_what_is_asked_and_the_same_values(norm: str, wanted) -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=2, depth=3, norm=norm,
                        activation="gelu")
    weights = sample_weights(arch, 2, seed=3)
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    cache = forward(arch, weights, x)[1]
    full = backward(arch, weights, cache, dy)
    part = backward(arch, weights, cache, dy, wrt=wanted)
    for name in PARAMS:
        if name in wanted:
            np.testing.assert_array_equal(getattr(part, name), getattr(full, name))
        else:
            assert getattr(part, name) is None, name


def test_backward_refuses_an_unknown_gradient_name() -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=1, depth=1)
    weights = sample_weights(arch, 1, seed=3)
    cache = forward(arch, weights, np.ones((3, 4)))[1]
    with pytest.raises(ValueError, match="wrt must name some of wq, wk, wv, wo, w1, w2, x"):
        backward(arch, weights, cache, np.ones((3, 4)), wrt=("wq", "w_q"))
