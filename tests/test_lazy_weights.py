"""Lazy weights (numerics.lazy) against weights drawn in full: equal in law.

For several models, networks drawn lazily and networks drawn in full (independent
streams) give samples of the same quantities: every block's mean diagonal and
off-diagonal Gram entry and the first attention's three Jacobian norms. Equality in
distribution is tested by two-sample Kolmogorov-Smirnov tests on each quantity and
on fixed random projections of the standardized vector (so the dependence between
quantities is tested too), Bonferroni over the family at 1e-3. The same test must
tell a lazy draw with W^V's standard deviation 3% off from the full one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import Attention
from numerics.lazy import LazyGaussian, gram_root
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


X = np.random.default_rng(3).standard_normal((3, 12))
MODELS = _models()


def _samples(model: Model, lazy: bool, seed: int) -> np.ndarray:
    sampler = layer_gram_sampler(model, X, jacobians=True, summary="entries", lazy=lazy)
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
    tests = len(p) * len(MODELS)
    assert min(p) * tests > FAMILY_ALPHA, (name, sorted(p)[:3])
    assert draws_per_network(model, lazy=True) < draws_per_network(model)


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
    assert min(p) * len(p) * len(MODELS) < FAMILY_ALPHA


def test_gram_root_is_a_root_of_singular_grams() -> None:
    x = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 0.0]])  # rank one, a zero token
    root = gram_root(x)
    np.testing.assert_allclose(root @ root.T, x @ x.T, atol=1e-12)


def test_lazy_weights_refuse_a_backward_pass() -> None:
    from numerics.sublayers import backward

    model = MODELS["no norm softmax, no MLP"]
    weights = sample_model_weights(model, 2, 0, lazy=True)
    from numerics.stack import run_model

    _, records = run_model(model, weights, X)[0]
    with pytest.raises(ValueError, match="needs the whole weight matrix"):
        backward(records[0], np.ones((2, 3, 12)), {}, {"wv"})
