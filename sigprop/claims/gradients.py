"""Claims about attention gradients at initialization (catalogue items 1-4)."""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from architecture.spec import Architecture
from numerics.estimators import Estimate
from numerics.inputs import exchangeable_tokens, gram_matched_tokens
from numerics.montecarlo import mean_estimate, sized
from numerics.quantities import (
    attention_norms_sampler,
    single_head,
    stack_norm_ratios,
    value_jacobian_by_directions,
)
from numerics.rng import normal_rows
from numerics.weights import draws_per_network, sample_weights
from sigprop.claim import Claim, Derived, Step, Trend
from sigprop.claims.common import n_at_most_d, params
from sigprop.numeric_eval import evaluate_batched
from sigprop.params import Point
from theory import attention as th
from theory.factoring import factor

PAPER_GRAD = "paper, Sec. 3.1 (sec:vanishing_gradients)"
PAPER_RATIO = "paper, Sec. 3.4 (sec:dep_angle), in a fixed-X form"
LEMMA = "paper (lemma:gradients_queries)"


def _derived(d: th.Derivation) -> Derived:
    return Derived(d.value, tuple(Step(t, body) for t, body in d.steps))


def _x(p: Point) -> np.ndarray:
    return gram_matched_tokens(int(p["n"]), int(p["d"]), p["rho"], p["s"])


# --- 1. rank one -----------------------------------------------------------------------

def _rank_one_arch(p: Point, norm: str) -> Architecture:
    d = int(p["d"])
    return Architecture(n=int(p["n"]), d=d, d_k=d, d_v=d, d_ff=2 * d, depth=int(p["L"]),
                        norm=norm, activation="relu", alpha_1=p["alpha_1"],
                        sigma_q=p["sigma_q"], sigma_k=p["sigma_k"], sigma_v=p["sigma_v"],
                        sigma_1=1 / np.sqrt(d), sigma_2=1 / np.sqrt(2 * d))


def _rank_one_x(p: Point, seed: int) -> np.ndarray:
    x = normal_rows(seed, "rank-one-x", 0, 1, [(int(p["d"]), 1.0)])[0]
    return np.ones((int(p["n"]), 1)) * x[None, :]


def _rank_one_estimate(p: Point, samples: int, seed: int) -> Estimate:
    """Largest ||dS/dW^{Q,K}|| / ||dS/dW^V|| over the layers of a Post-LN stack."""
    arch = _rank_one_arch(p, "post")

    def sampler(start, count, s):
        return stack_norm_ratios(arch, _rank_one_x(p, s), count, s, start).max(axis=(1, 2))

    return mean_estimate(sized(sampler, draws_per_network(arch)), samples, seed, chunk=64)


def _rank_one_residuals(p: Point, samples: int, seed: int) -> np.ndarray:
    """The same ratio for every norm placement, fresh x per placement."""
    out = []
    for k, norm in enumerate(("none", "pre", "post")):
        arch = _rank_one_arch(p, norm)
        ratios = stack_norm_ratios(arch, _rank_one_x(p, seed + k), samples, seed)
        out.append(ratios.max(axis=(1, 2)))
    return np.concatenate(out)


RANK_ONE = Claim(
    id="rank1.qk-gradients-vanish",
    title="Rank-one tokens: query and key gradients vanish in every layer",
    kind="identity",
    section=PAPER_GRAD,
    statement="X = 1 x^T  =>  dS/dW^Q = dS/dW^K = 0 in every layer (any weights, any loss)",
    assumptions=("softmax attention, any W^Q, W^K", "norm none/pre/post, ReLU MLP"),
    params=params(n=4, d=8, L=4, alpha_1=1.0, sigma_q=1.0, sigma_k=1.0, sigma_v=0.35),
    derive=lambda: _derived(th.prove_rank_one_query_gradient()),
    estimator=_rank_one_estimate,
    residuals=_rank_one_residuals,
    tolerance=1e-9,
    notes="Estimate: max over layers of ||dS/dW^{Q,K}||/||dS/dW^V|| (zero up to rounding).",
    provenance="paper (thm:vanishing_gradients), extended to softmax attention and LayerNorm",
)


# --- 2. value-gradient norm ------------------------------------------------------------

def _value_estimate(p: Point, samples: int, seed: int) -> Estimate:
    arch = single_head(int(p["n"]), int(p["d"]), int(p["d_k"]), int(p["d_v"]), 0.0, 1.0,
                       p["sigma_v"])
    return mean_estimate(attention_norms_sampler(arch, _x(p), "value"), samples, seed)


@cache
def _value_general() -> sp.Expr:
    return th.value_norm(uniform=False).value


