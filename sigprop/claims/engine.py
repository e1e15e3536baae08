"""The expectation engine's own claims: moments it derives, checked by Monte Carlo.

These claims exercise the engine (theory.gaussian, theory.wick) on the
textbook oracles with the parameters left symbolic, so `sigprop verify`
checks the engine itself before any transformer claim relies on it.
"""

from __future__ import annotations

import sympy as sp
from sympy import Identity, MatrixSymbol, OneMatrix

from numerics.montecarlo import mean_estimate
from numerics.quantities import (
    bivariate_fourth_moment_sampler,
    frobenius_two_gaussians_sampler,
    token_sixth_moment_sampler,
    trace_quadratic_sampler,
)
from sigprop.claim import Claim, Derived, Step
from sigprop.claims.common import custom, params, symbol
from theory.factoring import factor
from theory.gaussian import expect
from theory.wick import GaussianMatrix, expect_matrix, frob2


def _derive_fourth() -> Derived:
    sx, sy, r = symbol("sigma_x"), symbol("sigma_y"), sp.Symbol("r", real=True)
    x, y = sp.symbols("x y", real=True)
    cov = sp.Matrix([[sx**2, r * sx * sy], [r * sx * sy, sy**2]])
    value = factor(expect(x**2 * y**2, [x, y], cov))
    steps = (
        Step("Model", r"(x, y) \sim \mathcal N\!\left(0, \begin{pmatrix}\sigma_x^2 & r\sigma_x"
                      r"\sigma_y\\ r\sigma_x\sigma_y & \sigma_y^2\end{pmatrix}\right)"),
        Step("Isserlis, grouped by multiplicity",
             r"\mathbb E[x^2y^2] = \mathbb E[x^2]\,\mathbb E[y^2] + 2\,\mathbb E[xy]^2"),
        Step("Result", r"\mathbb E[x^2y^2] = " + sp.latex(value)),
    )
    return Derived(value, steps)


def _estimate_fourth(p, samples, seed):
    sampler = bivariate_fourth_moment_sampler(p["sigma_x"], p["sigma_y"], p["r"])
    return mean_estimate(sampler, samples, seed, chunk=65536)


FOURTH_MOMENT = Claim(
    id="engine.isserlis-fourth",
    title="E[x^2 y^2] of a correlated Gaussian pair (scalar Isserlis)",
    kind="exact",
    section="extension (the Gaussian expectation engine, scalar level)",
    statement="E[x^2 y^2] = sigma_x^2 sigma_y^2 + 2 cov(x, y)^2",
    assumptions=("(x, y) centred jointly Gaussian",),
    params={**custom("sigma_x", 1.0, low=0.0, low_open=True, test_low=0.3, test_high=2.0),
            **custom("sigma_y", 1.5, low=0.0, low_open=True, test_low=0.3, test_high=2.0),
            **custom("r", 0.6, low=-1.0, high=1.0, test_low=-0.9, test_high=0.9)},
    derive=_derive_fourth,
    estimator=_estimate_fourth,
)

SECTION = "extension (the Gaussian expectation engine, matrix level)"


def _wick(expr, gaussians, setting: str) -> Derived:
    """Derived value of a matrix-level expectation, with the engine's pairings as steps."""
    result = expect_matrix(expr, gaussians)
    value = factor(result.value)
    return Derived(value, (Step("Setting", setting), Step("Wick contraction (engine)",
                                                          result.tex()),
                           Step("Result", sp.latex(value))))


def _derive_trace() -> Derived:
    d, k = sp.Symbol("d", positive=True, integer=True), sp.Symbol("d_k", positive=True,
                                                                   integer=True)
    sigma, rho = symbol("sigma_w"), symbol("rho")
    W = MatrixSymbol("W", d, k)
    A = (1 - rho) * Identity(d) + rho * OneMatrix(d, d)
    B = Identity(k) - OneMatrix(k, k) / k
    return _wick(sp.Trace(A * W * B * W.T), {W: GaussianMatrix.iid(sigma**2)},
                 r"A = (1-\rho) I_d + \rho J_d,\ B = P_{d_k},\ W_{ab}\sim N(0,\sigma_w^2)")


