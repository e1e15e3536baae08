"""Planted mistakes: wrong versions of a derived expression, for calibration.

Each mutation class models a slip a theorist makes on paper:

- ``coefficient``: the whole result 3% off (expr * 1.03);
- ``dropped-term``: one additive term of the expanded result left out;
- ``n-1-as-n``: a factor (n - 1) written as n;
- ``wrong-power``: one integer power x**k of a parameter written x**(k+1).

Where a class offers several choices (which term, which power), the one
whose effect at the check's parameter point is smallest while still at least
``floor`` (relative) is taken: the hardest of the mistakes that a run at
that budget promises to see. Mutations that do not apply, or whose largest
effect is below ``floor``, are reported as such rather than forced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from sigprop.claim import Claim, Derived
from sigprop.params import Point

CLASSES = ("coefficient", "dropped-term", "n-1-as-n", "wrong-power")


@dataclass(frozen=True)
class Mutation:
    kind: str
    description: str
    derived: Derived
    effect: float  # relative change of the theory value at the point


def _candidates_dropped(expr: sp.Expr) -> Iterator[tuple[str, sp.Expr]]:
    terms = sp.Add.make_args(sp.expand(expr))
    if len(terms) < 2:
        return
    for t in terms:
        yield f"dropped term {sp.sstr(t)}", sp.Add(*(u for u in terms if u is not t))


def _candidates_n_minus_1(expr: sp.Expr) -> Iterator[tuple[str, sp.Expr]]:
    n = next((s for s in expr.free_symbols if s.name == "n"), None)
    if n is None:
        return
    hit = [e for e in sp.preorder_traversal(expr) if isinstance(e, sp.Add) and e == n - 1]
    if hit:
        yield "(n - 1) written as n", expr.replace(lambda e: e == n - 1, lambda e: n)


def _candidates_power(expr: sp.Expr) -> Iterator[tuple[str, sp.Expr]]:
    seen = set()
    for e in sp.preorder_traversal(expr):
        if (isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp >= 2
                and e.base.free_symbols and e not in seen):
            seen.add(e)
            wrong = sp.Pow(e.base, e.exp + 1)
            yield (f"{sp.sstr(e)} written as {sp.sstr(wrong)}",
                   expr.xreplace({e: wrong}))


def _candidates_coefficient(expr: sp.Expr) -> Iterator[tuple[str, sp.Expr]]:
    yield "result multiplied by 1.03", expr * sp.Rational(103, 100)


_GENERATORS: dict[str, Callable[[sp.Expr], Iterator[tuple[str, sp.Expr]]]] = {
    "coefficient": _candidates_coefficient,
    "dropped-term": _candidates_dropped,
    "n-1-as-n": _candidates_n_minus_1,
    "wrong-power": _candidates_power,
}


def plant(claim: Claim, kind: str, point: Point, floor: float) -> Mutation | str:
    """The planted mistake of class ``kind`` for ``claim`` at ``point``, or a
    string saying why none applies."""
    if kind not in _GENERATORS:
        raise ValueError(f"mutation kind must be one of {', '.join(CLASSES)}, got {kind!r}")
    base = claim.derived
    truth = base.evaluate(point)
    options = []
    for text, expr in _GENERATORS[kind](base.expr):
        mutated = base.with_expr(expr)
        try:
            value = mutated.evaluate(point)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            continue
        effect = abs(value - truth) / abs(truth) if truth else abs(value)
        if effect == effect:  # not NaN
            options.append(Mutation(kind, text, mutated, effect))
    if not options:
        return "does not apply to this expression"
    visible = [m for m in options if m.effect >= floor * (1 - 1e-9)]
    if not visible:
        best = max(options, key=lambda m: m.effect)
        return f"largest effect {best.effect:.2%} ({best.description}) is below {floor:.0%}"
    return min(visible, key=lambda m: m.effect)
