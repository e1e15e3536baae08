"""Planted mistakes: wrong versions of a derived expression, for calibration.

Each mutation class models a slip a theorist makes on paper:

- ``coefficient``: the claim's prediction 3% off (the evaluated theory times
  1.03; for a claim whose theory iterates a derived one-block map this is the
  final value, not the map, so the planted error is 3% where it is checked);
- ``dropped-term``: one additive term of the expanded result left out;
- ``n-1-as-n``: a factor (n - 1) written as n;
- ``wrong-power``: one integer power x**k of a parameter written x**(k+1).

Where a class offers several choices (which term, which power), the one
whose effect is smallest while still at least ``floor`` (relative) is taken:
the hardest of the mistakes that a run at that budget promises to see. The
effect is the smallest relative change over every point the check evaluates
the theory at (for an asymptotic claim, every rung of its ladder, so a
mistake that fades with width is not counted as one the limit must reveal).
Mutations that do not apply, or whose effect is below ``floor``, are
reported as such rather than forced.
"""

from __future__ import annotations

import dataclasses
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
    effect: float  # smallest relative change of the theory over the checked points


def _candidates_dropped(base: Derived) -> Iterator[tuple[str, Derived]]:
    terms = sp.Add.make_args(sp.expand(base.expr))
    if len(terms) < 2:
        return
    for t in terms:
        yield (f"dropped term {sp.sstr(t)}",
               base.with_expr(sp.Add(*(u for u in terms if u is not t))))


def _candidates_n_minus_1(base: Derived) -> Iterator[tuple[str, Derived]]:
    expr = base.expr
    n = next((s for s in expr.free_symbols if s.name == "n"), None)
    if n is None:
        return
    hit = [e for e in sp.preorder_traversal(expr) if isinstance(e, sp.Add) and e == n - 1]
    if hit:
        yield ("(n - 1) written as n",
               base.with_expr(expr.replace(lambda e: e == n - 1, lambda e: n)))


def _candidates_power(base: Derived) -> Iterator[tuple[str, Derived]]:
    seen = set()
    for e in sp.preorder_traversal(base.expr):
        if (isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp >= 2
                and e.base.free_symbols and e not in seen):
            seen.add(e)
            wrong = sp.Pow(e.base, e.exp + 1)
            yield (f"{sp.sstr(e)} written as {sp.sstr(wrong)}",
                   base.with_expr(base.expr.xreplace({e: wrong})))


def _candidates_coefficient(base: Derived) -> Iterator[tuple[str, Derived]]:
    factor = 1.03

    def scaled(expr: sp.Expr, point: Point) -> float:
        return factor * base.evaluate_expr(expr, point)

    yield f"prediction multiplied by {factor:g}", dataclasses.replace(base, evaluator=scaled)


_GENERATORS: dict[str, Callable[[Derived], Iterator[tuple[str, Derived]]]] = {
    "coefficient": _candidates_coefficient,
    "dropped-term": _candidates_dropped,
    "n-1-as-n": _candidates_n_minus_1,
    "wrong-power": _candidates_power,
}


def check_points(claim: Claim, point: Point) -> list[Point]:
    """Every point at which a check of ``claim`` at ``point`` evaluates its theory."""
    if claim.kind == "asymptotic" and claim.ladder is not None:
        return [claim.point(claim.ladder.at(point, w)) for w in claim.ladder.widths]
    return [point]


def _effect(mutated: Derived, base: Derived, points: list[Point]) -> float:
    """The smallest relative change of the theory over ``points`` (NaN if undefined)."""
    effects = []
    for p in points:
        truth, value = base.evaluate(p), mutated.evaluate(p)
        effects.append(abs(value - truth) / abs(truth) if truth else abs(value))
    return min(effects)


def plant(claim: Claim, kind: str, point: Point, floor: float) -> Mutation | str:
    """The planted mistake of class ``kind`` for ``claim`` at ``point``, or a
    string saying why none applies."""
    if kind not in _GENERATORS:
        raise ValueError(f"mutation kind must be one of {', '.join(CLASSES)}, got {kind!r}")
    base = claim.derived
    points = check_points(claim, point)
    options = []
    for text, mutated in _GENERATORS[kind](base):
        try:
            effect = _effect(mutated, base, points)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            continue
        if effect == effect:  # not NaN
            options.append(Mutation(kind, text, mutated, effect))
    if not options:
        return "does not apply to this expression"
    visible = [m for m in options if m.effect >= floor * (1 - 1e-9)]
    if not visible:
        best = max(options, key=lambda m: m.effect)
        return f"largest effect {best.effect:.2%} ({best.description}) is below {floor:.0%}"
    return min(visible, key=lambda m: m.effect)
