"""Hypothesis strategies over the parameter domains of claims (tests only).

The runtime package knows nothing of hypothesis: a fresh ``pip install -e .``
has no test dependencies, so the strategies live here, beside the tests that
draw from them.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from sigprop.claim import Claim
from sigprop.params import Param, Point


def param_values(p: Param) -> st.SearchStrategy[float]:
    """Values over the testable part of the parameter's domain."""
    lo = p.test_low if p.test_low is not None else p.low
    hi = p.test_high if p.test_high is not None else p.high
    if lo is None or hi is None:
        raise ValueError(f"parameter {p.name} needs test_low/test_high for strategies")
    if p.integer:
        return st.integers(math.ceil(lo), math.floor(hi))
    return st.floats(lo, hi, exclude_min=p.low_open and lo == p.low,
                     allow_nan=False, allow_infinity=False)


def claim_points(claim: Claim) -> st.SearchStrategy[Point]:
    """Valid parameter points of ``claim`` (its cross-parameter constraints filtered)."""
    base = st.fixed_dictionaries({k: param_values(p) for k, p in claim.params.items()})
    return base.filter(lambda pt: all(c(pt) is None for c in claim.constraints))
