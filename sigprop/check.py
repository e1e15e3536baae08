"""``sigprop check``: compare a user's formula with a claim's derived expression.

Three comparisons, each reported:

1. symbolic: ``simplify(user - derived) == 0`` (when the theory is a closed
   form in the parameters);
2. numeric scan: both evaluated at random points of the claim's domain; the
   point of largest relative difference is the counterexample candidate;
3. Monte Carlo: the user's formula verified by the harness (as if it were
   the theory) at the counterexample point, or at the requested point when
   the two agree, so the verdict never rests on the derivation alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import sympy as sp
from rich.console import Console

from sigprop.claim import Claim, Derived, substitute
from sigprop.expressions import parse_formula
from sigprop.harness import Result, verify_claim
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


def _symbolic(user: sp.Expr, derived: Derived) -> str:
    if derived.evaluator is not None:
        return "not applicable (the theory is an iterated map, compared numerically)"
    diff = sp.cancel(sp.together(user - derived.expr))
    if diff == 0 or sp.simplify(diff) == 0:
        return "equal"
    return "different"


def check_formula(claim: Claim, text: str, params: dict | None = None,
                  budget: str = "standard", seed: int = 0) -> CheckOutcome:
    parsed = parse_formula(text, claim.params)
    by_name = {s.name: s for s in claim.derived.expr.free_symbols}
    user = parsed.xreplace({s: by_name[s.name] for s in parsed.free_symbols if s.name in by_name})
    symbolic = _symbolic(user, claim.derived)
    worst, counter = 0.0, None
    for pt in [claim.point(params), *random_points(claim, SCAN_POINTS, seed)]:
        try:
            mine, truth = substitute(user, pt), claim.theory(pt)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            continue
        rel = abs(mine - truth) / max(abs(truth), 1e-300)
        if rel > worst:
            worst, counter = rel, pt
    point = counter if worst > AGREE else claim.point(params)
    result = verify_claim(claim.with_derived(Derived(user)), point, budget=budget, seed=seed)
    return CheckOutcome(claim.id, text, sp.sstr(user), sp.sstr(claim.derived.expr), symbolic,
                        worst, counter if worst > AGREE else None, result)


def print_check(o: CheckOutcome, console: Console) -> None:
    console.print(f"claim      {o.claim_id}")
    console.print(f"your formula  {o.parsed}")
    console.print(f"derived       {o.derived}")
    console.print(f"symbolic comparison: {o.symbolic}")
    console.print(f"numeric scan over {SCAN_POINTS} random points: largest relative "
                  f"difference {o.max_rel_difference:.3g}")
    if o.counterexample:
        pt = ", ".join(f"{k}={v:g}" for k, v in o.counterexample.items())
        console.print(f"counterexample point: {pt}")
    r = o.result
    console.print(f"Monte Carlo at that point: your value {r.theory:.6g}, estimate "
                  f"{r.estimate:.6g} (CI {r.ci[0]:.6g} .. {r.ci[1]:.6g}, {r.samples} samples)")
    style = {"pass": "green", "fail": "bold red"}.get(r.verdict, "yellow")
    console.print(f"verdict: [{style}]{r.verdict}[/]")
