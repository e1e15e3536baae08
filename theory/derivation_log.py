"""Records of a Wick-expansion derivation and their LaTeX rendering.

``expect_matrix`` keeps, for every monomial of the expanded expression, the
Gaussian occurrences it contains, the Wick pairings of those occurrences
(grouped when they contract to the same product of traces), the contracted
expression (covariance matrices inserted, index loops closed) and its
reduction in the token algebra. ``to_latex`` turns these into ``align*``
environments for the derivation documents; ``Tex`` defers that rendering (SymPy's
printer is slow on traces of matrix products) until a document reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy
from sympy import OneMatrix
from sympy.printing.latex import LatexPrinter

__all__ = ["MonomialStep", "Pairing", "PairingGroup", "Tex", "latex"]

Pairing = tuple[tuple[str, str], ...]


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer with the paper's notation J = 1 1^T for the all-ones matrix."""

    def _print_OneMatrix(self, expr: OneMatrix) -> str:
        rows, cols = expr.shape
        if rows == cols:
            return "J"
        return (
            rf"\mathbf{{1}}_{{{self._print(rows)}}} \mathbf{{1}}_{{{self._print(cols)}}}^{{\top}}"
        )


def latex(expr: sympy.Basic) -> str:
    """LaTeX for derivation steps (J for square all-ones matrices)."""
    return _Printer().doprint(expr)


class Tex:
    """A step's LaTeX, rendered when first read (``str``) and kept: checks that never
    print their derivation do not pay for the printer."""

    __slots__ = ("_render", "_text")

    def __init__(self, render: Callable[[], str]) -> None:
        self._render = render
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._render()
        return self._text


@dataclass(frozen=True)
class PairingGroup:
    """Wick pairings of one monomial that contract to the same expression.

    ``pairings``: each pairing as pairs of occurrence labels.
    ``contracted``: variance factors times the traces / dimension loops (times the
    open matrix product for a matrix-valued monomial), covariances as given.
    ``reduced``: the same after expanding covariances and the token algebra.
    """

    pairings: tuple[Pairing, ...]
    contracted: sympy.Basic
    reduced: sympy.Basic

    @property
    def multiplicity(self) -> int:
        return len(self.pairings)

    def to_latex(self) -> str:
        """One align row: the pairing(s), their count, contracted = reduced."""
        first = "".join(rf"\{{{a},{b}\}}" for a, b in self.pairings[0])
        label = first if first else r"\text{(no Gaussian factors)}"
        if self.multiplicity > 1:
            label += rf"\ \text{{and {self.multiplicity - 1} more}}"
        return (
            rf"& {label}: && {latex(self.contracted)}"
            rf" = {latex(self.reduced)} \quad (\times {self.multiplicity})"
        )


@dataclass(frozen=True)
class MonomialStep:
    """One monomial ``coefficient * monomial`` of the expansion and its Wick pairings."""

    monomial: sympy.Basic
    coefficient: sympy.Expr
    occurrences: tuple[str, ...]
    groups: tuple[PairingGroup, ...]
    note: str = ""

    def to_latex(self) -> str:
        """An ``align*`` block: the monomial, then one row per group of pairings."""
        head = rf"\mathbb{{E}}\left[{latex(self.coefficient * self.monomial)}\right]"
        rows = [rf"& {head} && \text{{occurrences: }} {', '.join(self.occurrences) or '-'}"]
        if self.note:
            rows.append(rf"& && \text{{{self.note}}}")
        rows.extend(group.to_latex() for group in self.groups)
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
