"""Matrix-level Wick engine: oracles, exact brute-force cross-checks, Monte Carlo, bad input.

Brute-force path: give every dimension a small integer, replace each Gaussian
matrix by a matrix of scalar symbols, evaluate the expression to a scalar
polynomial (``evaluate``) and take its expectation with the scalar Isserlis
engine, using the Kronecker covariance of the vectorised entries
(Cov(vec G) = variance * R (x) C for row-major vec). The two paths share no
code beyond ``evaluate``, and agreement is required exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy import Identity, MatrixSymbol, OneMatrix, Trace, ZeroMatrix, symbols

from theory.derivation_log import Tex
from theory.gaussian import expect
from theory.wick import GaussianMatrix, evaluate, expect_matrix, frob2

n, d, k = symbols("n d k", positive=True, integer=True)
d_k, d_v = symbols("d_k d_v", positive=True, integer=True)
s, s_w, s_v, rho, a = symbols("s sigma_w sigma_v rho a", positive=True)

J = OneMatrix(n, n)
P = Identity(n) - J / n
SIGMA = (1 - rho) * Identity(n) + rho * J


def matrices(*specs: tuple[str, sympy.Expr, sympy.Expr]) -> list[MatrixSymbol]:
    return [MatrixSymbol(name, r, c) for name, r, c in specs]


W, X, V = matrices(("W", n, d), ("X", n, d), ("V", d, k))
A, B, C, S, T = matrices(("A", n, n), ("B", d, d), ("C", n, d), ("S", n, n), ("T", d, d))
D, E, U, G = matrices(("D", k, k), ("E", n, n), ("U", n, n), ("G", n, n))


def same(left: sympy.Expr, right: sympy.Expr) -> bool:
    return sympy.expand(left - right) == 0


# --------------------------------------------------------------------------- oracles


def test_trace_of_sandwich() -> None:
    w, a_, b_ = matrices(("W", d, k), ("A", d, d), ("B", k, k))
    result = expect_matrix(Trace(a_ * w * b_ * w.T), {w: GaussianMatrix.iid(s**2)})
    assert same(result.value, s**2 * Trace(a_) * Trace(b_))


def test_frobenius_norm_of_two_independent_projections() -> None:
    w, v, c = matrices(("W", d, d_k), ("V", d, d_v), ("C", d, d))
    result = expect_matrix(
        frob2(w.T * c * v), {w: GaussianMatrix.iid(s_w**2), v: GaussianMatrix.iid(s_v**2)}
    )
    assert same(result.value, s_w**2 * s_v**2 * d_k * d_v * frob2(c))


SIXTH_ORDER = frob2(X) * frob2(X.T * P * X)
SIXTH_ORDER_SPEC = {X: GaussianMatrix.kronecker(SIGMA, s * Identity(d))}


@functools.cache
def sixth_order_value() -> sympy.Expr:
    return expect_matrix(SIXTH_ORDER, SIXTH_ORDER_SPEC).value


def test_sixth_order_token_moment_closed_form() -> None:
    """E ||X||^2 ||X^T P X||^2, rows ~ Sigma = (1-rho)I + rho J, columns ~ s I."""
    value = sixth_order_value()
    oracle = d * s**3 * (d + n) * (n - 1) * (1 - rho) ** 2 * (d * n + 4 * (1 - rho))
    assert same(value, oracle)
    assert sympy.Poly(value, n, d, rho, s).total_degree() == 10  # a polynomial, no 1/n left


def test_sixth_order_at_rho_zero_matches_wishart_moments() -> None:
    """rho = 0: X^T P X ~ Wishart_d(m = n-1, sI) and n||xbar||^2 ~ s chi2_d, independent.

    E[tr W tr W^2] = s^3 m d (d+m+1)(md+4) and E tr W^2 = s^2 m d (d+m+1).
    """
    m = n - 1
    wishart = s**3 * m * d * (d + m + 1) * (m * d + 4) + s * d * s**2 * m * d * (d + m + 1)
    assert same(sixth_order_value().subs(rho, 0), wishart)


@pytest.mark.parametrize(("n_", "d_"), [(1, 1), (2, 1), (1, 3), (2, 2), (3, 2), (4, 2), (3, 3)])
def test_sixth_order_against_brute_force_with_symbolic_rho_and_s(n_: int, d_: int) -> None:
    assert same(
        brute_force(SIXTH_ORDER, SIXTH_ORDER_SPEC, {}, {n: n_, d: d_}),
        sixth_order_value().subs({n: n_, d: d_}),
    )


def test_gram_update_under_uniform_attention() -> None:
    v = MatrixSymbol("V", d, d)
    z = X + a * J * X * v / n
    result = expect_matrix(z * z.T, {v: GaussianMatrix.iid(s_v**2)})
    oracle = X * X.T + a**2 * s_v**2 * d * Trace(J * X * X.T) / n**2 * J
    difference = expect_matrix(result.value - oracle, {}).value
    assert difference == ZeroMatrix(n, n)
    values = {X: sympy.Matrix([[1, -2], [3, 0], [2, 5]])}
    numeric = evaluate(result.value - oracle, values, {n: 3, d: 2})
    assert numeric.applyfunc(sympy.expand) == sympy.zeros(3, 3)


def test_token_covariance_reduces_to_closed_form() -> None:
    """E tr(W^T P W) with rows ~ Sigma: tr(P Sigma) tr(I_d) = (1-rho)(n-1) d."""
    result = expect_matrix(Trace(W.T * P * W), {W: GaussianMatrix.kronecker(SIGMA, Identity(d))})
    assert same(result.value, (1 - rho) * (n - 1) * d)


def test_odd_number_of_occurrences_vanishes() -> None:
    result = expect_matrix(Trace(W.T * A * W * B * W.T * C), {W: GaussianMatrix.iid(s)})
    assert result.value == 0
    assert "odd" in result.steps[0].note


def test_only_listed_matrices_are_random() -> None:
    result = expect_matrix(Trace(W.T * A * W) * Trace(V * V.T), {W: GaussianMatrix.iid(s)})
    assert same(result.value, s * d * Trace(A) * Trace(V * V.T))


def test_steps_record_pairings_and_render_latex() -> None:
    result = expect_matrix(frob2(W) ** 2, {W: GaussianMatrix.iid(s)})
    assert same(result.value, s**2 * (n**2 * d**2 + 2 * n * d))
    (step,) = result.steps
    assert step.occurrences == ("W^{(1)}", "W^{(2)}", "W^{(3)}", "W^{(4)}")
    pairings = [p for group in step.groups for p in group.pairings]
    assert len(pairings) == 3 and len(set(pairings)) == 3
    assert sum(group.multiplicity for group in step.groups) == 3
    total = sum(group.multiplicity * group.reduced for group in step.groups)
    assert same(step.coefficient * total, result.value)
    latex = result.to_latex()
    assert latex.count(r"\begin{align*}") == 2 and r"\{W^{(1)},W^{(2)}\}" in latex
    assert str(result.tex()) == latex


def test_deferred_latex_is_rendered_once_when_read() -> None:
    calls: list[int] = []

    def render() -> str:
        calls.append(1)
        return r"\alpha"

    tex = Tex(render)
    assert calls == []
    assert str(tex) == str(tex) == r"\alpha" and calls == [1]


# ------------------------------------------------------------------ brute force path


def explicit_covariance(
    spec: GaussianMatrix, symbol: MatrixSymbol, values: dict, dims: dict
) -> sympy.Matrix:
    """Covariance of the row-major vectorised entries: variance * R (x) C."""
    row = evaluate(spec.row if spec.row is not None else Identity(symbol.rows), values, dims)
    col = evaluate(spec.col if spec.col is not None else Identity(symbol.cols), values, dims)
    return spec.variance * sympy.kronecker_product(row, col)


def brute_force(expr, gaussians: dict, values: dict, dims: dict):
    """E[expr] by flattening to scalar entries and applying scalar Isserlis."""
    entries, variables, blocks = dict(values), [], []
    for symbol, spec in gaussians.items():
        rows, cols = (int(sympy.sympify(x).subs(dims)) for x in symbol.shape)
        names = [f"{symbol.name}_{i}_{j}" for i in range(rows) for j in range(cols)]
        explicit = sympy.Matrix(rows, cols, [sympy.Symbol(name) for name in names])
        entries[symbol] = explicit
        variables.extend(explicit)
        blocks.append(explicit_covariance(spec, symbol, values, dims))
    cov = sympy.diag(*blocks)
    polynomial = evaluate(expr, entries, dims)
    if isinstance(polynomial, sympy.MatrixBase):
        return polynomial.applyfunc(lambda entry: expect(entry, variables, cov))
    return expect(polynomial, variables, cov)


@dataclass(frozen=True)
class Case:
    name: str
    expr: sympy.Basic
    gaussians: dict
    max_gaussian_entries: int = 6


IID = GaussianMatrix.iid(s)
KRON = GaussianMatrix.kronecker(S, T)
CASES = [
    Case("iid trace, 2 occurrences", Trace(A * W * B * W.T), {W: IID}),
    Case("kronecker trace with transposes", Trace(W.T * A.T * W * B.T), {W: KRON}),
    Case("iid trace, 4 occurrences", Trace(A * W * B * W.T * E * W * W.T), {W: IID}),
    Case(
        "kronecker product of traces, 4 occurrences",
        Trace(W.T * A * W) * Trace(W * B * W.T) + 3 * Trace(A) * frob2(W),
        {W: KRON},
    ),
    Case("iid one trace, 6 occurrences", Trace(W * W.T * A * W * W.T * W * B * W.T), {W: IID}, 6),
    Case("token kronecker, 6 occurrences", SIXTH_ORDER, SIXTH_ORDER_SPEC, 6),
    Case(
        "two independent, kronecker and iid",
        frob2(W.T * A * X) + Trace(A * W * V * D * V.T * W.T),
        {W: KRON, X: GaussianMatrix.iid(s_w), V: IID},
        6,
    ),
    Case(
        "matrix-valued uniform-attention update",
        (C + a * J * C * B / n) * (C + a * J * C * B / n).T,
        {B: IID},
    ),
    Case("matrix-valued, 4 occurrences", W * B * W.T * A * W * T * W.T, {W: KRON}, 6),
    Case("matrix-valued token rows", W.T * P * W + B, {W: GaussianMatrix.kronecker(SIGMA, T)}),
    Case(
        "square Gaussian without transposes",
        Trace(E * G * G * A) + Trace(G) ** 2 + Trace(G * A * G.T * E),
        {G: GaussianMatrix.kronecker(S, U)},
        4,
    ),
    Case("odd count", Trace(W.T * A * W * B * W.T * C), {W: IID}),
]


@functools.cache
def engine_value(index: int) -> sympy.Basic:
    case = CASES[index]
    return expect_matrix(case.expr, case.gaussians).value


def integer_matrix(draw, rows: int, cols: int) -> sympy.Matrix:
    flat = draw(st.lists(st.integers(-3, 3), min_size=rows * cols, max_size=rows * cols))
    return sympy.Matrix(rows, cols, flat)


def psd_matrix(draw, size: int) -> sympy.Matrix:
    root = integer_matrix(draw, size, size)
    return root * root.T + sympy.eye(size) * draw(st.integers(0, 1))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case.name for case in CASES])
@given(data=st.data())
def test_engine_matches_brute_force(index: int, data: st.DataObject) -> None:
    case = CASES[index]
    draw = data.draw
    dims = {x: draw(st.integers(1, 3), label=str(x)) for x in (n, d, k)}
    for symbol in case.gaussians:
        rows, cols = (int(x.subs(dims)) for x in symbol.shape)
        if rows * cols > case.max_gaussian_entries:
            dims = {x: min(v, 2) for x, v in dims.items()}
    numbers = {rho: sympy.Rational(draw(st.integers(0, 4)), 4)} if case.expr.has(rho) else {}
    fixed = case.expr.free_symbols | {
        m for spec in case.gaussians.values() for m in (spec.row, spec.col) if m is not None
    }
    values = {}
    for m in sorted(
        {x for e in fixed for x in e.atoms(MatrixSymbol)} - set(case.gaussians), key=str
    ):
        rows, cols = (int(x.subs(dims)) for x in m.shape)
        values[m] = psd_matrix(draw, rows) if m in (S, T, U) else integer_matrix(draw, rows, cols)
    expected = brute_force(case.expr, case.gaussians, values, dims)
    got = evaluate(engine_value(index), values, dims)
    difference = (got - expected).xreplace(numbers)
    if isinstance(difference, sympy.MatrixBase):
        assert difference.applyfunc(sympy.expand) == sympy.zeros(*difference.shape)
    else:
        assert sympy.expand(difference) == 0


# ----------------------------------------------------------------------- Monte Carlo

# The MC tests below make MC_COMPARISONS two-sided z-tests in all (one per test, two in the
# Gram test); Bonferroni keeps the family-wise false-fail probability of this file at or below
# FAMILY_ALPHA. The normal approximation is used for the sample mean: with >= 3e5 samples its
# skewness is about 0.01 even for the heavy-tailed sixth-order statistic (sample skewness ~10).
FAMILY_ALPHA = 1e-6
MC_COMPARISONS = 5
Z = NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * MC_COMPARISONS))
OFF_BY = 0.03


def check_mc(samples: np.ndarray, value: float) -> None:
    """|mean - value| < Z se, and the run is precise enough to reject value * 1.03."""
    mean = float(samples.mean())
    se = float(samples.std(ddof=1)) / np.sqrt(samples.size)
    assert abs(mean - value) < Z * se, (mean, value, se)
    assert OFF_BY * abs(value) > (Z + 4) * se, "sample too small to detect a 3% error"
    assert abs(mean - (1 + OFF_BY) * value) > Z * se
    assert abs(mean - (1 - OFF_BY) * value) > Z * se


def as_float(expr: sympy.Expr, substitutions: dict) -> float:
    return float(sympy.sympify(expr).xreplace(substitutions))


def test_mc_trace_of_sandwich() -> None:
    rng = np.random.default_rng(20240601)
    a_np = np.array([[2.0, 1.0, 0.0], [0.5, 1.0, -1.0], [0.0, 1.0, 3.0]])
    b_np = np.array([[1.5, -0.5], [1.0, 2.0]])
    sigma2 = 0.7
    w = rng.standard_normal((400_000, 3, 2)) * np.sqrt(sigma2)
    samples = np.einsum("ij,bjk,kl,bil->b", a_np, w, b_np, w)
    value = evaluate(
        expect_matrix(Trace(A * W * B * W.T), {W: GaussianMatrix.iid(s)}).value,
        {A: sympy.Matrix(a_np.tolist()), B: sympy.Matrix(b_np.tolist())},
        {n: 3, d: 2},
    )
    check_mc(samples, as_float(value, {s: sympy.Float(sigma2)}))


def test_mc_two_independent_projections() -> None:
    rng = np.random.default_rng(20240602)
    c_np = np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 1.0], [-1.0, 0.0, 1.0]])
    size = 400_000
    w = rng.standard_normal((size, 3, 2)) * np.sqrt(0.5)
    v = rng.standard_normal((size, 3, 4)) * np.sqrt(1.5)
    samples = np.einsum("bij,bjk->bik", np.einsum("bji,jk->bik", w, c_np), v) ** 2
    samples = samples.sum(axis=(1, 2))
    wk, vk, ck = matrices(("W", n, d_k), ("V", n, d_v), ("C", n, n))
    result = expect_matrix(
        frob2(wk.T * ck * vk), {wk: GaussianMatrix.iid(s_w), vk: GaussianMatrix.iid(s_v)}
    )
    value = evaluate(result.value, {ck: sympy.Matrix(c_np.tolist())}, {n: 3, d_k: 2, d_v: 4})
    check_mc(samples, as_float(value, {s_w: sympy.Float(0.5), s_v: sympy.Float(1.5)}))


def test_mc_sixth_order_token_moment() -> None:
    rng = np.random.default_rng(20240603)
    n_, d_, rho_, s_ = 3, 2, 0.4, 1.3
    sigma = (1 - rho_) * np.eye(n_) + rho_ * np.ones((n_, n_))
    root = np.linalg.cholesky(sigma)
    x = root @ rng.standard_normal((1_500_000, n_, d_)) * np.sqrt(s_)
    centred = x - x.mean(axis=1, keepdims=True)
    gram = np.einsum("bki,bkj->bij", x, centred)
    samples = (x**2).sum(axis=(1, 2)) * (gram**2).sum(axis=(1, 2))
    value = sixth_order_value().xreplace({n: n_, d: d_, rho: sympy.Float(rho_), s: sympy.Float(s_)})
    check_mc(samples, float(value))


def test_mc_gram_update_sum_and_trace() -> None:
    """E[ZZ^T] for Z = X + a J X V / n: check 1^T E[ZZ^T] 1 and tr E[ZZ^T]."""
    rng = np.random.default_rng(20240604)
    x_np = np.array([[1.0, -2.0], [3.0, 0.5], [2.0, 1.0]])
    a_, sv2 = 0.8, 0.6
    v_sym = MatrixSymbol("V", d, d)
    z = X + a * J * X * v_sym / n
    value = evaluate(
        expect_matrix(z * z.T, {v_sym: GaussianMatrix.iid(s_v)}).value,
        {X: sympy.Matrix(x_np.tolist())},
        {n: 3, d: 2},
    ).xreplace({a: sympy.Float(a_), s_v: sympy.Float(sv2)})
    v = rng.standard_normal((300_000, 2, 2)) * np.sqrt(sv2)
    zs = x_np + a_ * np.ones((3, 3)) @ x_np @ v / 3
    gram = np.einsum("bik,bjk->bij", zs, zs)
    check_mc(gram.sum(axis=(1, 2)), float(sum(value)))
    check_mc(np.einsum("bii->b", gram), float(value.trace()))


# ----------------------------------------------------------------------- bad input


BadCall = Callable[[], object]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: expect_matrix(Trace(W * A), {W: IID}), "multiplies"),
        (lambda: expect_matrix(Trace(W), {W: IID}), "non-square"),
        (lambda: expect_matrix(W + W.T, {W: IID}), "different shapes"),
        (
            lambda: expect_matrix(Trace(A * W * B * W.T), {W: GaussianMatrix.kronecker(B, B)}),
            "row covariance",
        ),
        (
            lambda: expect_matrix(Trace(W * W.T), {W: GaussianMatrix.kronecker(A, A)}),
            "col covariance",
        ),
        (lambda: expect_matrix(Trace(sympy.Inverse(W.T * W)), {W: IID}), "polynomial"),
        (lambda: expect_matrix(sympy.exp(Trace(W * W.T)), {W: IID}), "polynomial"),
        (lambda: expect_matrix(Trace(W * W.T) ** sympy.Rational(1, 2), {W: IID}), "polynomial"),
        (lambda: expect_matrix("tr(W)", {W: IID}), "SymPy expression"),
        (lambda: expect_matrix(Trace(W * W.T), {"W": IID}), "MatrixSymbols"),
        (lambda: expect_matrix(Trace(W * W.T), {W: 1.0}), "GaussianMatrix"),
        (lambda: expect_matrix(Trace(W * W.T), [W]), "dict"),
        (lambda: GaussianMatrix.iid(-1), "variance"),
        (lambda: GaussianMatrix.kronecker(W, B), "row must be square"),
        (lambda: GaussianMatrix.kronecker(A, 2), "col must be a SymPy matrix"),
        (
            lambda: expect_matrix(Trace(W * W.T), {W: GaussianMatrix.kronecker(W * W.T, B)}),
            "deterministic",
        ),
        (lambda: evaluate(Trace(A), {A: sympy.eye(2)}, {n: 3}), "shape"),
        (lambda: evaluate(Trace(A), {}, {n: 3}), "missing"),
        (lambda: evaluate(Trace(A), {A: sympy.eye(2)}, {}), "dims"),
    ],
)
def test_bad_input_raises_one_line_value_error(call: BadCall, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
