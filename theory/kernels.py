"""Second moments through one MLP block at initialization (claim 9, forward.relu-mlp-kernel).

Block without norm: Y = Z + alpha_2 phi(Z W1) W2, with W1 (d x d_ff) iid N(0, sigma_1^2)
and W2 (d_ff x d) iid N(0, sigma_2^2). Everything below is derived by SymPy from these
definitions; nothing final is typed in.

1. Index sums (a small Wick engine over entries of iid Gaussian matrices): conditional
   on W1, the terms linear in W2 vanish (mean zero) and the quadratic one pairs
   E[W2_ja W2_j'a] = sigma_2^2 delta_jj', leaving
   E[(Y Y^T)_kk'] = G_kk' + alpha_2^2 sigma_2^2 d sum_j E[phi(H_kj) phi(H_k'j)].
   The pre-activations H = Z W1 of one hidden unit j are jointly Gaussian with
   covariance sigma_1^2 [[G_kk, G_kk'], [G_kk', G_k'k']], the same for every j, so the
   sum over j gives the factor d_ff.
2. The Gaussian integral E[phi(u) phi(v)] for phi in {linear, relu}: write
   u = sqrt(Q1) z1, v = sqrt(Q2)(cos t z1 + sin t z2) with cos t = C / sqrt(Q1 Q2)
   and (z1, z2) standard, go to polar coordinates, keep the wedge where both are
   active and integrate. For ReLU this is the degree-1 arc-cosine kernel
   kappa(Q1, Q2, C) = sqrt(Q1 Q2) (sin t + (pi - t) cos t) / (2 pi).
3. The correlation map kappa_hat(rho) = (sin t + (pi - t) cos t) / pi, t = acos(rho),
   satisfies kappa_hat(rho) >= rho with equality only at rho = 1 (proved symbolically
   and checked on a grid).
4. Independent numerical paths with mpmath: ``quadrature_relu_kernel`` integrates the
   bivariate normal density over the positive quadrant; ``quadrature_kernel`` handles
   linear, relu, gelu (x Phi(x), erf-based) and tanh by product Gauss-Legendre rules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

import mpmath
import sympy as sp
from mpmath.calculus.quadrature import GaussLegendre
from sympy.calculus.util import function_range

from architecture.spec import ACTIVATIONS
from architecture.validate import check_finite, check_positive, check_positive_int
from theory.factoring import factor

__all__ = [
    "ALPHA_2",
    "D_FF",
    "G_KK",
    "G_KK_PRIME",
    "G_K_PRIME_K_PRIME",
    "SIGMA_1",
    "SIGMA_2",
    "THETA",
    "D",
    "GridCheck",
    "derivation_steps",
    "mlp_gram_update",
    "prove_raises_correlation",
    "prove_relu_raises_correlation",
    "quadrature_kernel",
    "quadrature_relu_kernel",
    "relu_correlation_gap_on_grid",
    "relu_kernel",
    "relu_kernel_normalized",
]

Steps = tuple[tuple[str, str], ...]

# Parameter symbols (the junction matches symbols by name).
ALPHA_2 = sp.Symbol("alpha_2", positive=True)
SIGMA_1 = sp.Symbol("sigma_1", positive=True)
SIGMA_2 = sp.Symbol("sigma_2", positive=True)
D = sp.Symbol("d", positive=True, integer=True)
D_FF = sp.Symbol("d_ff", positive=True, integer=True)
G_KK = sp.Symbol("G_kk", positive=True)
G_K_PRIME_K_PRIME = sp.Symbol("G_k'k'", positive=True)
G_KK_PRIME = sp.Symbol("G_kk'", real=True)
#: angle between the two pre-activations, cos(theta) = correlation, theta in [0, pi]
THETA = sp.Symbol("theta", nonnegative=True)

#: activations with a closed-form kernel derived here
CLOSED_FORM_ACTIVATIONS = ("linear", "relu")


# ---------------------------------------------------------------------------- input checks


def _expr(name: str, value: object) -> sp.Expr:
    """``value`` as a finite SymPy expression; strings are refused (never parsed)."""
    if isinstance(value, str):
        raise ValueError(f"{name} must be a number or SymPy expression, got {value!r}")
    try:
        expr = sp.sympify(value, strict=True)
    except sp.SympifyError:
        raise ValueError(f"{name} must be a number or SymPy expression, got {value!r}") from None
    if expr.has(sp.S.NaN, sp.S.Infinity, sp.S.NegativeInfinity, sp.S.ComplexInfinity):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return expr


def _check_gram_entries(q1: object, q2: object, c: object) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Symbolic or numeric second moments: q1, q2 > 0 and |c| <= sqrt(q1 q2) where decidable."""
    out = []
    for name, value in (("q1", q1), ("q2", q2)):
        q = _expr(name, value)
        if q.is_positive is False:
            raise ValueError(f"{name} must be > 0, got {value!r}")
        out.append(q)
    cc = _expr("c", c)
    if cc.is_real is False:
        raise ValueError(f"c must be real, got {c!r}")
    if (cc**2 - out[0] * out[1]).is_positive:
        raise ValueError(f"c must satisfy |c| <= sqrt(q1*q2), got c={c!r}, q1={q1!r}, q2={q2!r}")
    return out[0], out[1], cc


