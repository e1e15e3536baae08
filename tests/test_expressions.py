"""The formula reader: size limits before any arithmetic, float values that name the
point and the reason when they are not finite, and time-limited symbolic steps."""

from __future__ import annotations

import math
import os
import time

import pytest
import sympy as sp

from sigprop.expressions import MAX_DEPTH, MAX_NODES, NotFinite, parse_formula
from sigprop.limits import StepTimeout, check_timeout, run_limited

NAMES = ("n", "d", "rho", "sigma_k")
POINT = {"n": 4, "d": 8, "rho": 0.5, "sigma_k": 1.5}


@pytest.mark.parametrize("text, value", [
    ("sigma_k^2 d (n-1)/n", 1.5**2 * 8 * 3 / 4),
    (r"\frac{\sigma_k^2 (n-1)}{n}", 1.5**2 * 3 / 4),
    ("2n(1-rho)^2", 2 * 4 * 0.25),
    ("sqrt(d) + exp(-rho) * pi", math.sqrt(8) + math.exp(-0.5) * math.pi),
    ("(-2)^3 + 2^-1", -7.5),
    ("1e-5 * 10^5", 1.0),
])
def test_values_match_python_arithmetic(text: str, value: float) -> None:
    formula = parse_formula(text, NAMES)
    assert formula.value(POINT) == pytest.approx(value, rel=1e-12)
    symbolic = formula.to_sympy().subs({sp.Symbol(k, positive=True): v
                                        for k, v in POINT.items()})
    assert float(symbolic) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("text, reason", [
    ("sqrt(-1)", "square root of a negative number"),
    ("log(0)", "logarithm of zero"),
    ("1/(n-n)", "divides by zero at n=4"),
    ("exp(exp(99))", "overflows"),
    ("acos(d)", "acos of a number outside [-1, 1]) at d=8"),
    ("(-rho)^(1/2)", "not real"),
    ("0^(-1)", "divides by zero"),
    ("10^60 * 10^60 * 10^60 * 10^60 * 10^60 * 10^60", "is infinite"),
])
def test_non_finite_values_name_the_reason_and_the_point(text: str, reason: str) -> None:
    with pytest.raises(NotFinite) as info:
        parse_formula(text, NAMES).value(POINT)
    assert reason in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("(" * (MAX_DEPTH + 2) + "n" + ")" * (MAX_DEPTH + 2), "nested more than"),
    ("-" * (MAX_DEPTH + 2) + "n", "nested more than"),
    ("n" + "+n" * MAX_NODES, "more than"),
    ("n" * 3000, "longer than"),
    ("2^(2^64)", "exponent above 64"),
    ("9^9^9", "exponent above 64"),
    ("n^(1/0)", "exponent above 64"),
    ("1e99999", "exponent above"),
    ("1" * 50, "more than 40 digits"),
    ("n\x07", "control character"),
    ("x + n", "unknown name 'x'"),
    ("n.__class__", "unexpected character"),
    (r"\input{x}", "unsupported LaTeX"),
    ("", "empty"),
])
def test_size_and_syntax_limits_come_before_any_arithmetic(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_formula(text, NAMES)
    assert message in str(info.value)


def test_symbolic_exponent_is_allowed() -> None:
    assert parse_formula("n^d", NAMES).value(POINT) == 4.0**8


def _slow(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def _fails() -> None:
    raise ValueError("bad thing\nsecond line")


def _dies() -> None:
    os._exit(3)


def test_run_limited_returns_the_value_computed_in_a_child() -> None:
    assert run_limited("step", _slow, 0.0, timeout=5) == "done"
    assert run_limited("step", sp.factor, sp.Symbol("x") ** 2 - 1, timeout=5) == \
        (sp.Symbol("x") - 1) * (sp.Symbol("x") + 1)


def test_run_limited_stops_a_step_at_its_limit() -> None:
    start = time.perf_counter()
    with pytest.raises(StepTimeout, match=r"slow step ran out of time after 0\.5 s"):
        run_limited("slow step", _slow, 30.0, timeout=0.5)
    assert time.perf_counter() - start < 10


def test_run_limited_reports_errors_and_deaths_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^step: bad thing$"):
        run_limited("step", _fails, timeout=5)
    with pytest.raises(ValueError, match="worker process ended without a result"):
        run_limited("step", _dies, timeout=5)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e9, "x", True, None])
def test_timeout_values_are_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="timeout must be"):
        check_timeout(bad)