def _value_residuals(p: Point, samples: int, seed: int) -> np.ndarray:
    """|(norm from the definition) - (derived d_v tr(A X X^T A^T))| / derived, softmax
    attention with random weights and random tokens."""
    n, d, d_k, d_v = (int(p[k]) for k in ("n", "d", "d_k", "d_v"))
    arch = single_head(n, d, d_k, d_v, 1.0, 1.0, p["sigma_v"])
    w = sample_weights(arch, samples, seed)
    x = exchangeable_tokens(n, d, p["rho"], p["s"], samples, seed)
    direct, a = value_jacobian_by_directions(x, w.wq[:, 0, 0], w.wk[:, 0, 0], d_v, arch.tau)
    derived = evaluate_batched(_value_general(), {"A": a, "X": x}, {"d_v": d_v})
    return np.abs(direct - derived) / np.abs(derived)


VALUE_NORM = Claim(
    id="grad.value-norm",
    title="Value-gradient norm ||dS/dW^V||^2 = d_v ||A X||^2",
    kind="identity",
    section=PAPER_GRAD,
    statement="||dS/dW^V||_F^2 = d_v ||A X||_F^2; uniform attention: d_v n ||xbar||^2",
    assumptions=("any attention matrix A for the identity; uniform A = J/n for the value",
                 "X X^T = s d ((1-rho) I + rho J)"),
    params=params(n=4, d=8, d_k=4, d_v=4, sigma_v=1.0, rho=0.5, s=1.0),
    constraints=(n_at_most_d,),
    derive=lambda: _derived(th.value_norm(uniform=True)),
    estimator=_value_estimate,
    residuals=_value_residuals,
    tolerance=1e-9,
    provenance=LEMMA,
)


# --- 3. query / key norms at uniform attention --------------------------------------

def _norm_estimator(which: str):
    def estimate(p: Point, samples: int, seed: int) -> Estimate:
        sq = 0.0 if which == "query" else p["sigma_q"]
        sk = p["sigma_k"] if which == "query" else 0.0
        arch = single_head(int(p["n"]), int(p["d"]), int(p["d_k"]), int(p["d_v"]), sq, sk,
                           p["sigma_v"])
        return mean_estimate(attention_norms_sampler(arch, _x(p), which), samples, seed)

    return estimate


def _norm_claim(which: str) -> Claim:
    """E||dS/dW^Q||^2 at W^Q = 0, or E||dS/dW^K||^2 at W^K = 0: the same claim with
    the roles of the query and key weights exchanged."""
    zero, other = ("Q", "k") if which == "query" else ("K", "q")
    return Claim(
        id=f"grad.{which}-norm-uniform",
        title=f"E||dS/dW^{zero}||^2 at W^{zero} = 0 (uniform attention), fixed X",
        kind="exact",
        section=PAPER_GRAD,
        statement=(f"E_{{W^{other.upper()},W^V}} ||dS/dW^{zero}||_F^2 = sigma_{other}^2 "
                   "sigma_v^2 d_v ||X||_F^2 ||X^T P X||_F^2/n^2"),
        assumptions=(f"W^{zero} = 0 so A = J/n", "tau = 1/sqrt(d_k)",
                     "X X^T = s d ((1-rho) I + rho J)"),
        params=params(n=4, d=8, d_k=4, d_v=4, **{f"sigma_{other}": 1.0}, sigma_v=1.0,
                      rho=0.5, s=1.0),
        constraints=(n_at_most_d,),
        derive=lambda: _derived(th.query_norm_uniform(which)),
        estimator=_norm_estimator(which),
        provenance=LEMMA,
    )


QUERY_NORM = _norm_claim("query")
KEY_NORM = _norm_claim("key")


# --- 4. ratio, Gaussian tokens and trends -------------------------------------------

def _ratio_estimate(p: Point, samples: int, seed: int) -> Estimate:
    arch = single_head(int(p["n"]), int(p["d"]), int(p["d_k"]), int(p["d_v"]), 0.0,
                       p["sigma_k"], p["sigma_v"])
    return mean_estimate(attention_norms_sampler(arch, _x(p), "query/value"), samples, seed)


RATIO_PARAMS = params(n=4, d=8, d_k=4, d_v=4, sigma_k=1.0, sigma_v=1.0, rho=0.5, s=1.0)

RATIO = Claim(
    id="grad.query-value-ratio",
    title="Ratio of query to value gradient norms at uniform attention",
    kind="exact",
    section=PAPER_RATIO,
    statement="R = sigma_k^2 sigma_v^2 s^2 d^2 (1-rho)^2 (n-1) / (n (1 + (n-1) rho))",
    assumptions=("W^Q = 0 so A = J/n", "tau = 1/sqrt(d_k)", "X X^T = s d ((1-rho) I + rho J)"),
    params=RATIO_PARAMS,
    constraints=(n_at_most_d,),
    derive=lambda: _derived(th.query_value_ratio()),
    estimator=_ratio_estimate,
)


def _gaussian_tokens_estimate(p: Point, samples: int, seed: int) -> Estimate:
    arch = single_head(int(p["n"]), int(p["d"]), int(p["d_k"]), int(p["d_v"]), 0.0,
                       p["sigma_k"], p["sigma_v"])
    sampler = attention_norms_sampler(arch, None, "query", rho=p["rho"], s=p["s"])
    return mean_estimate(sampler, samples, seed)