TRACE = Claim(
    id="engine.wick-trace",
    title="E tr(A W B W^T) = sigma^2 tr A tr B (matrix-level Wick, token algebra)",
    kind="exact", section=SECTION,
    statement="E tr(A W B W^T) = sigma_w^2 tr(A) tr(B) with A = (1-rho)I + rho J, B = P",
    assumptions=("W (d x d_k) iid N(0, sigma_w^2)",),
    params={**params(d=6, d_k=5, rho=0.5),
            **custom("sigma_w", 1.0, low=0.0, low_open=True, test_low=0.3, test_high=2.0)},
    derive=_derive_trace,
    estimator=lambda p, n, s: mean_estimate(
        trace_quadratic_sampler(int(p["d"]), int(p["d_k"]), p["sigma_w"], p["rho"]), n, s),
)


def _derive_frobenius() -> Derived:
    d, dk, dv = (sp.Symbol(x, positive=True, integer=True) for x in ("d", "d_k", "d_v"))
    sw, sv, rho = symbol("sigma_w"), symbol("sigma_v"), symbol("rho")
    W, V = MatrixSymbol("W", d, dk), MatrixSymbol("V", d, dv)
    C = (1 - rho) * Identity(d) + rho * OneMatrix(d, d)
    return _wick(frob2(W.T * C * V), {W: GaussianMatrix.iid(sw**2),
                                      V: GaussianMatrix.iid(sv**2)},
                 r"C = (1-\rho) I_d + \rho J_d,\ W, V \text{ independent iid}")


FROBENIUS = Claim(
    id="engine.frobenius-two-gaussians",
    title="E ||W^T C V||_F^2 = s_w^2 s_v^2 d_k d_v ||C||_F^2 (two independent Gaussians)",
    kind="exact", section=SECTION,
    statement="E ||W^T C V||_F^2 = sigma_w^2 sigma_v^2 d_k d_v ||C||_F^2, C = (1-rho)I + rho J",
    assumptions=("W (d x d_k), V (d x d_v) independent, iid entries",),
    params={**params(d=5, d_k=3, d_v=4, sigma_v=1.0, rho=0.5),
            **custom("sigma_w", 1.0, low=0.0, low_open=True, test_low=0.3, test_high=2.0)},
    derive=_derive_frobenius,
    estimator=lambda p, n, s: mean_estimate(frobenius_two_gaussians_sampler(
        int(p["d"]), int(p["d_k"]), int(p["d_v"]), p["sigma_w"], p["sigma_v"], p["rho"]), n, s),
)


def _derive_sixth() -> Derived:
    n, d = (sp.Symbol(x, positive=True, integer=True) for x in ("n", "d"))
    rho, s = symbol("rho"), symbol("s")
    X = MatrixSymbol("X", n, d)
    P = Identity(n) - OneMatrix(n, n) / n
    row = (1 - rho) * Identity(n) + rho * OneMatrix(n, n)
    return _wick(frob2(X) * frob2(X.T * P * X),
                 {X: GaussianMatrix.kronecker(row, s * Identity(d))},
                 r"X \sim \mathcal N(0, ((1-\rho)I + \rho J) \otimes s I_d)")


SIXTH = Claim(
    id="engine.token-sixth-moment",
    title="E ||X||_F^2 ||X^T P X||_F^2 for exchangeable Gaussian tokens (6th order)",
    kind="exact", section=SECTION,
    statement="closed form in n, d, rho, s derived by the Wick engine",
    assumptions=("x_k = sqrt(s)(sqrt(rho) g + sqrt(1-rho) h_k), Kronecker covariance",),
    params=params(n=3, d=4, rho=0.3, s=1.0),
    derive=_derive_sixth,
    estimator=lambda p, n, s: mean_estimate(
        token_sixth_moment_sampler(int(p["n"]), int(p["d"]), p["rho"], p["s"]), n, s),
    margin=0.03,
    notes="Margin 3%: a sixth-order moment with a heavy tail (sample skewness about 10).",
)

CLAIMS = (FOURTH_MOMENT, TRACE, FROBENIUS, SIXTH)
