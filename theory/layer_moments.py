"""Second moments of single layers, entry by entry (the paper's helper lemmas).

For a fixed X (n x d_v) and iid N(0, sigma_v^2) weights W (d_v x d_v), each
quantity is the average over the d_v columns c of E[D_ic D_jc] for tokens i
and j, i.e. E[(D D^T)_ij] / d_v = E tr(E_ji D D^T) / d_v with E_ji = e_j e_i^T:

- a linear layer D = X W;
- the residual sum D = X + alpha S around an attention layer S = A X W with
  any attention matrix A independent of W (softmax included): the cross terms
  alpha (S X^T + X S^T) have mean zero;
- uniform attention S = (1/n) J X W.

Each is one call of the Wick engine; the result is in the statistics of X.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy import MatrixSymbol, OneMatrix, Trace

from theory.attention import Derivation, gram_traces, n
from theory.jacobians import W_V, X, d_v, sigma_v
from theory.statistics import E_ji, to_statistics
from theory.wick import GaussianMatrix, expect_matrix

alpha_1 = sp.Symbol("alpha_1", nonnegative=True)
J = OneMatrix(n, n)
A = MatrixSymbol("A", n, n)  # any attention matrix, independent of W^V
_WEIGHTS = {W_V: GaussianMatrix.iid(sigma_v**2)}


def _entry(title: str, gram: sp.MatrixExpr) -> Derivation:
    result = expect_matrix(Trace(E_ji * gram) / d_v, _WEIGHTS)
    value = to_statistics(gram_traces(sp.expand(result.value), X))
    steps = ((title, r"\tfrac{1}{d_v}\,\mathbb E\,(DD^\top)_{ij} = \tfrac{1}{d_v}\,\mathbb E"
              r"\operatorname{tr}(E_{ji} DD^\top)"),
             ("Wick contraction (engine)", result.tex()),
             ("Result", sp.latex(value)))
    return Derivation(value, steps)


@cache
def linear_entry() -> Derivation:
    """A linear layer D = X W."""
    return _entry("Linear layer $D = XW$", (X * W_V) * (X * W_V).T)


@cache
def skip_cross_entry() -> Derivation:
    """The cross terms of D = X + alpha_1 S, S = A X W: D D^T - alpha^2 S S^T - X X^T."""
    s = A * X * W_V
    return _entry(r"Cross terms of $D = X + \alpha_1 S$, $S = AXW$",
                  alpha_1 * (s * X.T + X * s.T))


@cache
def uniform_attention_entry() -> Derivation:
    """Uniform attention S = (1/n) J X W."""
    s = J * X * W_V / n
    return _entry(r"Uniform attention $S = \tfrac1n JXW$", s * s.T)
