"""Theory maps, one per sublayer kind (architecture.sublayers), on the expected Gram.

A state is the expected Gram K = E[X X^T] of the token stream, held as a
:class:`Gram` (explicit n x n entries, or two coordinates in a span for a symbolic
n), with how it holds: ``exact`` (the exact expectation at finite width),
``large-width`` (the mean-field limit) or ``assumption`` (uniform attention in
place of softmax, the paper's Assumption 3.1). Each map gives the expected Gram
of its output:

- Attention: E[S S^T | U] = c M K M^T, M the averaging matrix (J/n, or the causal
  running mean), c derived by the Wick engine over W^V (and W^O): heads sigma_v^2 d_v
  for heads side by side, heads sigma_o^2 d sigma_v^2 d_v with W^O. Exact for uniform
  attention, the paper's assumption for softmax; linear in K.
- MLP: E[Y Y^T | U]_kk' = sigma_2^2 d d_ff E[phi(u) phi(v)] with (u, v) ~
  N(0, sigma_1^2 [[K_kk, K_kk'], [K_kk', K_k'k']]): linear (the Wick engine's
  sigma_1^2 sigma_2^2 d d_ff K) and ReLU (the derived arc-cosine kernel) in closed
  form, GeLU and tanh by quadrature. Exact given U, so exact for a linear
  activation or a deterministic input; the large-width map otherwise.
- LayerNorm: K_kk' -> K_kk' / sqrt((K_kk/d + eps)(K_k'k'/d + eps)) for tokens with
  features of mean zero whose norms concentrate: the large-width map.
- Residual: K -> K + alpha^2 E[B B^T]: the branch ends in a zero-mean weight drawn
  independently of X, so the cross terms vanish. Exact.

``propagate`` composes the maps block after block. Where every map of a block is
linear, the block is a matrix on the state's coordinates and ``closed_form`` raises
it to a symbolic power (L blocks in closed form). Parameters are the specs'
numbers, or symbols given per (sublayer, field) for symbolic derivations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy import MatrixSymbol

from architecture.model import Model
from architecture.sublayers import MLP, Attention, LayerNorm, Residual, Sublayer
from theory.kernels import quadrature_kernel, relu_kernel
from theory.statistics import symbol as statistic
from theory.wick import GaussianMatrix, expect_matrix

#: how a state holds, weakest last
HOW = ("exact", "large-width", "assumption")
Entry = Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]
Symbols = Mapping[tuple[Sublayer, str], sp.Expr]


class NoTheory(ValueError):
    """A map cannot act on this state (a symbolic state where it needs numbers or entries)."""


# ---------------------------------------------------------------------------- Gram states

class Gram:
    """An n x n expected Gram; the maps use only these operations."""

    n: sp.Expr

    def average(self, mask: str) -> Gram:
        """M K M^T: M = J/n (mask none) or the causal running mean."""
        raise NotImplementedError

    def entrywise(self, f: Entry) -> Gram:
        """K_kk' -> f(K_kk, K_k'k', K_kk') for every entry."""
        raise NotImplementedError

    def combine(self, a: sp.Expr, other: Gram | None = None, b: sp.Expr = 0) -> Gram:
        """a K + b K_other."""
        raise NotImplementedError

    def coordinates(self) -> tuple[sp.Expr, ...]:
        raise NotImplementedError

    def from_coordinates(self, values: Sequence[sp.Expr]) -> Gram:
        raise NotImplementedError


@dataclass(frozen=True)
class Explicit(Gram):
    """Every entry of K (n a number)."""

    matrix: sp.Matrix

    @property
    def n(self) -> int:
        return self.matrix.shape[0]

    def average(self, mask: str) -> Explicit:
        m = averaging_matrix(self.n, mask)
        return Explicit(m * self.matrix * m.T)

    def entrywise(self, f: Entry) -> Explicit:
        k, size = self.matrix, self.n
        out = sp.zeros(size, size)
        for i in range(size):
            for j in range(i, size):
                out[i, j] = out[j, i] = f(k[i, i], k[j, j], k[i, j])
        return Explicit(out)

    def combine(self, a: sp.Expr, other: Gram | None = None, b: sp.Expr = 0) -> Explicit:
        out = a * self.matrix
        return Explicit(out if other is None else out + b * as_matrix(other))

    def coordinates(self) -> tuple[sp.Expr, ...]:
        return tuple(self.matrix)

    def from_coordinates(self, values: Sequence[sp.Expr]) -> Explicit:
        return Explicit(sp.Matrix(self.n, self.n, list(values)))


@dataclass(frozen=True)
class Span(Gram):
    """K = g B + j J for a symbolic number of tokens n: B = I (exchangeable tokens, whose
    entries are known: the diagonal g + j, the rest j) or B = G, the Gram of a fixed input
    X (only linear maps act on it; 1^T G 1 = C(X))."""

    g: sp.Expr
    j: sp.Expr
    n: sp.Expr
    base: str = "I"

    def _mean(self) -> sp.Expr:
        """1^T K 1 / n^2."""
        ones = 1 / self.n if self.base == "I" else statistic("C_X") / self.n**2
        return self.g * ones + self.j

    def average(self, mask: str) -> Gram:
        if mask == "none":
            return Span(sp.S.Zero, self._mean(), self.n, self.base)
        if self.base == "I" and self.n.is_Integer:
            return Explicit(as_matrix(self)).average(mask)
        raise NoTheory("a causal mask needs a numeric number of tokens n and known entries")

    def entrywise(self, f: Entry) -> Span:
        if self.base != "I":
            raise NoTheory("a map entry by entry (LayerNorm, a nonlinear MLP) needs the "
                           "entries of K, not only K = g G + j J")
        q = self.g + self.j
        diag, off = f(q, q, q), f(q, q, self.j)
        return Span(diag - off, off, self.n, self.base)

    def combine(self, a: sp.Expr, other: Gram | None = None, b: sp.Expr = 0) -> Gram:
        if other is None:
            return Span(a * self.g, a * self.j, self.n, self.base)
        if isinstance(other, Span) and other.base == self.base:
            return Span(a * self.g + b * other.g, a * self.j + b * other.j, self.n, self.base)
        return Explicit(as_matrix(self)).combine(a, other, b)

    def coordinates(self) -> tuple[sp.Expr, ...]:
        return (self.g, self.j)

    def from_coordinates(self, values: Sequence[sp.Expr]) -> Span:
        return Span(values[0], values[1], self.n, self.base)

    @property
    def diagonal(self) -> sp.Expr:
        """K_kk (exchangeable base only)."""
        return self.g + self.j

    @property
    def off_diagonal(self) -> sp.Expr:
        return self.j


def as_matrix(gram: Gram) -> sp.Matrix:
    """The n x n entries of an explicit state or of an exchangeable span at numeric n."""
    if isinstance(gram, Explicit):
        return gram.matrix
    if isinstance(gram, Span) and gram.base == "I" and sp.sympify(gram.n).is_Integer:
        size = int(gram.n)
        return gram.g * sp.eye(size) + gram.j * sp.ones(size, size)
    raise NoTheory("the entries of K are not known for a symbolic n or a symbolic input Gram")


def averaging_matrix(n: int, mask: str) -> sp.Matrix:
    """J/n, or the causal running mean (row i averages tokens 1..i)."""
    if mask == "none":
        return sp.ones(n, n) / n
    return sp.Matrix(n, n, lambda i, j: sp.Rational(1, i + 1) if j <= i else 0)


def exchangeable(n: sp.Expr, q: sp.Expr, c: sp.Expr) -> Gram:
    """K with diagonal q and off-diagonal c: explicit for a numeric n, else a span."""
    span = Span(q - c, c, sp.sympify(n))
    return Explicit(as_matrix(span)) if span.n.is_Integer else span


# ---------------------------------------------------------------------------- the maps

@dataclass(frozen=True)
class Step:
    """A map's derivation: which sublayer, how it holds, and the map in LaTeX."""

    kind: str
    how: str
    latex: str
    linear: bool = True  # the map is linear in K
    wick: str = ""  # the Wick engine's expansion behind the map (align* blocks), if any

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(title, LaTeX) steps for a derivation: the map, then its Wick expansion."""
        kind = self.kind.capitalize()
        out = [(f"{kind} map ({self.how})", self.latex)]
        if self.wick:
            out.append((f"{kind}: Wick contraction (engine)", self.wick))
        return tuple(out)


@dataclass(frozen=True)
class State:
    gram: Gram
    how: str = "exact"
    deterministic: bool = True

    def weakened(self, how: str) -> str:
        return max(self.how, how, key=HOW.index)


def _value(spec: Sublayer, name: str, symbols: Symbols) -> sp.Expr:
    override = symbols.get((spec, name))
    if override is not None:
        return override
    value = getattr(spec, name)
    if float(value).is_integer():
        return sp.Integer(int(value))
    return sp.Float(value, 30)  # the float itself, exactly; 30 digits of headroom


@cache
def attention_coefficient(heads: int, projection: bool) -> tuple[sp.Expr, str]:
    """c in E[S S^T | U] = c M U U^T M^T, by the Wick engine over W^V (and W^O), for
    ``heads`` heads mixed by W^O or side by side; symbols d, d_v, sigma_v, sigma_o."""
    n, d, d_v = sp.symbols("n d d_v", positive=True, integer=True)
    sigma_v, sigma_o = sp.symbols("sigma_v sigma_o", positive=True)
    m, u = MatrixSymbol("M", n, n), MatrixSymbol("U", n, d)
    values = [MatrixSymbol(f"W_V{h}", d, d_v) for h in range(heads)]
    gaussians = {v: GaussianMatrix.iid(sigma_v**2) for v in values}
    if projection:
        outs = [MatrixSymbol(f"W_O{h}", d_v, d) for h in range(heads)]
        gaussians |= {o: GaussianMatrix.iid(sigma_o**2) for o in outs}
        s = sp.MatAdd(*(m * u * v * o for v, o in zip(values, outs, strict=True)))
        second = s * s.T
    else:  # heads side by side: S S^T is the sum of the heads' S_h S_h^T
        second = sp.MatAdd(*((m * u * v) * (m * u * v).T for v in values))
    result = expect_matrix(second, gaussians)
    factors = sp.MatMul.make_args(result.value)
    if [f for f in factors if f.is_Matrix] != [m, u, u.T, m.T]:
        raise RuntimeError(f"unexpected attention second moment {result.value}")
    return sp.Mul(*(f for f in factors if not f.is_Matrix)), result.to_latex()


@cache
def linear_mlp_coefficient() -> tuple[sp.Expr, str]:
    """a in E[Y Y^T | U] = a U U^T for Y = U W^1 W^2, by the Wick engine; symbols d,
    d_ff, sigma_1, sigma_2."""
    n, d, d_ff = sp.symbols("n d d_ff", positive=True, integer=True)
    sigma_1, sigma_2 = sp.symbols("sigma_1 sigma_2", positive=True)
    u = MatrixSymbol("U", n, d)
    w1, w2 = MatrixSymbol("W_1", d, d_ff), MatrixSymbol("W_2", d_ff, d)
    result = expect_matrix(u * w1 * w2 * (u * w1 * w2).T, {
        w1: GaussianMatrix.iid(sigma_1**2), w2: GaussianMatrix.iid(sigma_2**2)})
    factors = sp.MatMul.make_args(result.value)
    if [f for f in factors if f.is_Matrix] != [u, u.T]:
        raise RuntimeError(f"unexpected feed-forward second moment {result.value}")
    return sp.Mul(*(f for f in factors if not f.is_Matrix)), result.to_latex()


def _substitute(expr: sp.Expr, values: Mapping[str, sp.Expr]) -> sp.Expr:
    return expr.xreplace({s: values[s.name] for s in expr.free_symbols})


def _attention(spec: Attention, state: State, d: sp.Expr, symbols: Symbols
               ) -> tuple[Gram, Step]:
    coefficient, wick = attention_coefficient(spec.heads, spec.output_projection)
    values = {"d": d, **{k: _value(spec, k, symbols) for k in ("d_v", "sigma_v", "sigma_o")}}
    how = "exact" if spec.kind == "uniform" else "assumption"
    mask = "J/n" if spec.mask == "none" else r"\text{causal mean}"
    latex = (r"\mathbb E[SS^\top\mid U] = " + sp.latex(coefficient) + r"\,M K M^\top,\ M = "
             + mask)
    if how == "assumption":
        latex += r"\quad\text{(softmax replaced by uniform attention: Assumption 3.1)}"
    gram = state.gram.average(spec.mask).combine(_substitute(coefficient, values))
    return gram, Step("attention", how, latex, wick=wick)


@cache
def _quadrature(activation: str, q1: float, q2: float, c: float) -> sp.Float:
    """E[phi(u) phi(v)] by quadrature in float arithmetic (about 1e-15 relative at
    moderate variances, 1e-8 at variances near 40), memoised: a token-structured Gram has
    few distinct entries."""
    return sp.Float(quadrature_kernel(activation, q1, q2, c, dps=15, degree=5), 15)


def _kernel(activation: str) -> Entry:
    def kernel(q1: sp.Expr, q2: sp.Expr, c: sp.Expr) -> sp.Expr:
        if activation == "relu":
            if q1.is_number and q2.is_number and (q1 == 0 or q2 == 0):
                return sp.S.Zero
            value = relu_kernel(q1, q2, c)
            return sp.N(value, 30) if value.is_number else value
        if not all(v.is_number for v in (q1, q2, c)):
            raise NoTheory(f"the {activation} kernel is computed by quadrature: it needs numbers")
        return _quadrature(activation, *(float(f"{float(v):.12g}") for v in (q1, q2, c)))

    return kernel


def _mlp(spec: MLP, state: State, d: sp.Expr, symbols: Symbols) -> tuple[Gram, Step]:
    values = {"d": d, **{k: _value(spec, k, symbols) for k in ("d_ff", "sigma_1", "sigma_2")}}
    if spec.activation == "linear":
        coefficient, wick = linear_mlp_coefficient()
        return state.gram.combine(_substitute(coefficient, values)), Step(
            "mlp", "exact", r"\mathbb E[YY^\top\mid U] = " + sp.latex(coefficient)
            + r"\,UU^\top", wick=wick)
    pre, post = values["sigma_1"] ** 2, values["sigma_2"] ** 2 * d * values["d_ff"]
    kernel = _kernel(spec.activation)
    gram = state.gram.entrywise(lambda q1, q2, c: post * kernel(pre * q1, pre * q2, pre * c))
    how = "exact" if state.deterministic else "large-width"
    return gram, Step("mlp", how, r"\mathbb E[YY^\top\mid U]_{kk'} = \sigma_2^2 d\,d_{ff}\,"
                      r"\mathbb E[\phi(u)\phi(v)],\ (u,v)\sim N(0, \sigma_1^2 K_{\{k,k'\}})"
                      rf",\ \phi = \text{{{spec.activation}}}", linear=False)


def _layer_norm(spec: LayerNorm, state: State, d: sp.Expr, symbols: Symbols
                ) -> tuple[Gram, Step]:
    eps = _value(spec, "eps", symbols)
    gram = state.gram.entrywise(lambda q1, q2, c: c / sp.sqrt((q1 / d + eps) * (q2 / d + eps)))
    return gram, Step("layernorm", "large-width",
                      r"K_{kk'} \mapsto K_{kk'}/\sqrt{(K_{kk}/d + \epsilon)(K_{k'k'}/d + "
                      r"\epsilon)}\ (\text{features of mean zero, norms concentrating})",
                      linear=False)


_MAPS = {Attention: _attention, MLP: _mlp, LayerNorm: _layer_norm}


def apply(spec: Sublayer, state: State, d: sp.Expr, symbols: Symbols | None = None
          ) -> tuple[State, list[Step]]:
    """One sublayer's map: the state of its output and the steps taken."""
    symbols = symbols or {}
    if isinstance(spec, Residual):
        branch, steps = state, []
        for part in spec.branch:
            branch, more = apply(part, branch, d, symbols)
            steps += more
        alpha = _value(spec, "alpha", symbols)
        gram = state.gram.combine(sp.S.One, branch.gram, alpha**2)
        how = state.weakened(branch.how)
        deterministic = state.deterministic and (branch.deterministic or alpha == 0)
        return State(gram, how, deterministic), [*steps, Step(
            "residual", "exact", r"K \mapsto K + " + sp.latex(alpha**2)
            + r"\,\mathbb E[BB^\top]\ (\mathbb E[B\mid X] = 0)")]
    try:
        map_ = _MAPS[type(spec)]
    except KeyError:
        raise NoTheory(f"no theory map for sublayer {type(spec).__name__}") from None
    gram, step = map_(spec, state, d, symbols)
    random = not isinstance(spec, LayerNorm)
    return State(gram, state.weakened(step.how), state.deterministic and not random), [step]


