"""Hypothesis searches each statement's domain, input matrices included, for points
where the printed formula and the engine's derivation disagree.

Where the symbolic comparison says they are equal, no drawn point may differ; where
it says they differ, hypothesis must find a counterexample on its own; a bound
must be violated at some drawn point exactly when the audit's own scan finds a
violation. The drawn X
mix arbitrary matrices with degenerate ones (rank one, zero mean, equal norms,
huge and tiny scales), so the numeric search does not rest on the audit's own
families.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sigprop import audit
from sigprop.audit.run import _model_symbols, scan
from sigprop.audit.symbolic import analyse
from sigprop.expressions import NotFinite
from tests.strategies import param_values

STATEMENTS = [s for s in audit.load().values()
              if s.relation in ("equals", "upper-bound") and s.derivation is not None]
EXAMPLES = 4 * settings().max_examples  # 100 per statement in CI


def symbolic(statement):
    return analyse(statement.formula, dict(statement.aliases), statement.derivation.value,
                   statement.relation, statement.limit, statement.fixed_input,
                   statement.values(statement.point()), _model_symbols(statement))


@st.composite
def tokens(draw, n: int, d: int) -> np.ndarray:
    kind = draw(st.sampled_from(["any", "rank-one", "zero-mean", "equal-norms", "scaled"]))
    x = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-3, 3, allow_nan=False)))
    if kind == "rank-one":
        x = np.ones((n, 1)) * x[:1]
    elif kind == "zero-mean":
        x = x - x.mean(axis=0)
    elif kind == "equal-norms":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        assume(np.all(norms > 1e-3))
        x = x / norms
    elif kind == "scaled":
        x = x * draw(st.sampled_from([1e-3, 1e3]))
    return x


def extremes_or_any(p) -> st.SearchStrategy:
    """The ends of the test range half of the time (degenerate sizes, scales near their
    limits), any value of it otherwise."""
    ends = [int(e) if p.integer else e for e in (p.test_low, p.test_high)]
    return st.one_of(st.sampled_from(ends), param_values(p))


@st.composite
def points(draw, statement) -> dict:
    point = {name: draw(extremes_or_any(p)) for name, p in statement.params.items()}
    if statement.input == "fixed":
        point["X"] = draw(tokens(int(point["n"]), int(point["d_v"])))
    return point


def _values(statement, point):
    try:
        full = statement.point(point)
    except ValueError:
        return None
    try:
        return statement.stated(full), statement.exact_at(full)
    except (NotFinite, ZeroDivisionError, OverflowError):
        return None


@pytest.mark.parametrize("statement", STATEMENTS, ids=[s.id for s in STATEMENTS])
def test_the_search_agrees_with_the_symbolic_comparison(statement) -> None:
    sym = symbolic(statement)
    found = []

    @settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.filter_too_much,
                                                            HealthCheck.too_slow])
    @given(points(statement))
    def search(point):
        pair = _values(statement, point)
        assume(pair is not None)
        stated, exact = pair
        assume(math.isfinite(stated) and math.isfinite(exact))
        scale = max(abs(stated), abs(exact), 1e-300)
        if statement.relation == "upper-bound":
            if exact > stated * (1 + 1e-9):
                found.append(point)
        elif abs(stated - exact) > 1e-9 * scale:
            found.append(point)

    search()
    if statement.relation == "upper-bound":
        violated = any(r.exact is not None and r.stated is not None
                       and r.exact > r.stated * (1 + 1e-9) for r in scan(statement, seed=0))
        assert bool(found) == violated, (statement.id, found[:1], violated)
    elif sym.equal:
        assert not found, f"{statement.id}: symbolically equal, yet differs at {found[0]}"
    else:
        assert found, f"{statement.id}: symbolically different, but no point differs"
