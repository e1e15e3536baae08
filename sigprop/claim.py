"""What a claim is: a derived expression (theory) joined with an estimator (numerics).

The harness reads theory values only through :meth:`Claim.theory` and
estimates only through :meth:`Claim.estimate`, so either side can be swapped
for a deliberately wrong one (``Claim.with_derived``, ``Claim.with_estimator``)
to test the harness itself and to calibrate it against planted mistakes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import sympy as sp

from numerics.estimators import Estimate
from sigprop.params import Constraint, Param, Point, resolve_point
from theory.derivation_log import Tex

Kind = Literal["identity", "exact", "asymptotic", "trend"]
KINDS: tuple[Kind, ...] = ("identity", "exact", "asymptotic", "trend")


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a title and a LaTeX body (display math or text; a
    ``Tex`` is rendered when read)."""

    title: str
    latex: str | Tex


@dataclass(frozen=True)
class Derived:
    """An expression the theory engine derived, in the claim's parameter symbols.

    ``evaluate`` turns a parameter point into a float; by default it
    substitutes the point into ``expr``. Claims whose theory is an iterated
    map (depth recursions) give their own evaluator built from ``expr``.
    """

    expr: sp.Expr
    steps: tuple[Step, ...] = ()
    evaluator: Callable[[sp.Expr, Point], float] | None = None

    def evaluate(self, point: Point) -> float:
        return self.evaluate_expr(self.expr, point)

    def evaluate_expr(self, expr: sp.Expr, point: Point) -> float:
        """``expr`` evaluated at ``point`` the way this derivation evaluates its own."""
        if self.evaluator is not None:
            return float(self.evaluator(expr, point))
        return substitute(expr, point)

    def with_expr(self, expr: sp.Expr) -> Derived:
        return dataclasses.replace(self, expr=expr)


def substitute(expr: sp.Expr, point: Point) -> float:
    """Evaluate ``expr`` at ``point`` (symbols are matched by name)."""
    values = {s: point[s.name] for s in expr.free_symbols if s.name in point}
    missing = sorted(s.name for s in expr.free_symbols if s.name not in point)
    if missing:
        raise ValueError(f"expression needs parameter(s) {', '.join(missing)}")
    return float(sp.N(expr.subs(values), 17))


Estimator = Callable[[Point, int, int], Estimate]
ResidualFn = Callable[[Point, int, int], np.ndarray]


@dataclass(frozen=True)
class Ladder:
    """Asymptotic check: widths of parameter ``param`` at which the relative
    discrepancy (estimate - theory)/theory is measured; it must follow the
    expansion c_0 + c_1 w^-rate + ... + c_terms w^-(terms rate) and extrapolate
    to c_0 = 0. ``terms`` is the number of orders the claim declares: 1 unless
    the second order is large at the narrowest rung. The harness fits
    ``fit_terms = terms + 1`` orders, one beyond the declared expansion, so that
    the error of the extrapolated c_0 carries the truncation of the declared
    one; the ladder therefore needs ``terms + 3`` distinct widths (one degree of
    freedom left for the goodness of fit). ``hold`` maps (point, width) to the
    point at that width when other parameters must move with it (e.g. sigma_v
    scaled to keep alpha_1^2 sigma_v^2 d fixed); by default only ``param``
    changes."""

    param: str
    widths: tuple[int, ...]
    rate: float
    hold: Callable[[Point, int], dict] | None = None
    terms: int = 1

    def __post_init__(self) -> None:
        if self.terms < 1:
            raise ValueError(f"a ladder declares at least one order, got terms={self.terms}")
        if len(set(self.widths)) < self.fit_terms + 2:
            raise ValueError(
                f"a ladder declaring {self.terms} order(s) is fitted with {self.fit_terms} "
                f"and needs at least {self.fit_terms + 2} distinct {self.param} values, got "
                f"{len(set(self.widths))}")

    @property
    def fit_terms(self) -> int:
        """Orders fitted: one beyond the declared expansion."""
        return self.terms + 1

    def at(self, point: Point, width: int) -> dict:
        return self.hold(point, width) if self.hold else {**point, self.param: width}


@dataclass(frozen=True)
class Trend:
    """Trend check: along ``param`` (values ``values``), the quantity moves in
    ``direction`` (+1 increasing, -1 decreasing). ``proof(point)`` returns
    whether the symbolic argument holds at ``point`` (other parameters fixed,
    ``param`` over the range of ``values``) and its steps."""

    param: str
    values: tuple[float, ...]
    direction: int
    proof: Callable[[Point], tuple[bool, tuple[Step, ...]]]


@dataclass(frozen=True, eq=False)
class Claim:
    """A checkable statement about transformers at initialization."""

    id: str
    title: str
    kind: Kind
    section: str
    statement: str
    assumptions: tuple[str, ...]
    params: Mapping[str, Param]
    derive: Callable[[], Derived]
    estimator: Estimator
    constraints: tuple[Constraint, ...] = ()
    margin: float = 0.02
    scale: float = 0.0  # errors are relative to max(|theory|, scale): 1 for correlations
    residuals: ResidualFn | None = None
    tolerance: float = 1e-9
    ladder: Ladder | None = None
    trend: Trend | None = None
    notes: str = ""
    provenance: str = "extension"  # "paper (label)" for a result the paper prints
    #: the random stream of the claim's measurements (default: its id); claims with one
    #: stream and one estimator draw the same networks at the same point
    stream: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "asymptotic" and self.ladder is None:
            raise ValueError(f"asymptotic claim {self.id} needs a ladder")
        if self.kind == "trend" and self.trend is None:
            raise ValueError(f"trend claim {self.id} needs a trend")

    def point(self, params: Mapping[str, object] | None = None) -> Point:
        """The claim's default point overlaid with ``params``, validated."""
        return resolve_point(self.params, params, self.constraints)

    @cached_property
    def derived(self) -> Derived:
        """The theory engine's result (derived once, then cached)."""
        return self.derive()

    def theory(self, params: Mapping[str, object] | None = None) -> float:
        """The derived expression evaluated at a (validated) parameter point."""
        return self.derived.evaluate(self.point(params))

    def estimate(self, params: Mapping[str, object] | None, samples: int, seed: int) -> Estimate:
        """Monte Carlo estimate from the numeric engine at a validated point."""
        return self.estimator(self.point(params), int(samples), int(seed))

    def with_derived(self, derived: Derived) -> Claim:
        """The same claim with another theory (used for planted mistakes)."""
        clone = dataclasses.replace(self)
        clone.__dict__["derived"] = derived
        return clone

    def with_estimator(self, estimator: Estimator) -> Claim:
        """The same claim with another estimator (used to test the harness)."""
        clone = dataclasses.replace(self, estimator=estimator)
        if "derived" in self.__dict__:
            clone.__dict__["derived"] = self.__dict__["derived"]
        return clone
