"""Moments of a Gaussian vector: the scalar level of the expectation engine.

For y ~ N(mu, C) and a polynomial p(y), ``expect`` returns E[p(y)] as an exact
SymPy expression in the entries of C and mu.

Method. Expand p into monomials y^k = prod_i y_i^(k_i) and use Stein's identity

    E[y_a * m(y)] = mu_a * E[m(y)] + sum_b C_ab * E[d m / d y_b],

with d(y^k)/dy_b = k_b * y^(k - e_b). Applied recursively to the multiplicity
tuple k (always peeling off the first variable that is still present), this is
Isserlis' theorem for the centred part together with the binomial expansion of
the mean, grouped by multiplicity: a power y_a^k costs O(k) table entries
instead of the (k-1)!! Wick pairings. The table is memoised over multiplicity
tuples and shared by all monomials of p.

Arithmetic runs in a sparse polynomial ring (``sympy.polys.rings``) whose
generators are the distinct non-numeric entries of C and mu; rational entries
are kept in the coefficient field. The result is turned back into a SymPy
expression once, at the end, without ``simplify`` or ``expand`` on big trees.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from sympy.core.basic import _args_sortkey
from sympy.core.sympify import SympifyError, _sympify
from sympy.polys.polyerrors import PolynomialError
from sympy.polys.rings import PolyElement, PolyRing

__all__ = ["expect"]


def expect(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol],
    cov: sympy.MatrixBase,
    mean: Sequence[sympy.Expr] | sympy.MatrixBase | None = None,
) -> sympy.Expr:
    """E[expr] for the Gaussian vector ``variables`` ~ N(mean, cov).

    ``expr`` must be a polynomial in ``variables``; its coefficients may hold
    other symbols (treated as constants). ``cov`` is a square symmetric SymPy
    matrix (symbolic or numeric) whose size equals the number of variables;
    ``mean`` defaults to zero. Raises ValueError on malformed input.
    """
    symbols = _check_variables(variables)
    covariance = _check_cov(cov, symbols)
    mean_vector = _check_mean(mean, symbols)
    polynomial = _check_polynomial(expr, symbols)
    if not symbols:
        return polynomial
    table = _MomentTable(covariance, mean_vector)
    return table.expectation(polynomial)


def _check_variables(variables: Sequence[sympy.Symbol]) -> tuple[sympy.Symbol, ...]:
    try:
        symbols = tuple(variables)
    except TypeError:
        raise ValueError(
            f"variables must be a sequence of sympy Symbols, got {variables!r}"
        ) from None
    for v in symbols:
        if not isinstance(v, sympy.Symbol):
            raise ValueError(f"variables must be sympy Symbols, got {v!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"variables must be distinct, got {list(symbols)}")
    return symbols


def _check_cov(cov: sympy.MatrixBase, symbols: tuple[sympy.Symbol, ...]) -> sympy.ImmutableMatrix:
    if not isinstance(cov, sympy.MatrixBase):
        raise ValueError(f"cov must be a sympy Matrix, got {type(cov).__name__}")
    rows, cols = cov.shape
    if rows != cols:
        raise ValueError(f"cov must be a square matrix, got shape {rows}x{cols}")
    if rows != len(symbols):
        raise ValueError(
            f"cov must be {len(symbols)}x{len(symbols)} to match {len(symbols)} variables, "
            f"got {rows}x{cols}"
        )
    for i in range(rows):
        for j in range(i + 1, rows):
            if sympy.expand(cov[i, j] - cov[j, i]) != 0:
                raise ValueError(f"cov must be symmetric, got cov[{i},{j}] != cov[{j},{i}]")
    if cov.free_symbols & set(symbols):
        raise ValueError("cov must not depend on the variables")
    return sympy.ImmutableMatrix(cov)


def _check_mean(
    mean: Sequence[sympy.Expr] | sympy.MatrixBase | None, symbols: tuple[sympy.Symbol, ...]
) -> tuple[sympy.Expr, ...]:
    if mean is None:
        return (sympy.S.Zero,) * len(symbols)
    try:
        entries = tuple(_sympify(m) for m in mean)
    except (TypeError, SympifyError):
        raise ValueError(f"mean must be a sequence of sympy expressions, got {mean!r}") from None
    if len(entries) != len(symbols):
        raise ValueError(
            f"mean must have {len(symbols)} entries to match the variables, got {len(entries)}"
        )
    if any(m.free_symbols & set(symbols) for m in entries):
        raise ValueError("mean must not depend on the variables")
    return entries


def _check_polynomial(
    expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]
) -> sympy.Poly | sympy.Expr:
    """``expr`` as a Poly in ``symbols`` (or as itself when there are no variables)."""
    try:
        expression = _sympify(expr)
        return sympy.Poly(expression, *symbols) if symbols else expression
    except SympifyError:
        raise ValueError(f"expr must be a sympy expression, got {type(expr).__name__}") from None
    except PolynomialError:
        raise ValueError(f"expr must be a polynomial in the variables, got {expr}") from None


class _MomentTable:
    """Memoised E[y^k] over multiplicity tuples k, in a polynomial ring."""

    def __init__(self, cov: sympy.ImmutableMatrix, mean: tuple[sympy.Expr, ...]) -> None:
        size = len(mean)
        self._entries: list[sympy.Expr] = []
        generator_of: dict[sympy.Expr, int] = {}
        for value in (*(cov[i, j] for i in range(size) for j in range(i, size)), *mean):
            if not value.is_Rational and value not in generator_of:
                generator_of[value] = len(self._entries)
                self._entries.append(value)
        placeholders = [sympy.Dummy(f"g{i}") for i in range(max(1, len(self._entries)))]
        self._ring = PolyRing(placeholders, sympy.QQ)

        def element(value: sympy.Expr) -> PolyElement | None:
            if value == 0:
                return None
            if value.is_Rational:
                return self._ring.ground_new(sympy.QQ.from_sympy(value))
            return self._ring.gens[generator_of[value]]

        self._cov = [[element(cov[i, j]) for j in range(size)] for i in range(size)]
        self._mean = [element(m) for m in mean]
        self._centred = all(m is None for m in self._mean)
        self._memo: dict[tuple[int, ...], PolyElement] = {(0,) * size: self._ring.one}

    def moment(self, k: tuple[int, ...]) -> PolyElement:
        """E[prod_i y_i^(k_i)] by Stein's identity on the first present variable."""
        cached = self._memo.get(k)
        if cached is not None:
            return cached
        if self._centred and sum(k) % 2:
            result = self._ring.zero
        else:
            a = next(i for i, ki in enumerate(k) if ki)
            rest = (*k[:a], k[a] - 1, *k[a + 1 :])
            result = self._ring.zero
            if self._mean[a] is not None:
                result += self._mean[a] * self.moment(rest)
            for b, kb in enumerate(rest):
                c_ab = self._cov[a][b]
                if kb and c_ab is not None:
                    lowered = (*rest[:b], kb - 1, *rest[b + 1 :])
                    result += c_ab * self.moment(lowered) * kb
        self._memo[k] = result
        return result

    def expectation(self, polynomial: sympy.Poly) -> sympy.Expr:
        """E of a Poly in the Gaussian variables; symbolic coefficients kept as factors."""
        rational_part = self._ring.zero
        symbolic_parts: dict[sympy.Expr, PolyElement] = {}
        for monomial, coefficient in polynomial.as_dict(native=False).items():
            moment = self.moment(monomial)
            if coefficient.is_Rational:
                rational_part += moment * sympy.QQ.from_sympy(coefficient)
            else:
                symbolic_parts[coefficient] = symbolic_parts.get(coefficient, self._ring.zero) + (
                    moment
                )
        if not symbolic_parts:
            return self.to_expr(rational_part)
        return sympy.Add(
            self.to_expr(rational_part),
            *(sympy.Mul(c, self.to_expr(m)) for c, m in symbolic_parts.items()),
        )

    def to_expr(self, element: PolyElement) -> sympy.Expr:
        """The ring element as an expanded SymPy polynomial in the covariance/mean entries.

        When every generator is a plain Symbol the canonical Mul/Add are assembled
        directly (arguments sorted exactly as SymPy's own flatten sorts them);
        this skips re-flattening tens of thousands of monomials. Otherwise the
        entries are general expressions and SymPy's constructors do the work.
        """
        to_sympy = self._ring.domain.to_sympy
        entries = self._entries
        if not all(isinstance(e, sympy.Symbol) and e.is_commutative for e in entries):
            return sympy.Add(
                *(
                    sympy.Mul(to_sympy(c), *(entries[g] ** e for g, e in enumerate(m) if e))
                    for m, c in element.terms()
                )
            )
        pairs = {(g, e) for monomial in element.itermonoms() for g, e in enumerate(monomial) if e}
        powers = {(g, e): entries[g] if e == 1 else sympy.Pow(entries[g], e) for g, e in pairs}
        rank = {
            pair: position
            for position, pair in enumerate(
                sorted(powers, key=lambda pair: _args_sortkey(powers[pair]))
            )
        }
        terms = []
        constant = sympy.S.Zero
        for monomial, coefficient in element.terms():
            number = to_sympy(coefficient)
            present = sorted(((g, e) for g, e in enumerate(monomial) if e), key=rank.__getitem__)
            factors = [powers[pair] for pair in present]
            if not factors:
                constant = number
                continue
            if number is not sympy.S.One:
                factors.insert(0, number)
            terms.append(
                factors[0]
                if len(factors) == 1
                else sympy.Mul._from_args(factors, is_commutative=True)
            )
        terms.sort(key=_args_sortkey)
        if constant is not sympy.S.Zero:
            terms.insert(0, constant)
        if len(terms) <= 1:
            return terms[0] if terms else sympy.S.Zero
        return sympy.Add._from_args(terms, is_commutative=True)