def _mpf(name: str, value: object) -> mpmath.mpf:
    """``value`` as an mpmath number, refusing non-numbers, NaN and infinities."""
    check_finite(name, value)
    return value if isinstance(value, mpmath.mpf) else mpmath.mpf(float(value))


def _mp_moments(q1: object, q2: object, c: object, strict: bool) -> tuple[mpmath.mpf, ...]:
    """(q1, q2, c) as mpf with q1, q2 > 0 and |c| <= sqrt(q1 q2) (``<`` when ``strict``)."""
    check_positive("q1", q1)
    check_positive("q2", q2)
    m1, m2, mc = _mpf("q1", q1), _mpf("q2", q2), _mpf("c", c)
    if mc * mc > m1 * m2 or (strict and mc * mc == m1 * m2):
        relation = "<" if strict else "<="
        raise ValueError(
            f"c must satisfy |c| {relation} sqrt(q1*q2), got c={c!r}, q1={q1!r}, q2={q2!r}"
        )
    return m1, m2, mc


def _check_activation(activation: object, allowed: tuple[str, ...]) -> str:
    if activation not in allowed:
        raise ValueError(f"activation must be one of {', '.join(allowed)}, got {activation!r}")
    return str(activation)


# ---------------------------------------------------------------------------- index sums
#
# An index-sum expression is a sum of terms ``factor * sum_{i in 1..n_i} ...``; a factor
# is a product of scalars and entries of IndexedBases. Dummy indices of different Sums
# are distinct symbols by construction, so products of Sums expand without renaming.


@dataclass(frozen=True)
class _Term:
    factor: sp.Expr
    sums: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()

    def times(self, other: _Term) -> _Term:
        return _Term(self.factor * other.factor, self.sums + other.sums)


def _terms(expr: sp.Expr) -> list[_Term]:
    """Expand sums and products of ``Sum`` objects into a flat list of terms."""
    if isinstance(expr, sp.Add):
        return [t for arg in expr.args for t in _terms(arg)]
    if isinstance(expr, sp.Mul):
        out = [_Term(sp.S.One)]
        for arg in expr.args:
            out = [a.times(b) for a in out for b in _terms(arg)]
        return out
    if isinstance(expr, sp.Sum):
        limits = []
        for index, lower, upper in expr.limits:
            if lower != 1:
                raise ValueError(f"index sums must start at 1, got lower limit {lower}")
            limits.append((index, upper))
        return [_Term(t.factor, t.sums + tuple(limits)) for t in _terms(expr.function)]
    return [_Term(expr)]


def _occurrences(factor: sp.Expr, base: sp.IndexedBase) -> tuple[sp.Expr, list[sp.Indexed]]:
    """Split ``factor`` into (rest, entries of ``base`` with multiplicity)."""
    rest, entries = sp.S.One, []
    for arg in sp.Mul.make_args(factor):
        b, e = arg.as_base_exp()
        if isinstance(b, sp.Indexed) and b.base == base and e.is_Integer and e > 0:
            entries.extend([b] * int(e))
        else:
            rest *= arg
    return rest, entries


def _pairings(items: list[sp.Indexed]) -> Iterator[list[tuple[sp.Indexed, sp.Indexed]]]:
    """All perfect matchings of ``items`` (none when the count is odd)."""
    if not items:
        yield []
        return
    first, others = items[0], items[1:]
    for pos, partner in enumerate(others):
        for rest in _pairings(others[:pos] + others[pos + 1 :]):
            yield [(first, partner), *rest]


def _expect_iid(terms: list[_Term], base: sp.IndexedBase, variance: sp.Expr) -> list[_Term]:
    """E over a matrix with iid N(0, variance) entries, by Isserlis:
    E[W_ab W_a'b'] = variance * delta_aa' * delta_bb', odd moments vanish."""
    out = []
    for term in terms:
        rest, entries = _occurrences(term.factor, base)
        for pairing in _pairings(entries):
            weight = sp.S.One
            for x, y in pairing:
                weight *= variance
                for i, j in zip(x.indices, y.indices, strict=True):
                    weight *= sp.KroneckerDelta(i, j)
            out.append(_Term(rest * weight, term.sums))
    return out


