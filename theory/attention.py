"""Attention at initialization: softmax Jacobian, rank one, gradient norms.

Model: S(X) = A X W^V, A = softmax_rows(tau X W^Q (X W^K)^T).

Every formula here is computed, not typed:

- the softmax Jacobian d a / d l = diag(a) - a a^T is obtained by SymPy
  differentiation of softmax(l); applied to a row-constant shift it gives 0,
  and at uniform attention (a = 1/n) it equals P/n (token algebra);
- the squared Frobenius norm of a linear map D -> T(D) is E_D ||T(D)||_F^2 for
  D with iid N(0, 1) entries, so every Jacobian norm, and its expectation over
  the weights, is one call of the Wick engine (theory.wick);
- Gram-structured inputs (X X^T = G) enter through the cyclic rewrite
  tr(... X X^T ...) = tr(... G ...) and the I/J token algebra.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy import Identity, MatrixSymbol, OneMatrix, Trace

from theory.derivation_log import Tex
from theory.factoring import factor
from theory.wick import GaussianMatrix, expect_matrix, frob2

n, d, d_k, d_v = sp.symbols("n d d_k d_v", positive=True, integer=True)
sigma_q, sigma_k, sigma_v, rho, s, tau = sp.symbols(
    "sigma_q sigma_k sigma_v rho s tau", positive=True)

X = MatrixSymbol("X", n, d)
W_Q = MatrixSymbol("W_Q", d, d_k)
W_K = MatrixSymbol("W_K", d, d_k)
W_V = MatrixSymbol("W_V", d, d_v)
G = MatrixSymbol("G", n, n)
J = OneMatrix(n, n)
P = Identity(n) - J / n
TEMPERATURES = {"inv_sqrt_dk": 1 / sp.sqrt(d_k), "inv_dk": 1 / d_k}


@dataclass(frozen=True)
class Derivation:
    """A derived expression and its steps (title, LaTeX: a string, or a ``Tex`` rendered
    when read)."""

    value: sp.Expr
    steps: tuple[tuple[str, str | Tex], ...]


def softmax_jacobian(m: int) -> tuple[sp.Matrix, sp.Matrix, tuple[sp.Symbol, ...]]:
    """(softmax(l), d softmax / d l) for m symbolic logits, by differentiation."""
    logits = sp.symbols(f"l_1:{m + 1}", real=True)
    z = sum(sp.exp(li) for li in logits)
    a = sp.Matrix([sp.exp(li) / z for li in logits])
    return a, a.jacobian(sp.Matrix(logits)), logits


def prove_row_shift_invariance(m: int = 4) -> Derivation:
    """J(l) 1 = 0: the softmax Jacobian kills a constant shift of the logits.

    Checked by differentiation for m symbolic logits; in general
    (diag(a) - a a^T) 1 = a - a (a^T 1) = 0 because a^T 1 = 1.
    Returns the simplified norm of J(l) 1 (zero when the lemma holds).
    """
    a, jac, _ = softmax_jacobian(m)
    shifted = sp.simplify(jac * sp.ones(m, 1))
    form = sp.simplify(jac - (sp.diag(*a) - a * a.T))
    value = sp.simplify(sum(e**2 for e in shifted))
    steps = (
        (f"Softmax Jacobian (by differentiation, m = {m} logits)",
         r"\frac{\partial a}{\partial l} = \operatorname{diag}(a) - a a^\top"
         + ("" if form == sp.zeros(m, m) else r"\quad\text{(form check FAILED)}")),
        ("Row-constant shift", r"\left(\operatorname{diag}(a) - a a^\top\right)\mathbf 1 = "
         r"a - a\,(a^\top \mathbf 1) = 0,\qquad \|J(l)\mathbf 1\|^2 = " + sp.latex(value)),
    )
    return Derivation(value, steps)


def uniform_softmax_jacobian() -> Derivation:
    """At a = 1/n: diag(a) - a a^T = I/n - J/n^2, which the token algebra reduces to P/n."""
    jac = Identity(n) / n - J / n**2
    residual = expect_matrix(Trace((jac - P / n) * (jac - P / n).T), {}).value
    steps = (("Softmax Jacobian at uniform attention",
              r"\operatorname{diag}(\tfrac1n\mathbf 1) - \tfrac{1}{n^2} J = \tfrac1n P,\qquad "
              r"\|\,\cdot - P/n\|_F^2 = " + sp.latex(sp.simplify(residual))),)
    return Derivation(sp.simplify(residual), steps)


def prove_rank_one_query_gradient(n_tokens: int = 3, width: int = 2) -> Derivation:
    """For X = 1 x^T, dS/dW^Q = 0 for any weights: an explicit symbolic instance.

    S = softmax(tau X W^Q W^K^T X^T) X W^V is built entry by entry with
    symbolic x and weights (n_tokens x width, d_k = d_v = width) and
    differentiated with respect to every entry of W^Q; the returned value is
    the simplified sum of squares of all those derivatives.
    """
    x = sp.Matrix(sp.symbols(f"x_1:{width + 1}", real=True))
    wq = sp.Matrix(width, width, lambda i, j: sp.Symbol(f"q_{i}{j}", real=True))
    wk = sp.Matrix(width, width, lambda i, j: sp.Symbol(f"k_{i}{j}", real=True))
    wv = sp.Matrix(width, width, lambda i, j: sp.Symbol(f"v_{i}{j}", real=True))
    xs = sp.ones(n_tokens, 1) * x.T
    logits = tau * xs * wq * wk.T * xs.T
    a = sp.Matrix(n_tokens, n_tokens,
                  lambda i, j: sp.exp(logits[i, j]) / sum(sp.exp(logits[i, c])
                                                          for c in range(n_tokens)))
    out = a * xs * wv
    total = sp.S.Zero
    for entry in out:
        for w in wq:
            total += sp.simplify(sp.diff(entry, w)) ** 2
    value = sp.simplify(total)
    steps = (
        ("Rank-one input", r"X = \mathbf 1 x^\top \Rightarrow "
         r"\mathrm dL = \tau X\,\mathrm dW^Q W^{K\top} X^\top = "
         r"\tau\,(x^\top \mathrm dW^Q W^{K\top} x)\, J"),
        ("Every row of dL is constant, so the softmax Jacobian annihilates it",
         r"\mathrm dA_{i\cdot} = \mathrm dL_{i\cdot}\,(\operatorname{diag}(a_i) - a_i a_i^\top)"
         r" = c\,\mathbf 1^\top(\operatorname{diag}(a_i) - a_i a_i^\top) = 0"),
        (f"Explicit check (n = {n_tokens}, d = d_k = d_v = {width}, symbolic weights)",
         r"\sum_{i,c,a,b}\Big(\frac{\partial S_{ic}}{\partial W^Q_{ab}}\Big)^2 = "
         + sp.latex(value)),
        ("Depth", r"A\mathbf 1 = \mathbf 1 \Rightarrow S(\mathbf 1x^\top) = \mathbf 1 "
         r"(W^{V\top}x)^\top"),
        ("Every block keeps identical rows",
         r"\text{residual sums, row-wise LayerNorm and MLP act on each row alike.}"),
        (r"Near rank one, $X = \mathbf 1x^\top + \varepsilon E$: second order, not first",
         r"\mathrm dL = \tau\varepsilon\,\mathbf 1 v^\top + (\text{row-constant}) + "
         r"O(\varepsilon^2),\ \mathrm dA = \tfrac{\varepsilon}{n}\mathbf 1 v^\top P + "
         r"O(\varepsilon^2),\ \mathrm dS = \mathrm dA\,X W^V = \tfrac{\varepsilon}{n}"
         r"\mathbf 1 v^\top P\mathbf 1 x^\top W^V + O(\varepsilon^2) = O(\varepsilon^2)"),
    )
    return Derivation(value, steps)


def gram_traces(expr: sp.Basic, X: MatrixSymbol = X) -> sp.Basic:
    """Rewrite traces whose cycle pairs every X with a following X^T into words in G."""

    def rewrite(tr: Trace) -> sp.Basic:
        arg = tr.arg
        if not isinstance(arg, sp.MatMul):
            return tr
        scalars = [a for a in arg.args if not a.is_Matrix]
        letters = [a for a in arg.args if a.is_Matrix]
        k = len(letters)
        for start in range(k):
            rot = letters[start:] + letters[:start]
            out, i, ok = [], 0, True
            while i < k:
                if rot[i] == X and i + 1 < k and rot[i + 1] == X.T:
                    out.append(G)
                    i += 2
                elif X in (rot[i], rot[i].T if rot[i].is_Matrix else None):
                    ok = False
                    break
                else:
                    out.append(rot[i])
                    i += 1
            if ok:
                return sp.Mul(*scalars) * Trace(sp.MatMul(*out))
        return tr

    return expr.replace(lambda e: isinstance(e, Trace) and e.has(X), rewrite)


def gram_structured(expr: sp.Basic, gram: sp.MatrixExpr) -> sp.Expr:
    """Evaluate ``expr`` (traces in X) at X X^T = ``gram``, a token-structured matrix."""
    in_g = gram_traces(expr)
    if in_g.has(X):
        raise ValueError("expression has traces that are not functions of X X^T")
    return factor(expect_matrix(in_g.xreplace({G: gram}), {}).value)


def equicorrelated_gram() -> sp.MatrixExpr:
    """G = s d ((1 - rho) I + rho J): the registry's deterministic X."""
    return s * d * ((1 - rho) * Identity(n) + rho * J)


