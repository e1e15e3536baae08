"""Claim parameters: their domains, validation and parsing.

A parameter point is a plain ``dict[str, int | float]``. Every value a user
gives (CLI ``--params k=v,...`` or the Python API) is checked against the
claim's declared domain; a violation raises ``ValueError`` with one line that
names the parameter and its allowed range. Values are parsed as numbers only,
never evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

Point = dict[str, float]


@dataclass(frozen=True)
class Param:
    """One parameter with its domain ``[low, high]`` (``low_open`` excludes low).

    ``test_low``/``test_high`` bound the values that tests and domain scans
    draw (the domain itself may be much wider, but a test run must stay cheap).
    """

    name: str
    default: float
    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    test_low: float | None = None
    test_high: float | None = None
    doc: str = ""

    def describe(self) -> str:
        """The allowed range in words, e.g. 'an integer >= 2' or 'a number in [0, 1]'."""
        what = "an integer" if self.integer else "a number"
        lo_br = "(" if self.low_open else "["
        if self.low is not None and self.high is not None:
            return f"{what} in {lo_br}{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.low is not None:
            return f"{what} {'>' if self.low_open else '>='} {_fmt(self.low)}"
        if self.high is not None:
            return f"{what} <= {_fmt(self.high)}"
        return f"a finite {'integer' if self.integer else 'number'}"

    def validate(self, value: object) -> float:
        """Return ``value`` converted to int/float, or raise ValueError naming the range."""
        message = f"{self.name} must be {self.describe()}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
            raise ValueError(message)
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(message)
        if self.integer:
            if not x.is_integer():
                raise ValueError(message)
            x = int(x)
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            raise ValueError(message)
        if self.high is not None and x > self.high:
            raise ValueError(message)
        return x


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


Constraint = Callable[[Mapping[str, float]], "str | None"]


def parse_assignments(text: str) -> dict[str, float]:
    """Parse ``"n=8,d=32,rho=0.5"`` into numbers. No evaluation: ints, floats
    and simple fractions ``p/q`` only."""
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise ValueError(f"--params entries must look like name=value, got {item!r}")
        if key in out:
            raise ValueError(f"parameter {key} is given twice")
        out[key] = parse_number(key, raw)
    return out


def parse_number(name: str, raw: str) -> float:
    """A decimal/scientific number or a fraction ``p/q`` of integers."""
    try:
        if "/" in raw:
            num, den = raw.split("/", 1)
            return float(Fraction(int(num), int(den)))
        return int(raw) if raw.lstrip("+-").isdigit() else float(raw)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def resolve_point(params: Mapping[str, Param], given: Mapping[str, object] | None,
                  constraints: tuple[Constraint, ...] = ()) -> Point:
    """Defaults overlaid with ``given``, every value validated, then the
    cross-parameter ``constraints`` (each returns an error line or None)."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ValueError(
            f"unknown parameter {unknown[0]}; this claim takes: {', '.join(params)}"
        )
    point = {name: p.validate(given.get(name, p.default)) for name, p in params.items()}
    for constraint in constraints:
        problem = constraint(point)
        if problem:
            raise ValueError(problem)
    return point
