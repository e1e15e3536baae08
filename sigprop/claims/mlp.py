"""Claim about the ReLU MLP block (catalogue item 9).

The block Y = Z + alpha_2 relu(Z W1) W2 is composed by ``theory.blocks`` (the
residual map over the MLP map, whose ReLU kernel is the degree-1 arc-cosine kernel
that ``theory.kernels`` derives from index sums and the 2-D Gaussian integral),
acting on Z Z^T = s d ((1-rho) I + rho J), and checked against a random block of
the same specs.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from architecture.model import Model
from architecture.sublayers import MLP, Residual
from numerics.estimators import Estimate
from numerics.inputs import gram_matched_tokens
from numerics.montecarlo import mean_estimate
from numerics.stack import output_sampler
from sigprop.claim import Claim, Derived, Step
from sigprop.claims.common import n_at_most_d, params, symbol
from sigprop.params import Point
from theory import blocks, kernels

PAPER = "extension (the paper leaves the ReLU case open, Sec. 3.2)"


def _block(p: Point | None = None) -> Residual:
    """Z + alpha_2 relu(Z W1) W2 at p (placeholders, replaced by symbols, without p)."""
    p = p or {"d_ff": 1, "sigma_1": 1.0, "sigma_2": 1.0, "alpha_2": 1.0}
    return Residual((MLP("relu", int(p["d_ff"]), p["sigma_1"], p["sigma_2"]),), p["alpha_2"])


@cache
def _update() -> tuple[sp.Expr, sp.Expr, tuple[Step, ...]]:
    """(diagonal, off-diagonal) expected Gram entries at G = s d ((1-rho) I + rho J)."""
    residual = _block()
    mlp = residual.branch[0]
    symbols = {(mlp, k): symbol(k) for k in ("d_ff", "sigma_1", "sigma_2")}
    symbols[(residual, "alpha")] = symbol("alpha_2")
    d, rho, s = symbol("d"), symbol("rho"), symbol("s")
    start = blocks.State(blocks.Span(s * d * (1 - rho), s * d * rho, symbol("n")))
    state, taken = blocks.apply_block((residual,), start, d, symbols)
    diag = sp.simplify(state.gram.diagonal)
    off = sp.simplify(state.gram.off_diagonal)
    holds, proof = kernels.prove_relu_raises_correlation()
    steps = tuple(Step(t, body) for t, body in kernels.derivation_steps("relu"))
    steps += tuple(Step(title, body) for t in taken for title, body in t.pairs())
    steps += (Step(r"At $G = s d((1-\rho)I + \rho J)$",
                   r"\mathbb E[YY^\top]_{kk'} = " + sp.latex(off)),)
    steps += tuple(Step(t, body) for t, body in proof)
    steps += (Step(r"ReLU raises correlation: $\hat\kappa(\rho)\ge\rho$",
                   r"\text{" + ("proved" if holds else "NOT proved") + "}"),)
    return diag, off, steps


def _estimator(entry: str):
    def estimate(p: Point, samples: int, seed: int) -> Estimate:
        n, d = int(p["n"]), int(p["d"])
        model = Model(n, d, ((_block(p),),))
        x = gram_matched_tokens(n, d, p["rho"], p["s"])
        return mean_estimate(output_sampler(model, x, entry), samples, seed)

    return estimate


MLP_PARAMS = params(n=4, d=8, d_ff=32, alpha_2=1.0, sigma_1=float(1 / np.sqrt(8)),
                    sigma_2=float(1 / np.sqrt(32)), rho=0.5, s=1.0)
ASSUMPTIONS = ("one MLP block, no norm, ReLU, Y = Z + alpha_2 relu(Z W1) W2",
               "Z Z^T = s d ((1-rho) I + rho J)")

RELU_KERNEL = Claim(
    id="forward.relu-mlp-kernel",
    title="ReLU MLP block: expected Gram, off-diagonal entry (arc-cosine kernel)",
    kind="exact", section=PAPER,
    statement=("E[YY^T|Z]_kk' = G_kk' + alpha_2^2 sigma_2^2 d d_ff sigma_1^2 "
               "kappa(G_kk, G_k'k', G_kk')"),
    assumptions=ASSUMPTIONS, params=MLP_PARAMS, constraints=(n_at_most_d,),
    derive=lambda: Derived(_update()[1], _update()[2]), estimator=_estimator("off-diagonal"),
    notes="kappa(q1, q2, c) = sqrt(q1 q2)(sin t + (pi - t) cos t)/(2 pi), cos t = c/sqrt(q1 q2);"
          " checked against mpmath quadrature to 1e-12 in tests/test_theory_kernels.py.",
)

RELU_KERNEL_DIAG = Claim(
    id="forward.relu-mlp-kernel-diagonal",
    title="ReLU MLP block: expected Gram, diagonal entry",
    kind="exact", section=PAPER,
    statement="E[YY^T|Z]_kk = G_kk + alpha_2^2 sigma_2^2 d d_ff sigma_1^2 G_kk / 2",
    assumptions=ASSUMPTIONS, params=MLP_PARAMS, constraints=(n_at_most_d,),
    derive=lambda: Derived(_update()[0], _update()[2]), estimator=_estimator("diagonal"),
)

CLAIMS = (RELU_KERNEL, RELU_KERNEL_DIAG)