def _norm_of_map(image: sp.MatrixExpr, d_shape: tuple[sp.Expr, sp.Expr],
                 weights: dict) -> tuple[sp.Expr, object]:
    """E_weights ||T||_F^2 for the linear map D -> image(D): E over D iid N(0,1) too."""
    probe = MatrixSymbol("D", *d_shape)
    result = expect_matrix(frob2(image(probe)), {probe: GaussianMatrix.iid(1), **weights})
    return result.value, result


@cache
def query_norm_uniform(which: str = "query", temperature: str = "inv_sqrt_dk") -> Derivation:
    """E ||dS/dW^Q||_F^2 at W^Q = 0 (``which='query'``), or ||dS/dW^K||^2 at W^K = 0.

    dS = dA X W^V with dA_i = dL_i (P/n) at uniform attention, so
      query: dS = (tau/n) X dW^Q W^K^T X^T P X W^V,
      key:   dS = (tau/n) X W^Q dW^K^T X^T P X W^V,
    and E over the weights and a probe D of ||dS(D)||^2 is the answer, in
    traces of X; then X X^T = s d ((1-rho) I + rho J).
    """
    if which not in ("query", "key"):
        raise ValueError(f"which must be query or key, got {which!r}")
    t = TEMPERATURES[temperature]
    if which == "query":
        def image(D):
            return (tau / n) * X * D * W_K.T * X.T * P * X * W_V
        weights = {W_K: GaussianMatrix.iid(sigma_k**2), W_V: GaussianMatrix.iid(sigma_v**2)}
    else:
        def image(D):
            return (tau / n) * X * W_Q * D.T * X.T * P * X * W_V
        weights = {W_Q: GaussianMatrix.iid(sigma_q**2), W_V: GaussianMatrix.iid(sigma_v**2)}
    general, wick = _norm_of_map(image, (d, d_k), weights)
    general = sp.factor_terms(sp.together(general.subs(tau, t)))
    closed = factor(gram_structured(general, equicorrelated_gram()))
    steps = (
        ("Softmax Jacobian at uniform attention", r"\mathrm dA = \tfrac1n\,\mathrm dL\,P"),
        ("Jacobian norm as a Gaussian expectation",
         r"\|\mathcal J\|_F^2 = \mathbb E_D\|\mathcal J(D)\|_F^2,\quad D_{ab}\sim N(0,1)"),
        ("Wick contraction (engine)", wick.tex()),
        (r"Temperature $\tau = " + sp.latex(t) + "$", sp.latex(general)),
        (r"Tokens with $XX^\top = s d((1-\rho)I + \rho J)$ (token algebra)", sp.latex(closed)),
    )
    return Derivation(closed, steps)


