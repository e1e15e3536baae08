"""Studies: where the theory is good and where it is not, in real networks.

Unlike claims, studies have no verdict; they put Monte Carlo beside the
theory over a range and report the relative error with its uncertainty.

- ``depth_study``: a deep Post-LN softmax stack at standard initialization
  (sigma^2 = 1/d for every weight), per-layer query-gradient norms from Monte
  Carlo beside the uniform-attention prediction at the correlation the
  Post-LN map gives for that layer, for alpha = 1 and alpha = 1/sqrt(L).
- ``uniform_accuracy``: one softmax head; E||dS/dW^Q||^2 with W^Q random
  against the uniform-attention formula, as sigma_q sigma_k grows; the
  largest logit scale at which the formula stays within 5%.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import sympy as sp

from architecture.model import Model, transformer_block
from architecture.sublayers import Attention
from numerics.inputs import gram_matched_tokens
from numerics.montecarlo import mean_estimate, run_moments
from numerics.quantities import attention_norms_sampler, single_head
from numerics.stack import block_attention_norms_sampler
from theory import blocks
from theory.attention import query_norm_uniform


@dataclass(frozen=True)
class Row:
    x: float
    theory: float
    estimate: float
    se: float

    @property
    def rel_error(self) -> float:
        """(theory - estimate) / estimate: the error of the theory."""
        return (self.theory - self.estimate) / self.estimate

    @property
    def rel_error_se(self) -> float:
        return abs(self.theory) * self.se / self.estimate**2

    def as_dict(self) -> dict:
        return {**asdict(self), "rel_error": self.rel_error, "rel_error_se": self.rel_error_se}


@cache
def _query_formula() -> sp.Expr:
    return query_norm_uniform("query").value


@cache
def _query_formula() -> sp.Expr:
    return query_norm_uniform("query").value


def _query_theory(n: int, d: int, d_v: int, sigma_k: float, sigma_v: float, rho: float,
                  s: float) -> float:
    values = {"n": n, "d": d, "d_v": d_v, "sigma_k": sigma_k, "sigma_v": sigma_v, "rho": rho,
              "s": s}
    expr = _query_formula()
    return float(expr.subs({sym: values[sym.name] for sym in expr.free_symbols}))


def post_ln_correlations(model: Model, rho0: float) -> list[float]:
    """rho_0, rho_1, ..., rho_L of ``model`` from input correlation rho0 (s = 1), by the
    theory maps of its blocks (softmax attention under the uniform assumption)."""
    start = blocks.State(blocks.exchangeable(model.n, model.d, model.d * rho0))
    return [rho0, *(float(blocks.mean_correlation(state.gram))
                    for state, _ in blocks.propagate(model, start))]


@dataclass(frozen=True)
class DepthStudy:
    scaling: str
    depth: int
    rows: tuple[Row, ...]  # x = layer index (1-based)


def depth_study(depth: int = 24, n: int = 8, d: int = 64, d_k: int = 16, rho0: float = 0.2,
                samples: int = 256, seed: int = 0, scaling: str = "constant") -> DepthStudy:
    """Per-layer E||dS_l/dW^Q_l||^2 (Monte Carlo) vs sigma_k^2 sigma_v^2 d^4 (1-rho_{l-1})^2 (n-1)/n
    with rho_l from the theory maps of the stack; standard init sigma^2 = 1/d,
    alpha_1 = 1 or 1/sqrt(L)."""
    sigma = 1 / math.sqrt(d)
    alpha = 1 / math.sqrt(depth) if scaling == "inv_sqrt_depth" else 1.0
    attention = Attention(heads=1, d_k=d_k, d_v=d, scale=1 / math.sqrt(d_k), kind="softmax",
                          sigma_q=sigma, sigma_k=sigma, sigma_v=sigma)
    model = Model(n, d, (transformer_block(attention, None, "post", alpha),) * depth)
    x = gram_matched_tokens(n, d, rho0, 1.0)
    moments = run_moments(block_attention_norms_sampler(model, x, "query"), samples, seed, chunk=64)
    rhos = post_ln_correlations(model, rho0)
    rows = tuple(
        Row(float(layer + 1), _query_theory(n, d, d, sigma, sigma, rhos[layer], 1.0),
            float(moments.mean[layer]), float(moments.standard_error[layer]))
        for layer in range(depth))
    return DepthStudy(scaling, depth, rows)


@dataclass(frozen=True)
class UniformAccuracy:
    rows: tuple[Row, ...]  # x = logit scale sigma_q sigma_k d
    within_5_percent: float | None  # largest x whose |rel_error| + 2 se < 5%


def uniform_accuracy(n: int = 4, d: int = 16, d_k: int = 8, rho: float = 0.5,
                     scales: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0),
                     samples: int = 20_000, seed: int = 0) -> UniformAccuracy:
    """Relative error of the uniform-attention query-norm formula against softmax
    attention with W^Q, W^K random, sigma_q = sigma_k = sqrt(scale / d)."""
    x = gram_matched_tokens(n, d, rho, 1.0)
    rows = []
    for scale in scales:
        sigma = math.sqrt(scale / d)
        arch = single_head(n, d, d_k, d, sigma, sigma, 1.0)
        est = mean_estimate(attention_norms_sampler(arch, x, "query"), samples, seed)
        rows.append(Row(scale, _query_theory(n, d, d, sigma, 1.0, rho, 1.0), est.mean, est.se))
    good = [r.x for r in rows if abs(r.rel_error) + 2 * r.rel_error_se < 0.05]
    ok_prefix = None
    for r in rows:
        if r.x not in good:
            break
        ok_prefix = r.x
    return UniformAccuracy(tuple(rows), ok_prefix)


def tail_ratio(study: DepthStudy, last: int = 4) -> float:
    """Mean of estimate/theory over the last layers (how far the theory is off deep down)."""
    rows = study.rows[-last:]
    return float(np.mean([r.estimate / r.theory for r in rows]))
