"""Words of matrix letters: the monomials of the matrix-level Wick engine.

A *letter* is one matrix factor, possibly transposed: a MatrixSymbol, a
OneMatrix (the all-ones matrix 1 1^T, never stored transposed), or an opaque
deterministic matrix expression (e.g. an Inverse of a deterministic symbol).
A *word* is a tuple of letters read left to right as a matrix product;
identity matrices never appear in words (they are dropped when expanding).

Traces are cyclic and transpose-invariant, tr(ABC) = tr(BCA) = tr(C^T B^T A^T),
so a trace is stored through ``canonical_cycle``: the least of the rotations
of the word and of its transpose, in a fixed total order on letters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import sympy
from sympy import Identity, MatMul, OneMatrix, Trace, Transpose
from sympy.core.sorting import default_sort_key
from sympy.matrices.expressions import MatrixExpr

__all__ = [
    "Cycle",
    "Letter",
    "Word",
    "canonical_cycle",
    "least_rotation",
    "transpose_word",
    "word_key",
    "word_to_expr",
]


@lru_cache(maxsize=4096)
def _atom_key(atom: MatrixExpr) -> tuple:
    return default_sort_key(atom)


@dataclass(frozen=True)
class Letter:
    """One matrix factor ``atom`` (transposed when ``transposed``)."""

    atom: MatrixExpr
    transposed: bool = False

    @property
    def shape(self) -> tuple[sympy.Expr, sympy.Expr]:
        rows, cols = self.atom.shape
        return (cols, rows) if self.transposed else (rows, cols)

    @property
    def is_ones(self) -> bool:
        """True for the all-ones matrix 1 1^T (any shape)."""
        return isinstance(self.atom, OneMatrix)

    def transpose(self) -> Letter:
        if self.is_ones:
            rows, cols = self.atom.shape
            return Letter(OneMatrix(cols, rows))
        return Letter(self.atom, not self.transposed)

    def to_expr(self) -> MatrixExpr:
        return Transpose(self.atom) if self.transposed else self.atom

    @property
    def key(self) -> tuple:
        """Total order on letters (SymPy's default sort key, then orientation)."""
        return (_atom_key(self.atom), self.transposed)


Word = tuple[Letter, ...]


def transpose_word(word: Word) -> Word:
    """(L_1 L_2 ... L_m)^T = L_m^T ... L_1^T."""
    return tuple(letter.transpose() for letter in reversed(word))


def word_key(word: Word) -> tuple:
    return tuple(letter.key for letter in word)


S = TypeVar("S")


def least_rotation(
    sequence: Sequence[S], reverse: Callable[[Sequence[S]], Sequence[S]], key: Callable[[S], Any]
) -> tuple[S, ...]:
    """Least rotation of ``sequence`` or of ``reverse(sequence)``, comparing elementwise keys."""
    candidates = []
    for seq in (tuple(sequence), tuple(reverse(sequence))):
        candidates.extend(seq[i:] + seq[:i] for i in range(len(seq)))
    return min(candidates, key=lambda c: tuple(key(x) for x in c))


def canonical_cycle(word: Word) -> Word:
    """Representative of tr(word) under rotation and transposition."""
    if not word:
        return word
    return least_rotation(word, transpose_word, lambda letter: letter.key)


def word_to_expr(word: Word, rows: sympy.Expr) -> MatrixExpr:
    """The SymPy matrix product of ``word``; the empty word is Identity(rows)."""
    if not word:
        return Identity(rows)
    if len(word) == 1:
        return word[0].to_expr()
    return MatMul(*(letter.to_expr() for letter in word))


@dataclass(frozen=True)
class Cycle:
    """The scalar tr(word) for a non-empty word free of all-ones letters (canonical form)."""

    word: Word

    @property
    def key(self) -> tuple:
        return (0, word_key(self.word))

    def to_expr(self) -> sympy.Expr:
        return Trace(word_to_expr(self.word, self.word[0].shape[0]))
