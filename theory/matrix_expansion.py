"""Multilinear expansion of SymPy matrix expressions into monomials.

A monomial (``Term``) is coefficient * tr(w_1) * ... * tr(w_k) * w_0 where the
w_i are words of letters (see ``theory.matrix_words``) and w_0 is the open
word of a matrix-valued expression (empty for a scalar). Expansion distributes
products over sums, pushes transposes onto letters, drops identities and
multiplies maximal runs of token-structured factors (span{I_n, J_n}) in their
commutative algebra first, so that e.g. P Sigma P contributes two terms.

Only the symbols in ``gaussians`` are random. Anything else the expander does
not know is an opaque deterministic letter (matrix) or coefficient (scalar);
an unknown construct that contains a Gaussian symbol is rejected, since the
expectation would not be a polynomial moment.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import sympy
from sympy import (
    Identity,
    MatAdd,
    MatMul,
    MatPow,
    MatrixSymbol,
    OneMatrix,
    Trace,
    Transpose,
    ZeroMatrix,
)
from sympy.matrices.expressions import MatrixExpr

from theory.matrix_words import Letter, Word, canonical_cycle, transpose_word, word_key
from theory.token_algebra import TokenElement, merge_token_runs, token_of

__all__ = ["Expander", "Term", "collect_terms", "same_dimension"]


@dataclass(frozen=True)
class Term:
    """coefficient * prod_i tr(traces[i].word) * word; each trace keeps its size n x n."""

    coefficient: sympy.Expr
    traces: tuple[tuple[Word, sympy.Expr], ...]
    word: Word

    def __mul__(self, other: Term) -> Term:
        return Term(
            self.coefficient * other.coefficient,
            self.traces + other.traces,
            self.word + other.word,
        )


_UNIT = Term(sympy.S.One, (), ())


def same_dimension(a: sympy.Expr, b: sympy.Expr) -> bool:
    """True when two (possibly symbolic) dimensions are provably equal."""
    return a == b or sympy.expand(a - b) == 0


def _product(factors: Iterable[list[Term]]) -> list[Term]:
    result = [_UNIT]
    for options in factors:
        result = [left * right for left in result for right in options]
    return result


class Expander:
    """Expands expressions whose random matrices are ``gaussians`` into ``Term`` lists."""

    def __init__(self, gaussians: Iterable[MatrixSymbol]) -> None:
        self._gaussians = tuple(gaussians)

    def _reject_if_random(self, expr: sympy.Basic) -> None:
        if self._gaussians and expr.has(*self._gaussians):
            raise ValueError(
                f"expr must be polynomial in the Gaussian matrices (sums, products, transposes, "
                f"traces, non-negative integer powers), got {expr}"
            )

    def scalar(self, expr: sympy.Basic) -> list[Term]:
        """Monomials of a scalar expression (traces and products of traces)."""
        if not isinstance(expr, sympy.Basic):
            raise ValueError(f"expr must be a SymPy expression, got {type(expr).__name__}")
        if isinstance(expr, MatrixExpr):
            raise ValueError(f"expected a scalar expression, got the matrix {expr}")
        if not expr.has(MatrixExpr):
            return [Term(expr, (), ())]
        if isinstance(expr, Trace):
            matrix = expr.arg
            if not same_dimension(matrix.rows, matrix.cols):
                raise ValueError(f"expr has a trace of a non-square matrix: {expr}")
            return [
                Term(t.coefficient, (*t.traces, (t.word, matrix.rows)), ())
                for t in self.matrix(matrix)
            ]
        if isinstance(expr, sympy.Add):
            return [t for arg in expr.args for t in self.scalar(arg)]
        if isinstance(expr, sympy.Mul):
            return _product(self.scalar(arg) for arg in expr.args)
        if isinstance(expr, sympy.Pow) and expr.exp.is_Integer and expr.exp >= 0:
            return _product(self.scalar(expr.base) for _ in range(int(expr.exp)))
        self._reject_if_random(expr)
        return [Term(expr, (), ())]

    def matrix(self, expr: MatrixExpr) -> list[Term]:
        """Monomials of a matrix expression (each with an open word)."""
        if not isinstance(expr, MatrixExpr):
            raise ValueError(f"expected a matrix expression, got {expr!r}")
        element = token_of(expr)
        if element is not None:
            return [Term(c, (), w) for c, w in element.terms()]
        if isinstance(expr, (MatrixSymbol, OneMatrix)):
            return [Term(sympy.S.One, (), (Letter(expr),))]
        if isinstance(expr, Identity):
            return [_UNIT]
        if isinstance(expr, ZeroMatrix):
            return []
        if isinstance(expr, Transpose):
            return [
                Term(t.coefficient, t.traces, transpose_word(t.word)) for t in self.matrix(expr.arg)
            ]
        if isinstance(expr, MatAdd):
            for arg in expr.args[1:]:
                if not (
                    same_dimension(arg.rows, expr.args[0].rows)
                    and same_dimension(arg.cols, expr.args[0].cols)
                ):
                    raise ValueError(f"expr adds matrices of different shapes: {expr}")
            return [t for arg in expr.args for t in self.matrix(arg)]
        if isinstance(expr, MatMul):
            return self._product_of(expr)
        if isinstance(expr, MatPow) and expr.exp.is_Integer and expr.exp >= 0:
            if not same_dimension(expr.base.rows, expr.base.cols):
                raise ValueError(f"expr raises a non-square matrix to a power: {expr}")
            if expr.exp == 0:
                return [_UNIT]
            return _product(self.matrix(expr.base) for _ in range(int(expr.exp)))
        self._reject_if_random(expr)
        return [Term(sympy.S.One, (), (Letter(expr),))]

    def _product_of(self, expr: MatMul) -> list[Term]:
        matrices = [arg for arg in expr.args if arg.is_Matrix]
        for left, right in itertools.pairwise(matrices):
            if not same_dimension(left.cols, right.rows):
                raise ValueError(
                    f"expr multiplies {left} ({left.rows}x{left.cols}) by "
                    f"{right} ({right.rows}x{right.cols})"
                )
        factors = [self.scalar(arg) for arg in expr.args if not arg.is_Matrix]
        for factor in merge_token_runs(matrices, token_of):
            if isinstance(factor, TokenElement):
                factors.append([Term(c, (), w) for c, w in factor.terms()])
            else:
                factors.append(self.matrix(factor))
        return _product(factors)


def collect_terms(terms: Iterable[Term]) -> list[Term]:
    """Merge terms with the same traces (up to rotation/transposition) and open word.

    Empty traces become their size (tr I_n = n) in the coefficient; coefficients
    of equal monomials are added and expanded; zero sums are dropped.
    """
    collected: dict[tuple, list] = {}
    for term in terms:
        coefficient = term.coefficient
        cycles = []
        for word, size in term.traces:
            if word:
                cycles.append(canonical_cycle(word))
            else:
                coefficient = coefficient * size
        cycles.sort(key=word_key)
        key = (tuple(cycles), term.word)
        collected.setdefault(key, []).append(coefficient)
    result = []
    for (cycles, word), coefficients in collected.items():
        total = sympy.expand(sympy.Add(*coefficients))
        if total != 0:
            traces = tuple((w, w[0].shape[0]) for w in cycles)
            result.append(Term(total, traces, word))
    return result
