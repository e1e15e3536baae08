"""The generic property: any stack of supported sublayers, its composed theory against the
simulation of the same model.

Hypothesis draws models from every kind in KINDS_OF_SUBLAYER (tests.strategies.models:
fields drawn by name, so a new kind is drawn with no new test code), at small sizes,
with uniform attention (the softmax map is an assumption, not a theorem). Where every
map is exact, the harness checks the last block's expected Gram at the model's own
widths; where a map is the large-width one, over the width ladder Model.widen(k). A
fail verdict is Holm's at 1e-6 in each run, so the suite's false-alarm rate is at
most 1e-6 per model; the planted-mistake tests show the same checks do fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from architecture.model import Model
from architecture.sublayers import MLP, Attention, Residual
from sigprop.budget import Budget
from sigprop.claim import Derived
from sigprop.harness import verify_claim
from sigprop.model_check import how, model_claim
from tests.strategies import models

#: cheap but calibrated: the fail level is the harness's; only the power is lower (20%)
BUDGET = Budget("property", detect=0.2, power=0.9, margin_scale=2.5, pilot=200,
                max_samples=20_000, identity_draws=4)
UNIFORM = {"kind": st.just("uniform")}
WEIGHTS = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).uniform(0.1, 1, 16))
RHO = st.floats(0.0, 0.9)


def _weights(model: Model, raw: np.ndarray) -> np.ndarray:
    w = raw[: model.n**2].reshape(model.n, model.n)
    return (w + w.T) / 2


def _exact_models() -> st.SearchStrategy[tuple[Model, float]]:
    return st.tuples(models(UNIFORM), RHO).filter(lambda mr: how(*mr) == "exact")


def _wide_models() -> st.SearchStrategy[tuple[Model, float]]:
    return st.tuples(models(UNIFORM, max_blocks=2), RHO).filter(
        lambda mr: how(*mr) == "large-width")


SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]
#: examples per run, scaled by the profile (ci: 25 -> 100 exact and 50 large-width stacks)
PROFILE = settings.default.max_examples


@settings(max_examples=4 * PROFILE, suppress_health_check=SLOW)
@given(_exact_models(), WEIGHTS, st.integers(0, 1000))
def test_exact_stacks_agree_with_their_simulation(model_rho, raw, seed) -> None:
    model, rho = model_rho
    claim = model_claim(model, rho, _weights(model, raw))
    result = verify_claim(claim, budget=BUDGET, seed=seed)
    assert result.verdict != "fail", (model, rho, result.detail, result.rel_error)


@settings(max_examples=2 * PROFILE, suppress_health_check=SLOW)
@given(_wide_models(), WEIGHTS, st.integers(0, 1000))
def test_large_width_stacks_converge_to_their_simulation(model_rho, raw, seed) -> None:
    model, rho = model_rho
    claim = model_claim(model, rho, _weights(model, raw))
    assert claim.kind == "asymptotic"
    result = verify_claim(claim, budget=BUDGET, seed=seed)
    assert result.verdict != "fail", (model, rho, result.detail)


@settings(max_examples=PROFILE, suppress_health_check=SLOW)
@given(_exact_models(), WEIGHTS, st.integers(0, 1000))
def test_a_planted_mistake_in_an_exact_stack_fails(model_rho, raw, seed) -> None:
    """The theory 50% off: far beyond the 20% the budget detects with power 0.9."""
    model, rho = model_rho
    claim = model_claim(model, rho, _weights(model, raw))
    true = claim.derived
    wrong = Derived(true.expr, true.steps, evaluator=lambda e, p: 1.5 * true.evaluate_expr(e, p))
    result = verify_claim(claim.with_derived(wrong), budget=BUDGET, seed=seed)
    assert result.verdict == "fail", (model, rho, result.detail)


def _causal_stack(mask: str) -> Model:
    attention = Attention(heads=2, d_k=1, d_v=2, scale=1.0, kind="uniform", mask=mask,
                          output_projection=True, sigma_v=0.6, sigma_o=0.5)
    block = (Residual((attention,), 1.0), Residual((MLP("linear", 3, 0.7, 0.6),), 1.0))
    return Model(4, 4, (block,) * 3)


def test_forgetting_the_causal_mask_fails() -> None:
    """A structural mistake: the theory of the unmasked stack against the causal one."""
    causal, plain = _causal_stack("causal"), _causal_stack("none")
    weights = np.eye(4)  # the diagonal: token norms, which the mask changes
    truth = model_claim(causal, 0.2, weights)
    wrong = model_claim(plain, 0.2, weights)
    assert verify_claim(truth, budget="quick", seed=3).verdict != "fail"
    mixed = truth.with_derived(wrong.derived)
    gap = abs(mixed.theory() / truth.theory() - 1)
    assert gap > 0.2  # computed, not assumed: the mask matters at this size
    assert verify_claim(mixed, budget="quick", seed=3).verdict == "fail"


def test_softmax_models_have_no_claim() -> None:
    model = Model(2, 2, ((Attention(1, 1, 2, 1.0),),))
    with pytest.raises(ValueError, match="uniform-attention assumption"):
        model_claim(model, 0.5, np.ones((2, 2)))
