"""Claim 9 (forward.relu-mlp-kernel): the derived MLP Gram update, the arc-cosine kernel,
its quadrature cross-checks and the proof that ReLU raises correlation.

Hand-typed closed forms below are test oracles only; the module derives its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import mpmath
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from architecture.spec import ACTIVATIONS
from theory import kernels as K

t = sp.Symbol("t", positive=True)


def arccos_oracle(q1: sp.Expr, q2: sp.Expr, c: sp.Expr) -> sp.Expr:
    """Degree-1 arc-cosine kernel in its textbook closed form (Cho and Saul)."""
    theta = sp.acos(c / sp.sqrt(q1 * q2))
    return sp.sqrt(q1 * q2) * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)


@lru_cache(maxsize=1)
def _closed_form_function() -> Callable[..., mpmath.mpf]:
    q1, q2 = sp.symbols("q1 q2", positive=True)
    c = sp.Symbol("c", real=True)
    return sp.lambdify((q1, q2, c), K.relu_kernel(q1, q2, c), modules="mpmath")


def closed_form_mp(q1: float, q2: float, c: float) -> mpmath.mpf:
    """The derived closed form, evaluated by mpmath at the working precision."""
    return _closed_form_function()(mpmath.mpf(q1), mpmath.mpf(q2), mpmath.mpf(c))


# ---------------------------------------------------------------------------- index engine


def test_index_engine_reproduces_trace_oracle() -> None:
    """E tr(A W B W^T) = sigma^2 tr A tr B (textbook oracle), at sizes 2 x 3."""
    A, B, W = sp.IndexedBase("A"), sp.IndexedBase("B"), sp.IndexedBase("W")
    a, b, c, e = sp.symbols("a b c e", integer=True)
    sigma = sp.Symbol("sigma", positive=True)
    trace = sp.Sum(A[a, b] * W[b, c] * B[c, e] * W[a, e], (a, 1, 2), (b, 1, 2), (c, 1, 3),
                   (e, 1, 3))
    terms = [K._contract(term) for term in K._expect_iid(K._terms(trace), W, sigma**2)]
    got = K._assemble(terms).doit()
    want = sigma**2 * (A[1, 1] + A[2, 2]) * (B[1, 1] + B[2, 2] + B[3, 3])
    assert sp.expand(got - want) == 0


def test_index_engine_moments() -> None:
    """E W^4 = 3 sigma^4 for one entry; odd moments vanish."""
    W = sp.IndexedBase("W")
    sigma = sp.Symbol("sigma", positive=True)
    fourth = K._expect_iid(K._terms(W[1, 1] ** 4), W, sigma**2)
    assert sp.simplify(K._assemble(fourth) - 3 * sigma**4) == 0
    assert K._expect_iid(K._terms(W[1, 1] ** 3 + 2 * W[1, 2]), W, sigma**2) == []


# ---------------------------------------------------------------------------- closed forms


def test_mlp_gram_update_relu_matches_claim() -> None:
    g_kk, g_ll, g_kl = K.G_KK, K.G_K_PRIME_K_PRIME, K.G_KK_PRIME
    oracle = g_kl + K.ALPHA_2**2 * K.SIGMA_2**2 * K.D * K.D_FF * K.SIGMA_1**2 * arccos_oracle(
        g_kk, g_ll, g_kl
    )
    got = K.mlp_gram_update("relu")
    assert sp.simplify(got - oracle) == 0
    assert {s.name for s in got.free_symbols} == {
        "alpha_2", "sigma_1", "sigma_2", "d", "d_ff", "G_kk", "G_k'k'", "G_kk'"
    }


def test_mlp_gram_update_linear() -> None:
    factor = K.ALPHA_2**2 * K.SIGMA_2**2 * K.D * K.D_FF * K.SIGMA_1**2
    assert sp.simplify(K.mlp_gram_update("linear") - K.G_KK_PRIME * (1 + factor)) == 0


def test_relu_integral_in_theta_matches_oracle() -> None:
    """At q1 = q2 = 1 and symbolic angle t: (sin t + (pi - t) cos t)/(2 pi)."""
    value, _ = K._gaussian_product("relu")
    derived = value.subs({K._Q1: 1, K._Q2: 1, K.THETA: t})
    assert sp.simplify(derived - (sp.sin(t) + (sp.pi - t) * sp.cos(t)) / (2 * sp.pi)) == 0


def test_relu_kernel_general_moments_matches_oracle() -> None:
    q1, q2 = sp.symbols("q1 q2", positive=True)
    c = sp.Symbol("c", real=True)
    assert sp.simplify(K.relu_kernel(q1, q2, c) - arccos_oracle(q1, q2, c)) == 0


def test_relu_kernel_exact_values() -> None:
    # c = 0: E relu(u) E relu(v) = sqrt(q1 q2)/(2 pi); c = q: E relu(u)^2 = q/2
    assert sp.simplify(K.relu_kernel(2, 8, 0) - 4 / (2 * sp.pi)) == 0
    assert sp.simplify(K.relu_kernel(3, 3, 3) - sp.Rational(3, 2)) == 0
    assert K.relu_kernel(3, 3, -3) == 0


def test_relu_kernel_normalized() -> None:
    assert K.relu_kernel_normalized(1) == 1
    assert sp.simplify(K.relu_kernel_normalized(0) - 1 / sp.pi) == 0
    assert K.relu_kernel_normalized(-1) == 0
    oracle = (sp.sin(t) + (sp.pi - t) * sp.cos(t)) / sp.pi
    assert sp.simplify(K._normalized_relu_in_theta().subs(K.THETA, t) - oracle) == 0


def test_derivation_steps_are_latex_pairs() -> None:
    for activation in ("relu", "linear"):
        steps = K.derivation_steps(activation)
        titles = [title for title, _ in steps]
        assert "Terms linear in $W^{(2)}$ vanish (mean zero)" in titles
        assert titles[-1] == "Result"
        for title, body in steps:
            assert title and body
            assert body.count("{") == body.count("}"), title
    result = K.derivation_steps("relu")[-1][1]
    assert r"\operatorname{acos}" in result and "d_{ff}" in result


# ---------------------------------------------------------------------------- quadrature


@given(
    q1=st.floats(0.1, 10.0),
    q2=st.floats(0.1, 10.0),
    rho=st.floats(-0.99, 0.99),
)
def test_closed_form_matches_density_quadrature(q1: float, q2: float, rho: float) -> None:
    c = rho * math.sqrt(q1 * q2)
    with mpmath.workdps(40):
        exact = closed_form_mp(q1, q2, c)
        numeric = K.quadrature_relu_kernel(q1, q2, c, dps=30)
        assert abs(numeric - exact) <= mpmath.mpf("1e-12") * abs(exact)


@pytest.mark.parametrize(("q1", "q2", "rho"), [(1.0, 1.0, 0.3), (0.1, 10.0, 0.99),
                                               (5.0, 0.2, -0.99), (2.0, 3.0, 1.0)])
def test_general_quadrature_relu_equals_closed_form(q1: float, q2: float, rho: float) -> None:
    c = rho * math.sqrt(q1 * q2)
    with mpmath.workdps(40):
        exact = closed_form_mp(q1, q2, c)
        numeric = K.quadrature_kernel("relu", q1, q2, c, dps=20)
        assert abs(numeric - exact) <= mpmath.mpf("1e-15") * abs(exact)


@pytest.mark.parametrize(("q1", "q2", "rho"), [(1.0, 1.0, 0.3), (10.0, 0.1, -0.99),
                                               (4.0, 4.0, -1.0)])
def test_quadrature_linear_equals_covariance(q1: float, q2: float, rho: float) -> None:
    c = rho * math.sqrt(q1 * q2)
    with mpmath.workdps(30):
        numeric = K.quadrature_kernel("linear", q1, q2, c, dps=20)
        assert abs(numeric - mpmath.mpf(c)) <= mpmath.mpf("1e-18") * math.sqrt(q1 * q2)


def test_quadrature_gelu_independent_tokens() -> None:
    """c = 0: E[u Phi(u)] E[v Phi(v)], and by Stein E[u Phi(u)] = q / sqrt(2 pi (1 + q))."""
    q1, q2 = 0.5, 7.0
    with mpmath.workdps(30):
        mean = [q / mpmath.sqrt(2 * mpmath.pi * (1 + q)) for q in (q1, q2)]
        numeric = K.quadrature_kernel("gelu", q1, q2, 0.0)
        assert abs(numeric - mean[0] * mean[1]) <= mpmath.mpf("1e-12") * mean[0] * mean[1]


@pytest.mark.parametrize("activation", ["gelu", "tanh"])
def test_quadrature_smooth_activation_on_the_diagonal(activation: str) -> None:
    """c = q1 = q2 (u = v): E[phi(u)^2] by a 1-D mpmath integral."""
    q = 3.0
    phi = K._MP_ACTIVATIONS[activation]
    with mpmath.workdps(30):
        oracle = mpmath.quad(lambda x: phi(math.sqrt(q) * x) ** 2 * mpmath.npdf(x),
                             [-mpmath.inf, 0, mpmath.inf])
        numeric = K.quadrature_kernel(activation, q, q, q)
        assert abs(numeric - oracle) <= mpmath.mpf("1e-12") * oracle


def test_quadrature_tanh_small_variance_wick_expansion() -> None:
    """tanh x = x - x^3/3 + 2x^5/15 - ...; with Isserlis (E u^3 v = 3 q1 c,
    E u^3 v^3 = 9 q1 q2 c + 6 c^3, E u^5 v = 15 q1^2 c) the kernel is
    c (1 - q1 - q2 + q1 q2 + 2 q1^2 + 2 q2^2) + 2 c^3/3 + O(c q^3); at q ~ 0.004 the
    remainder is below 1e-6 c while the second-order terms are about 5e-5 c."""
    q1, q2, c = 0.004, 0.002, 0.002
    second_order = c * (1 - q1 - q2 + q1 * q2 + 2 * q1**2 + 2 * q2**2) + 2 * c**3 / 3
    first_order = c * (1 - q1 - q2)
    numeric = float(K.quadrature_kernel("tanh", q1, q2, c))
    assert abs(numeric - second_order) <= 2e-6 * c
    assert abs(numeric - first_order) > 2e-5 * c  # the second-order terms are resolved


def test_mp_activations_cover_architecture() -> None:
    assert set(K._MP_ACTIVATIONS) == set(ACTIVATIONS)


# ---------------------------------------------------------------------------- kappa_hat >= rho


def test_relu_raises_correlation_proof() -> None:
    holds, steps = K.prove_relu_raises_correlation()
    assert holds
    bodies = dict(steps)
    assert bodies["Value at t = 0 (rho = 1)"] == "g(0) = 0"
    assert r"t \sin{\left(t \right)}" in bodies["Derivative"]


@pytest.mark.parametrize(
    "planted",
    [
        0.97 * (sp.sin(K.THETA) + (sp.pi - K.THETA) * sp.cos(K.THETA)) / sp.pi,  # 3% low
        sp.cos(K.THETA) - (sp.sin(K.THETA) - K.THETA * sp.cos(K.THETA)) / sp.pi,  # lowers it
    ],
)
def test_proof_rejects_maps_that_do_not_raise_correlation(planted: sp.Expr) -> None:
    holds, steps = K.prove_raises_correlation(planted)
    assert not holds
    assert steps[-1][1] == r"\text{not established}"


def test_relu_raises_correlation_on_grid() -> None:
    check = K.relu_correlation_gap_on_grid(points=2001, dps=30)
    assert check.holds
    assert check.min_gap_below_one > 0
    # the smallest gap sits next to rho = 1: the gap closes only there
    assert abs(check.argmin - mpmath.mpf("0.999")) <= mpmath.mpf("1e-12")
    assert abs(check.gap_at_one) <= mpmath.mpf("1e-28")


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: K.relu_kernel(0, 1, 0), "q1 must be > 0"),
        (lambda: K.relu_kernel(1, -2, 0), "q2 must be > 0"),
        (lambda: K.relu_kernel(1, 4, 3), r"c must satisfy \|c\| <= sqrt\(q1\*q2\)"),
        (lambda: K.relu_kernel("1", 1, 0), "q1 must be a number or SymPy expression"),
        (lambda: K.relu_kernel(1, 1, float("nan")), "c must be finite"),
        (lambda: K.relu_kernel_normalized(1.5), r"rho must be in \[-1, 1\]"),
        (lambda: K.mlp_gram_update("gelu"), "activation must be one of linear, relu"),
        (lambda: K.derivation_steps("swish"), "activation must be one of linear, relu"),
        (lambda: K.quadrature_relu_kernel(-1, 1, 0), "q1 must be > 0"),
        (lambda: K.quadrature_relu_kernel(1, 1, 1), r"c must satisfy \|c\| < sqrt\(q1\*q2\)"),
        (lambda: K.quadrature_kernel("relu", 1, 1, 1.5), r"\|c\| <= sqrt\(q1\*q2\)"),
        (lambda: K.quadrature_kernel("swish", 1, 1, 0), "activation must be one of"),
        (lambda: K.quadrature_kernel("tanh", 1, float("inf"), 0), "q2 must be a finite"),
        (lambda: K.quadrature_kernel("tanh", 1, 1, 0, dps=0), "dps must be an integer >= 1"),
        (lambda: K.relu_correlation_gap_on_grid(points=1), "points must be an integer >= 2"),
    ],
)
def test_bad_input_raises_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