@cache
def value_norm(uniform: bool = True) -> Derivation:
    """||dS/dW^V||_F^2 = E_D ||A X D||^2 = d_v ||A X||_F^2; uniform A = J/n gives a closed form."""
    A = MatrixSymbol("A", n, n)
    general, wick = _norm_of_map(lambda D: A * X * D, (d, d_v), {})
    steps = [("Jacobian norm as a Gaussian expectation (engine)", wick.tex())]
    if not uniform:
        return Derivation(general, tuple(steps))
    at_uniform = general.xreplace({A: J / n})
    closed = factor(gram_structured(at_uniform, equicorrelated_gram()))
    steps.append((r"Uniform attention $A = J/n$, $XX^\top = s d((1-\rho)I + \rho J)$",
                  sp.latex(closed)))
    return Derivation(closed, tuple(steps))


@cache
def query_value_ratio(temperature: str = "inv_sqrt_dk") -> Derivation:
    """R = E||dS/dW^Q||^2 / ||dS/dW^V||^2 at uniform attention (value norm is fixed)."""
    q, v = query_norm_uniform("query", temperature), value_norm(True)
    ratio = factor(q.value / v.value)
    return Derivation(ratio, (*q.steps, *v.steps, ("Ratio", sp.latex(ratio))))


@cache
def query_norm_gaussian_tokens(temperature: str = "inv_sqrt_dk") -> Derivation:
    """E_X E_W ||dS/dW^Q||^2 for exchangeable Gaussian tokens (a sixth-order moment in X):
    X has row covariance (1-rho) I + rho J and column covariance s I_d."""
    t = TEMPERATURES[temperature]

    def image(D):
        return (tau / n) * X * D * W_K.T * X.T * P * X * W_V

    weights = {W_K: GaussianMatrix.iid(sigma_k**2), W_V: GaussianMatrix.iid(sigma_v**2),
               X: GaussianMatrix.kronecker((1 - rho) * Identity(n) + rho * J, s * Identity(d))}
    value, wick = _norm_of_map(image, (d, d_k), weights)
    closed = factor(value.subs(tau, t))
    steps = (("Wick contraction over D, W^K, W^V and the tokens X (engine)", wick.tex()),
             (r"Temperature $\tau = " + sp.latex(t) + "$", sp.latex(closed)))
    return Derivation(closed, steps)


