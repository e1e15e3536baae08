"""``sigprop check``: compare a user's formula with a claim's derived expression.

The formula is read by :mod:`sigprop.expressions` (size-checked, never
evaluated as code) and then checked in four steps, each reported:

1. finiteness: the formula must be a finite real number at the requested
   point and at every scanned point of the claim's domain (otherwise one
   line names the point and the reason);
2. symbolic: ``simplify(user - derived) == 0`` when the theory is a closed
   form, computed under a time limit (:func:`sigprop.limits.run_limited`);
3. numeric scan: both evaluated at random points and at the edges of the
   domain; the point of largest relative difference is the counterexample
   candidate;
4. Monte Carlo: the user's formula verified by the harness (as if it were
   the theory) at the counterexample point, or at the requested point when
   the two agree, so the verdict never rests on the derivation alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import sympy as sp
from rich.console import Console

from sigprop.claim import Claim, Derived
from sigprop.expressions import Formula, NotFinite, describe_point, parse_formula
from sigprop.harness import Result, verify_claim
from sigprop.limits import DEFAULT_TIMEOUT, run_limited
from sigprop.params import Point

SCAN_POINTS = 64
AGREE = 1e-9


@dataclass(frozen=True)
class CheckOutcome:
    claim_id: str
    formula: str
    parsed: str
    derived: str
    symbolic: str
    max_rel_difference: float
    counterexample: Point | None
    result: Result

    @property
    def verdict(self) -> str:
        return self.result.verdict

    def as_dict(self) -> dict:
        out = asdict(self)
        out["result"] = self.result.as_dict()
        out["verdict"] = self.verdict
        return out


def random_points(claim: Claim, count: int, seed: int) -> list[Point]:
    """Points drawn uniformly from the claim's test ranges (constraints kept)."""
    rng = np.random.default_rng(seed)
    points: list[Point] = []
    for _ in range(50 * count):
        if len(points) == count:
            break
        raw = {}
        for name, p in claim.params.items():
            lo = p.test_low if p.test_low is not None else p.low
            hi = p.test_high if p.test_high is not None else p.high
            raw[name] = (int(rng.integers(int(lo), int(hi) + 1)) if p.integer
                         else float(rng.uniform(lo, hi)))
        try:
            points.append(claim.point(raw))
        except ValueError:
            continue
    return points


def edge_points(claim: Claim, point: Point) -> list[Point]:
    """``point`` with one parameter at a closed end of its domain: the low end of every
    parameter, the high end of the real ones (not of the sizes, which only cost time)."""
    out = []
    for name, p in claim.params.items():
        ends = [p.low] if p.low is not None and not p.low_open else []
        ends += [p.high] if p.high is not None and not p.integer else []
        for end in ends:
            try:
                out.append(claim.point({**point, name: end}))
            except ValueError:
                continue
    return out


def _compare(formula: Formula, derived: sp.Expr | None) -> tuple[str, str]:
    """(the formula in SymPy notation, the symbolic verdict); runs under a time limit."""
    user = formula.to_sympy()
    if derived is None:
        return sp.sstr(user), "not applicable (the theory is an iterated map, compared numerically)"
    by_name = {s.name: s for s in derived.free_symbols}
    user = user.xreplace({s: by_name[s.name] for s in user.free_symbols if s.name in by_name})
    diff = sp.cancel(sp.together(user - derived))
    same = diff == 0 or sp.simplify(diff) == 0
    return sp.sstr(user), "equal" if same else "different"


def _scan(formula: Formula, claim: Claim, point: Point, seed: int) -> tuple[float, Point | None]:
    """Largest relative difference between formula and theory over the scanned points;
    a point where the formula is not finite (but the theory is) is an error."""
    rows = []
    for pt in [point, *edge_points(claim, point), *random_points(claim, SCAN_POINTS, seed)]:
        try:
            truth = claim.theory(pt)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            continue
        if not math.isfinite(truth):
            continue
        try:
            mine = formula.value(pt)
        except NotFinite as exc:
            raise NotFinite(f"{exc} (it is finite at the requested point "
                            f"{describe_point(point)})") from None
        rows.append((pt, mine, truth))
    floor = 1e-12 * max((abs(t) for _, _, t in rows), default=0.0)
    worst, counter = 0.0, None
    for pt, mine, truth in rows:
        gap = abs(mine - truth)
        if gap <= floor:
            continue
        rel = gap / max(abs(truth), abs(mine))
        if rel > worst:
            worst, counter = rel, pt
    return worst, counter


def check_formula(claim: Claim, text: str, params: dict | None = None,
                  budget: str = "standard", seed: int = 0,
                  timeout: float = DEFAULT_TIMEOUT) -> CheckOutcome:
    """Compare the formula ``text`` with ``claim``'s derivation (see the module doc)."""
    formula = parse_formula(text, claim.params)
    point = claim.point(params)
    formula.value(point)  # NotFinite names the point
    worst, counter = _scan(formula, claim, point, seed)
    derived = None if claim.derived.evaluator is not None else claim.derived.expr
    parsed, symbolic = run_limited("symbolic comparison of your formula", _compare, formula,
                                   derived, timeout=timeout)
    where = counter if worst > AGREE else point
    user = Derived(sp.Symbol("user_formula"), evaluator=lambda _expr, pt: formula.value(pt))
    result = verify_claim(claim.with_derived(user), where, budget=budget, seed=seed)
    return CheckOutcome(claim.id, text, parsed, sp.sstr(claim.derived.expr), symbolic,
                        worst, counter if worst > AGREE else None, result)


def print_check(o: CheckOutcome, console: Console) -> None:
    console.print(f"claim      {o.claim_id}")
    console.print(f"your formula  {o.parsed}")
    console.print(f"derived       {o.derived}")
    console.print(f"symbolic comparison: {o.symbolic}")
    console.print(f"numeric scan over {SCAN_POINTS} random points and the domain's edges: "
                  f"largest relative difference {o.max_rel_difference:.3g}")
    if o.counterexample:
        console.print(f"counterexample point: {describe_point(o.counterexample)}")
    r = o.result
    console.print(f"Monte Carlo at that point: your value {r.theory:.6g}, estimate "
                  f"{r.estimate:.6g} (CI {r.ci[0]:.6g} .. {r.ci[1]:.6g}, {r.samples} samples)")
    style = {"pass": "green", "fail": "bold red"}.get(r.verdict, "yellow")
    console.print(f"verdict: [{style}]{r.verdict}[/]")
