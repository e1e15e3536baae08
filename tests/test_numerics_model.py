"""Forward pass: agreement with a plain per-network reference, layers, validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from architecture import Architecture
from numerics.layers import activate, layer_norm, softmax_rows
from numerics.model import forward
from numerics.weights import Weights, sample_weights


def reference_forward(arch: Architecture, w, b: int, x: np.ndarray) -> list[np.ndarray]:
    """Network b of the batch, written out token by token from the model; block outputs."""

    def ln(v: np.ndarray) -> np.ndarray:
        c = v - v.mean()
        return c / math.sqrt(c @ c / v.size + arch.ln_eps)

    def rows(f, m: np.ndarray) -> np.ndarray:
        return np.array([f(r) for r in m])

    def phi(t: float) -> float:
        return {"linear": t, "relu": max(t, 0.0), "tanh": math.tanh(t),
                "gelu": 0.5 * t * (1.0 + math.erf(t / math.sqrt(2.0)))}[arch.activation]

    outs = []
    for layer in range(arch.depth):
        u = rows(ln, x) if arch.norm == "pre" else x
        heads = []
        for h in range(arch.heads):
            q, k, v = (u @ m[b, layer, h] for m in (w.wq, w.wk, w.wv))
            if arch.attention == "uniform":
                a = np.full((arch.n, arch.n), 1.0 / arch.n)
            else:
                logits = arch.tau * (q @ k.T)
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            heads.append(a @ v)
        s = np.hstack(heads)
        if arch.uses_output_projection:
            s = s @ w.wo[b, layer]
        z = x + arch.residual_1 * s
        z = rows(ln, z) if arch.norm == "post" else z
        y = z
        if arch.mlp:
            m = rows(ln, z) if arch.norm == "pre" else z
            hidden = np.vectorize(phi)(m @ w.w1[b, layer])
            y = z + arch.residual_2 * (hidden @ w.w2[b, layer])
            y = rows(ln, y) if arch.norm == "post" else y
        outs.append(y)
        x = y
    return outs


CASES = [
    dict(norm=norm, activation=act, attention=att)
    for norm, act, att in itertools.product(
        ("none", "pre", "post"), ("linear", "relu", "gelu", "tanh"), ("softmax", "uniform"))
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c.values()))
def test_forward_matches_the_plain_reference(case: dict) -> None:
    arch = Architecture(n=4, d=6, d_k=3, d_v=2, d_ff=7, heads=3, depth=3, alpha_1=0.8,
                        alpha_2=1.3, residual_scaling="inv_sqrt_depth", temperature="inv_dk",
                        sigma_q=0.9, sigma_v=0.7, **case)
    weights = sample_weights(arch, 3, seed=1)
    x = np.random.default_rng(0).standard_normal((3, arch.n, arch.d))
    y, cache = forward(arch, weights, x)
    for b in range(3):
        expected = reference_forward(arch, weights, b, x[b])
        np.testing.assert_allclose(cache.outputs[b], expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cache.block_inputs[b, 1:], expected[:-1], rtol=1e-12,
                                   atol=1e-12)
    np.testing.assert_array_equal(y, cache.y)


@pytest.mark.parametrize("mlp", [True, False])
def test_single_head_without_projection_and_without_mlp(mlp: bool) -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=4, heads=1, depth=2, norm="post", mlp=mlp)
    weights = sample_weights(arch, 2, seed=4)
    assert weights.wo is None
    assert (weights.w1 is None) == (not mlp)
    x = np.random.default_rng(1).standard_normal((arch.n, arch.d))
    y, _ = forward(arch, weights, x)
    for b in range(2):
        np.testing.assert_allclose(y[b], reference_forward(arch, weights, b, x)[-1],
                                   rtol=1e-12, atol=1e-12)


def test_cache_records_the_quantities_of_each_layer() -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=2, depth=2, norm="pre")
    weights = sample_weights(arch, 2, seed=2)
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    _, cache = forward(arch, weights, x)
    assert cache.attention.shape == (2, 2, 2, 3, 3)
    np.testing.assert_array_equal(cache.block_inputs[:, 0], x)
    first_output = cache.outputs[:, 0]
    np.testing.assert_array_equal(cache.block_inputs[:, 1], first_output)
    np.testing.assert_array_equal(cache.attention_inputs[:, 1],
                                  layer_norm(first_output, arch.ln_eps)[0])
    np.testing.assert_allclose(cache.attention.sum(axis=-1), 1.0, rtol=1e-14)
    assert cache.z.shape == (2, 2, 3, 4)


def test_a_network_does_not_depend_on_its_batch_or_on_shared_input() -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=2, depth=2, norm="post")
    x = np.random.default_rng(3).standard_normal((3, 4))
    batch = sample_weights(arch, 5, seed=7)
    y, _ = forward(arch, batch, x)
    y_shared, _ = forward(arch, batch, np.broadcast_to(x, (5, 3, 4)))
    np.testing.assert_array_equal(y, y_shared)
    alone, _ = forward(arch, sample_weights(arch, 1, seed=7, start=3), x)
    np.testing.assert_allclose(alone[0], y[3], rtol=1e-13, atol=1e-13)


def test_uniform_attention_is_exactly_j_over_n() -> None:
    arch = Architecture(n=7, d=5, d_k=3, d_v=5, depth=2, attention="uniform")
    _, cache = forward(arch, sample_weights(arch, 2, seed=0), np.ones((7, 5)))
    assert np.all(cache.attention == 1.0 / 7)


def test_zero_query_weights_give_exactly_uniform_softmax_attention() -> None:
    arch = Architecture(n=5, d=4, d_k=3, d_v=4, depth=2)
    weights = sample_weights(arch, 3, seed=1).replace(wq=0.0)
    _, cache = forward(arch, weights, np.random.default_rng(0).standard_normal((5, 4)))
    assert np.all(cache.attention == 1.0 / 5)
    assert np.all(sample_weights(arch.replace(sigma_k=0.0), 1, seed=0).wk == 0.0)


def test_softmax_is_stable_for_huge_logits() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1.0, -3e4]])
    a = softmax_rows(logits)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3],
                                   [1 / (1 + math.e), math.e / (1 + math.e), 0]], rtol=1e-15)


def test_layer_norm_gives_zero_mean_and_unit_variance_per_token() -> None:
    x = 3.0 + 10.0 * np.random.default_rng(5).standard_normal((4, 6, 50))
    eps = 1e-5
    y, r = layer_norm(x, eps)
    var = x.var(axis=-1)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=-1), var / (var + eps), rtol=1e-13)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(r[..., 0], 1.0 / np.sqrt(var + eps), rtol=1e-13)


def test_activations_match_their_definitions() -> None:
    h = np.linspace(-4.0, 4.0, 81)
    np.testing.assert_array_equal(activate("relu", h), np.where(h > 0, h, 0.0))
    gelu = [0.5 * t * (1.0 + math.erf(t / math.sqrt(2.0))) for t in h]
    np.testing.assert_allclose(activate("gelu", h), gelu, rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(activate("linear", h), h)
    np.testing.assert_allclose(activate("tanh", h), np.tanh(h), rtol=0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"d_k": 0}, "d_k must be an integer >= 1"),
        ({"d_k": -3}, "d_k must be an integer >= 1"),
        ({"sigma_v": -1.0}, "sigma_v must be >= 0"),
        ({"sigma_q": float("nan")}, "sigma_q must be a finite"),
        ({"depth": 0}, "depth must be an integer >= 1"),
        ({"norm": "mid"}, "norm must be one of none, pre, post"),
        ({"activation": "swish"}, "activation must be one of linear, relu, gelu, tanh"),
        ({"attention": "sparse"}, "attention must be one of softmax, uniform"),
    ],
)
def test_bad_configuration_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Architecture(**fields)


def test_bad_weights_inputs_and_names_are_refused() -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=4, depth=2)
    weights = sample_weights(arch, 2, seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(3, 4\) or \(2, 3, 4\)"):
        forward(arch, weights, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"X must have shape \(3, 4\) or \(2, 3, 4\)"):
        forward(arch, weights, np.ones((4, 3, 4)))
    with pytest.raises(ValueError, match=r"wq must have shape \(2, 3, 1, 4, 2\)"):
        forward(arch.replace(depth=3), weights, np.ones((3, 4)))
    extra_wo = np.ones((2, 2, 4, 4))
    with pytest.raises(ValueError, match="wo must be None"):
        forward(arch, Weights(weights.wq, weights.wk, weights.wv, extra_wo, weights.w1,
                              weights.w2), np.ones((3, 4)))
    with pytest.raises(ValueError, match="wo is not used"):
        weights.replace(wo=1.0)
    with pytest.raises(ValueError, match="weight name must be one of"):
        weights.replace(w3=1.0)
    with pytest.raises(ValueError, match=r"wq must broadcast to shape"):
        weights.replace(wq=np.ones(7))
    with pytest.raises(ValueError, match="activation must be one of"):
        activate("swish", np.ones(2))


def test_uniform_attention_forward_reads_no_query_or_key_weights() -> None:
    """Forward-only samplers skip uniform attention's W^Q, W^K: the forward pass is the
    same with them left out, and softmax attention keeps them."""
    from dataclasses import replace

    from numerics.stack import draws_per_network, run_model, sample_model_weights

    arch = Architecture(n=3, d=6, d_k=2, d_v=6, d_ff=5, depth=2, attention="uniform")
    model = arch.model()
    full = sample_model_weights(model, 4, seed=7)
    bare = [replace(w, wq=None, wk=None) for w in full]
    x = np.random.default_rng(1).standard_normal((3, 6))
    for (y_full, _), (y_bare, _) in zip(run_model(model, full, x), run_model(model, bare, x),
                                        strict=True):
        np.testing.assert_array_equal(y_full, y_bare)
    skipped = sample_model_weights(model, 4, seed=7, scores=False)
    assert all(w.wq is None and w.wk is None and w.wv is not None for w in skipped)
    assert draws_per_network(model, scores=False) == draws_per_network(model) - 2 * 2 * 6 * 2
    softmax = Architecture(n=3, d=6, d_k=2, d_v=6, d_ff=5, depth=2).model()
    assert draws_per_network(softmax, scores=False) == draws_per_network(softmax)


def _paired(sigma_q: float, depth: int = 3):
    from numerics.stack import common_gram_sampler

    scale = 1 / math.sqrt(6)
    shape = dict(n=3, d=6, d_k=3, d_v=6, d_ff=6, depth=depth, norm="none",
                 activation="linear", sigma_q=sigma_q, sigma_k=scale, sigma_v=scale,
                 sigma_1=scale, sigma_2=scale)
    softmax = Architecture(**shape, attention="softmax").model()
    uniform = Architecture(**shape, attention="uniform").model()
    x = scale * np.random.default_rng(2).standard_normal((3, 6))
    return softmax, uniform, x, common_gram_sampler((softmax, uniform), x, "squared-norm")


def test_paired_networks_are_the_same_networks() -> None:
    """The paired sampler's first half is the model's own sampler (full weights) bit for
    bit, and with W^Q = 0 softmax attention is exactly uniform on every network, so the
    second half (the uniform-attention model) equals the first: both models ran on the
    same weights. ``last`` keeps the last block's columns."""
    from numerics.stack import common_gram_sampler, layer_gram_sampler

    softmax, uniform, x, paired = _paired(sigma_q=0.0)
    out = paired(0, 64, 11)
    np.testing.assert_array_equal(out[:, :3], layer_gram_sampler(
        softmax, x, summary="squared-norm", lazy=False)(0, 64, 11))
    np.testing.assert_allclose(out[:, 3:], out[:, :3], rtol=1e-12)
    last = common_gram_sampler((softmax, uniform), x, "squared-norm", last=True)(0, 64, 11)
    np.testing.assert_array_equal(last, out[:, [2, 5]])


