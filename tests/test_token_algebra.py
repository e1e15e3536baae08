"""Token algebra span{I_n, J_n} and the J = 1 1^T split, against explicit matrices."""

from __future__ import annotations

import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy import Identity, MatrixSymbol, OneMatrix, Trace, ZeroMatrix, symbols

from theory.matrix_words import Cycle, Letter
from theory.token_algebra import (
    OnesForm,
    TokenElement,
    merge_token_runs,
    reduce_open,
    reduce_trace,
    token_of,
)
from theory.wick import evaluate, expect_matrix

n, d = symbols("n d", positive=True, integer=True)
rho = symbols("rho")
J = OneMatrix(n, n)
P = Identity(n) - J / n
SIGMA = (1 - rho) * Identity(n) + rho * J
A, B = MatrixSymbol("A", n, n), MatrixSymbol("B", n, n)
M = MatrixSymbol("M", n, d)

rationals = st.fractions(min_value=-3, max_value=3, max_denominator=4).map(sympy.Rational)


def explicit(element: TokenElement, size: int) -> sympy.Matrix:
    a, b = (sympy.sympify(c).subs(n, size) for c in (element.identity, element.ones))
    return a * sympy.eye(size) + b * sympy.ones(size, size)


@given(a1=rationals, b1=rationals, a2=rationals, b2=rationals, size=st.integers(1, 5))
def test_algebra_matches_explicit_matrices(a1, b1, a2, b2, size: int) -> None:
    left, right = TokenElement(a1, b1, n), TokenElement(a2, b2, n)
    product, total = left * right, left + right
    assert explicit(product, size) == explicit(left, size) * explicit(right, size)
    assert explicit(total, size) == explicit(left, size) + explicit(right, size)
    assert left.trace().subs(n, size) == explicit(left, size).trace()
    assert explicit(left.power(3), size) == explicit(left, size) ** 3
    assert explicit(left.scaled(a2), size) == a2 * explicit(left, size)


def test_centring_projector_identities() -> None:
    p, j, sigma = token_of(P), token_of(J), token_of(SIGMA)
    assert p * j == TokenElement(0, 0, n)
    assert p * p == p
    assert sympy.expand(p.trace() - (n - 1)) == 0
    assert sigma * p == p.scaled(1 - rho)
    assert j * j == j.scaled(n)
    assert token_of(P * SIGMA * P) == p.scaled(1 - rho)
    assert token_of(sympy.MatPow(P, 3)) == p


def test_token_of_rejects_general_matrices() -> None:
    assert token_of(A) is None
    assert token_of(OneMatrix(n, d)) is None
    assert token_of(P * A) is None
    assert token_of(Trace(A) * Identity(n)) is None


def test_merge_token_runs_multiplies_consecutive_tokens_only() -> None:
    merged = merge_token_runs([P, J, A, SIGMA, P, B], token_of)
    assert merged == [TokenElement(0, 0, n), A, token_of(SIGMA * P), B]


def test_trace_split_into_bilinear_forms() -> None:
    ones = Letter(OneMatrix(n, n))
    a, b = Letter(A), Letter(B)
    coefficient, factors = reduce_trace((ones, a, ones, b), n)
    assert coefficient == 1 and set(factors) == {OnesForm((a,)), OnesForm((b,))}
    coefficient, factors = reduce_trace((ones, ones, a), n)
    assert coefficient == n and factors == (OnesForm((a,)),)
    assert reduce_trace((a, b), n) == (1, (Cycle((a, b)),))
    assert reduce_trace((), d) == (d, ())


def test_open_word_keeps_one_ones_matrix() -> None:
    ones, a, m = Letter(OneMatrix(n, n)), Letter(A), Letter(M)
    coefficient, factors, word = reduce_open((a, ones, a, ones, ones, m))
    assert coefficient == n and factors == (OnesForm((a,)),)
    assert word == (a, Letter(OneMatrix(n, n)), m)


def test_closed_forms_without_simplify() -> None:
    def reduce(expr):
        return expect_matrix(expr, {}).value

    assert sympy.expand(reduce(Trace(P * SIGMA * P * SIGMA)) - (1 - rho) ** 2 * (n - 1)) == 0
    assert reduce(P * J) == ZeroMatrix(n, n)
    assert reduce(Trace(J * A * J * A.T) - Trace(J * A) ** 2) == 0
    assert reduce(Trace(P * A) - Trace(A) + Trace(J * A) / n) == 0


WORD_LETTERS = {"A": A, "B": B, "At": A.T, "J": J, "P": P, "S": SIGMA, "I": Identity(n)}


@given(
    letters=st.lists(st.sampled_from(sorted(WORD_LETTERS)), min_size=1, max_size=6),
    size=st.integers(1, 3),
    entries=st.lists(st.integers(-3, 3), min_size=18, max_size=18),
    rho_value=st.integers(0, 4),
    as_trace=st.booleans(),
)
def test_reduction_preserves_value(letters, size, entries, rho_value, as_trace) -> None:
    """Random words over {A, B, A^T, J, P, Sigma, I}: the reduced form evaluates equal."""
    product = sympy.MatMul(*(WORD_LETTERS[name] for name in letters))
    expr = Trace(product) if as_trace else product
    values = {
        A: sympy.Matrix(size, size, entries[: size * size]),
        B: sympy.Matrix(size, size, entries[9 : 9 + size * size]),
    }
    dims = {n: size}
    numbers = {rho: sympy.Rational(rho_value, 4)}
    original = evaluate(expr, values, dims).xreplace(numbers)
    reduced = evaluate(expect_matrix(expr, {}).value, values, dims).xreplace(numbers)
    difference = reduced - original
    if as_trace:
        assert sympy.expand(difference) == 0
    else:
        assert difference.applyfunc(sympy.expand) == sympy.zeros(size, size)
