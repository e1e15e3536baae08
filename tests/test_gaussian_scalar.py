"""Scalar Gaussian moments: Isserlis oracles, means, grouped multiplicities, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy import Matrix, Rational, symbols

from theory.gaussian import _MomentTable, expect

x, y, z, w = symbols("x y z w")
s, sx, sy, sxy, mu, nu = symbols("s sigma_x sigma_y sigma_xy mu nu")


def same(left: sympy.Expr, right: sympy.Expr) -> bool:
    return sympy.expand(left - right) == 0


def symmetric_symbols(size: int) -> Matrix:
    return Matrix(size, size, lambda i, j: sympy.Symbol(f"c_{min(i, j)}{max(i, j)}"))


@pytest.mark.parametrize(
    ("expr", "oracle"),
    [
        (x**2, s**2),
        (x**4, 3 * s**4),
        (x**6, 15 * s**6),
        (x**8, 105 * s**8),
        (x**3, 0),
        (x**7, 0),
        (5 * x**4 - 2 * x**2 + 7, 15 * s**4 - 2 * s**2 + 7),
    ],
)
def test_univariate_centred_moments(expr: sympy.Expr, oracle: sympy.Expr) -> None:
    assert same(expect(expr, [x], Matrix([[s**2]])), oracle)


def test_bivariate_fourth_moment() -> None:
    cov = Matrix([[sx**2, sxy], [sxy, sy**2]])
    assert same(expect(x**2 * y**2, [x, y], cov), sx**2 * sy**2 + 2 * sxy**2)
    assert same(expect(x**3 * y, [x, y], cov), 3 * sx**2 * sxy)
    assert expect(x**2 * y, [x, y], cov) == 0


def test_four_distinct_variables_is_the_sum_over_three_pairings() -> None:
    c = symmetric_symbols(4)
    oracle = c[0, 1] * c[2, 3] + c[0, 2] * c[1, 3] + c[0, 3] * c[1, 2]
    assert same(expect(x * y * z * w, [x, y, z, w], c), oracle)


def test_moments_with_mean() -> None:
    one = Matrix([[s**2]])
    assert same(expect(x**2, [x], one, [mu]), mu**2 + s**2)
    assert same(expect(x**3, [x], one, [mu]), mu**3 + 3 * mu * s**2)
    assert same(expect(x**4, [x], one, [mu]), mu**4 + 6 * mu**2 * s**2 + 3 * s**4)
    cov = Matrix([[sx**2, sxy], [sxy, sy**2]])
    assert same(expect(x * y, [x, y], cov, [mu, nu]), mu * nu + sxy)
    assert same(
        expect(x**2 * y, [x, y], cov, Matrix([mu, nu])), nu * (mu**2 + sx**2) + 2 * mu * sxy
    )


def test_symbolic_coefficients_and_numeric_covariance() -> None:
    a, b = symbols("a b")
    cov = Matrix([[2, 1], [1, 3]])
    assert same(expect(a * x**2 + b * x * y + 4, [x, y], cov), 2 * a + b + 4)


def test_high_power_uses_multiplicities_not_pairings() -> None:
    """29!! = 6.2e15 pairings could never be enumerated; the grouped recursion is O(30)."""
    assert expect(x**30, [x], Matrix([[s**2]])) == sympy.factorial2(29) * s**30
    table = _MomentTable(sympy.ImmutableMatrix([[s**2]]), (sympy.S.Zero,))
    table.moment((30,))
    assert len(table._memo) <= 31


def test_twentieth_order_monomial_with_repeats_matches_moment_generating_function() -> None:
    """E x^6 y^6 z^4 w^4 against the MGF route: E y^k = k! [t^k] exp(t^T C t / 2)."""
    cov = Matrix([[4, 1, -1, 2], [1, 3, 0, 1], [-1, 0, 2, 1], [2, 1, 1, 5]])
    powers = (6, 6, 4, 4)
    t = symbols("t0:4")
    quadratic = sympy.Poly(sum(cov[i, j] * t[i] * t[j] for i in range(4) for j in range(4)), *t)
    degree = sum(powers) // 2
    term = (quadratic**degree).as_dict()[powers] / (2**degree * math.factorial(degree))
    oracle = term * math.prod(math.factorial(p) for p in powers)
    monomial = x**6 * y**6 * z**4 * w**4
    assert expect(monomial, [x, y, z, w], cov) == oracle
    symbolic = expect(monomial, [x, y, z, w], symmetric_symbols(4))
    numeric = symbolic.xreplace(
        {sympy.Symbol(f"c_{i}{j}"): cov[i, j] for i in range(4) for j in range(i, 4)}
    )
    assert numeric == oracle


@given(
    entries=st.lists(st.integers(-2, 2), min_size=9, max_size=9),
    powers=st.tuples(*(st.integers(0, 3) for _ in range(3))),
    mean=st.tuples(*(st.integers(-2, 2) for _ in range(3))),
)
def test_against_brute_force_pairings(entries: list[int], powers: tuple, mean: tuple) -> None:
    """Isserlis by explicit enumeration of pairings over the expanded mean shift."""
    root = Matrix(3, 3, entries)
    cov = root * root.T
    variables = [x, y, z]
    got = expect(
        sympy.Mul(*(v**p for v, p in zip(variables, powers, strict=True))), variables, cov, mean
    )
    factors = [i for i, p in enumerate(powers) for _ in range(p)]
    expected = sympy.S.Zero
    for chosen in itertools.product((False, True), repeat=len(factors)):
        centred = [f for f, c in zip(factors, chosen, strict=True) if c]
        shift = sympy.Mul(*(mean[f] for f, c in zip(factors, chosen, strict=True) if not c))
        expected += shift * pairing_sum(centred, cov)
    assert got == expected


def pairing_sum(indices: list[int], cov: Matrix) -> sympy.Expr:
    if not indices:
        return sympy.S.One
    if len(indices) % 2:
        return sympy.S.Zero
    head, rest = indices[0], indices[1:]
    return sum(
        cov[head, other] * pairing_sum(rest[:k] + rest[k + 1 :], cov)
        for k, other in enumerate(rest)
    )


def test_fast_assembly_equals_sympy_constructors() -> None:
    """The canonical Add/Mul built directly must be identical to SymPy's own flatten."""
    c = symmetric_symbols(4)
    result = expect(x**3 * y * z**2 * w**2 + 3 * x * y + 2, [x, y, z, w], c, [0, mu, 0, 1])
    rebuilt = sympy.Add(*(sympy.Mul(*term.args) if term.is_Mul else term for term in result.args))
    assert result == rebuilt and hash(result) == hash(rebuilt)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: expect(x**2, [x, y], Matrix([[1, 0, 0], [0, 1, 0]])), "square"),
        (lambda: expect(x**2, [x, y], Matrix([[1, 2], [0, 1]])), "symmetric"),
        (lambda: expect(x**2, [x, y], Matrix([[1]])), "2x2"),
        (lambda: expect(x**2, [x], Matrix([[1]]), [0, 1]), "mean must have 1"),
        (lambda: expect(x**2, [x, x], Matrix([[1, 0], [0, 1]])), "distinct"),
        (lambda: expect(sympy.exp(x), [x], Matrix([[1]])), "polynomial"),
        (lambda: expect(1 / x, [x], Matrix([[1]])), "polynomial"),
        (lambda: expect(sympy.sqrt(x), [x], Matrix([[1]])), "polynomial"),
        (lambda: expect(x**2, [x + 1], Matrix([[1]])), "Symbols"),
        (lambda: expect(x**2, [2], Matrix([[1]])), "Symbols"),
        (lambda: expect("x**2", [x], Matrix([[1]])), "sympy expression"),
        (lambda: expect(x**2, [x], [[1]]), "sympy Matrix"),
        (lambda: expect(x**2, [x], Matrix([[x]])), "must not depend"),
        (lambda: expect(x**2, x, Matrix([[1]])), "sequence"),
        (lambda: expect(x**2, [x], Matrix([[Rational(1, 2)]]), [x]), "must not depend"),
    ],
)
def test_bad_input_raises_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
