"""Expectations of polynomials in Gaussian random matrices (matrix-level Wick engine).

Setting. A Gaussian matrix G (r x c) has centred entries with covariance

    Cov(G_ab, G_ce) = v * R_ac * C_be           (Kronecker: R (x) C, scaled by v),

where iid entries of variance v are R = I_r, C = I_c. Expressions are SymPy
matrix expressions with symbolic dimensions: MatrixSymbol, Identity,
OneMatrix, ZeroMatrix, products, sums, transposes, integer powers, traces, and
scalar polynomials in traces.

Algorithm (``expect_matrix``).
1. Expand multilinearly into monomials coefficient * prod tr(w_i) [* w_0].
2. Write every monomial as an index network: each letter of a word is an edge
   between two index slots (its row and column index); slots are shared by
   neighbouring letters, cyclically inside a trace.
3. For each Wick pairing of the Gaussian occurrences (same matrix only; an
   odd count gives 0), replace the paired letters G[a, b], G[c, e] by the edges
   R[a, c] and C[b, e] and the factor v.
4. Every slot now has two edges, so the network is a union of cycles plus,
   for a matrix-valued monomial, one path between the two free indices. A cycle
   is the trace of the product of the matrices met along it (transposed when
   walked against their orientation); a path is the matrix product itself; an
   empty cycle is tr I = the size of its index.
5. Reduce each cycle/path in the token algebra (``theory.token_algebra``),
   collect equal trace monomials and add their coefficients.

Pairings that contract to the same expression are grouped and reduced once.
``WickResult.steps`` records all of this for the derivation documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import sympy
from sympy import (
    Identity,
    ImmutableMatrix,
    Inverse,
    MatAdd,
    MatMul,
    MatPow,
    MatrixSymbol,
    OneMatrix,
    Trace,
    Transpose,
    ZeroMatrix,
)
from sympy.core.sorting import default_sort_key
from sympy.core.sympify import SympifyError, _sympify
from sympy.matrices.exceptions import ShapeError
from sympy.matrices.expressions import MatrixExpr

from theory.derivation_log import MonomialStep, Pairing, PairingGroup, Tex, latex
from theory.matrix_expansion import Expander, Term, collect_terms, same_dimension
from theory.matrix_words import Letter, Word, least_rotation, word_key, word_to_expr
from theory.token_algebra import (
    Factor,
    TokenElement,
    merge_token_runs,
    reduce_open,
    reduce_trace,
    token_of,
)

__all__ = ["GaussianMatrix", "WickResult", "evaluate", "expect_matrix", "frob2"]


def frob2(matrix: MatrixExpr) -> Trace:
    """Squared Frobenius norm ||M||_F^2 = tr(M M^T)."""
    return Trace(matrix * matrix.T)


@dataclass(frozen=True)
class GaussianMatrix:
    """Covariance of a centred Gaussian matrix: Cov(G_ab, G_ce) = variance * row_ac * col_be.

    ``row``/``col`` None mean the identity. Build with ``iid`` or ``kronecker``;
    ``row`` and ``col`` must be symmetric deterministic matrix expressions.
    """

    variance: sympy.Expr = sympy.S.One
    row: MatrixExpr | None = None
    col: MatrixExpr | None = None

    @classmethod
    def iid(cls, variance: sympy.Expr) -> GaussianMatrix:
        """Entries iid N(0, variance)."""
        try:
            value = _sympify(variance)
        except SympifyError:
            raise ValueError(f"variance must be a SymPy scalar, got {variance!r}") from None
        if isinstance(value, MatrixExpr) or value.has(MatrixExpr):
            raise ValueError(f"variance must be a scalar, got {value}")
        if value.is_negative:
            raise ValueError(f"variance must be >= 0, got {value}")
        return cls(value)

    @classmethod
    def kronecker(cls, row: MatrixExpr, col: MatrixExpr) -> GaussianMatrix:
        """Cov(G_ab, G_ce) = row_ac * col_be (row: r x r over rows, col: c x c over columns)."""
        for name, matrix in (("row", row), ("col", col)):
            if not isinstance(matrix, MatrixExpr):
                raise ValueError(f"{name} must be a SymPy matrix expression, got {matrix!r}")
            if not same_dimension(matrix.rows, matrix.cols):
                raise ValueError(f"{name} must be square, got shape {matrix.rows}x{matrix.cols}")
        return cls(sympy.S.One, row, col)

    def _check_against(self, symbol: MatrixSymbol, gaussians: tuple[MatrixSymbol, ...]) -> None:
        for name, matrix, size in (("row", self.row, symbol.rows), ("col", self.col, symbol.cols)):
            if matrix is None:
                continue
            if not same_dimension(matrix.rows, size):
                raise ValueError(
                    f"{name} covariance of {symbol} must be {size}x{size}, "
                    f"got {matrix.rows}x{matrix.cols}"
                )
            if matrix.has(*gaussians):
                raise ValueError(f"{name} covariance of {symbol} must be deterministic")


@dataclass(frozen=True)
class _Edge:
    """A matrix on an edge of the index network: its display form and its expansion."""

    expr: MatrixExpr
    parts: tuple[tuple[sympy.Expr, Word], ...]
    token: TokenElement | None
    letter: Letter | None = None

    @staticmethod
    def of_letter(letter: Letter) -> _Edge:
        rows, cols = letter.shape
        token = (
            TokenElement(sympy.S.Zero, sympy.S.One, rows)
            if letter.is_ones and same_dimension(rows, cols)
            else None
        )
        return _Edge(letter.to_expr(), ((sympy.S.One, (letter,)),), token, letter)

    @staticmethod
    def of_covariance(matrix: MatrixExpr | None, size: sympy.Expr, expander: Expander) -> _Edge:
        if matrix is None:
            return _Edge(
                Identity(size), ((sympy.S.One, ()),), TokenElement(sympy.S.One, sympy.S.Zero, size)
            )
        parts = []
        for term in expander.matrix(matrix):
            traces = (Trace(word_to_expr(w, n)) for w, n in term.traces)
            parts.append((sympy.Mul(term.coefficient, *traces), term.word))
        return _Edge(matrix, tuple(parts), token_of(matrix))

    def transpose(self) -> _Edge:
        """The edge walked backwards; covariance edges are symmetric."""
        return self if self.letter is None else _Edge.of_letter(self.letter.transpose())

    @cached_property
    def key(self) -> tuple:
        return default_sort_key(self.expr)

    @property
    def is_identity(self) -> bool:
        return isinstance(self.expr, Identity)


def _reverse_walk(edges: tuple[_Edge, ...]) -> tuple[_Edge, ...]:
    return tuple(edge.transpose() for edge in reversed(edges))


@dataclass(frozen=True)
class _Occurrence:
    symbol: MatrixSymbol
    label: str
    row_slot: int
    col_slot: int


class _Network:
    """Index network of one monomial: deterministic edges and Gaussian occurrences."""

    def __init__(self, term: Term, gaussians: Mapping[MatrixSymbol, GaussianMatrix]) -> None:
        self.static: list[tuple[int, int, _Edge]] = []
        self.occurrences: list[_Occurrence] = []
        self._counts: dict[MatrixSymbol, int] = {}
        self._slots = 0
        for word, _ in term.traces:
            first = self._slots
            self._slots += len(word)
            for p, letter in enumerate(word):
                self._place(letter, first + p, first + (p + 1) % len(word), gaussians)
        self.open = bool(term.word)
        self.start = self._slots
        self._slots += len(term.word) + 1
        self.end = self._slots - 1
        for p, letter in enumerate(term.word):
            self._place(letter, self.start + p, self.start + p + 1, gaussians)

    def _place(
        self,
        letter: Letter,
        left: int,
        right: int,
        gaussians: Mapping[MatrixSymbol, GaussianMatrix],
    ) -> None:
        if letter.atom in gaussians:
            count = self._counts.get(letter.atom, 0) + 1
            self._counts[letter.atom] = count
            label = f"{latex(letter.atom)}^{{({count})}}"
            row, col = (right, left) if letter.transposed else (left, right)
            self.occurrences.append(_Occurrence(letter.atom, label, row, col))
        else:
            self.static.append((left, right, _Edge.of_letter(letter)))

    def pairings(self) -> Iterator[tuple[tuple[int, int], ...]] | None:
        """All Wick pairings (index pairs into ``occurrences``); None if a count is odd."""
        groups: dict[MatrixSymbol, list[int]] = {}
        for i, occurrence in enumerate(self.occurrences):
            groups.setdefault(occurrence.symbol, []).append(i)
        if any(len(g) % 2 for g in groups.values()):
            return None

        def combine(lists: list[list[int]]) -> Iterator[tuple[tuple[int, int], ...]]:
            if not lists:
                yield ()
                return
            for head in _matchings(lists[0]):
                for tail in combine(lists[1:]):
                    yield head + tail

        return combine(list(groups.values()))

    def contract(
        self, pairing: tuple[tuple[int, int], ...], covariance: Mapping[MatrixSymbol, tuple]
    ) -> tuple[list[tuple[_Edge, ...]], tuple[_Edge, ...] | None]:
        """Cycles (canonical edge sequences) and the open path after inserting covariances."""
        edges = list(self.static)
        for i, j in pairing:
            u, v = self.occurrences[i], self.occurrences[j]
            row_edge, col_edge = covariance[u.symbol]
            edges.append((u.row_slot, v.row_slot, row_edge))
            edges.append((u.col_slot, v.col_slot, col_edge))
        adjacent: dict[int, list[tuple[int, int]]] = {}
        for e, (u, v, _) in enumerate(edges):
            adjacent.setdefault(u, []).append((e, 0))
            adjacent.setdefault(v, []).append((e, 1))
        visited: set[int] = set()

        def step(half: tuple[int, int]) -> tuple[_Edge, int, tuple[int, int]]:
            e, end = half
            visited.add(e)
            u, v, edge = edges[e]
            return (edge, v, (e, 1)) if end == 0 else (edge.transpose(), u, (e, 0))

        def other(slot: int, arrived: tuple[int, int]) -> tuple[int, int]:
            first, second = adjacent[slot]
            return second if first == arrived else first

        path = None
        if self.open:
            walk, half = [], adjacent[self.start][0]
            while True:
                edge, slot, arrived = step(half)
                walk.append(edge)
                if slot == self.end:
                    break
                half = other(slot, arrived)
            path = tuple(walk)
        cycles = []
        for e in range(len(edges)):
            if e in visited:
                continue
            walk, half = [], (e, 0)
            while True:
                edge, slot, arrived = step(half)
                walk.append(edge)
                half = other(slot, arrived)
                if half == (e, 0):
                    break
            cycles.append(least_rotation(walk, _reverse_walk, lambda edge: edge.key))
        cycles.sort(key=lambda c: tuple(edge.key for edge in c))
        return cycles, path


def _matchings(items: list[int]) -> Iterator[tuple[tuple[int, int], ...]]:
    """Perfect matchings of an even-length list."""
    if not items:
        yield ()
        return
    head, rest = items[0], items[1:]
    for k, partner in enumerate(rest):
        for tail in _matchings(rest[:k] + rest[k + 1 :]):
            yield ((head, partner), *tail)


def _display(edges: tuple[_Edge, ...]) -> list[MatrixExpr]:
    return [edge.expr for edge in edges if not edge.is_identity]


def _cycle_expr(cycle: tuple[_Edge, ...]) -> sympy.Expr:
    shown = _display(cycle)
    if not shown:
        return cycle[0].expr.rows
    return Trace(shown[0] if len(shown) == 1 else MatMul(*shown))


def _path_expr(path: tuple[_Edge, ...], rows: sympy.Expr) -> MatrixExpr:
    shown = _display(path)
    if not shown:
        return Identity(rows)
    return shown[0] if len(shown) == 1 else MatMul(*shown)


def _expand_walk(edges: list) -> dict[Word, sympy.Expr]:
    """Multiply out a sequence of edges / token elements into words with coefficients."""
    words: dict[Word, sympy.Expr] = {(): sympy.S.One}
    for item in edges:
        parts = item.terms() if isinstance(item, TokenElement) else item.parts
        product: dict[Word, sympy.Expr] = {}
        for word, c in words.items():
            for c2, w2 in parts:
                key = word + w2
                product[key] = product.get(key, sympy.S.Zero) + c * c2
        words = product
    return words


_Reduced = list[tuple[sympy.Expr, tuple[Factor, ...], Word | None]]


def _reduce_cycle(cycle: tuple[_Edge, ...]) -> _Reduced:
    """tr(product along the cycle) as a sum of coefficient * factors."""
    tokens = [edge.token for edge in cycle]
    if all(t is not None for t in tokens):
        product = tokens[0]
        for t in tokens[1:]:
            product = product * t
        return [(product.trace(), (), None)]
    first = next(i for i, t in enumerate(tokens) if t is None)
    rotated = cycle[first:] + cycle[:first]
    size = rotated[0].expr.rows
    result = []
    for word, c in _expand_walk(merge_token_runs(rotated, lambda e: e.token)).items():
        c2, factors = reduce_trace(word, size)
        result.append((c * c2, factors, None))
    return result


def _reduce_path(path: tuple[_Edge, ...]) -> _Reduced:
    result = []
    for word, c in _expand_walk(merge_token_runs(path, lambda e: e.token)).items():
        c2, factors, open_word = reduce_open(word)
        result.append((c * c2, factors, open_word))
    return result


def _combine(parts: list[_Reduced], rows: sympy.Expr | None) -> _Reduced:
    """Multiply the reduced cycles and the path (rows: None for a scalar monomial)."""
    combined: _Reduced = [(sympy.S.One, (), () if rows is not None else None)]
    for options in parts:
        combined = [
            (c1 * c2, f1 + f2, w2 if w2 is not None else w1)
            for c1, f1, w1 in combined
            for c2, f2, w2 in options
        ]
    return combined


def _assemble(
    pieces: Mapping[tuple[tuple[Factor, ...], Word | None], list[sympy.Expr]],
    shape: tuple[sympy.Expr, sympy.Expr] | None,
) -> sympy.Basic:
    """Sum of coefficient * factors [* open matrix], coefficients added and expanded."""
    terms = []
    for (factors, word), coefficients in sorted(
        pieces.items(),
        key=lambda item: (
            tuple(f.key for f in item[0][0]),
            () if item[0][1] is None else word_key(item[0][1]),
        ),
    ):
        total = sympy.expand(sympy.Add(*coefficients))
        if total == 0:
            continue
        scalar = sympy.Mul(total, *(f.to_expr() for f in factors))
        terms.append(scalar if word is None else scalar * word_to_expr(word, shape[0]))
    if shape is None:
        return sympy.Add(*terms)
    if not terms:
        return ZeroMatrix(*shape)
    return terms[0] if len(terms) == 1 else MatAdd(*terms)


def _key_of(factors: tuple[Factor, ...], word: Word | None) -> tuple:
    return tuple(sorted(factors, key=lambda f: f.key)), word


@dataclass(frozen=True)
class WickResult:
    """E[expr] (``value``) and the derivation that produced it (``steps``)."""

    expr: sympy.Basic
    value: sympy.Basic
    steps: tuple[MonomialStep, ...]

    def to_latex(self) -> str:
        """``align*`` blocks: the result, then each monomial with its Wick pairings."""
        head = (
            "\\begin{align*}\n"
            rf"\mathbb{{E}}\left[{latex(self.expr)}\right] &= {latex(self.value)}"
            "\n\\end{align*}"
        )
        return "\n".join([head, *(step.to_latex() for step in self.steps)])

    def tex(self) -> Tex:
        """``to_latex``, rendered when a derivation document reads it."""
        return Tex(self.to_latex)


def expect_matrix(
    expr: sympy.Basic, gaussians: Mapping[MatrixSymbol, GaussianMatrix]
) -> WickResult:
    """E[expr] over the independent Gaussian matrices ``gaussians``; other symbols are fixed.

    ``expr`` is a scalar (traces, products and sums of traces, scalar factors)
    or a matrix expression; the value is of the same kind.
    """
    if not isinstance(gaussians, Mapping):
        raise ValueError(
            f"gaussians must be a dict MatrixSymbol -> GaussianMatrix, got {gaussians!r}"
        )
    for symbol, spec in gaussians.items():
        if not isinstance(symbol, MatrixSymbol):
            raise ValueError(f"gaussians keys must be MatrixSymbols, got {symbol!r}")
        if not isinstance(spec, GaussianMatrix):
            raise ValueError(f"gaussians[{symbol}] must be a GaussianMatrix, got {spec!r}")
        spec._check_against(symbol, tuple(gaussians))
    try:
        expr = _sympify(expr)
    except SympifyError:
        raise ValueError(f"expr must be a SymPy expression, got {type(expr).__name__}") from None
    expander = Expander(gaussians)
    try:
        if isinstance(expr, MatrixExpr):
            shape = expr.shape
            terms = expander.matrix(expr)
        else:
            shape = None
            terms = expander.scalar(expr)
        covariance = {
            symbol: (
                _Edge.of_covariance(spec.row, symbol.rows, expander),
                _Edge.of_covariance(spec.col, symbol.cols, expander),
            )
            for symbol, spec in gaussians.items()
        }
        return _expect_terms(expr, collect_terms(terms), gaussians, covariance, shape)
    except ShapeError as error:
        raise ValueError(f"expr has mismatched shapes: {error}") from None


def _expect_terms(
    expr: sympy.Basic,
    terms: list[Term],
    gaussians: Mapping[MatrixSymbol, GaussianMatrix],
    covariance: Mapping[MatrixSymbol, tuple[_Edge, _Edge]],
    shape: tuple[sympy.Expr, sympy.Expr] | None,
) -> WickResult:
    pieces: dict[tuple, list[sympy.Expr]] = {}
    steps = []
    rows = None if shape is None else shape[0]
    for term in terms:
        network = _Network(term, gaussians)
        monomial = sympy.Mul(*(Trace(word_to_expr(w, n)) for w, n in term.traces))
        if shape is not None:
            monomial = monomial * word_to_expr(term.word, rows)
        labels = tuple(o.label for o in network.occurrences)
        pairings = network.pairings()
        if pairings is None:
            note = "odd number of occurrences of a Gaussian matrix: expectation 0"
            steps.append(MonomialStep(monomial, term.coefficient, labels, (), note))
            continue
        variance = _pair_variance(network, gaussians)
        grouped: dict[sympy.Basic, tuple[list[Pairing], tuple]] = {}
        for pairing in pairings:
            cycles, path = network.contract(pairing, covariance)
            contracted = sympy.Mul(variance, *(_cycle_expr(c) for c in cycles))
            if path is not None:
                contracted = contracted * _path_expr(path, rows)
            elif shape is not None:
                contracted = contracted * Identity(rows)
            named = tuple(
                (network.occurrences[i].label, network.occurrences[j].label) for i, j in pairing
            )
            entry = grouped.setdefault(contracted, ([], (cycles, path)))
            entry[0].append(named)
        groups = []
        for contracted, (named_pairings, (cycles, path)) in grouped.items():
            parts = [_reduce_cycle(c) for c in cycles]
            if path is not None:
                parts.append(_reduce_path(path))
            reduced_pieces: dict[tuple, list[sympy.Expr]] = {}
            for c, factors, word in _combine(parts, rows):
                reduced_pieces.setdefault(_key_of(factors, word), []).append(variance * c)
                weight = term.coefficient * len(named_pairings)
                pieces.setdefault(_key_of(factors, word), []).append(weight * variance * c)
            reduced = _assemble(reduced_pieces, shape)
            groups.append(PairingGroup(tuple(named_pairings), contracted, reduced))
        steps.append(MonomialStep(monomial, term.coefficient, labels, tuple(groups)))
    return WickResult(expr, _assemble(pieces, shape), tuple(steps))


def _pair_variance(
    network: _Network, gaussians: Mapping[MatrixSymbol, GaussianMatrix]
) -> sympy.Expr:
    """Product of the variance factor over the pairs of any pairing (one per two occurrences)."""
    counts: dict[MatrixSymbol, int] = {}
    for o in network.occurrences:
        counts[o.symbol] = counts.get(o.symbol, 0) + 1
    return sympy.Mul(*(gaussians[s].variance ** (k // 2) for s, k in counts.items()))


def evaluate(
    expr: sympy.Basic,
    values: Mapping[MatrixSymbol, sympy.MatrixBase],
    dims: Mapping[sympy.Symbol, int],
) -> sympy.Basic:
    """Substitute explicit matrices and integer dimensions; returns a SymPy scalar or Matrix."""
    sizes = {k: sympy.Integer(v) for k, v in dims.items()}

    def size(x: sympy.Expr) -> int:
        value = _sympify(x).xreplace(sizes)
        if not value.is_Integer:
            raise ValueError(f"dims must give every dimension an integer value, missing for {x}")
        return int(value)

    def walk(e: sympy.Basic) -> sympy.Basic:
        if isinstance(e, MatrixExpr):
            return ImmutableMatrix(matrix(e))
        if isinstance(e, Trace):
            return walk(e.arg).trace()
        if not e.has(MatrixExpr):
            return e.xreplace(sizes)
        return e.func(*(walk(a) for a in e.args))

    def matrix(e: MatrixExpr) -> sympy.MatrixBase:
        if isinstance(e, MatrixSymbol):
            if e not in values:
                raise ValueError(f"values is missing the matrix {e}")
            value = sympy.Matrix(values[e])
            if value.shape != (size(e.rows), size(e.cols)):
                raise ValueError(
                    f"values[{e}] must have shape {size(e.rows)}x{size(e.cols)}, got {value.shape}"
                )
            return value
        if isinstance(e, Identity):
            return sympy.eye(size(e.rows))
        if isinstance(e, OneMatrix):
            return sympy.ones(size(e.rows), size(e.cols))
        if isinstance(e, ZeroMatrix):
            return sympy.zeros(size(e.rows), size(e.cols))
        if isinstance(e, Transpose):
            return matrix(e.arg).T
        if isinstance(e, Inverse):
            return matrix(e.arg).inv()
        if isinstance(e, MatPow):
            return matrix(e.base) ** int(e.exp)
        if isinstance(e, (MatMul, MatAdd)):
            result = None
            for a in e.args:
                part = matrix(a) if isinstance(a, MatrixExpr) else walk(a)
                if result is None:
                    result = part
                else:
                    result = result * part if isinstance(e, MatMul) else result + part
            return result
        if isinstance(e, ImmutableMatrix):
            return e.xreplace(sizes)
        raise ValueError(f"evaluate does not know the matrix expression {e}")

    try:
        return walk(expr)
    except ShapeError as error:
        raise ValueError(f"values have mismatched shapes: {error}") from None
