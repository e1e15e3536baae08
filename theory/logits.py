"""Moments of the attention logits and the distance of softmax attention from uniform.

Logits M = s X W^Q (X W^K)^T, s = tau / sqrt(d_k), X (n x d_v) fixed, W^Q and
W^K (d_v x d_k) iid N(0, sigma_q^2), N(0, sigma_k^2). Entry M_ij = e_i^T M e_j,
so M_ij^2 = tr(E_i M E_j M^T) with E_i = e_i e_i^T, and the Wick engine gives
its expectation in traces of G = X X^T (tr E_i G = ||X_i||^2).

Near uniform attention, row i of A = softmax(M) is 1/n + (1/n) P M_i^T +
O(M^2), so (1/n^2) ||A - J/n||_F^2 = (1/n^4) ||M P||_F^2 + O(M^4): the odd
orders vanish in expectation (they are odd in W^Q), and the leading term is
second order in the logits.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy import Identity, OneMatrix, Trace

from theory.attention import Derivation, gram_traces, n
from theory.jacobians import SCALE, W_K, W_Q, X, sigma_k, sigma_q
from theory.statistics import E_i, E_j, to_statistics
from theory.wick import GaussianMatrix, expect_matrix

J = OneMatrix(n, n)
P = Identity(n) - J / n
_WEIGHTS = {W_Q: GaussianMatrix.iid(sigma_q**2), W_K: GaussianMatrix.iid(sigma_k**2)}
_LOGITS = SCALE * X * W_Q * W_K.T * X.T


def _expect(expr: sp.Expr) -> tuple[sp.Expr, object]:
    result = expect_matrix(expr, _WEIGHTS)
    return to_statistics(gram_traces(sp.expand(result.value), X)), result


@cache
def logit_mean() -> Derivation:
    """E[M_ij | X] (the logits are linear in W^Q, so the mean is zero)."""
    value, wick = _expect(Trace(E_i * _LOGITS * E_j))
    steps = (("Logit entry", r"M_{ij} = \operatorname{tr}(E_i M E_j),\quad M = "
              r"\tfrac{\tau}{\sqrt{d_k}} X W^Q W^{K\top} X^\top"),
             ("Wick contraction (engine)", wick.tex()),
             ("Result", r"\mathbb E[M_{ij}\mid X] = " + sp.latex(value)))
    return Derivation(value, steps)


@cache
def logit_second_moment() -> Derivation:
    """E[M_ij^2 | X] in the statistics of X."""
    value, wick = _expect(Trace(E_i * _LOGITS * E_j * _LOGITS.T))
    steps = (("Square of a logit", r"M_{ij}^2 = \operatorname{tr}(E_i M E_j M^\top)"),
             ("Wick contraction (engine)", wick.tex()),
             ("Result", r"\mathbb E[M_{ij}^2\mid X] = " + sp.latex(value)))
    return Derivation(value, steps)


@cache
def uniform_deviation_leading() -> Derivation:
    """The leading (second-order) term of E[(1/n^2) ||A - J/n||_F^2 | X]."""
    value, wick = _expect(Trace(P * _LOGITS.T * _LOGITS * P) / n**4)
    steps = (
        ("Softmax near uniform", r"A = \tfrac1n J + \tfrac1n M P + O(M^2),\ \text{odd orders "
         r"vanish in expectation}"),
        ("Leading term", r"\tfrac{1}{n^2}\mathbb E\|A - \tfrac1n J\|_F^2 = \tfrac{1}{n^4}"
         r"\mathbb E\|MP\|_F^2 + O(\sigma_q^4\sigma_k^4)"),
        ("Wick contraction (engine)", wick.tex()),
        ("Leading coefficient", sp.latex(value)),
    )
    return Derivation(value, steps)


def decay_exponent(expr: sp.Expr, var: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(local exponent d log expr / d log var, its limit as var -> infinity)."""
    local = sp.simplify(var * sp.diff(sp.log(expr), var))
    return local, sp.limit(local, var, sp.oo)


