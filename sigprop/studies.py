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

from architecture.spec import Architecture
from numerics.estimators import RunningMoments
from numerics.inputs import gram_matched_tokens
from numerics.jacobians import layer_jacobian_norms
from numerics.model import forward
from numerics.montecarlo import mean_estimate
from numerics.quantities import attention_norms_sampler, single_head
from numerics.weights import sample_weights
from theory import propagation as pr
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
def _post_ln_step() -> sp.Expr:
    return pr.post_ln_map().value


def _query_theory(n: int, d: int, d_v: int, sigma_k: float, sigma_v: float, rho: float,
                  s: float) -> float:
    values = {"n": n, "d": d, "d_v": d_v, "sigma_k": sigma_k, "sigma_v": sigma_v, "rho": rho,
              "s": s}
    expr = _query_formula()
    return float(expr.subs({sym: values[sym.name] for sym in expr.free_symbols}))


def post_ln_correlations(n: int, a: float, rho0: float, layers: int) -> list[float]:
    """rho_0, rho_1, ..., rho_layers from the derived Post-LN map with a per block."""
    step = sp.lambdify(sp.Symbol("rho", positive=True),
                       1 - _post_ln_step().subs({pr.n: n, sp.Symbol("n", positive=True): n,
                                                 pr.a: a}), "math")
    out = [rho0]
    for _ in range(layers):
        out.append(float(step(out[-1])))
    return out


@dataclass(frozen=True)
class DepthStudy:
    scaling: str
    depth: int
    rows: tuple[Row, ...]  # x = layer index (1-based)


def depth_study(depth: int = 24, n: int = 8, d: int = 64, d_k: int = 16, rho0: float = 0.2,
                samples: int = 256, seed: int = 0, scaling: str = "constant") -> DepthStudy:
    """Per-layer E||dS_l/dW^Q_l||^2 (Monte Carlo) vs sigma_k^2 sigma_v^2 d^4 (1-rho_{l-1})^2 (n-1)/n
    with rho_l from the Post-LN map; standard init sigma^2 = 1/d, alpha_1 = 1 or 1/sqrt(L)."""
    sigma = 1 / math.sqrt(d)
    arch = Architecture(n=n, d=d, d_k=d_k, d_v=d, depth=depth, norm="post", attention="softmax",
                        mlp=False, alpha_1=1.0, residual_scaling=scaling, sigma_q=sigma,
                        sigma_k=sigma, sigma_v=sigma)
    x = gram_matched_tokens(n, d, rho0, 1.0)
    moments = RunningMoments()
    for start in range(0, samples, 64):
        count = min(64, samples - start)
        w = sample_weights(arch, count, seed, start)
        _, cache_ = forward(arch, w, x)
        moments.update(layer_jacobian_norms(arch, w, cache_).query[:, :, 0])
    a = arch.residual_1**2 * sigma**2 * d
    rhos = post_ln_correlations(n, a, rho0, depth)
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
