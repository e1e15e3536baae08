"""Statistics of a fixed token matrix X (n x d_v), as traces of its Gram G = X X^T.

A moment conditional on X is a polynomial in traces of words in G, J = 1 1^T
and the centring P = I - J/n (the Wick engine returns them in canonical
form). Papers write the same numbers with names; each name here is a trace:

    X_F2     ||X||_F^2                       tr G
    C_X      C(X) = sum_kk' <X_k, X_k'>      tr J G        (= n^2 ||xbar||^2)
    xbar_sq  ||xbar||^2                      tr J G / n^2
    PX_F2    ||X - 1 xbar^T||_F^2             tr P G
    XtLX_F2  ||X^T X - n xbar xbar^T||_F^2    tr P G P G
    G_F2     ||X X^T||_F^2                    tr G G
    G1_sq    ||X X^T 1||^2                    tr J G G
    Xi_sq    ||X_i||^2 (token i)             tr E_i G      (E_i = e_i e_i^T)
    Xj_sq    ||X_j||^2 (token j)             tr E_j G
    XiXj     <X_i, X_j>                      tr E_ji G     (E_ji = e_j e_i^T)

``to_traces`` turns a formula in these names into traces (so that the engine
can compare it with a derivation for every n and every X), and
``to_statistics`` writes a derived trace polynomial back in the names.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy import Identity, MatrixSymbol, OneMatrix, Trace

from theory.attention import G, n
from theory.factoring import factor
from theory.wick import expect_matrix

J = OneMatrix(n, n)
P = Identity(n) - J / n
E_i = MatrixSymbol("E_i", n, n)
E_j = MatrixSymbol("E_j", n, n)
E_ji = MatrixSymbol("E_ji", n, n)

#: name -> (meaning, trace expression in G)
STATISTICS: dict[str, tuple[str, sp.Expr]] = {
    "X_F2": (r"\|X\|_F^2", Trace(G)),
    "C_X": (r"C(X)", Trace(J * G)),
    "xbar_sq": (r"\|\bar x\|^2", Trace(J * G) / n**2),
    "PX_F2": (r"\|X - \mathbf 1\bar x^\top\|_F^2", Trace(P * G)),
    "XtLX_F2": (r"\|X^\top X - n\bar x\bar x^\top\|_F^2", Trace(P * G * P * G)),
    "G_F2": (r"\|XX^\top\|_F^2", Trace(G * G)),
    "G1_sq": (r"\|XX^\top\mathbf 1\|^2", Trace(J * G * G)),
    "Xi_sq": (r"\|X_i\|^2", Trace(E_i * G)),
    "Xj_sq": (r"\|X_j\|^2", Trace(E_j * G)),
    "XiXj": (r"\langle X_i, X_j\rangle", Trace(E_ji * G)),
}
#: statistics whose canonical traces are independent monomials (the others are combinations)
_BASIS = ("X_F2", "C_X", "G_F2", "G1_sq", "Xi_sq", "Xj_sq", "XiXj")


def symbol(name: str) -> sp.Symbol:
    """The SymPy symbol of statistic ``name`` (a nonnegative real)."""
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    return sp.Symbol(name, nonnegative=True)


def canonical(expr: sp.Expr) -> sp.Expr:
    """``expr`` (traces in G, J, P) reduced by the engine to canonical trace monomials."""
    return sp.expand(expect_matrix(expr, {}).value)


@cache
def _atoms() -> dict[sp.Expr, sp.Expr]:
    out: dict[sp.Expr, sp.Expr] = {}
    for name in _BASIS:
        value = canonical(STATISTICS[name][1])
        if not isinstance(value, Trace):
            raise RuntimeError(f"statistic {name} is not a single trace: {value}")
        out[value] = symbol(name)
    # the token selectors: tr E_i = 1^T E_i 1 = 1, and 1^T e_j e_i^T 1 = 1
    for unit in (Trace(E_i), Trace(E_j), Trace(J * E_i), Trace(J * E_j), Trace(J * E_ji)):
        out[canonical(unit)] = sp.S.One
    return out


def to_traces(expr: sp.Expr) -> sp.Expr:
    """A formula in statistic names rewritten in traces of G (canonical form)."""
    names = {s: STATISTICS[s.name][1] for s in expr.free_symbols if s.name in STATISTICS}
    return canonical(expr.xreplace(names))


def to_statistics(expr: sp.Expr) -> sp.Expr:
    """A canonical trace polynomial written in the statistic names (where it can be):
    in the basic names, or with ||XX^T||_F^2 traded for the centred ||X^T L X||_F^2,
    whichever is shorter."""
    basic = factor(canonical(expr).xreplace(_atoms()))
    g_f2, centred, c_x, g1 = (symbol(k) for k in ("G_F2", "XtLX_F2", "C_X", "G1_sq"))
    traded = factor(sp.expand(basic.subs(g_f2, centred + 2 * g1 / n - c_x**2 / n**2)))
    return min((basic, traded), key=sp.count_ops)


def same(a: sp.Expr, b: sp.Expr) -> bool:
    """Whether two formulas (statistic names or traces) are equal for every n and X; symbols
    are matched by name (a formula's n and the statistics' n are one size)."""
    diff = to_traces(a) - to_traces(b)
    by_name: dict[str, sp.Symbol] = {}
    for sym in sorted(diff.free_symbols, key=lambda x: (x.name, not x.is_integer)):
        by_name.setdefault(sym.name, sym)
    return sp.simplify(diff.xreplace({s: by_name[s.name] for s in diff.free_symbols})) == 0
