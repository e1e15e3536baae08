"""The derived expressions against the catalogue's closed forms.

The oracles below are typed by hand on purpose: they are the paper's (and
the catalogue's) statements, and the engine must arrive at them from the model.
Each comparison is symbolic: the difference simplifies to 0. A planted 3%
error in any oracle makes its test fail (last test).
"""

from __future__ import annotations

import pytest
import sympy as sp

from sigprop import registry
from sigprop.claims.forward import pre_ln_bounds
from theory import attention as at

S = {name: sp.Symbol(name, positive=True) for name in (
    "n", "d", "d_k", "d_v", "d_ff", "L", "alpha_1", "alpha_2", "sigma_q", "sigma_k", "sigma_v",
    "sigma_1", "sigma_2", "rho", "s", "c")}
n, d, d_v, rho, s = S["n"], S["d"], S["d_v"], S["rho"], S["s"]
sk, sq, sv, a1 = S["sigma_k"], S["sigma_q"], S["sigma_v"], S["alpha_1"]


def by_name(expr: sp.Expr) -> sp.Expr:
    """Rename the expression's symbols to the plain positive symbols above."""
    return expr.xreplace({x: S[x.name] for x in expr.free_symbols if x.name in S})


def same(derived: sp.Expr, oracle: sp.Expr) -> bool:
    return sp.simplify(by_name(derived) - oracle) == 0


# Gram s d ((1-rho) I + rho J): ||X||^2 = s d n, ||X^T P X||^2 = s^2 d^2 (1-rho)^2 (n-1),
# n ||xbar||^2 = s d (1 + (n-1) rho)
FX2 = s * d * n
FXPX2 = s**2 * d**2 * (1 - rho) ** 2 * (n - 1)
M = (1 + (n - 1) * rho) / n
A = a1**2 * sv**2 * d

ORACLES = {
    "grad.value-norm": d_v * s * d * (1 + (n - 1) * rho),
    "grad.query-norm-uniform": sk**2 * sv**2 * d_v * FX2 * FXPX2 / n**2,
    "grad.key-norm-uniform": sq**2 * sv**2 * d_v * FX2 * FXPX2 / n**2,
    "grad.query-value-ratio": sk**2 * sv**2 * s**2 * d**2 * (1 - rho) ** 2 * (n - 1)
    / (n * (1 + (n - 1) * rho)),
    "forward.attention-gram-update": s * d * rho + A * s * d * M,
    "forward.attention-gram-update-diagonal": s * d + A * s * d * M,
    "forward.rank-collapse-depth": (s * d - s * d * rho)
    / (s * d + s * d * M * ((1 + A) ** S["L"] - 1)),
    "forward.scaled-residual-limit": (s * d - s * d * rho) / (s * d + s * d * M * (sp.exp(A) - 1)),
}


@pytest.mark.parametrize("claim_id", sorted(ORACLES))
def test_derived_equals_the_catalogue(claim_id: str) -> None:
    assert same(registry.get(claim_id).derived.expr, ORACLES[claim_id])


def test_gaussian_tokens_sixth_moment() -> None:
    sixth = d * s**3 * (d + n) * (n - 1) * (1 - rho) ** 2 * (d * n + 4 * (1 - rho))
    oracle = sk**2 * sv**2 * d_v * sixth / n**2
    assert same(registry.get("grad.query-norm-uniform-gaussian-tokens").derived.expr, oracle)


def test_post_ln_map() -> None:
    one_minus = (1 - rho) / (1 + A * M)
    assert same(registry.get("forward.post-ln-correlation-map").derived.expr, one_minus)


def test_pre_ln_increment() -> None:
    assert same(registry.get("forward.pre-ln-correlation-growth").derived.expr,
                a1**2 * sv**2 * d**2 * M)


def test_pre_ln_is_theta_one_over_depth() -> None:
    lo, hi = pre_ln_bounds(s * d * (1 - rho), s * d)  # l (1 - rho_l) lies between these
    half = {rho: sp.Rational(1, 2)}  # any input not yet collapsed
    assert lo.subs(half).is_positive and hi.subs(half).is_finite
    assert sp.simplify(by_name(hi / lo) - n) == 0


def test_relu_kernel_claim() -> None:
    q = s * d
    theta = sp.acos(rho)
    kappa = q * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)
    oracle = q * rho + S["alpha_2"] ** 2 * S["sigma_2"] ** 2 * d * S["d_ff"] * S["sigma_1"] ** 2 \
        * kappa
    assert same(registry.get("forward.relu-mlp-kernel").derived.expr, oracle)


def test_softmax_jacobian_facts() -> None:
    assert at.prove_row_shift_invariance(3).value == 0
    assert at.uniform_softmax_jacobian().value == 0
    assert at.prove_rank_one_query_gradient().value == 0


def test_temperature_one_over_dk_leaves_a_factor() -> None:
    sqrt_dk = at.query_norm_uniform("query", "inv_sqrt_dk").value
    inv_dk = at.query_norm_uniform("query", "inv_dk").value
    assert sp.simplify(by_name(inv_dk / sqrt_dk) - 1 / S["d_k"]) == 0


@pytest.mark.parametrize("claim_id", sorted(ORACLES))
def test_an_oracle_three_percent_off_is_told_apart(claim_id: str) -> None:
    assert not same(registry.get(claim_id).derived.expr, ORACLES[claim_id] * sp.Rational(103, 100))
