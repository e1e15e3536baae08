"""Evaluate a theory expression (traces of matrix products) on numeric draws.

The theory's identities are stated for every draw, e.g.
||dS/dW^V||_F^2 = d_v tr(A X X^T A^T); to check them the harness evaluates
the derived SymPy expression on the numeric engine's matrices, batched over
draws. Supported: Trace, MatMul, MatAdd, Transpose, MatrixSymbol, Identity,
OneMatrix, scalar Add/Mul/Pow and numbers/symbols.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixSymbol, OneMatrix, Trace, Transpose


def evaluate_batched(expr: sp.Basic, matrices: Mapping[str, np.ndarray],
                     scalars: Mapping[str, float]) -> np.ndarray:
    """``expr`` with MatrixSymbols bound (by name) to arrays (..., rows, cols)."""

    def dim(x: sp.Expr) -> int:
        return int(sp.sympify(x).subs({sp.Symbol(k, positive=True, integer=True): v
                                       for k, v in scalars.items()}))

    def walk(e: sp.Basic):
        if isinstance(e, MatrixSymbol):
            return matrices[e.name]
        if isinstance(e, Identity):
            return np.eye(dim(e.rows))
        if isinstance(e, OneMatrix):
            return np.ones((dim(e.rows), dim(e.cols)))
        if isinstance(e, Transpose):
            return np.swapaxes(walk(e.arg), -1, -2)
        if isinstance(e, Trace):
            return np.einsum("...ii->...", walk(e.arg))
        if isinstance(e, MatMul):
            scale = np.prod([walk(a) for a in e.args if not a.is_Matrix] or [1.0])
            chain = [walk(a) for a in e.args if a.is_Matrix]
            out = chain[0]
            for m in chain[1:]:
                out = out @ m
            return np.asarray(scale)[..., None, None] * out
        if isinstance(e, (MatAdd, sp.Add)):
            return sum(walk(a) for a in e.args)
        if isinstance(e, sp.Mul):
            out = 1.0
            for a in e.args:
                out = out * walk(a)
            return out
        if isinstance(e, sp.Pow):
            return walk(e.base) ** float(e.exp)
        if isinstance(e, sp.Symbol):
            return float(scalars[e.name])
        if e.is_number:
            return float(e)
        raise ValueError(f"cannot evaluate {type(e).__name__} numerically")

    return np.asarray(walk(expr), dtype=float)
