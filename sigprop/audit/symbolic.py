"""The symbolic half of an audit: the printed formula against the engine's derivation.

``analyse`` builds the printed formula in SymPy, brings the derivation to the
statement's relation (its limit, or its decay exponent), and compares them:
for a fixed input in traces of X X^T, so that "equal" means equal for every n
and every X (``theory.statistics``). When they differ it looks for the exact
correction (the ratio derived / printed), for a parameter equality the paper
does not state that makes them equal, and for a growing size along which the
correction tends to 1. It runs in a child process under a time limit
(``sigprop.limits``), since the printed formula comes from a user's file.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import mpmath
import sympy as sp

from sigprop.expressions import Formula
from theory.factoring import factor
from theory.logits import decay_exponent
from theory.statistics import same

#: sizes along which a correction may tend to 1 (approximate statements)
SIZES = ("n", "d_v", "d_k", "L")
#: parameters of one kind, whose equality a statement may silently need
ALIKE = (("sigma_q", "sigma_k", "sigma_v"), ("d_k", "d_v"), ("alpha_1", "alpha_2"),
         ("alpha_1_tilde", "alpha_2_tilde"))


@dataclass(frozen=True)
class Symbolic:
    """What the symbolic comparison found (strings for reports, SymPy for later use)."""

    stated: sp.Expr
    exact: sp.Expr | None
    equal: bool | None
    ratio: sp.Expr | None = None
    condition: str = ""
    approximate_in: tuple[str, ...] = ()
    thresholds: tuple[tuple[str, str, str], ...] = ()  # (size, within 1%, within 5%)
    local_rate: sp.Expr | None = None


def _by_name(expr: sp.Expr, like: sp.Expr) -> sp.Expr:
    names = {s.name: s for s in like.free_symbols}
    return expr.xreplace({s: names[s.name] for s in expr.free_symbols if s.name in names})


def stated_expr(formula: Formula, aliases: dict[str, str], exact: sp.Expr | None,
                model: dict[str, sp.Expr]) -> sp.Expr:
    """The printed formula in SymPy: aliases renamed, what the model fixes (weight scales
    of the initialization, fixed and tied parameters) substituted, symbols matched to the
    derivation's."""
    expr = formula.to_sympy()
    renames = {s: sp.Symbol(aliases[s.name], positive=True) for s in expr.free_symbols
               if s.name in aliases}
    expr = expr.xreplace(renames)
    expr = expr.xreplace({s: model[s.name] for s in expr.free_symbols if s.name in model})
    return _by_name(expr, exact) if exact is not None else expr


def _numeric_limit(expr: sp.Expr, var: sp.Symbol, values: dict[sp.Symbol, float]) -> float:
    """The limit of ``expr`` as ``var`` grows, at ``values`` of the other symbols: the
    values at var = 10^6 and 2 10^6 in 40-digit arithmetic, Richardson-extrapolated."""
    symbols = [var, *values]
    f = sp.lambdify(symbols, expr, modules="mpmath")
    with mpmath.workdps(40):
        rest = [mpmath.mpf(v) for v in values.values()]
        near, far = f(mpmath.mpf(10**6), *rest), f(mpmath.mpf(2 * 10**6), *rest)
        return float(2 * far - near)


def _limit(exact: sp.Expr, var: sp.Symbol) -> sp.Expr | None:
    """The derivation's limit as ``var`` grows, by SymPy, checked against a numeric limit at
    three random points: SymPy's Gruntz algorithm can miss which of two geometric terms
    dominates, so each candidate (as written, and with the bases of powers factored) must
    agree with the numbers; None when none does."""
    positive = {s: sp.Symbol(s.name, positive=True, integer=s.is_integer)
                for s in exact.free_symbols}
    expr, var = exact.xreplace(positive), positive[var]
    factored = sp.expand_power_base(expr.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp.has(var),
        lambda e: factor(e.base) ** e.exp), force=True)
    rng = random.Random(20220603)
    probes = [{s: rng.uniform(0.3, 3.0) for s in expr.free_symbols if s != var}
              for _ in range(3)]
    for form in (expr, factored):
        try:
            candidate = sp.simplify(sp.limit(form, var, sp.oo))
            if all(math.isclose(float(candidate.xreplace(p)), _numeric_limit(expr, var, p),
                                rel_tol=1e-6, abs_tol=1e-9) for p in probes):
                return candidate
        except (NotImplementedError, ValueError, TypeError, RecursionError, ZeroDivisionError):
            continue
    return None


