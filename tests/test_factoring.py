"""Factorizations take the same path in every process (``theory.factoring``)."""

from __future__ import annotations

from pathlib import Path

import sympy as sp
from sympy.core import random as sympy_random

from theory import factoring
from theory.factoring import factor

ROOT = Path(__file__).resolve().parents[1]


def test_sympy_factors_from_the_same_generator_state_whatever_ran_before(monkeypatch) -> None:
    states = []

    def recording(expr: sp.Expr) -> sp.Expr:
        states.append(sympy_random.rng.getstate())
        return expr

    monkeypatch.setattr(factoring.sp, "factor", recording)
    x, y = sp.symbols("x y")
    for before in (1, 39, None):
        sympy_random.seed(before)
        factor(x * y + x)
    assert states[0] == states[1] == states[2]


def test_every_factorization_of_the_project_goes_through_theory_factoring() -> None:
    # sympy.factor of E||dS/dX||^2's statistics took 14.6 s from the generator state that
    # sympy's seed 39 leaves, 0.09 s through theory.factoring: a direct call would bring
    # that lottery back
    direct = [f"{path.relative_to(ROOT)}:{number}"
              for package in ("theory", "sigprop", "numerics", "architecture")
              for path in sorted((ROOT / package).rglob("*.py")) if path.name != "factoring.py"
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if "sp.factor(" in line or "sympy.factor(" in line]
    assert direct == []