def apply_block(block: Sequence[Sublayer], state: State, d: sp.Expr,
                symbols: Symbols | None = None) -> tuple[State, list[Step]]:
    steps: list[Step] = []
    for spec in block:
        state, more = apply(spec, state, d, symbols)
        steps += more
    return state, steps


def propagate(model: Model, start: State, symbols: Symbols | None = None
              ) -> list[tuple[State, list[Step]]]:
    """The state after each block of ``model`` from the input state ``start``."""
    state, out = start, []
    for block in model.blocks:
        state, steps = apply_block(block, state, model.d, symbols)
        out.append((state, steps))
    return out


def block_matrix(block: Sequence[Sublayer], start: Gram, d: sp.Expr,
                 symbols: Symbols | None = None) -> sp.Matrix | None:
    """The block as a matrix T on the coordinates of states shaped like ``start`` (vec of
    an explicit K, or (g, j) of a span) when every map in it is linear and exact; else
    None. The state after l blocks has coordinates T^l times the input's."""
    size = len(start.coordinates())
    columns = []
    for index in range(size):
        unit = start.from_coordinates([int(k == index) for k in range(size)])
        try:
            state, steps = apply_block(block, State(unit, deterministic=False), d, symbols)
        except NoTheory:
            return None
        if state.how != "exact" or not all(s.linear for s in steps):
            return None
        columns.append(list(state.gram.coordinates()))
    return sp.Matrix(columns).T


