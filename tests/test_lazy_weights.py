"""Lazy weights (numerics.lazy) against weights drawn in full: equal in law.

For several models, networks drawn lazily and networks drawn in full (independent
streams) give samples of the same quantities: every block's mean diagonal and
off-diagonal Gram entry and the first attention's three Jacobian norms. Equality in
distribution is tested by two-sample Kolmogorov-Smirnov tests on each quantity and
on fixed random projections of the standardized vector (so the dependence between
quantities is tested too), Bonferroni over the family at 1e-3. The same test must
tell a lazy draw with W^V's standard deviation 3% off from the full one.

Without Jacobians, W^V of uniform attention over all tokens is drawn through the mean
token alone (d_v normals per head): the same test on forward-only models, with weights
drawn lazily where that pays and with every weight lazy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import Attention
from numerics.lazy import LazyGaussian, gram_root, times, times_each
from numerics.stack import draws_per_network, layer_gram_sampler, sample_model_weights

N = 3000
FAMILY_ALPHA = 1e-3
PROJECTIONS = 3


def _models() -> dict[str, Model]:
    d = 12
    post = transformer_block(xavier_attention(d, d_k=4, d_v=6, heads=2), xavier_mlp(d, "relu"),
                             "post")
    causal = transformer_block(xavier_attention(d, kind="uniform", mask="causal"),
                               xavier_mlp(d, "gelu", d_ff=20), "pre")
    scaled = Attention(heads=1, d_k=3, d_v=d, scale=0.5, sigma_q=0.6, sigma_k=0.6,
                       sigma_v=0.4)
    return {"post-ln softmax, 2 heads + W^O, relu": Model(3, d, (post,) * 2),
            "pre-ln causal uniform, gelu": Model(3, d, (causal,) * 2),
            "no norm softmax, no MLP": Model(3, d, (transformer_block(scaled, None),) * 3)}


def _forward_models() -> dict[str, Model]:
    d = 12
    paper = transformer_block(xavier_attention(d, kind="uniform"), xavier_mlp(d, "linear"))
    heads = transformer_block(xavier_attention(d, d_v=5, heads=2, kind="uniform"),
                              xavier_mlp(d, "relu"), "pre")
    alone = transformer_block(Attention(heads=1, d_k=1, d_v=d, scale=1.0, kind="uniform",
                                        sigma_v=0.7), None)
    return {"paper block, uniform, linear": Model(3, d, (paper,) * 3),
            "pre-ln uniform, 2 heads + W^O, relu": Model(3, d, (heads,) * 2),
            "uniform attention alone": Model(3, d, (alone,) * 2)}


X = np.random.default_rng(3).standard_normal((3, 12))
MODELS = _models()
FORWARD_MODELS = _forward_models()
FAMILY = len(MODELS) + 2 * len(FORWARD_MODELS)


def _samples(model: Model, lazy: bool | None, seed: int, jacobians: bool = True
             ) -> np.ndarray:
    sampler = layer_gram_sampler(model, X, jacobians=jacobians, summary="entries", lazy=lazy)
    return np.concatenate([sampler(start, 500, seed) for start in range(0, N, 500)])


def _p_values(a: np.ndarray, b: np.ndarray) -> list[float]:
    pooled = np.concatenate([a, b])
    spread = pooled.std(axis=0)
    keep = spread > 1e-12 * (1 + np.abs(pooled.mean(axis=0)))  # constant columns: no test
    za, zb = ((s[:, keep] - pooled.mean(axis=0)[keep]) / spread[keep] for s in (a, b))
    directions = np.random.default_rng(0).standard_normal((za.shape[1], PROJECTIONS))
    columns = [(za[:, k], zb[:, k]) for k in range(za.shape[1])]
    columns += [(za @ u, zb @ u) for u in directions.T]
    return [stats.ks_2samp(x, y).pvalue for x, y in columns]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_lazy_networks_have_the_law_of_full_ones(name: str) -> None:
    model = MODELS[name]
    p = _p_values(_samples(model, True, 11), _samples(model, False, 12))
    assert min(p) * len(p) * FAMILY > FAMILY_ALPHA, (name, sorted(p)[:3])
    assert draws_per_network(model, lazy=True) < draws_per_network(model)


@pytest.mark.parametrize("lazy", [None, True])
@pytest.mark.parametrize("name", sorted(FORWARD_MODELS))
def test_uniform_attention_seen_through_the_mean_token_has_the_law_of_the_full_one(
        name: str, lazy: bool | None) -> None:
    model = FORWARD_MODELS[name]
    p = _p_values(_samples(model, lazy, 11, jacobians=False),
                  _samples(model, False, 12, jacobians=False))
    assert min(p) * len(p) * FAMILY > FAMILY_ALPHA, (name, sorted(p)[:3])
    value = model.blocks[0][0].branch[-1]
    wv = sample_model_weights(model, 2, 0, lazy=lazy, scores=False)[0].wv
    assert isinstance(wv, LazyGaussian) and wv.normals.shape == (2, value.heads, 1, value.d_v)


def test_a_three_percent_wrong_scale_is_told_apart(monkeypatch) -> None:
    model = MODELS["no norm softmax, no MLP"]
    original = sample_model_weights

    def wrong(*args, **kwargs):
        layers = original(*args, **kwargs)
        return [dataclasses.replace(w, wv=LazyGaussian(w.wv.std * 1.03, w.wv.normals,
                                                       w.wv.rows)) for w in layers]

    full = _samples(model, False, 12)
    monkeypatch.setattr("numerics.stack.sample_model_weights", wrong)
    p = _p_values(_samples(model, True, 11), full)
    assert min(p) * len(p) * FAMILY < FAMILY_ALPHA


def test_a_three_percent_wrong_scale_through_the_mean_token_is_told_apart(monkeypatch
                                                                          ) -> None:
    model = FORWARD_MODELS["uniform attention alone"]
    original = sample_model_weights

    def wrong(*args, **kwargs):
        layers = original(*args, **kwargs)
        assert all(w.wv.normals.shape[-2] == 1 for w in layers)
        return [dataclasses.replace(w, wv=LazyGaussian(w.wv.std * 1.03, w.wv.normals,
                                                       w.wv.rows)) for w in layers]

    full = _samples(model, False, 12, jacobians=False)
    monkeypatch.setattr("numerics.stack.sample_model_weights", wrong)
    p = _p_values(_samples(model, None, 11, jacobians=False), full)
    assert min(p) * len(p) * FAMILY < FAMILY_ALPHA, sorted(p)[:3]


@pytest.mark.parametrize("x", [[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 0.0]],
                               [[3.0, -4.0, 0.0]], [[0.0, 0.0, 0.0]]],
                         ids=["rank one, a zero token", "one token", "one zero token"])
def test_gram_root_is_a_root_of_singular_grams(x: list) -> None:
    x = np.array(x)
    root = gram_root(x)
    np.testing.assert_allclose(root @ root.T, x @ x.T, atol=1e-12)


def test_a_network_s_root_does_not_depend_on_its_batch() -> None:
    x = np.random.default_rng(5).standard_normal((6, 3, 5))
    x[2, 1] = x[2, 0]  # one network's Gram is singular: no Cholesky factor
    x[4] = 0.0
    whole = gram_root(x)
    for i in range(len(x)):
        assert np.array_equal(whole[i], gram_root(x[i:i + 1])[0])
        np.testing.assert_allclose(whole[i] @ whole[i].T, x[i] @ x[i].T, atol=1e-12)


def test_lazy_weights_refuse_a_backward_pass() -> None:
    from numerics.sublayers import backward

    model = MODELS["no norm softmax, no MLP"]
    weights = sample_model_weights(model, 2, 0, lazy=True)
    from numerics.stack import run_model

    _, records = run_model(model, weights, X)[0]
    with pytest.raises(ValueError, match="needs the whole weight matrix"):
        backward(records[0], np.ones((2, 3, 12)), {}, {"wv"})


def test_times_each_shares_one_root_and_gives_what_times_gives_one_by_one() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 16))
    weights = [LazyGaussian(0.5, rng.standard_normal((3, 4, 8)), 16),
               rng.standard_normal((3, 16, 2)),
               LazyGaussian(2.0, rng.standard_normal((3, 4, 5)), 16)]
    for each, one in zip(times_each(x, weights), (times(x, w) for w in weights), strict=True):
        np.testing.assert_array_equal(each, one)
