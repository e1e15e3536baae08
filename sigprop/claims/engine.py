"""The expectation engine's own claims: moments it derives, checked by Monte Carlo.

These claims exercise the engine (theory.gaussian, theory.wick) on the
oracles of DESIGN.md with the parameters left symbolic, so `sigprop verify`
checks the engine itself before any transformer claim relies on it.
"""

from __future__ import annotations

import sympy as sp

from numerics.montecarlo import mean_estimate
from numerics.quantities import bivariate_fourth_moment_sampler
from sigprop.claim import Claim, Derived, Step
from sigprop.claims.common import custom, symbol
from theory.gaussian import expect


def _derive_fourth() -> Derived:
    sx, sy, r = symbol("sigma_x"), symbol("sigma_y"), sp.Symbol("r", real=True)
    x, y = sp.symbols("x y", real=True)
    cov = sp.Matrix([[sx**2, r * sx * sy], [r * sx * sy, sy**2]])
    value = sp.factor(expect(x**2 * y**2, [x, y], cov))
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
    section="engine (DESIGN.md, Gaussian expectation engine)",
    statement="E[x^2 y^2] = sigma_x^2 sigma_y^2 + 2 cov(x, y)^2",
    assumptions=("(x, y) centred jointly Gaussian",),
    params={**custom("sigma_x", 1.0, low=0.0, low_open=True, test_low=0.3, test_high=2.0),
            **custom("sigma_y", 1.5, low=0.0, low_open=True, test_low=0.3, test_high=2.0),
            **custom("r", 0.6, low=-1.0, high=1.0, test_low=-0.9, test_high=0.9)},
    derive=_derive_fourth,
    estimator=_estimate_fourth,
)

CLAIMS = (FOURTH_MOMENT,)
