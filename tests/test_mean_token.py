"""The inner-product sum through the mean token (``numerics.stack.mean_commuting``).

For a model whose every sublayer maps the mean token alone (uniform attention over all
tokens, linear MLPs, residuals of them), mean_k X^L_k is the output of the same model,
with the same weights, on the one token xbar, so 1^T X^L (X^L)^T 1 = n^2 ||ybar||^2 needs
each weight seen through one row only (d normals instead of d^2).

- the identity itself, on the same dense weights, to rounding; and that it fails for each
  kind of sublayer the guard turns away (so the guard is needed);
- in law: the mean-token sampler against full networks on independent streams (two-sample
  Kolmogorov-Smirnov at 1e-3, Bonferroni over the models), with the power to tell a W^1
  of standard deviation 3% off.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import MLP, Attention
from numerics.lazy import LazyGaussian
from numerics.stack import (
    draws_per_network,
    mean_commuting,
    output_sampler,
    run_model,
    sample_model_weights,
)

D = 8
X = np.random.default_rng(4).standard_normal((4, D)) / np.sqrt(D)
N = 20_000
FAMILY_ALPHA = 1e-3


def _models() -> dict[str, Model]:
    paper = transformer_block(xavier_attention(D, kind="uniform"), xavier_mlp(D, "linear"))
    heads = transformer_block(xavier_attention(D, d_v=3, heads=2, kind="uniform"),
                              MLP("linear", 5, 0.5, 0.3))
    scaled = transformer_block(xavier_attention(D, kind="uniform"), xavier_mlp(D, "linear"),
                               alpha_1=0.4, alpha_2=0.3)
    return {"paper block, 3 deep": Model(4, D, (paper,) * 3),
            "2 heads + W^O, narrow MLP": Model(4, D, (heads,) * 2),
            "6 blocks, small residual branches": Model(4, D, (scaled,) * 6)}


def _turned_away() -> dict[str, Model]:
    def one(attention: Attention, mlp: MLP | None, norm: str = "none") -> Model:
        return Model(4, D, (transformer_block(attention, mlp, norm),) * 2)

    uniform, linear = xavier_attention(D, kind="uniform"), xavier_mlp(D, "linear")
    return {"softmax": one(xavier_attention(D), linear),
            "causal mask": one(xavier_attention(D, kind="uniform", mask="causal"), linear),
            "relu": one(uniform, xavier_mlp(D, "relu")),
            "layernorm": one(uniform, linear, "pre")}


MODELS = _models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_mean_token_of_the_output_is_the_output_of_the_mean_token(name: str) -> None:
    model = MODELS[name]
    assert mean_commuting(model)
    weights = sample_model_weights(model, 5, 1)
    mean = run_model(model, weights, X)[-1][0].mean(axis=1)
    single = dataclasses.replace(model, n=1)
    alone = run_model(single, weights, X.mean(axis=0, keepdims=True))[-1][0][:, 0]
    np.testing.assert_allclose(alone, mean, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(_turned_away()))
def test_models_turned_away_break_the_identity(name: str) -> None:
    model = _turned_away()[name]
    assert not mean_commuting(model)
    weights = sample_model_weights(model, 5, 1)
    mean = run_model(model, weights, X)[-1][0].mean(axis=1)
    alone = run_model(dataclasses.replace(model, n=1), weights,
                      X.mean(axis=0, keepdims=True))[-1][0][:, 0]
    assert np.abs(alone - mean).max() > 1e-3 * np.abs(mean).max()


def _values(model: Model, lazy: bool | None, seed: int) -> np.ndarray:
    sampler = output_sampler(model, X, "inner-product-sum", lazy=lazy)
    return np.concatenate([sampler(start, 1000, seed) for start in range(0, N, 1000)])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_mean_token_sampler_has_the_law_of_full_networks(name: str) -> None:
    model = MODELS[name]
    p = stats.ks_2samp(_values(model, None, 21), _values(model, False, 22)).pvalue
    assert p * len(MODELS) > FAMILY_ALPHA, p
    single = dataclasses.replace(model, n=1)
    assert draws_per_network(single, lazy=None, scores=False) * 4 < draws_per_network(model)


def test_a_three_percent_wrong_scale_through_the_mean_token_is_told_apart(monkeypatch
                                                                          ) -> None:
    model = MODELS["paper block, 3 deep"]
    full = _values(model, False, 22)
    original = sample_model_weights

    def wrong(*args, **kwargs):
        layers = original(*args, **kwargs)
        assert all(isinstance(w.w1, LazyGaussian) and w.w1.normals.shape[-2] == 1
                   for w in layers)
        return [dataclasses.replace(w, w1=LazyGaussian(w.w1.std * 1.03, w.w1.normals,
                                                       w.w1.rows)) for w in layers]

    monkeypatch.setattr("numerics.stack.sample_model_weights", wrong)
    p = stats.ks_2samp(_values(model, None, 21), full).pvalue
    assert p * len(MODELS) < FAMILY_ALPHA, p


def test_a_token_matrix_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"X must have shape \(4, 8\)"):
        output_sampler(MODELS["paper block, 3 deep"], X[:3], "inner-product-sum")