def _contract(term: _Term) -> _Term:
    """Close Kronecker deltas against summed indices; an index that no longer appears
    contributes its range (a free loop over an index of size n gives n)."""
    factor, sums = term.factor, dict(term.sums)
    changed = True
    while changed:
        changed = False
        for delta in factor.atoms(sp.KroneckerDelta):
            i, j = delta.args
            summed = i if i in sums else j if j in sums else None
            if summed is None:
                continue
            other = j if summed == i else i
            factor = (factor / delta).xreplace({summed: other})
            del sums[summed]
            changed = True
            break
    for index in [i for i in sums if i not in factor.free_symbols]:
        factor *= sums.pop(index)
    return _Term(factor, tuple(sums.items()))


def _recognize_gram(term: _Term, base: sp.IndexedBase, gram: sp.IndexedBase) -> _Term:
    """Replace sum_a Z_xa Z_ya by G_xy (G symmetric, indices in sorted order)."""
    factor, sums = term.factor, dict(term.sums)
    for index in list(sums):
        rest, entries = _occurrences(factor, base)
        hits = [e for e in entries if index in e.free_symbols]
        if len(hits) != 2 or rest.has(index) or any(e.indices[1] != index for e in hits):
            continue
        x, y = sorted((e.indices[0] for e in hits), key=sp.default_sort_key)
        others = [e for e in entries if index not in e.free_symbols]
        factor = rest * sp.Mul(*others) * gram[x, y]
        del sums[index]
    return _Term(factor, tuple(sums.items()))


def _assemble(terms: list[_Term]) -> sp.Expr:
    return sp.Add(*(sp.Sum(t.factor, *((i, 1, n) for i, n in t.sums)) if t.sums else t.factor
                    for t in terms))


# ---------------------------------------------------------------------------- MLP moments

_Z, _G = sp.IndexedBase("Z"), sp.IndexedBase("G")
_W1, _W2 = sp.IndexedBase("W^{(1)}"), sp.IndexedBase("W^{(2)}")
_PHI = sp.IndexedBase("Phi")  # Phi_kj = phi(H_kj), H = Z W1
_K, _KP = sp.symbols("k k'", integer=True)
_A, _I, _IP, _J, _JP = sp.symbols("a i i' j j'", integer=True)
#: E[phi(u) phi(v)] for (u, v) ~ N(0, [[Q1, C], [C, Q2]]), before phi is chosen
_KAPPA = sp.Function("kappa_phi")
_Q1, _Q2 = sp.symbols("Q_1 Q_2", positive=True)
_C = sp.Symbol("C", real=True)


def _preactivation(k: sp.Symbol, i: sp.Symbol) -> sp.Expr:
    """H_kj = sum_i Z_ki W1_ij."""
    return sp.Sum(_Z[k, i] * _W1[i, _J], (i, 1, D))


