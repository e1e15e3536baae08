"""Hypothesis strategies over the parameter domains of claims and over models (tests only).

The runtime package knows nothing of hypothesis: a fresh ``pip install -e .``
has no test dependencies, so the strategies live here, beside the tests that
draw from them.
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import reject
from hypothesis import strategies as st

from architecture.model import Model
from architecture.sublayers import CHOICES, KINDS_OF_SUBLAYER, Residual
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


# ---------------------------------------------------------------------------- models

#: field-name prefix -> strategy for the number fields of sublayer specs (small and cheap)
_NUMBERS = {"heads": st.integers(1, 2), "d_": st.integers(1, 4), "sigma": st.floats(0.2, 1.2),
            "alpha": st.floats(0.0, 1.5), "scale": st.floats(0.05, 1.0), "eps": st.just(1e-5)}


def _field_strategy(name: str, kind: str, overrides: dict) -> st.SearchStrategy:
    if name in overrides:
        return overrides[name]
    if kind == "str":
        return st.sampled_from(CHOICES[name])
    if kind == "bool":
        return st.booleans()
    return next(s for prefix, s in _NUMBERS.items() if name.startswith(prefix))


def sublayer_specs(cls: type, overrides: dict) -> st.SearchStrategy:
    """Any spec of a sublayer kind, every field drawn by its name and type: a new kind
    in KINDS_OF_SUBLAYER is drawn without new test code."""
    return st.builds(cls, **{f.name: _field_strategy(f.name, f.type, overrides)
                             for f in dataclasses.fields(cls)}).filter(lambda s: s is not None)


def _residual(part: st.SearchStrategy) -> st.SearchStrategy:
    def build(parts: list, alpha: float) -> Residual | None:
        try:
            return Residual(tuple(parts), alpha)
        except ValueError:  # a branch must end in a weight
            return None

    return st.builds(build, st.lists(part, min_size=1, max_size=2),
                     _NUMBERS["alpha"]).filter(lambda r: r is not None)


def models(overrides: dict | None = None, max_blocks: int = 3) -> st.SearchStrategy[Model]:
    """Random valid models: n tokens (2..4), width d (n..5), 1..max_blocks blocks of 1..3
    sublayers of every kind, bare or in residual branches."""
    overrides = overrides or {}
    part = st.one_of(*(sublayer_specs(cls, overrides) for cls in KINDS_OF_SUBLAYER))
    top = st.one_of(part, _residual(part))

    @st.composite
    def build(draw: st.DrawFn) -> Model:
        n = draw(st.integers(2, 4))
        d = draw(st.integers(n, 5))
        blocks = draw(st.lists(st.lists(top, min_size=1, max_size=3), min_size=1,
                               max_size=max_blocks))
        try:
            return Model(n, d, tuple(tuple(b) for b in blocks))
        except ValueError:  # widths or more than one attention/MLP per block
            reject()

    return build()
