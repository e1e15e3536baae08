"""Any model checked against its own simulation, through the harness.

``model_claim(model, rho, weights)`` is a claim about the functional
Q = sum_kk' w_kk' (K_L)_kk' of the last block's expected Gram K_L on the fixed input
X with X X^T = d ((1 - rho) I + rho J):

- when every map of the model is exact, an ``exact`` claim: the composed theory
  against Monte Carlo of the same model at its own widths;
- when some map is the large-width one (LayerNorm, a nonlinear MLP on a random
  input), an ``asymptotic`` claim over the width ladder ``Model.widen(k)``
  (every width times k, every variance over its fan-in over k): the relative
  discrepancy must extrapolate to zero at rate 1/k.

Models using the uniform-attention assumption (softmax) have no claim: their maps
are not theorems.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from architecture.model import Model
from numerics.estimators import Estimate
from numerics.inputs import gram_matched_tokens
from numerics.montecarlo import mean_estimate, sized
from numerics.stack import layer_gram_sampler
from sigprop.arch_spec import InputSpec
from sigprop.claim import Claim, Derived, Ladder, Step
from sigprop.params import Param, Point
from sigprop.propagate import start_state
from theory import blocks

#: the ladder of width factors of an asymptotic model claim
FACTORS = (2, 4, 8, 16)
WIDTH = sp.Symbol("width", positive=True)


def _input(rho: float) -> InputSpec:
    return InputSpec("gram", rho, 1.0)


def how(model: Model, rho: float) -> str:
    """How the composed theory holds for the model on the input (exact, large-width,
    assumption)."""
    return _theory(model, rho)[1]


@cache
def _theory(model: Model, rho: float) -> tuple[np.ndarray, str, tuple[blocks.Step, ...]]:
    state, steps = blocks.propagate(model, start_state(_input(rho), model.n, model.d))[-1]
    k = np.array(blocks.as_matrix(state.gram).evalf(20).tolist(), dtype=float)
    return k, state.how, tuple(steps)


def model_claim(model: Model, rho: float, weights: np.ndarray, name: str = "model") -> Claim:
    """The claim Q = sum w * K_L for ``model`` on the input of correlation ``rho``."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (model.n, model.n):
        raise ValueError(f"weights must have shape ({model.n}, {model.n}), got {weights.shape}")
    kind = how(model, rho)
    if kind == "assumption":
        raise ValueError("the model uses softmax attention, whose map is the uniform-attention "
                         "assumption: there is nothing to check it against")

    def at(point: Point) -> Model:
        return model.widen(int(point["width"])) if point["width"] != 1 else model

    def evaluate(expr: sp.Expr, point: Point) -> float:
        return float(np.sum(weights * _theory(at(point), rho)[0]))

    def derive() -> Derived:
        _, _, steps = _theory(model, rho)
        return Derived(WIDTH, tuple(Step(title, body) for s in steps for title, body in s.pairs()),
                       evaluator=evaluate)

    def estimate(point: Point, samples: int, seed: int) -> Estimate:
        wide = at(point)
        inner = layer_gram_sampler(wide, gram_matched_tokens(wide.n, wide.d, rho, 1.0))
        last = slice((wide.depth - 1) * wide.n**2, wide.depth * wide.n**2)

        def sample(start: int, count: int, seed: int) -> np.ndarray:
            return inner(start, count, seed)[:, last] @ weights.ravel()

        return mean_estimate(sized(sample, inner.draws_per_sample), samples, seed, chunk=1024)

    exact = kind == "exact"
    return Claim(
        id=f"{name}.gram-functional", title="sum_kk' w_kk' E[X^L X^L^T]_kk' of a model",
        kind="exact" if exact else "asymptotic", section="extension (composed maps)",
        statement="the composed sublayer maps give the last block's expected Gram",
        assumptions=("fixed input with X X^T = d ((1-rho) I + rho J)",),
        params={"width": Param("width", 1, integer=True, low=1, high=max(FACTORS))},
        derive=derive, estimator=estimate, scale=0.0,
        ladder=None if exact else Ladder("width", FACTORS, rate=1.0))