def test_the_paired_models_have_their_own_laws() -> None:
    """The second half is the uniform-attention model's quantity: its mean agrees with the
    uniform model's own sampler (independent draws, |z| < 4.5: a calibrated pair fails it
    about once in 10^5 seeds), and the difference from the softmax model varies far less
    than the quantity when attention is nearly uniform."""
    from numerics.estimators import RunningMoments, difference_from_moments
    from numerics.stack import output_sampler

    _, uniform, x, paired = _paired(sigma_q=0.3)
    out = paired(0, 20000, 3)[:, [2, 5]]
    direct = output_sampler(uniform, x, "squared-norm")(0, 20000, 4)
    se = math.hypot(out[:, 1].std(ddof=1), direct.std(ddof=1)) / math.sqrt(20000)
    assert abs(out[:, 1].mean() - direct.mean()) < 4.5 * se
    gap = difference_from_moments(RunningMoments().update(out), 0, 1)
    assert gap.mean == pytest.approx(out[:, 0].mean() - out[:, 1].mean(), rel=1e-12)
    assert gap.se == pytest.approx((out[:, 0] - out[:, 1]).std(ddof=1) / math.sqrt(20000),
                                   rel=1e-9)
    assert gap.se < 0.5 * out[:, 0].std() / math.sqrt(20000)


def test_models_on_common_networks_must_declare_the_same_weights() -> None:
    from numerics.stack import common_gram_sampler

    softmax, uniform, x, _ = _paired(sigma_q=0.3)
    deeper = _paired(sigma_q=0.3, depth=4)[0]
    with pytest.raises(ValueError, match="models on common networks must declare the same"):
        common_gram_sampler((softmax, uniform, deeper), x, "squared-norm")
    with pytest.raises(ValueError, match="models must be a non-empty tuple"):
        common_gram_sampler((), x, "squared-norm")
    with pytest.raises(ValueError, match="summary must be one of"):
        common_gram_sampler((softmax, uniform), x, "norm")
