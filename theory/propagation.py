"""Forward propagation of the token Gram matrix through attention blocks.

Tokens with Gram G = XX^T are summarised, when G is token-structured, by
q (diagonal), c (off-diagonal), the spread q - c and the mean entry
gbar = 1^T G 1 / n^2 = (q + (n-1) c)/n; the correlation is rho = c/q.

- No norm, uniform attention, d_v = d: the engine computes
  E[Z Z^T | X] = G + alpha_1^2 sigma_v^2 d gbar J for Z = X + alpha_1 (J/n) X W^V,
  so with a = alpha_1^2 sigma_v^2 d the spread is kept and gbar -> (1+a) gbar;
  the recursion is solved by ``rsolve`` and its limit for a = c/L by ``limit``.
- Post-LN: LayerNorm rescales every token to squared norm d; as d -> infinity
  the correlation after the block is the ratio of the expected entries,
  1 - rho' = (1 - rho)/(1 + a m(rho)), m(rho) = (1 + (n-1) rho)/n.
- Pre-LN: the branch sees LN(X), whose Gram is d ((1-rho) I + rho J), so it
  adds a d m(rho) to every Gram entry; spread kept, so 1 - rho_l = Theta(1/l).
"""

from __future__ import annotations

import sympy as sp
from sympy import Identity, MatrixSymbol, OneMatrix, Trace

from theory.attention import Derivation, G, gram_traces
from theory.token_algebra import token_of
from theory.wick import GaussianMatrix, expect_matrix

n, d, L, ell = sp.symbols("n d L ell", positive=True, integer=True)
alpha_1, sigma_v, rho, s, a, c = sp.symbols("alpha_1 sigma_v rho s a c", positive=True)
q0, c0 = sp.symbols("q_0 c_0", positive=True)
J = OneMatrix(n, n)


def mean_correlation_factor(r: sp.Expr = rho) -> sp.Expr:
    """m(rho) = (1 + (n-1) rho)/n = gbar / q for a Gram with correlation rho."""
    return (1 + (n - 1) * r) / n


def attention_gram_update() -> tuple[sp.Expr, sp.Expr, Derivation]:
    """One no-norm uniform-attention block: (E[Z Z^T]_kk, E[Z Z^T]_kk') at
    X X^T = s d ((1-rho) I + rho J), derived by the engine as a matrix."""
    X = MatrixSymbol("X", n, d)
    W_V = MatrixSymbol("W_V", d, d)
    Z = X + alpha_1 * (J / n) * X * W_V
    result = expect_matrix(Z * Z.T, {W_V: GaussianMatrix.iid(sigma_v**2)})
    gram = s * d * ((1 - rho) * Identity(n) + rho * J)
    expected = to_gram(result.value, X).xreplace({G: gram})
    ident, ones = _token_coefficients(expected)
    diag, off = sp.factor(ident + ones), sp.factor(ones)
    steps = (
        ("Block", r"Z = X + \alpha_1 \tfrac1n J X W^V,\quad W^V_{ab}\sim N(0,\sigma_v^2)"),
        ("Wick contraction (engine)", result.to_latex()),
        (r"At $XX^\top = s d((1-\rho)I + \rho J)$",
         r"\mathbb E[ZZ^\top]_{kk} = " + sp.latex(diag) + r",\quad \mathbb E[ZZ^\top]_{kk'} = "
         + sp.latex(off)),
    )
    return diag, off, Derivation(off, steps)


def to_gram(value: sp.Basic, X: MatrixSymbol) -> sp.Basic:
    """Write a matrix result in G = X X^T: open products X X^T and traces alike."""
    return gram_traces(value.replace(lambda e: e == X * X.T, lambda e: G), X)


def _token_coefficients(matrix: sp.Basic) -> tuple[sp.Expr, sp.Expr]:
    """(a, b) with matrix = a I + b J, reducing scalar traces by the token algebra."""
    traces = {t: expect_matrix(t, {}).value for t in matrix.atoms(Trace)}
    element = token_of(matrix.xreplace(traces))
    if element is None:
        raise ValueError("matrix is not in span{I, J}")
    return sp.simplify(element.identity), sp.simplify(element.ones)


