"""The Gram less its martingale part (``numerics.stack.output_sampler(martingale=True)``).

Through residual sublayers X -> X + D whose branches end in a fresh weight of mean zero,
the output Gram telescopes, Y Y^T = X X^T + M + sum D D^T, with M = sum (X D^T + D X^T)
of mean zero. The plain and the martingale samplers of one model draw the same networks,
so their difference is M itself, sample by sample:

- E M = 0 (z-test, Bonferroni over the models at 1e-4) on softmax and uniform attention,
  several heads with W^O, Pre-LN branches, ReLU and linear MLPs, the mean-token route;
- the guard is needed: on a Post-LN stack (a LayerNorm after each sum) the same M has a
  mean far from zero;
- the variance falls (depth-scaled paper stack: at least 2x), and so does that of the
  softmax-minus-uniform difference on common networks, each model less its own part;
- summaries that are not linear in the Gram and models that do not telescope are refused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import MLP
from numerics.stack import common_gram_sampler, output_sampler, telescoping

D = 8
X = np.random.default_rng(6).standard_normal((4, D))
N = 20_000
FAMILY_ALPHA = 1e-4


def _paper(depth: int, kind: str = "uniform") -> Model:
    alpha = 1 / math.sqrt(depth)
    block = transformer_block(xavier_attention(D, kind=kind), xavier_mlp(D, "linear"),
                              alpha_1=alpha, alpha_2=alpha)
    return Model(4, D, (block,) * depth)


def _models() -> dict[str, Model]:
    heads = transformer_block(xavier_attention(D, d_v=3, heads=2), xavier_mlp(D, "relu"),
                              "pre")
    return {"paper block, uniform, 8 deep": _paper(8),
            "paper block, softmax, 4 deep": _paper(4, "softmax"),
            "pre-ln softmax, 2 heads + W^O, relu": Model(4, D, (heads,) * 3),
            "uniform, narrow linear MLP": Model(4, D, (transformer_block(
                xavier_attention(D, kind="uniform"), MLP("linear", 5, 0.5, 0.3)),) * 3)}


MODELS = _models()


def _values(model: Model, summary: str, martingale: bool, seed: int = 3) -> np.ndarray:
    sampler = output_sampler(model, X, summary, martingale=martingale)
    return np.concatenate([sampler(start, 2000, seed) for start in range(0, N, 2000)])


def _z(m: np.ndarray) -> float:
    return float(m.mean() / (m.std() / math.sqrt(len(m))))


@pytest.mark.parametrize("summary", ["squared-norm", "inner-product-sum", "off-diagonal"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_martingale_part_has_mean_zero(name: str, summary: str) -> None:
    model = MODELS[name]
    assert telescoping(model)
    part = _values(model, summary, False) - _values(model, summary, True)
    assert np.abs(part).max() > 0  # the part is there
    bound = -stats.norm.ppf(FAMILY_ALPHA / (2 * 3 * len(MODELS)))
    assert abs(_z(part)) < bound, _z(part)


def test_without_telescoping_the_same_part_is_biased() -> None:
    """Post-LN: the sum feeds a LayerNorm, so the output Gram is no telescoping sum and the
    residual sublayers' M (computed here as the sampler would) has a mean far from zero."""
    from numerics.stack import _martingale_parts, run_model, sample_model_weights

    block = transformer_block(xavier_attention(D), xavier_mlp(D, "relu"), "post")
    model = Model(4, D, (block,) * 3)
    assert not telescoping(model)
    part = _martingale_parts(run_model(model, sample_model_weights(model, N, 3), X), N, 4)[-1]
    assert abs(_z(np.trace(part, axis1=1, axis2=2))) > 10


def test_the_martingale_part_takes_most_of_the_variance() -> None:
    model = _paper(16)
    for summary in ("squared-norm", "inner-product-sum"):
        plain, less = _values(model, summary, False), _values(model, summary, True)
        assert plain.var() > 2 * less.var(), summary


def test_models_on_common_networks_each_lose_their_own_part() -> None:
    """Softmax and uniform paper stacks on the same networks: per model, the plain columns
    minus the martingale ones (that model's M) average zero, and the softmax-minus-uniform
    difference varies less without the parts."""
    models = (_paper(8, "softmax"), _paper(8))

    def values(martingale: bool) -> np.ndarray:
        sampler = common_gram_sampler(models, X, "squared-norm", last=True,
                                      martingale=martingale)
        return np.concatenate([sampler(start, 2000, 5) for start in range(0, N, 2000)])

    plain, less = values(False), values(True)
    bound = -stats.norm.ppf(FAMILY_ALPHA / 4)
    for column in range(2):
        assert abs(_z(plain[:, column] - less[:, column])) < bound
    assert np.var(plain[:, 0] - plain[:, 1]) > 1.2 * np.var(less[:, 0] - less[:, 1])


@pytest.mark.parametrize(("model", "summary", "message"), [
    (MODELS["paper block, uniform, 8 deep"], "cosine-distance", "linear in the Gram"),
    (Model(4, D, (transformer_block(xavier_attention(D), xavier_mlp(D, "relu"), "post"),)),
     "squared-norm", "residual sublayers"),
])
def test_what_the_martingale_part_cannot_serve_is_refused(model: Model, summary: str,
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        output_sampler(model, X, summary, martingale=True)