def relation_form(exact: sp.Expr, relation: str, grows: str
                  ) -> tuple[sp.Expr | None, sp.Expr | None]:
    """(the derivation in the relation's terms, the local decay exponent for a rate)."""
    var = next((s for s in exact.free_symbols if s.name == grows), None)
    if relation == "limit":
        return (_limit(exact, var) if var is not None else exact), None
    if relation == "rate":
        if var is None:
            return sp.S.Zero, sp.S.Zero
        local, limit = decay_exponent(exact, var)
        return limit, local
    return exact, None


def _equal(a: sp.Expr, b: sp.Expr, fixed_input: bool) -> bool:
    if fixed_input:
        return same(a, b)
    return sp.simplify(a - b) == 0


def _condition(ratio: sp.Expr) -> str:
    """A parameter equality under which the ratio is identically 1 (or '')."""
    names = {s.name: s for s in ratio.free_symbols}
    for group in ALIKE:
        present = [names[g] for g in group if g in names]
        for a, b in itertools.combinations(present, 2):
            if sp.simplify(ratio.xreplace({a: b}) - 1) == 0:
                return f"{a.name} = {b.name}"
    return ""


def _approximate(ratio: sp.Expr, probe: dict[str, float]
                 ) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    """Sizes along which the correction tends to 1, each with the size beyond which the
    printed formula is within 1% and 5% (a root of |ratio - 1| = tol, the one that is
    positive at the statement's default point ``probe``)."""
    sizes, thresholds = [], []
    for sym in sorted(ratio.free_symbols, key=lambda s: s.name):
        if sym.name not in SIZES:
            continue
        try:
            if sp.limit(ratio, sym, sp.oo) != 1:
                continue
        except (NotImplementedError, ValueError, TypeError):
            continue
        sizes.append(sym.name)
        at = {s: probe[s.name] for s in ratio.free_symbols if s != sym and s.name in probe}
        bounds = []
        for tol in (sp.Rational(1, 100), sp.Rational(5, 100)):
            roots = []
            for sign in (1, -1):
                try:
                    roots += sp.solve(sp.Eq(ratio - 1, sign * tol), sym)
                except (NotImplementedError, ValueError, TypeError):
                    continue
            usable = [r for r in roots if (r.xreplace(at)).is_positive]
            bounds.append(f"{sym.name} >= {sp.sstr(factor(usable[0]))}" if usable else "")
        thresholds.append((sym.name, *bounds))
    return tuple(sizes), tuple(thresholds)


def analyse(formula: Formula, aliases: dict[str, str], exact: sp.Expr | None, relation: str,
            grows: str, fixed_input: bool, probe: dict[str, float],
            model: dict[str, sp.Expr]) -> Symbolic:
    """The printed formula against the derivation (see the module doc)."""
    local = None
    derived = exact
    if exact is not None:
        exact, local = relation_form(exact, relation, grows)
    stated = stated_expr(formula, aliases, exact if exact is not None else derived, model)
    if exact is None:
        return Symbolic(stated, None, None)
    if relation == "zero":
        return Symbolic(stated, exact, _equal(stated, sp.S.Zero, fixed_input) and exact == 0)
    if relation == "upper-bound":
        return Symbolic(stated, exact, None)
    if _equal(stated, exact, fixed_input):
        return Symbolic(stated, exact, True, local_rate=local)
    if stated == 0 or exact == 0:
        return Symbolic(stated, exact, False, local_rate=local)
    ratio = factor(sp.simplify(exact / stated))
    sizes, thresholds = _approximate(ratio, probe)
    return Symbolic(stated, exact, False, ratio, _condition(ratio), sizes, thresholds, local)