def no_norm_depth() -> Derivation:
    """1 - rho_L for L no-norm uniform-attention blocks from q_0, c_0 (exact at any width).

    One block maps (spread, gbar) -> (spread, (1+a) gbar) (see attention_gram_update);
    rsolve gives gbar_L = gbar_0 (1+a)^L, and q_L = spread (n-1)/n + gbar_L.
    """
    g = sp.Function("gbar")
    gbar0 = (q0 + (n - 1) * c0) / n
    sol = sp.rsolve(g(ell + 1) - (1 + a) * g(ell), g(ell), {g(0): gbar0})
    spread = q0 - c0
    q_l = spread * (n - 1) / n + sol
    one_minus = sp.simplify(spread / q_l)
    steps = (
        ("Recursion (one block)", r"\bar g_{\ell+1} = (1+a)\,\bar g_\ell,\quad q_{\ell+1} - "
         r"c_{\ell+1} = q_\ell - c_\ell,\quad a = \alpha_1^2\sigma_v^2 d"),
        ("Solved by rsolve", r"\bar g_\ell = " + sp.latex(sol)),
        ("Correlation", r"1 - \rho_\ell = " + sp.latex(one_minus)),
    )
    return Derivation(one_minus.subs(ell, L), steps)


def scaled_residual_limit() -> Derivation:
    """lim_{L -> inf} 1 - rho_L when a = c/L (alpha_1 proportional to 1/sqrt(L))."""
    depth = no_norm_depth()
    limit = sp.simplify(sp.limit(depth.value.subs(a, c / L), L, sp.oo))
    steps = (*depth.steps,
             (r"Limit $L\to\infty$ with $a = c/L$ (SymPy limit)", r"1 - \rho_\infty = "
              + sp.latex(limit)))
    return Derivation(limit, steps)


def post_ln_map() -> Derivation:
    """One Post-LN attention block on tokens of correlation rho (width -> infinity).

    Input after the previous LayerNorm: G = d ((1-rho) I + rho J). The engine's
    update gives E[Z Z^T] = G + a gbar J; LayerNorm divides each token by its
    norm / sqrt(d), which concentrates, so rho' = E[ZZ^T]_kk' / E[ZZ^T]_kk.
    """
    diag, off, upd = attention_gram_update()
    diag, off = diag.subs(s, 1), off.subs(s, 1)
    rho_next = sp.simplify(off / diag)
    one_minus = sp.factor(sp.simplify((1 - rho_next).subs(alpha_1, sp.sqrt(a / (sigma_v**2 * d)))))
    steps = (*upd.steps,
             ("LayerNorm (d -> infinity): correlation of the expected Gram",
              r"\rho' = \frac{\mathbb E[ZZ^\top]_{kk'}}{\mathbb E[ZZ^\top]_{kk}},\qquad "
              r"1 - \rho' = " + sp.latex(one_minus)))
    return Derivation(one_minus, steps)


def pre_ln_increment() -> Derivation:
    """Pre-LN: the attention branch sees LN(X) with Gram d((1-rho)I + rho J) and adds
    alpha_1^2 sigma_v^2 d * gbar(LN X) = a d m(rho) to every Gram entry."""
    _, off, upd = attention_gram_update()
    increment = sp.factor(sp.simplify((off - d * rho).subs(s, 1)))
    steps = (*upd.steps,
             ("Pre-LN branch on LN(X) (s = 1)", r"\Delta G_{kk'} = " + sp.latex(increment)))
    return Derivation(increment, steps)


def pre_ln_bounds() -> Derivation:
    """Theta(1/l): with spread fixed and m in [1/n, 1], q_l in [q_0 + a d l/n, q_0 + a d l]."""
    spread = q0 - c0
    lower = spread / (q0 + a * d * ell)
    upper = spread / (q0 + a * d * ell / n)
    lim_lo = sp.limit(ell * lower, ell, sp.oo)
    lim_hi = sp.limit(ell * upper, ell, sp.oo)
    steps = (("Bounds", r"\frac{q_0-c_0}{q_0 + a d \ell} \le 1-\rho_\ell \le "
              r"\frac{q_0-c_0}{q_0 + a d \ell/n}"),
             ("Limits of l (1 - rho_l) bounds", sp.latex(lim_lo) + r"\ \le\ \liminf\ \le\ "
              r"\limsup\ \le\ " + sp.latex(lim_hi)))
    return Derivation(sp.Tuple(lim_lo, lim_hi), steps)


def post_ln_query_norm() -> Derivation:
    """Query-gradient norm of a Post-LN layer whose input has correlation rho (s = 1):
    E||dS/dW^Q||^2 at uniform attention with X X^T = d ((1-rho) I + rho J); in a deep
    Post-LN stack rho is rho_l from the Post-LN map, so the norm tracks (1 - rho_l)^2."""
    from theory.attention import query_norm_uniform

    base = query_norm_uniform("query")
    value = sp.factor(base.value.subs(sp.Symbol("s", positive=True), 1))
    steps = (*base.steps,
             ("Post-LN input (s = 1)", r"\mathbb E\|\partial S/\partial W^Q\|_F^2 = "
              + sp.latex(value)))
    return Derivation(value, steps)
