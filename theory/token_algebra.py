"""Token-structured matrices: the algebra span{I_n, J_n} and the split J = 1 1^T.

Matrices acting on the token axis of a transformer are mostly of the form
a*I_n + b*J_n with J_n = 1 1^T the all-ones matrix: the identity, J itself,
the centring projector P = I - J/n and the equicorrelated covariance
Sigma = (1 - rho) I + rho J. They form a commutative algebra with

    J^2 = n J,  tr J = n,  so  (a I + b J)(c I + e J) = ac I + (ae + bc + n b e) J,

and P J = 0, P^2 = P, tr P = n - 1 follow. ``TokenElement`` computes in this
algebra, so a product of such matrices is two terms, not 2^k.

Words that mix J with general matrices are reduced by splitting J = 1 1^T:
a trace tr(J M_1 J M_2 ... J M_k) becomes the product of bilinear forms
prod_i (1^T M_i 1), an open word W_0 J M_1 J ... J W_k becomes
prod_i (1^T M_i 1) * W_0 J W_k, and an empty segment 1^T 1 is the length of 1.
A bilinear form 1^T M 1 is written in SymPy as tr(J M) (``OnesForm``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sympy
from sympy import Identity, MatAdd, MatMul, MatPow, OneMatrix, Trace, Transpose, ZeroMatrix
from sympy.matrices.expressions import MatrixExpr

from theory.matrix_words import (
    Cycle,
    Letter,
    Word,
    canonical_cycle,
    transpose_word,
    word_key,
)

__all__ = [
    "Factor",
    "OnesForm",
    "TokenElement",
    "merge_token_runs",
    "reduce_open",
    "reduce_trace",
    "token_of",
]


@dataclass(frozen=True)
class TokenElement:
    """The n x n matrix identity*I_n + ones*J_n."""

    identity: sympy.Expr
    ones: sympy.Expr
    size: sympy.Expr

    def __mul__(self, other: TokenElement) -> TokenElement:
        a, b, c, e, n = self.identity, self.ones, other.identity, other.ones, self.size
        return TokenElement(sympy.expand(a * c), sympy.expand(a * e + b * c + n * b * e), n)

    def __add__(self, other: TokenElement) -> TokenElement:
        return TokenElement(
            sympy.expand(self.identity + other.identity),
            sympy.expand(self.ones + other.ones),
            self.size,
        )

    def scaled(self, factor: sympy.Expr) -> TokenElement:
        return TokenElement(
            sympy.expand(factor * self.identity), sympy.expand(factor * self.ones), self.size
        )

    def power(self, exponent: int) -> TokenElement:
        result = TokenElement(sympy.S.One, sympy.S.Zero, self.size)
        for _ in range(exponent):
            result = result * self
        return result

    def trace(self) -> sympy.Expr:
        """tr(a I + b J) = n (a + b)."""
        return sympy.expand(self.size * (self.identity + self.ones))

    def terms(self) -> list[tuple[sympy.Expr, Word]]:
        """The non-zero parts as (coefficient, word): a -> (), b -> (J,)."""
        parts = []
        if self.identity != 0:
            parts.append((self.identity, ()))
        if self.ones != 0:
            parts.append((self.ones, (Letter(OneMatrix(self.size, self.size)),)))
        return parts


def token_of(expr: MatrixExpr) -> TokenElement | None:
    """``expr`` as an element of span{I_n, J_n}, or None when it is not of that form.

    Recognises Identity(n), OneMatrix(n, n), ZeroMatrix(n, n) and sums, scalar
    multiples (matrix-free scalars), products, transposes and non-negative
    integer powers of them.
    """
    if isinstance(expr, Identity):
        return TokenElement(sympy.S.One, sympy.S.Zero, expr.rows)
    if isinstance(expr, (OneMatrix, ZeroMatrix)):
        if expr.rows != expr.cols:
            return None
        one = sympy.S.One if isinstance(expr, OneMatrix) else sympy.S.Zero
        return TokenElement(sympy.S.Zero, one, expr.rows)
    if isinstance(expr, Transpose):
        return token_of(expr.arg)
    if isinstance(expr, MatPow):
        base, exponent = expr.args
        if not (exponent.is_Integer and exponent >= 0):
            return None
        element = token_of(base)
        return None if element is None else element.power(int(exponent))
    if isinstance(expr, MatAdd):
        parts = [token_of(arg) for arg in expr.args]
        if any(p is None or p.size != parts[0].size for p in parts):
            return None
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total
    if isinstance(expr, MatMul):
        scalars = [arg for arg in expr.args if not arg.is_Matrix]
        if any(s.has(MatrixExpr) for s in scalars):
            return None
        matrices = [token_of(arg) for arg in expr.args if arg.is_Matrix]
        if not matrices or any(m is None or m.size != matrices[0].size for m in matrices):
            return None
        product = matrices[0]
        for m in matrices[1:]:
            product = product * m
        return product.scaled(sympy.Mul(*scalars))
    return None


T = TypeVar("T")


def merge_token_runs(
    factors: Sequence[T], token: Callable[[T], TokenElement | None]
) -> list[T | TokenElement]:
    """Replace each maximal run of consecutive token factors by its product in the algebra."""
    merged: list[T | TokenElement] = []
    run: TokenElement | None = None
    for factor in factors:
        element = token(factor)
        if element is None:
            if run is not None:
                merged.append(run)
                run = None
            merged.append(factor)
        else:
            run = element if run is None else run * element
    if run is not None:
        merged.append(run)
    return merged


@dataclass(frozen=True)
class OnesForm:
    """The scalar 1^T M 1 for a non-empty word M free of all-ones letters (canonical form).

    Rendered as tr(J M) with J the all-ones matrix of the transposed shape.
    """

    word: Word

    @property
    def key(self) -> tuple:
        return (1, word_key(self.word))

    def to_expr(self) -> sympy.Expr:
        rows, cols = self.word[0].shape[0], self.word[-1].shape[1]
        return Trace(MatMul(OneMatrix(cols, rows), *(letter.to_expr() for letter in self.word)))


Factor = Cycle | OnesForm


def _ones_form(segment: Word, length: sympy.Expr) -> tuple[sympy.Expr, tuple[Factor, ...]]:
    """1^T segment 1 with 1 of ``length`` on an empty segment."""
    if not segment:
        return length, ()
    return sympy.S.One, (OnesForm(min(segment, transpose_word(segment), key=word_key)),)


def reduce_trace(word: Word, size: sympy.Expr) -> tuple[sympy.Expr, tuple[Factor, ...]]:
    """tr(word) (of an n x n product, n = ``size``) as coefficient * product of factors."""
    positions = [i for i, letter in enumerate(word) if letter.is_ones]
    if not positions:
        if not word:
            return size, ()
        return sympy.S.One, (Cycle(canonical_cycle(word)),)
    start = positions[0]
    rotated = word[start:] + word[:start]
    cuts = [i for i, letter in enumerate(rotated) if letter.is_ones] + [len(rotated)]
    coefficient, factors = sympy.S.One, ()
    for here, following in itertools.pairwise(cuts):
        c, f = _ones_form(rotated[here + 1 : following], rotated[here].shape[1])
        coefficient, factors = coefficient * c, factors + f
    return coefficient, factors


def reduce_open(word: Word) -> tuple[sympy.Expr, tuple[Factor, ...], Word]:
    """word = coefficient * product of factors * (W_0 J W_k), with at most one J left."""
    positions = [i for i, letter in enumerate(word) if letter.is_ones]
    if len(positions) <= 1:
        return sympy.S.One, (), word
    coefficient, factors = sympy.S.One, ()
    for here, following in itertools.pairwise(positions):
        c, f = _ones_form(word[here + 1 : following], word[here].shape[1])
        coefficient, factors = coefficient * c, factors + f
    first, last = word[positions[0]], word[positions[-1]]
    ones = Letter(OneMatrix(first.shape[0], last.shape[1]))
    return coefficient, factors, (*word[: positions[0]], ones, *word[positions[-1] + 1 :])