GAUSSIAN_TOKENS = Claim(
    id="grad.query-norm-uniform-gaussian-tokens",
    title="E over exchangeable Gaussian tokens of the query-gradient norm (6th moment in X)",
    kind="exact",
    section="paper, Sec. 3.4 (sec:dep_angle) and App. A.2",
    statement="E_X E_W ||dS/dW^Q||^2 = sigma_k^2 sigma_v^2 d_v E[||X||^2 ||X^T P X||^2] / n^2",
    assumptions=("W^Q = 0 so A = J/n", "x_k = sqrt(s)(sqrt(rho) g + sqrt(1-rho) h_k)"),
    params=params(n=4, d=6, d_k=4, d_v=4, sigma_k=1.0, sigma_v=1.0, rho=0.3, s=1.0),
    derive=lambda: _derived(th.query_norm_gaussian_tokens()),
    estimator=_gaussian_tokens_estimate,
    margin=0.03,
    notes="Margin 3%: the sixth-order moment has a heavy tail (cv about 2).",
    provenance="paper (eq:grad_Q), its exact form",
)


def _trend_proof(var: str, direction: int, values: tuple[float, ...]):
    """Sign of dR/d(var) on [min(values), max(values)] at a point, by SymPy."""

    def proof(point: Point) -> tuple[bool, tuple[Step, ...]]:
        ratio = th.query_value_ratio().value
        sym = next(s for s in ratio.free_symbols if s.name == var)
        fixed = {s: sp.nsimplify(point[s.name]) for s in ratio.free_symbols if s is not sym}
        deriv = factor(sp.diff(ratio, sym))
        num, _ = sp.fraction(sp.together(deriv.subs(fixed)))
        lo, hi = min(values), max(values)
        wrong = sp.solveset(direction * num < 0, sym, sp.Interval(lo, hi))
        ok = wrong.is_empty is True
        sign = r"\ \text{has the claimed sign}" if ok else r"\ \text{changes sign}"
        steps = [Step(f"Derivative in {var}", r"\frac{\partial R}{\partial " + sp.latex(sym)
                      + "} = " + sp.latex(deriv)),
                 Step(f"Sign on [{lo:g}, {hi:g}] at the point",
                      "numerator " + sp.latex(factor(num)) + sign)]
        if var == "rho":
            lim = sp.limit(ratio / (1 - sym) ** 2, sym, 1)
            steps.append(Step(r"Quadratic vanishing as $\rho\to1$",
                              r"\lim_{\rho\to1} R/(1-\rho)^2 = " + sp.latex(factor(lim))))
        return ok, tuple(steps)

    return proof


def _trend_domain(var: str, values: tuple[float, ...]):
    """Every point of the trend must be valid (n <= d for each n on the trend)."""

    def constraint(point: Point) -> str | None:
        for v in values:
            problem = n_at_most_d({**point, var: v})
            if problem:
                return f"{problem} (at {var} = {v:g} on the trend)"
        return None

    return constraint


def _length_condition(point: Point) -> str | None:
    """dR/dn < 0 exactly when rho (n-1)^2 > 1 (derived in the proof): required at n = 4."""
    if point["rho"] * 9 <= 1:
        return f"rho must be > 1/9 for R to fall with n from n = 4, got rho={point['rho']}"
    return None


def _trend_claim(var: str, values: tuple[float, ...], direction: int, title: str,
                 statement: str, extra=()) -> Claim:
    return Claim(
        id=f"grad.query-value-ratio-trend-{var}",
        title=title, kind="trend", section=PAPER_RATIO, statement=statement,
        assumptions=RATIO.assumptions, params=RATIO_PARAMS,
        constraints=(n_at_most_d, _trend_domain(var, values), *extra),
        derive=RATIO.derive, estimator=_ratio_estimate,
        trend=Trend(var, values, direction, _trend_proof(var, direction, values)),
    )


TRENDS = (
    _trend_claim("rho", (0.2, 0.5, 0.8), -1, "R falls as token correlation rho grows",
                 "dR/drho < 0 on [0, 1); R -> 0 quadratically in 1 - rho"),
    _trend_claim("n", (4.0, 6.0, 8.0), -1, "R falls with sequence length n (like 1/n)",
                 "dR/dn < 0 when rho (n-1)^2 > 1; n R -> const for fixed rho > 0",
                 extra=(_length_condition,)),
    _trend_claim("s", (0.5, 1.0, 2.0), 1, "R grows like the 4th power of the token scale",
                 "R is proportional to s^2 = (token scale)^4"),
)

CLAIMS = (RANK_ONE, VALUE_NORM, QUERY_NORM, KEY_NORM, RATIO, GAUSSIAN_TOKENS, *TRENDS)