def softmax_jacobian_at_uniform(m: int) -> sp.Matrix:
    """d vec(A) / d vec(M) of row-wise softmax on an m x m logit matrix at M = 0, by
    differentiation (row-major vectorization: block diagonal, one block per row)."""
    _, jac, logits = softmax_jacobian(m)
    block = jac.subs({li: 0 for li in logits})
    return sp.diag(*[block] * m)


@dataclass(frozen=True)
class SymbolicHead:
    """One softmax head with symbolic entries: X (n x d_v), W^Q, W^K (d_v x d_k),
    W^V (d_v x d_v), the logit scale s, A and the Jacobians of vec(S) with respect to
    vec(W^V) and vec(W^Q) (row-major), by differentiation."""

    x: sp.Matrix
    wq: sp.Matrix
    wk: sp.Matrix
    wv: sp.Matrix
    scale: sp.Symbol
    a: sp.Matrix
    jacobian_v: sp.Matrix
    jacobian_q: sp.Matrix


def symbolic_head(n_tokens: int = 2, width: int = 2, key_width: int = 1) -> SymbolicHead:
    """S = softmax(s X W^Q (X W^K)^T) X W^V built entry by entry and differentiated."""
    def matrix(name: str, rows: int, cols: int) -> sp.Matrix:
        return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))

    x, wq = matrix("x", n_tokens, width), matrix("q", width, key_width)
    wk, wv = matrix("k", width, key_width), matrix("v", width, width)
    scale = sp.Symbol("s", positive=True)
    logits = scale * x * wq * wk.T * x.T
    a = sp.Matrix(n_tokens, n_tokens, lambda i, j: sp.exp(logits[i, j]) / sum(
        sp.exp(logits[i, c]) for c in range(n_tokens)))
    out = a * x * wv
    vec = sp.Matrix([out[i, c] for i in range(n_tokens) for c in range(width)])
    return SymbolicHead(x, wq, wk, wv, scale, a,
                        vec.jacobian(sp.Matrix([wv[i, j] for i in range(width)
                                                for j in range(width)])),
                        vec.jacobian(sp.Matrix([wq[i, j] for i in range(width)
                                                for j in range(key_width)])))
