"""Expected squared norms of a self-attention layer's Jacobians, in the paper's notation.

Setting (Noci et al. 2022, Sec. 2): tokens X (n x d_v), S = A X W^V with
W^Q, W^K (d_v x d_k), W^V (d_v x d_v) iid N(0, sigma^2) of their names, and
logits M = (tau / sqrt(d_k)) X W^Q (X W^K)^T with inverse temperature tau.
Under the uniform-attention assumption A = J/n and the softmax Jacobian is
its value at uniform attention, dA = dM P / n (``theory.attention``), so
every Jacobian is linear in the weights' perturbation:

    value   dW^V:  (1/n) J X dW^V
    query   dW^Q:  (s/n) X dW^Q W^K^T X^T P X W^V
    key     dW^K:  (s/n) X W^Q dW^K^T X^T P X W^V
    input   dX:    (s/n) (dX W^Q W^K^T X^T P X W^V + X W^Q W^K^T dX^T P X W^V)
                   + (1/n) J dX W^V                                 (s = tau/sqrt(d_k))

The squared Frobenius norm of a linear map T is E_D ||T(D)||_F^2 for a probe
D with iid N(0, 1) entries, so each expected norm is one call of the Wick
engine over D and the weights; for a fixed X the result is a polynomial in
traces of G = X X^T (``theory.statistics``), and for the exchangeable
Gaussian tokens of the paper's Sec. 3.4 (row covariance
sigma_x^2 ((1 - rho) I + rho J), independent features) X is one more
Gaussian matrix of the contraction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import sympy as sp
from sympy import Identity, MatrixSymbol, OneMatrix

from theory.attention import Derivation, gram_traces, n
from theory.factoring import factor
from theory.statistics import to_statistics
from theory.wick import GaussianMatrix, expect_matrix, frob2

d_k, d_v = sp.symbols("d_k d_v", positive=True, integer=True)
sigma_q, sigma_k, sigma_v, sigma_x, rho, tau = sp.symbols(
    "sigma_q sigma_k sigma_v sigma_x rho tau", positive=True)

X = MatrixSymbol("X", n, d_v)
W_Q = MatrixSymbol("W_Q", d_v, d_k)
W_K = MatrixSymbol("W_K", d_v, d_k)
W_V = MatrixSymbol("W_V", d_v, d_v)
J = OneMatrix(n, n)
P = Identity(n) - J / n
SCALE = tau / sp.sqrt(d_k)

WHICH = ("value", "query", "key", "input")

_IMAGES: dict[str, tuple[tuple[sp.Expr, sp.Expr], Callable]] = {
    "value": ((d_v, d_v), lambda D: J * X * D / n),
    "query": ((d_v, d_k), lambda D: (SCALE / n) * X * D * W_K.T * X.T * P * X * W_V),
    "key": ((d_v, d_k), lambda D: (SCALE / n) * X * W_Q * D.T * X.T * P * X * W_V),
    "input": ((n, d_v), lambda D: (SCALE / n) * (D * W_Q * W_K.T * X.T * P * X * W_V
                                                 + X * W_Q * W_K.T * D.T * P * X * W_V)
              + J * D * W_V / n),
}
_LATEX = {
    "value": r"\mathrm dS = \tfrac1n J X\,\mathrm dW^V",
    "query": r"\mathrm dS = \tfrac{\tau}{n\sqrt{d_k}} X\,\mathrm dW^Q W^{K\top} X^\top P X W^V",
    "key": r"\mathrm dS = \tfrac{\tau}{n\sqrt{d_k}} X W^Q\,\mathrm dW^{K\top} X^\top P X W^V",
    "input": r"\mathrm dS = \tfrac{\tau}{n\sqrt{d_k}}\big(\mathrm dX\,W^QW^{K\top}X^\top P X W^V"
             r" + X W^Q W^{K\top}\mathrm dX^\top P X W^V\big) + \tfrac1n J\,\mathrm dX\,W^V",
}

WEIGHTS = {W_Q: GaussianMatrix.iid(sigma_q**2), W_K: GaussianMatrix.iid(sigma_k**2),
           W_V: GaussianMatrix.iid(sigma_v**2)}
GAUSSIAN_TOKENS = GaussianMatrix.kronecker(sigma_x**2 * ((1 - rho) * Identity(n) + rho * J),
                                           Identity(d_v))


def _check(which: str) -> None:
    if which not in WHICH:
        raise ValueError(f"which must be one of {', '.join(WHICH)}, got {which!r}")


def _norm(which: str, extra: dict) -> tuple[sp.Expr, object]:
    shape, image = _IMAGES[which]
    probe = MatrixSymbol("D", *shape)
    result = expect_matrix(frob2(image(probe)), {probe: GaussianMatrix.iid(1), **WEIGHTS,
                                                 **extra})
    return sp.expand(result.value), result


@cache
def jacobian_norm(which: str) -> Derivation:
    """E_W ||dS/dW||_F^2 (``which`` in value, query, key, input) for a fixed X under the
    uniform-attention assumption, written in the statistics of X (theory.statistics)."""
    _check(which)
    value, wick = _norm(which, {})
    in_g = gram_traces(value, X)
    if in_g.has(X):
        raise RuntimeError(f"the {which} norm is not a function of X X^T: {in_g}")
    closed = to_statistics(in_g)
    steps = (
        ("Uniform-attention assumption", r"A = \tfrac1n J,\quad \mathrm dA = \tfrac1n\,"
         r"\mathrm dM\,P\quad(\text{softmax Jacobian at } a = \tfrac1n\mathbf 1)"),
        ("Jacobian applied to a perturbation", _LATEX[which]),
        ("Norm of the map as a Gaussian expectation",
         r"\|\mathcal J\|_F^2 = \mathbb E_D\|\mathcal J(D)\|_F^2,\quad D_{ab}\sim N(0,1)"),
        ("Wick contraction over the probe and the weights (engine)", wick.tex()),
        (r"In the statistics of $X$ ($G = XX^\top$)", sp.latex(closed)),
    )
    return Derivation(closed, steps)


@cache
def gram_form(which: str) -> sp.Expr:
    """The same norm as a trace polynomial in G (for comparison with a printed formula)."""
    _check(which)
    return gram_traces(_norm(which, {})[0], X)


@cache
def jacobian_norm_gaussian_tokens(which: str) -> Derivation:
    """E_X E_W ||dS/dW||_F^2 for the exchangeable Gaussian tokens of Sec. 3.4, uniform
    attention (``which`` in value, query, key)."""
    _check(which)
    if which == "input":
        raise ValueError("the input Jacobian over Gaussian tokens is not derived")
    value, wick = _norm(which, {X: GAUSSIAN_TOKENS})
    closed = factor(value)
    steps = (
        ("Jacobian applied to a perturbation", _LATEX[which]),
        (r"Tokens: rows of $X$ with covariance $\sigma_x^2((1-\rho)I + \rho J)$, "
         r"independent features", r"X \sim \mathcal N\big(0,\ \sigma_x^2((1-\rho)I_n + "
         r"\rho J)\otimes I_{d_v}\big)"),
        ("Wick contraction over the probe, the weights and the tokens (engine)",
         wick.tex()),
        ("Result", sp.latex(closed)),
    )
    return Derivation(closed, steps)


@cache
def centered_gram_norm_gaussian_tokens() -> Derivation:
    """E ||X^T P X||_F^2 = E ||X^T X - n xbar xbar^T||_F^2 over the Sec. 3.4 tokens."""
    result = expect_matrix(frob2(X.T * P * X), {X: GAUSSIAN_TOKENS})
    closed = factor(result.value)
    steps = (("Centred Gram of the tokens", r"X^\top X - n\bar x\bar x^\top = X^\top P X"),
             ("Wick contraction over the tokens (engine)", result.tex()),
             ("Result", sp.latex(closed)))
    return Derivation(closed, steps)