def _preactivation_covariance(x: sp.Symbol, y: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(E[H_xj], E[H_xj H_yj]) over W1, by the index engine, in Gram entries G_xy."""
    def expect(expr: sp.Expr) -> sp.Expr:
        terms = [_contract(t) for t in _expect_iid(_terms(expr), _W1, SIGMA_1**2)]
        return _assemble([_recognize_gram(t, _Z, _G) for t in terms])

    return expect(_preactivation(x, _I)), expect(_preactivation(x, _I) * _preactivation(y, _IP))


@lru_cache(maxsize=1)
def _mlp_second_moment() -> tuple[sp.Expr, Steps]:
    """E[(Y Y^T)_kk' | Z] with the activation's Gaussian kernel left as kappa_phi(...)."""
    def y_entry(k: sp.Symbol, j: sp.Symbol) -> sp.Expr:
        return _Z[k, _A] + ALPHA_2 * sp.Sum(_PHI[k, j] * _W2[j, _A], (j, 1, D_FF))

    gram_entry = sp.Sum(y_entry(_K, _J) * y_entry(_KP, _JP), (_A, 1, D))
    expanded = _terms(gram_entry)
    after_w2 = [_recognize_gram(_contract(t), _Z, _G)
                for t in _expect_iid(expanded, _W2, SIGMA_2**2)]
    cross = [t for t in expanded if len(_occurrences(t.factor, _W2)[1]) == 1]

    cov = {(x, y): _preactivation_covariance(x, y) for x, y in ((_K, _K), (_KP, _KP), (_K, _KP))}
    if any(mean != 0 or _J in second.free_symbols for mean, second in cov.values()):
        raise RuntimeError("pre-activations must be centred and identically distributed in j")
    kernel = _KAPPA(cov[_K, _K][1], cov[_KP, _KP][1], cov[_K, _KP][1])

    after_w1 = []
    for term in after_w2:
        rest, phis = _occurrences(term.factor, _PHI)
        if phis:
            hidden = {p.indices[1] for p in phis}
            if {p.indices[0] for p in phis} != {_K, _KP} or len(hidden) != 1:
                raise RuntimeError(f"unexpected activation product {phis}")
            term = _contract(_Term(rest * kernel, term.sums))
        after_w1.append(term)
    value = _assemble(after_w1)

    lhs = r"\mathbb{E}\big[(YY^\top)_{kk'}\big]"
    steps: Steps = (
        ("MLP block",
         r"Y_{ka} = Z_{ka} + \alpha_2 \sum_{j=1}^{d_{ff}} \Phi_{kj} W^{(2)}_{ja},\quad "
         r"\Phi_{kj} = \phi(H_{kj}),\ H = Z W^{(1)},\quad W^{(1)}_{ij}\sim N(0,\sigma_1^2),\ "
         r"W^{(2)}_{ja}\sim N(0,\sigma_2^2)"),
        ("Expansion of the Gram entry",
         r"(YY^\top)_{kk'} = " + sp.latex(_assemble(expanded))),
        ("Terms linear in $W^{(2)}$ vanish (mean zero)",
         r"\mathbb{E}_{W^{(2)}}\Big[" + sp.latex(_assemble(cross)) + r"\Big] = 0"),
        (r"Pairing $\mathbb{E}[W^{(2)}_{ja}W^{(2)}_{j'a}] = \sigma_2^2\delta_{jj'}$, "
         r"loop over $a$ gives $d$",
         r"\mathbb{E}_{W^{(2)}}\big[(YY^\top)_{kk'}\big] = " + sp.latex(_assemble(after_w2))),
        ("Pre-activations of one hidden unit (jointly Gaussian, same law for every j)",
         r"\mathbb{E}[H_{kj}H_{k'j}] = " + sp.latex(cov[_K, _KP][1])
         + r",\quad \mathbb{E}[H_{kj}^2] = " + sp.latex(cov[_K, _K][1])
         + r",\quad \mathbb{E}[H_{kj}] = 0"),
        (r"Expectation over $W^{(1)}$: the sum over $j$ gives $d_{ff}$ equal terms",
         lhs + " = " + sp.latex(value)),
    )
    return value, steps


# ---------------------------------------------------------------------------- Gaussian integral


def _positive_arc() -> tuple[sp.Expr, sp.Expr]:
    """The arc of one period (-pi, pi] on which cos > 0: between consecutive zeros,
    the one whose midpoint has cos > 0."""
    x = sp.Symbol("x", real=True)
    zeros = sorted(sp.solveset(sp.cos(x), x, sp.Interval.Lopen(-sp.pi, sp.pi)),
                   key=sp.default_sort_key)
    for lo, hi in itertools.pairwise(zeros):
        if sp.cos((lo + hi) / 2).is_positive:
            return lo, hi
    raise RuntimeError("cos has no positive arc between its zeros")  # unreachable


@cache
def _gaussian_product(activation: str) -> tuple[sp.Expr, Steps]:
    """E[phi(u) phi(v)] for (u, v) ~ N(0, [[Q1, C], [C, Q2]]), C = sqrt(Q1 Q2) cos(theta),
    phi in {linear, relu}, as an expression in Q1, Q2 and theta."""
    z1, z2 = sp.symbols("z_1 z_2", real=True)
    r = sp.Symbol("r", nonnegative=True)
    ang = sp.Symbol("varphi", real=True)
    lower = sp.Matrix([[sp.sqrt(_Q1), 0],
                       [sp.sqrt(_Q2) * sp.cos(THETA), sp.sqrt(_Q2) * sp.sin(THETA)]])
    covariance = sp.simplify(lower * lower.T)
    if covariance[0, 1] != sp.sqrt(_Q1 * _Q2) * sp.cos(THETA) or covariance[1, 1] != _Q2:
        raise RuntimeError(f"unexpected covariance {covariance}")
    u, v = lower * sp.Matrix([z1, z2])
    polar = {z1: r * sp.cos(ang), z2: r * sp.sin(ang)}
    jacobian = sp.simplify(sp.Matrix([polar[z1], polar[z2]]).jacobian([r, ang]).det())
    density = sp.simplify((sp.exp(-(z1**2 + z2**2) / 2) / (2 * sp.pi)).subs(polar))
    u_p, v_p = sp.simplify(u.subs(polar)), sp.simplify(v.subs(polar))
    # both are r times a cosine of the angle: u ~ cos(varphi), v ~ cos(varphi - theta)
    if sp.simplify(u_p / (sp.sqrt(_Q1) * r * sp.cos(ang))) != 1 or sp.simplify(
        v_p / (sp.sqrt(_Q2) * r * sp.cos(ang - THETA))
    ) != 1:
        raise RuntimeError(f"unexpected polar form {u_p}, {v_p}")
    if activation == "relu":
        arc_lo, arc_hi = _positive_arc()
        lo = sp.Max(arc_lo, arc_lo + THETA)
        hi = sp.Min(arc_hi, arc_hi + THETA)
        domain = (r"u>0 \Leftrightarrow \varphi\in(" + sp.latex(arc_lo) + ", " + sp.latex(arc_hi)
                  + r"),\ v>0 \Leftrightarrow \varphi-\theta\in(" + sp.latex(arc_lo) + ", "
                  + sp.latex(arc_hi) + r")\ \Rightarrow\ \varphi\in(" + sp.latex(lo) + ", "
                  + sp.latex(hi) + r"),\ \theta\in[0,\pi]")
    else:
        lo, hi = -sp.pi, sp.pi
        domain = r"\text{linear: the whole circle } \varphi\in(-\pi,\pi]"
    integrand = u_p * v_p * density * jacobian
    radial = sp.integrate(integrand, (r, 0, sp.oo))
    value = sp.simplify(sp.integrate(radial, (ang, lo, hi)))

    steps: Steps = (
        ("Whitening",
         r"u = " + sp.latex(u) + r",\ v = " + sp.latex(v) + r",\ z\sim N(0,I_2),\quad "
         r"\operatorname{Cov}(u,v) = " + sp.latex(covariance)
         + r",\ \cos\theta = \frac{C}{\sqrt{Q_1Q_2}}"),
        ("Polar coordinates",
         r"z = r(\cos\varphi,\sin\varphi),\ dz = " + sp.latex(jacobian) + r"\,dr\,d\varphi,\ "
         r"p(z) = " + sp.latex(density) + r",\ u = " + sp.latex(u_p) + r",\ v = "
         + sp.latex(v_p)),
        ("Where both factors are active", domain),
        ("Radial integral",
         r"\int_0^\infty " + sp.latex(integrand) + r"\,dr = " + sp.latex(sp.simplify(radial))),
        ("Angular integral",
         r"\mathbb{E}[\phi(u)\phi(v)] = \int_{" + sp.latex(lo) + "}^{" + sp.latex(hi) + r"}"
         r"(\dots)\,d\varphi = " + sp.latex(value)),
    )
    return value, steps


def _kernel_in_moments(activation: str, q1: sp.Expr, q2: sp.Expr, c: sp.Expr) -> sp.Expr:
    """The derived E[phi(u) phi(v)] at Var u = q1, Var v = q2, Cov = c."""
    value, _ = _gaussian_product(activation)
    return value.subs({_Q1: q1, _Q2: q2}).subs(THETA, sp.acos(c / sp.sqrt(q1 * q2)))


# ---------------------------------------------------------------------------- public closed forms


def relu_kernel(q1: object, q2: object, c: object) -> sp.Expr:
    """E[relu(u) relu(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]): the degree-1 arc-cosine
    kernel sqrt(q1 q2)(sin t + (pi - t) cos t)/(2 pi), cos t = c/sqrt(q1 q2), derived.

    Arguments are numbers or SymPy expressions; numeric ones must satisfy q1, q2 > 0 and
    |c| <= sqrt(q1 q2)."""
    return _kernel_in_moments("relu", *_check_gram_entries(q1, q2, c))


@lru_cache(maxsize=1)
def _normalized_relu_in_theta() -> sp.Expr:
    """kappa(q1, q2, c) / sqrt(kappa(q1, q1, q1) kappa(q2, q2, q2)) in theta."""
    value, _ = _gaussian_product("relu")
    diagonal = [value.subs({_Q1: q, _Q2: q, THETA: 0}) for q in (_Q1, _Q2)]
    return sp.simplify(value / sp.sqrt(diagonal[0] * diagonal[1]))


def relu_kernel_normalized(rho: object) -> sp.Expr:
    """The ReLU correlation map kappa_hat(rho) = (sin t + (pi - t) cos t)/pi, t = acos(rho):
    the correlation of (relu(u), relu(v)) measured by second moments, derived as
    kappa(q1, q2, c)/sqrt(kappa(q1, q1, q1) kappa(q2, q2, q2)). Needs -1 <= rho <= 1."""
    r = _expr("rho", rho)
    if r.is_real is False or (r.is_number and (r < -1 or r > 1)):
        raise ValueError(f"rho must be in [-1, 1], got {rho!r}")
    return _normalized_relu_in_theta().subs(THETA, sp.acos(r))


def mlp_gram_update(activation: str = "relu") -> sp.Expr:
    """E[Y Y^T | Z]_kk' for Y = Z + alpha_2 phi(Z W1) W2 (no norm), derived:
    G_kk' + alpha_2^2 sigma_2^2 d d_ff E[phi(u) phi(v)] with
    (u, v) ~ N(0, sigma_1^2 [[G_kk, G_kk'], [G_kk', G_k'k']]); for relu the kernel is
    sigma_1^2 kappa(G_kk, G_k'k', G_kk'), for linear it is sigma_1^2 G_kk'.
    Symbols: alpha_2, sigma_1, sigma_2, d, d_ff, G_kk, G_k'k', G_kk'."""
    return _mlp_gram_update(_check_activation(activation, CLOSED_FORM_ACTIVATIONS))


@cache
def _mlp_gram_update(activation: str) -> sp.Expr:
    """The derivation behind ``mlp_gram_update`` (activation already checked)."""
    value, _ = _mlp_second_moment()
    value = value.replace(_KAPPA, lambda q1, q2, c: _kernel_in_moments(activation, q1, q2, c))
    entries = {_G[_K, _K]: G_KK, _G[_KP, _KP]: G_K_PRIME_K_PRIME, _G[_K, _KP]: G_KK_PRIME}
    return value.xreplace(entries)


def derivation_steps(activation: str = "relu") -> Steps:
    """(title, LaTeX) steps from the block definition to ``mlp_gram_update(activation)``."""
    name = _check_activation(activation, CLOSED_FORM_ACTIVATIONS)
    _, mlp_steps = _mlp_second_moment()
    _, integral_steps = _gaussian_product(name)
    final = (
        "Result",
        r"\mathbb{E}\big[(YY^\top)_{kk'}\mid Z\big] = " + sp.latex(mlp_gram_update(name)),
    )
    return (*mlp_steps, *integral_steps, final)


# ---------------------------------------------------------------------------- kappa_hat >= rho


def _nonnegative_on(factor: sp.Expr, var: sp.Symbol, interval: sp.Interval) -> tuple[bool, str]:
    """Whether ``factor`` >= 0 on ``interval`` with zeros only at its end points,
    by its range and its zero set; also a LaTeX line saying so."""
    if not factor.has(var):
        ok = bool(factor.is_positive)
        return ok, sp.latex(factor) + (r" > 0" if ok else r"\ \text{(not positive)}")
    image = function_range(factor, var, interval)
    zeros = sp.solveset(factor, var, interval)
    ends = sp.FiniteSet(interval.start, interval.end)
    ok = (isinstance(image, sp.Interval) and bool(image.inf >= 0)
          and isinstance(zeros, sp.FiniteSet) and zeros.is_subset(ends))
    return ok, (sp.latex(factor) + r"\in " + sp.latex(image) + r",\ \text{zeros } "
                + sp.latex(zeros) + (r"\ \checkmark" if ok else r"\ \text{(fails)}"))


def prove_raises_correlation(kernel_hat: sp.Expr) -> tuple[bool, Steps]:
    """Try to prove kernel_hat(rho) >= rho on [-1, 1] with equality only at rho = 1, for a
    correlation map given in theta = acos(rho) in [0, pi]. The argument: the gap
    g(theta) = kernel_hat - cos(theta) has g(0) = 0 and g'(theta) >= 0 on [0, pi] with
    zeros only at the end points, so g(theta) > 0 for theta in (0, pi].
    Returns (holds, steps); holds is False when a step cannot be established."""
    t = sp.Symbol("t", real=True)
    gap = sp.simplify(kernel_hat.subs(THETA, t) - sp.cos(t))
    at_zero = sp.simplify(gap.subs(t, 0))
    slope = factor(sp.simplify(sp.diff(gap, t)))
    interval = sp.Interval(0, sp.pi)
    checks = [_nonnegative_on(f, t, interval) for f in sp.Mul.make_args(slope)]
    holds = bool(at_zero == 0) and all(ok for ok, _ in checks)
    steps: Steps = (
        (r"Gap in $t=\arccos\rho\in[0,\pi]$",
         r"g(t) = \hat\kappa(\cos t) - \cos t = " + sp.latex(gap)),
        ("Value at t = 0 (rho = 1)", r"g(0) = " + sp.latex(at_zero)),
        ("Derivative", r"g'(t) = " + sp.latex(slope)),
        ("Sign of each factor on [0, pi]", r",\quad ".join(line for _, line in checks)),
        ("Conclusion",
         r"g(t) = \int_0^t g'(s)\,ds > 0 \text{ for } t\in(0,\pi],\ \text{so } \hat\kappa(\rho)"
         r" > \rho \text{ for } \rho\in[-1,1) \text{ and } \hat\kappa(1) = 1"
         if holds else r"\text{not established}"),
    )
    return holds, steps


def prove_relu_raises_correlation() -> tuple[bool, Steps]:
    """kappa_hat(rho) >= rho for ReLU, equality only at rho = 1 (see prove_raises_correlation)."""
    return prove_raises_correlation(_normalized_relu_in_theta())


@dataclass(frozen=True)
class GridCheck:
    """kappa_hat(rho) - rho on an even grid of ``points`` values of rho in [-1, 1]."""

    points: int
    min_gap_below_one: mpmath.mpf
    argmin: mpmath.mpf
    gap_at_one: mpmath.mpf
    dps: int

    @property
    def holds(self) -> bool:
        """Positive gap for every rho < 1 and zero (to working precision) at rho = 1."""
        return self.min_gap_below_one > 0 and abs(self.gap_at_one) <= mpmath.mpf(10) ** (
            2 - self.dps
        )


def relu_correlation_gap_on_grid(points: int = 2001, dps: int = 30) -> GridCheck:
    """Evaluate the derived kappa_hat(rho) - rho with mpmath at ``dps`` digits on
    rho_i = -1 + 2 i/(points - 1)."""
    points = check_positive_int("points", points)
    if points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    dps = check_positive_int("dps", dps)
    rho = sp.Symbol("rho", real=True)
    gap = sp.lambdify(rho, _normalized_relu_in_theta().subs(THETA, sp.acos(rho)) - rho,
                      modules="mpmath")
    with mpmath.workdps(dps):
        grid = [mpmath.mpf(-1) + mpmath.mpf(2 * i) / (points - 1) for i in range(points)]
        gaps = [gap(x) for x in grid]
        below = min(range(points - 1), key=lambda i: gaps[i])
        return GridCheck(points, +gaps[below], +grid[below], +gaps[-1], dps)


# ---------------------------------------------------------------------------- quadrature


def quadrature_relu_kernel(q1: object, q2: object, c: object, dps: int = 30) -> mpmath.mpf:
    """E[relu(u) relu(v)] by mpmath quadrature of the bivariate normal density over the
    positive quadrant, independent of the symbolic derivation.

    With x = u/sqrt(q1), y = v/sqrt(q2) (correlation rho = c/sqrt(q1 q2)) and polar
    coordinates x = r cos p, y = r sin p, the quadrant is p in [0, pi/2] and the density is
    exp(-r^2 a(p)/2) / (2 pi sqrt(1 - rho^2)), a(p) = (1 - rho sin 2p)/(1 - rho^2).
    Scaling r = s/sqrt(a(p)) makes the integrand separable,
    sqrt(q1 q2)/(2 pi sqrt(1 - rho^2)) * s^3 exp(-s^2/2) * cos p sin p / a(p)^2,
    so the 2-D tensor quadrature is the product of two 1-D mpmath.quad integrals
    (tanh-sinh; p split at pi/4 where the density ridge lies for rho > 0).
    Needs q1, q2 > 0 and |c| < sqrt(q1 q2) (a density)."""
    dps = check_positive_int("dps", dps)
    with mpmath.workdps(dps):
        m1, m2, mc = _mp_moments(q1, q2, c, strict=True)
        rho = mc / mpmath.sqrt(m1 * m2)
        spread = 1 - rho * rho

        def angular(p: mpmath.mpf) -> mpmath.mpf:
            a = (1 - rho * mpmath.sin(2 * p)) / spread
            return mpmath.cos(p) * mpmath.sin(p) / (a * a)

        radial = mpmath.quad(lambda s: s**3 * mpmath.exp(-s * s / 2), [0, mpmath.inf])
        wedge = mpmath.quad(angular, [0, mpmath.pi / 4, mpmath.pi / 2])
        return +(mpmath.sqrt(m1 * m2) * radial * wedge / (2 * mpmath.pi * mpmath.sqrt(spread)))


def _relu(x: mpmath.mpf) -> mpmath.mpf:
    return x if x > 0 else mpmath.mpf(0)


def _gelu(x: mpmath.mpf) -> mpmath.mpf:
    return x * mpmath.ncdf(x)


_MP_ACTIVATIONS: dict[str, Callable[[mpmath.mpf], mpmath.mpf]] = {
    "linear": lambda x: x,
    "relu": _relu,
    "gelu": _gelu,
    "tanh": mpmath.tanh,
}
#: the same activations in float arithmetic (the standard library's math)
_FLOAT_ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "linear": lambda x: x,
    "relu": lambda x: x if x > 0 else 0.0,
    "gelu": lambda x: 0.5 * x * math.erfc(-x / math.sqrt(2.0)),
    "tanh": math.tanh,
}
#: float arithmetic under mpmath's names, for the quadrature at dps <= 15
_FLOAT = SimpleNamespace(sqrt=math.sqrt, cos=math.cos, sin=math.sin, atan2=math.atan2,
                         log=math.log, exp=math.exp, fsum=math.fsum, mpf=float, pi=math.pi)


@lru_cache(maxsize=16)
def _legendre_nodes(degree: int, prec: int) -> tuple[tuple[mpmath.mpf, mpmath.mpf], ...]:
    """Gauss-Legendre nodes and weights on [-1, 1] (3 * 2^(degree-1) of them)."""
    with mpmath.workprec(prec):
        return tuple(GaussLegendre(mpmath.mp).calc_nodes(degree, prec))


def quadrature_kernel(activation: str, q1: object, q2: object, c: object, dps: int = 20,
                      degree: int = 5) -> mpmath.mpf:
    """E[phi(u) phi(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]) and phi in
    linear, relu, gelu (x Phi(x), erf-based), tanh, by 2-D quadrature.

    Whitening u = sqrt(q1) z1, v = sqrt(q2)(rho z1 + sqrt(1 - rho^2) z2) and polar
    coordinates z = r (cos p, sin p) turn the integral into
    (1/2pi) int dp int r exp(-r^2/2) phi(A(p) r) phi(B(p) r) dr. The circle is cut at the
    angles where A or B vanishes (the kinks of relu), each arc gets a Gauss-Legendre rule,
    and r runs over [0, R] with exp(-R^2/2) = 10^-(dps+5) under one Gauss-Legendre rule;
    3 * 2^(degree-1) nodes per rule. Polynomial integrands (linear, relu) come out exact
    to working precision; for gelu and tanh at q <= 10 the default is accurate to about
    1e-12 relative. At dps <= 15 the rule runs in float arithmetic (math), about 50
    times faster, to about 1e-13 relative. Needs q1, q2 > 0 and |c| <= sqrt(q1 q2)."""
    name = _check_activation(activation, ACTIVATIONS)
    dps = check_positive_int("dps", dps)
    degree = check_positive_int("degree", degree)
    with mpmath.workdps(max(dps, 15)):
        moments = _mp_moments(q1, q2, c, strict=False)
        nodes = _legendre_nodes(degree, mpmath.mp.prec)
        if dps > 15:
            return _quadrature(mpmath, _MP_ACTIVATIONS[name], *moments, nodes, dps)
    floats = [(float(x), float(w)) for x, w in nodes]
    return mpmath.mpf(_quadrature(_FLOAT, _FLOAT_ACTIVATIONS[name],
                                  *(float(m) for m in moments), floats, dps))


def _quadrature(m: Any, phi: Callable, m1: Any, m2: Any, mc: Any,
                nodes: Sequence[tuple[Any, Any]], dps: int) -> Any:
    """The rule of ``quadrature_kernel`` in the arithmetic of ``m`` (mpmath, or float)."""
    rho = mc / m.sqrt(m1 * m2)
    a0 = m.sqrt(m1)
    b1, b2 = m.sqrt(m2) * rho, m.sqrt(m2) * m.sqrt(max(1 - rho * rho, 0 * rho))
    # A(p) = a0 cos p vanishes at +-pi/2; B(p) = b1 cos p + b2 sin p at t +- pi/2
    t = m.atan2(b2, b1)
    kinks = {-m.pi / 2, m.pi / 2}
    kinks |= {(z + m.pi) % (2 * m.pi) - m.pi for z in (t - m.pi / 2, t + m.pi / 2)}
    cuts = sorted(kinks | {-m.pi, m.pi})
    reach = m.sqrt(2 * (dps + 5) * m.log(10))
    radial = [(reach * (1 + x) / 2, w * reach / 2) for x, w in nodes]
    radial = [(r, w * r * m.exp(-r * r / 2)) for r, w in radial]
    total = m.mpf(0)
    for lo, hi in itertools.pairwise(cuts):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        for x, w in nodes:
            p = mid + half * x
            a, b = a0 * m.cos(p), b1 * m.cos(p) + b2 * m.sin(p)
            total += half * w * m.fsum(wr * phi(a * r) * phi(b * r) for r, wr in radial)
    return total / (2 * m.pi)
