"""Exact expected Gram matrices of stacks whose sublayers are linear in the Gram.

For a fixed input X (n x d) with Gram G = X X^T, the sublayers below map the
expected Gram K of their input to that of their output linearly and keep it
in span{G, J} (J = 1 1^T): K = g G + j J is the state (g, j), and every
sublayer is a 2 x 2 matrix acting on it. The mean entry of K enters through
1^T K 1 / n^2 = g c + j with c = 1^T G 1 / n^2 = C(X)/n^2.

- uniform attention branch S = (1/n) J U W^V, W^V (d x d) iid N(0, sigma_v^2):
  E[S S^T | U] = sigma_v^2 d (1^T K 1 / n^2) J, so (g, j) -> (0, sigma_v^2 d (g c + j));
- linear feed-forward branch Y = U W^1 W^2 (d x d_F, d_F x d), variances
  sigma_1^2, sigma_2^2: E[Y Y^T | U] = sigma_1^2 sigma_2^2 d_F d K;
- residual U + alpha B(U) with E[B | U] = 0: K -> K + alpha^2 E[B B^T], i.e.
  I + alpha^2 times the branch's matrix (the cross terms vanish).

Each map is derived from the engine's expectation of the branch (Wick
contraction over its weights), then composed: a block is the product of its
sublayer matrices, and L blocks are the L-th power of that matrix, in closed
form for symbolic L (``sympy`` diagonalises the 2 x 2 block matrix), so the
expected Gram after L blocks is exact at every width.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import MatrixSymbol, OneMatrix

from theory.attention import Derivation, G, gram_traces
from theory.statistics import symbol as statistic
from theory.statistics import to_statistics
from theory.token_algebra import token_of
from theory.wick import GaussianMatrix, expect_matrix

n, d, d_F, L = sp.symbols("n d_v d_F L", positive=True, integer=True)
alpha_1, alpha_2, sigma_v, sigma_1, sigma_2 = sp.symbols(
    "alpha_1 alpha_2 sigma_v sigma_1 sigma_2", nonnegative=True)
J = OneMatrix(n, n)
c = statistic("C_X") / n**2


@dataclass(frozen=True)
class SpanMap:
    """A linear map of the state (g, j) of K = g G + j J, with its derivation steps."""

    matrix: sp.Matrix
    steps: tuple[tuple[str, str], ...]

    def then(self, other: SpanMap) -> SpanMap:
        """This map followed by ``other``."""
        return SpanMap(other.matrix * self.matrix, self.steps + other.steps)


def _span_coefficients(expected: sp.Basic, U: MatrixSymbol) -> tuple[sp.Expr, sp.Expr]:
    """(a, b) with ``expected`` = a U U^T + b J for a branch applied to U, b written in
    the statistics of U (C_X = 1^T U U^T 1)."""
    def is_gram(e: sp.Basic) -> bool:
        return isinstance(e, sp.MatMul) and [f for f in e.args if f.is_Matrix] == [U, U.T]

    def to_g(e: sp.MatMul) -> sp.Basic:
        return sp.Mul(*(f for f in e.args if not f.is_Matrix)) * G

    in_g = gram_traces(expected.replace(is_gram, to_g), U)
    def split(t: sp.Basic) -> tuple[sp.Expr, list]:
        factors = sp.MatMul.make_args(t) if isinstance(t, sp.MatMul) else (t,)
        return (sp.Mul(*(f for f in factors if not f.is_Matrix)),
                [f for f in factors if f.is_Matrix])

    terms = [split(t) for t in sp.MatAdd.make_args(in_g)]
    a = sp.Add(*(coef for coef, mats in terms if mats == [G]))
    rest = sp.Add(*(coef * sp.MatMul(*mats) for coef, mats in terms if mats != [G]))
    if rest == 0:
        return sp.simplify(a), sp.S.Zero
    scalars = {tr: to_statistics(tr) for tr in rest.atoms(sp.Trace)}
    token = token_of(rest.xreplace(scalars))
    if token is None or sp.simplify(token.identity) != 0:
        raise RuntimeError(f"branch output is not in span{{G, J}}: {expected}")
    return sp.simplify(a), sp.simplify(token.ones)


def uniform_attention_branch() -> SpanMap:
    """S = (1/n) J U W^V under the uniform-attention assumption."""
    U = MatrixSymbol("U", n, d)
    W_V = MatrixSymbol("W_V", d, d)
    result = expect_matrix((J * U * W_V / n) * (J * U * W_V / n).T,
                           {W_V: GaussianMatrix.iid(sigma_v**2)})
    a, b = _span_coefficients(result.value, U)
    if a != 0:
        raise RuntimeError("a uniform-attention branch should have no G component")
    per_mean = sp.simplify(b / c)  # b J with b proportional to the mean entry of K
    matrix = sp.Matrix([[0, 0], [per_mean * c, per_mean]])
    steps = (("Attention branch (uniform)", r"S = \tfrac1n J U W^V,\quad \mathbb E[SS^\top"
              r"\mid U] = " + sp.latex(sp.simplify(a * G + b * J))),
             ("On the state $K = gG + jJ$", r"(g, j)\mapsto\big(0,\ " + sp.latex(per_mean)
              + r"\,(g\,c + j)\big),\quad c = \tfrac{C(X)}{n^2}"))
    return SpanMap(matrix, steps)


def linear_mlp_branch() -> SpanMap:
    """Y = U W^1 W^2 with a linear activation."""
    U = MatrixSymbol("U", n, d)
    W_1, W_2 = MatrixSymbol("W_1", d, d_F), MatrixSymbol("W_2", d_F, d)
    y = U * W_1 * W_2
    result = expect_matrix(y * y.T, {W_1: GaussianMatrix.iid(sigma_1**2),
                                     W_2: GaussianMatrix.iid(sigma_2**2)})
    a, b = _span_coefficients(result.value, U)
    if b != 0:
        raise RuntimeError("a linear MLP branch should not add a J component")
    steps = (("Feed-forward branch (linear)", r"Y = U W^{1} W^{2},\quad \mathbb E[YY^\top"
              r"\mid U] = " + sp.latex(a) + r"\,UU^\top"),)
    return SpanMap(sp.Matrix([[a, 0], [0, a]]), steps)


def residual(alpha: sp.Expr, branch: SpanMap, name: str) -> SpanMap:
    """U + alpha B(U): K -> K + alpha^2 E[B B^T] (E[B | U] = 0 kills the cross terms)."""
    matrix = sp.eye(2) + alpha**2 * branch.matrix
    steps = (*branch.steps, (f"Residual ({name})", r"K \mapsto K + " + sp.latex(alpha**2)
                             + r"\,\mathbb E[BB^\top]"))
    return SpanMap(matrix, steps)


def paper_block() -> SpanMap:
    """The paper's block without LayerNorm: Z = X + alpha_1 S, X' = Z + alpha_2 Y(Z)."""
    return residual(alpha_1, uniform_attention_branch(), "attention").then(
        residual(alpha_2, linear_mlp_branch(), "feed-forward"))


def stack(block: SpanMap, depth: sp.Expr = L) -> tuple[sp.Expr, sp.Expr, Derivation]:
    """(g_L, j_L) after ``depth`` blocks from (g, j) = (1, 0), in closed form."""
    power = sp.simplify(block.matrix**depth)
    g_l, j_l = (sp.simplify(v) for v in power * sp.Matrix([1, 0]))
    steps = (*block.steps,
             ("One block on the state", r"(g', j')^\top = " + sp.latex(block.matrix)
              + r"\,(g, j)^\top"),
             (f"{depth} blocks (matrix power)", r"g_L = " + sp.latex(g_l) + r",\quad j_L = "
              + sp.latex(j_l)))
    return g_l, j_l, Derivation(sp.Tuple(g_l, j_l), steps)


def stack_moments(depth: sp.Expr = L) -> dict[str, Derivation]:
    """E C(X^L), E ||X^L||_F^2 and, for tokens of equal norms, the average correlation
    rho^L = E C / ((n-1) E ||X^L||^2) - 1/(n-1), for the paper's block."""
    g_l, j_l, base = stack(paper_block(), depth)
    c_x, x_f2 = statistic("C_X"), statistic("X_F2")
    inner = sp.factor(g_l * c_x + j_l * n**2)
    norm = sp.factor(g_l * x_f2 + j_l * n)
    rho = sp.factor(sp.simplify((g_l * (c_x - x_f2) + j_l * n * (n - 1))
                                / ((n - 1) * (g_l * x_f2 + j_l * n))))
    out = {}
    for name, value, how in (
            ("inner_product_sum", inner, r"\mathbb E\,C(X^L) = g_L C(X) + j_L n^2"),
            ("squared_norm", norm, r"\mathbb E\|X^L\|_F^2 = g_L\|X\|_F^2 + j_L n"),
            ("mean_correlation", rho, r"\rho^L = \frac{1}{n(n-1)}\sum_{k\ne k'}\frac{g_L G_{kk'}"
             r" + j_L}{g_L\|x\|^2 + j_L}\ \text{(equal token norms)}")):
        out[name] = Derivation(value, (*base.steps, (how, sp.latex(value))))
    return out