def closed_form(block: Sequence[Sublayer], start: Gram, d: sp.Expr, depth: sp.Expr,
                symbols: Symbols | None = None) -> tuple[Gram, sp.Matrix]:
    """The state after ``depth`` (a symbol allowed) repetitions of a linear block, as the
    ``depth``-th matrix power (SymPy diagonalises T) applied to the input: (state, T)."""
    t = block_matrix(block, start, d, symbols)
    if t is None:
        raise NoTheory("the block is not linear in K (LayerNorm, a nonlinear MLP on a "
                       "random input, or softmax attention), so it has no closed form in "
                       "the depth")
    power = sp.simplify(t**depth)
    values = power * sp.Matrix(start.coordinates())
    return start.from_coordinates([sp.simplify(v) for v in values]), t


# ---------------------------------------------------------------------------- summaries

def mean_norm(gram: Gram) -> sp.Expr:
    """E ||xbar||^2 = 1^T K 1 / n^2 for the mean token xbar."""
    if isinstance(gram, Span):
        return gram._mean()
    return sum(gram.matrix) / gram.n**2


def mean_correlation(gram: Gram) -> sp.Expr:
    """rho = the average over token pairs k != k' of K_kk' / sqrt(K_kk K_k'k'): each
    correlation a ratio of expectations, as the paper defines it."""
    if isinstance(gram, Span) and gram.base == "I":
        return gram.off_diagonal / gram.diagonal
    k = as_matrix(gram)
    n = k.shape[0]
    return sum(k[i, j] / sp.sqrt(k[i, i] * k[j, j]) for i in range(n) for j in range(n)
               if i != j) / (n * (n - 1))
