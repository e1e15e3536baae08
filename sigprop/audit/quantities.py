"""The quantities a statement can be about: a derivation joined with a Monte Carlo sampler.

Each :class:`Quantity` names something both engines compute:

- ``derive(input)`` returns the engine's closed form (``theory``) in the
  quantity's parameters and, for a fixed X, the statistics of X
  (``theory.statistics``), under the uniform-attention assumption where the
  quantity involves attention; None where the engine has no closed form;
- ``sampler(setting)`` returns a Monte Carlo sampler (``numerics``) of the
  quantity at one parameter point, for the model of the setting (the
  uniform-attention assumption, or the real softmax network);
- ``paired(setting, other)``, where given, samples the quantity under the setting's
  model beside the quantity under ``other``'s model on the same networks
  (``estimate_beside``: a control variate).

Neither side sees the other: this module only passes numbers between them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np
import sympy as sp

from architecture.model import transformer_block
from architecture.spec import Architecture
from architecture.sublayers import MLP, Attention
from numerics.attention_layer import (
    Layer,
    Tokens,
    centered_gram_sampler,
    gram_entry_sampler,
    jacobian_matrices,
    jacobian_norm_sampler,
    logit_sampler,
    softmax_jacobian_at_zero,
    uniform_deviation_sampler,
)
from numerics.estimators import (
    Estimate,
    difference_from_moments,
    mean_correlation_from_moments,
)
from numerics.jacobians import attention_matrix
from numerics.montecarlo import Sampler, mean_estimate, run_moments, sized
from numerics.quantities import loss_gradient_sampler
from numerics.stack import common_gram_sampler, output_sampler
from sigprop.audit import kronecker
from sigprop.audit.inputs import statistics
from sigprop.audit.model import Model
from theory import blocks, jacobians, layer_moments, logits
from theory.attention import (
    Derivation,
    prove_rank_one_query_gradient,
    softmax_jacobian_at_uniform,
    symbolic_head,
)
from theory.factoring import factor
from theory.statistics import symbol as statistic

#: chunk of samples per Monte Carlo call (capped further by the samplers' draws)
CHUNK = 2048


@dataclass(frozen=True)
class Setting:
    """One point of a statement: scalar values (initialization applied), X, the model."""

    values: Mapping[str, float]
    x: np.ndarray | None
    input: str
    model: Model

    def __getitem__(self, name: str) -> float:
        return self.values[name]


@dataclass(frozen=True)
class Quantity:
    name: str
    description: str
    params: tuple[str, ...]
    inputs: tuple[str, ...]
    sampler: Callable[[Setting], Sampler] | None  # None: a figure, checked by audit.figures
    derive: Callable[[str], Derivation | None] = field(default=lambda _input: None)
    reduce: str = "mean"
    leading: bool = False  # derive gives the leading asymptotic term, not the exact value
    uses_attention: bool = True
    exact_value: Callable[[Setting, sp.Expr], float] | None = None
    size: float | None = None  # what zero is judged against (None: the value at a generic X)
    paired: Callable[[Setting, Setting], Sampler] | None = None

    def estimate(self, setting: Setting, samples: int, seed: int) -> Estimate:
        if self.sampler is None:
            raise ValueError(f"{self.name} is a figure: it has curves, not one estimate")
        sampler = self.sampler(setting)
        if self.reduce == "correlation":
            moments = run_moments(sampler, max(2, samples), seed, CHUNK)
            return mean_correlation_from_moments(moments, int(setting["n"]))
        return mean_estimate(sampler, samples, seed, CHUNK)

    def estimate_beside(self, setting: Setting, other: Setting, other_mean: float,
                        samples: int, seed: int) -> Estimate:
        """E f under ``setting`` as other_mean + E[f - g], g the quantity under ``other`` on
        the same networks and other_mean its known mean (a control variate of
        coefficient 1): unbiased when other_mean = E g, with se sd(f - g) / sqrt(N), far
        below sd(f) / sqrt(N) where the two models nearly agree on every network."""
        if self.paired is None or self.reduce != "mean":
            raise ValueError(f"{self.name} has no paired sampler")
        moments = run_moments(self.paired(setting, other), max(2, samples), seed, CHUNK)
        difference = difference_from_moments(moments, 0, 1)
        return replace(difference, mean=other_mean + difference.mean)


# --- one attention layer ------------------------------------------------------------------

LAYER = ("n", "d_v", "d_k", "tau", "sigma_q", "sigma_k", "sigma_v")


def _layer(s: Setting, uniform: bool | None = None) -> Layer:
    """The attention layer of a setting (queries and keys of width 1 and scale 1 where the
    quantity has none: they are then drawn but not used)."""
    v = s.values
    d_k = int(v.get("d_k", 1))
    return Layer(n=int(v["n"]), d_v=int(v["d_v"]), d_k=d_k, sigma_q=v.get("sigma_q", 1.0),
                 sigma_k=v.get("sigma_k", 1.0), sigma_v=v.get("sigma_v", 1.0),
                 scale=v.get("tau", 1.0) / math.sqrt(d_k),
                 uniform=s.model.attention == "uniform" if uniform is None else uniform)


def _token_layer(s: Setting) -> Layer:
    """The shape of the tokens only (for quantities of X alone)."""
    return Layer(n=int(s["n"]), d_v=int(s["d_v"]), d_k=1, sigma_q=1.0, sigma_k=1.0,
                 sigma_v=1.0, scale=1.0)


def _tokens(s: Setting) -> Tokens:
    if s.input == "gaussian":
        return Tokens(rho=s["rho"], sigma_x=s["sigma_x"])
    return Tokens(x=s.x)


def _jacobian(which: str) -> Quantity:
    def derive(kind: str) -> Derivation | None:
        if kind == "gaussian":
            return None if which == "input" else jacobians.jacobian_norm_gaussian_tokens(which)
        return jacobians.jacobian_norm(which)

    names = {"value": "W^V", "query": "W^Q", "key": "W^K", "input": "X"}
    inputs = ("fixed", "rank-one") if which == "input" else ("fixed", "rank-one", "gaussian")
    return Quantity(
        name=f"attention.{which}_{'jacobian' if which == 'input' else 'gradient'}_norm",
        description=f"E ||dS/d{names[which]}||_F^2 of one attention layer S = A X W^V",
        params=LAYER, inputs=inputs, derive=derive,
        sampler=lambda s: jacobian_norm_sampler(_layer(s), _tokens(s), which))


def _centered_gram_derive(kind: str) -> Derivation | None:
    if kind == "gaussian":
        return jacobians.centered_gram_norm_gaussian_tokens()
    value = sp.Symbol("XtLX_F2", nonnegative=True)
    return Derivation(value, (("A statistic of X", sp.latex(value)),))


def _logit(power: int) -> Quantity:
    def derive(kind: str) -> Derivation | None:
        if kind == "gaussian":
            return None
        return logits.logit_mean() if power == 1 else logits.logit_second_moment()

    return Quantity(
        name=f"logits.{'mean' if power == 1 else 'second_moment'}",
        description=f"E[M_ij^{power}] of the logits M = (tau/sqrt(d_k)) X W^Q (X W^K)^T",
        params=(*LAYER[:-1], "i", "j"), inputs=("fixed", "rank-one"), derive=derive,
        sampler=lambda s: logit_sampler(_layer(s), _tokens(s), int(s["i"]) - 1,
                                        int(s["j"]) - 1, power),
        uses_attention=False)


def _gram_entry(name: str, which: str, description: str, derive: Callable[[], Derivation],
                params: tuple[str, ...], uses_attention: bool) -> Quantity:
    def sampler(s: Setting) -> Sampler:
        alpha = s.values.get("alpha_1", 1.0)
        return gram_entry_sampler(_layer(s), _tokens(s), int(s["i"]) - 1, int(s["j"]) - 1,
                                  which, alpha)

    return Quantity(name=name, description=description, params=(*params, "i", "j"),
                    inputs=("fixed", "rank-one"),
                    derive=lambda kind: None if kind == "gaussian" else derive(),
                    sampler=sampler, uses_attention=uses_attention)


def _jacobian_gap_sampler(s: Setting) -> Sampler:
    """Per network: the relative squared gap between the Jacobians of a softmax head (the
    chain rule, numerics) and the paper's Kronecker forms."""
    layer = _layer(s, uniform=False)
    tokens = _tokens(s)

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        wq, wk, wv = layer.weights(start, count, seed)
        x = tokens.draw(layer, start, count, seed)
        jv, jq = jacobian_matrices(x, wq, wk, wv, layer.scale)
        out = np.empty(count)
        for b in range(count):
            a = attention_matrix(x @ wq[b], x @ wk[b], layer.scale, uniform=False)
            gap = (np.sum((jv[b] - kronecker.value_jacobian(kronecker.NUMPY, x, a,
                                                             layer.d_v))**2)
                   + np.sum((jq[b] - kronecker.query_jacobian(kronecker.NUMPY, x, wk[b], wv[b],
                                                               a, layer.scale))**2))
            out[b] = gap / (np.sum(jv[b]**2) + np.sum(jq[b]**2))
        return out

    return sized(sample, layer.draws())


def _jacobian_gap_derive(kind: str) -> Derivation:
    """Differentiation of an explicit head (theory) against the printed Kronecker forms."""
    head = symbolic_head()
    width = head.x.shape[1]
    gap_v = sp.simplify(head.jacobian_v - kronecker.value_jacobian(kronecker.SYMPY, head.x,
                                                                    head.a, width))
    gap_q = head.jacobian_q - kronecker.query_jacobian(kronecker.SYMPY, head.x, head.wk,
                                                       head.wv, head.a, head.scale)
    rng = random.Random(2022)
    symbols = sorted(gap_q.free_symbols, key=lambda x: x.name)
    worst = max(abs(sp.N(e.xreplace({x: sp.Rational(rng.randint(-9, 9), rng.randint(1, 9))
                                     for x in symbols}), 50))
                for _ in range(3) for e in gap_q)
    residual = sp.S.Zero if gap_v == sp.zeros(*gap_v.shape) and worst < 1e-40 else sp.nan
    steps = (("Jacobians by differentiation (engine)", r"n = 2,\ d_v = 2,\ d_k = 1,\ "
              r"\text{every entry of } X, W^Q, W^K, W^V \text{ a symbol}"),
             (r"$\partial S/\partial W^V$ against $AX\otimes I_{d_v}$",
              r"\text{difference simplifies to } " + sp.latex(gap_v.norm())),
             (r"$\partial S/\partial W^Q$ against the printed Kronecker form",
              rf"\max|\text{{difference}}| = {sp.latex(worst)} \text{{ at 3 random rational "
              r"points, 50 digits}"))
    return Derivation(residual, steps)


def _uniform_softmax_gap(s: Setting) -> Sampler:
    n = int(s["n"])
    gap = float(np.sum((softmax_jacobian_at_zero(n)
                        - kronecker.uniform_softmax_jacobian(kronecker.NUMPY, n))**2))

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        return np.full(count, gap)

    return sample


def _uniform_softmax_derive(kind: str) -> Derivation:
    gaps = {m: sp.simplify((softmax_jacobian_at_uniform(m) - kronecker.uniform_softmax_jacobian(
        kronecker.SYMPY, m)).norm()**2) for m in range(2, 6)}
    residual = sp.Add(*gaps.values())
    steps = (("Softmax Jacobian at zero logits, by differentiation (engine)",
              r"\frac{\partial A}{\partial M}\Big|_{M=0} \text{ for } n = 2,\dots,5"),
             (r"Against $\tfrac1n I_n\otimes(I_n - \tfrac1n J)$",
              r",\ ".join(rf"n={m}: {sp.latex(v)}" for m, v in gaps.items())))
    return Derivation(residual, steps)


# --- stacks of the paper's block ---------------------------------------------------------

BLOCK = ("n", "d_v", "d_k", "L", "sigma_q", "sigma_k", "sigma_v")


def _alphas(s: Setting) -> tuple[float, float]:
    if s.model.residual == "depth-scaled":
        return (math.sqrt(s["alpha_1_tilde"] / s["L"]), math.sqrt(s["alpha_2_tilde"] / s["L"]))
    return s["alpha_1"], s["alpha_2"]


def _paper_stack(s: Setting, activation: str = "linear") -> Architecture:
    a1, a2 = _alphas(s)
    d = int(s["d_v"])
    return Architecture(n=int(s["n"]), d=d, d_k=int(s["d_k"]), d_v=d, d_ff=d,
                        depth=int(s["L"]), norm="none", activation=activation,
                        attention=s.model.attention, alpha_1=a1, alpha_2=a2,
                        sigma_q=s["sigma_q"], sigma_k=s["sigma_k"], sigma_v=s["sigma_v"],
                        sigma_1=s["sigma_1"], sigma_2=s["sigma_2"])


def _stack_sampler(statistic: str) -> Callable[[Setting], Sampler]:
    """The statistic of the last block's Gram less its martingale part (the paper's block
    telescopes: numerics.stack.output_sampler), which has the Gram's mean."""
    summary = statistic.replace("_", "-")

    def build(s: Setting) -> Sampler:
        return output_sampler(_paper_stack(s).model(), s.x, summary, martingale=True)

    return build


def _stack_pair(statistic: str) -> Callable[[Setting, Setting], Sampler]:
    summary = statistic.replace("_", "-")

    def build(s: Setting, other: Setting) -> Sampler:
        return common_gram_sampler((_paper_stack(s).model(), _paper_stack(other).model()), s.x,
                                   summary, last=True, martingale=True)

    return build


@cache
def _stack_state() -> tuple[blocks.Span, tuple[tuple[str, str], ...]]:
    """K_L = g_L G + j_L J after L of the paper's blocks (uniform attention, linear MLP,
    d_F = d_v) from a fixed X with Gram G: the block is linear in K, so L blocks are a
    matrix power (``theory.blocks.closed_form``)."""
    n, d_v, L = sp.symbols("n d_v L", positive=True, integer=True)
    names = ("alpha_1", "alpha_2", "sigma_v", "sigma_1", "sigma_2")
    alpha_1, alpha_2, sigma_v, sigma_1, sigma_2 = sp.symbols(names, nonnegative=True)
    attention = Attention(heads=1, d_k=1, d_v=1, scale=1.0, kind="uniform")
    mlp = MLP("linear", 1, 1.0, 1.0)
    block = transformer_block(attention, mlp)
    symbols = {(attention, "d_v"): d_v, (attention, "sigma_v"): sigma_v, (mlp, "d_ff"): d_v,
               (mlp, "sigma_1"): sigma_1, (mlp, "sigma_2"): sigma_2,
               (block[0], "alpha"): alpha_1, (block[1], "alpha"): alpha_2}
    start = blocks.Span(sp.S.One, sp.S.Zero, n, base="G")
    _, taken = blocks.apply_block(block, blocks.State(start), d_v, symbols)
    gram, matrix = blocks.closed_form(block, start, d_v, L, symbols)
    steps = (*(pair for t in taken for pair in t.pairs()),
             ("Feed-forward width", r"d_F = d_v"),
             (r"One block on $(g, j)$, $K = gG + jJ$", r"T = " + sp.latex(matrix)),
             ("L blocks (matrix power)", r"g_L = " + sp.latex(gram.g) + r",\quad j_L = "
              + sp.latex(gram.j)))
    return gram, steps


def _stack_derive(name: str) -> Callable[[str], Derivation | None]:
    def derive(kind: str) -> Derivation | None:
        if kind == "gaussian":
            return None
        gram, steps = _stack_state()
        g_l, j_l, n = gram.g, gram.j, gram.n
        c_x, x_f2 = statistic("C_X"), statistic("X_F2")
        value, how = {
            "inner_product_sum": (g_l * c_x + j_l * n**2,
                                  r"\mathbb E\,C(X^L) = g_L C(X) + j_L n^2"),
            "squared_norm": (g_l * x_f2 + j_l * n, r"\mathbb E\|X^L\|_F^2 = g_L\|X\|_F^2 + j_L n"),
            "mean_correlation": (
                sp.simplify((g_l * (c_x - x_f2) + j_l * n * (n - 1))
                            / ((n - 1) * (g_l * x_f2 + j_l * n))),
                r"\rho^L = \frac{1}{n(n-1)}\sum_{k\ne k'}\frac{g_L G_{kk'} + j_L}{g_L\|x\|^2 + "
                r"j_L}\ \text{(equal token norms)}"),
        }[name]
        value = factor(value)
        return Derivation(value, (*steps, (how, sp.latex(value))))

    return derive


def _correlation_exact(s: Setting, expr: sp.Expr) -> float:
    """rho^L from the full expected Gram g_L G + j_L J of the given X (the closed form
    in the statistics holds for tokens of equal norms only)."""
    alpha_1, alpha_2 = _alphas(s)
    values = {**s.values, "alpha_1": alpha_1, "alpha_2": alpha_2,
              "C_X": statistics(s.x)["C_X"]}  # a zero C(X) stays exactly zero
    gram = _stack_state()[0]
    g, j = (float(e.xreplace({sym: values[sym.name] for sym in e.free_symbols}))
            for e in (gram.g, gram.j))
    k = g * (s.x @ s.x.T) + j
    norm = np.sqrt(np.outer(np.diag(k), np.diag(k)))
    n = k.shape[0]
    return float(((k / norm).sum() - n) / (n * (n - 1)))


def _block(name: str, description: str, reduce: str = "mean") -> Quantity:
    return Quantity(
        name=f"block.{name}", description=description,
        params=(*BLOCK, "alpha_1", "alpha_2"), inputs=("fixed", "rank-one"),
        derive=_stack_derive(name), sampler=_stack_sampler(
            "gram" if reduce == "correlation" else name), reduce=reduce,
        exact_value=_correlation_exact if reduce == "correlation" else None,
        paired=_stack_pair(name) if reduce == "mean" else None)


def _rank_one_gradients(s: Setting) -> Sampler:
    arch = _paper_stack(s, activation="relu").replace(sigma_1=math.sqrt(2 / s["d_v"]))
    return loss_gradient_sampler(arch, s.x, ("wq", "wk"))


def _vanishing_derive(kind: str) -> Derivation:
    proof = prove_rank_one_query_gradient()
    return Derivation(sp.S.Zero, proof.steps)


QUANTITIES: dict[str, Quantity] = {q.name: q for q in (
    _jacobian("value"), _jacobian("query"), _jacobian("key"), _jacobian("input"),
    Quantity(name="tokens.centered_gram_norm",
             description="E ||X^T X - n xbar xbar^T||_F^2 of the tokens",
             params=("n", "d_v"), inputs=("gaussian", "fixed"), derive=_centered_gram_derive,
             sampler=lambda s: centered_gram_sampler(_token_layer(s), _tokens(s)),
             uses_attention=False),
    _logit(1), _logit(2),
    _gram_entry("linear.gram_entry", "linear", "E[D_ic D_jc] averaged over the columns c of "
                "D = X W", layer_moments.linear_entry, ("n", "d_v", "sigma_v"), False),
    _gram_entry("attention.gram_entry", "attention", "E[S_ic S_jc] averaged over the columns "
                "c of an attention layer S = A X W^V", layer_moments.uniform_attention_entry,
                LAYER, True),
    _gram_entry("skip.cross_term", "skip-cross", "the cross terms of E[D_ic D_jc] for "
                "D = X + alpha_1 S, S = A X W^V (any A): alpha_1 E[S_ic X_jc + X_ic S_jc] "
                "averaged over c", layer_moments.skip_cross_entry, (*LAYER, "alpha_1"), False),
    Quantity(name="attention.uniform_deviation",
             description="E (1/n^2) ||A - J/n||_F^2 of softmax attention",
             params=LAYER[:-1], inputs=("fixed", "rank-one"),
             derive=lambda kind: None if kind == "gaussian" else
             logits.uniform_deviation_leading(),
             sampler=lambda s: uniform_deviation_sampler(_layer(s, uniform=False), _tokens(s)),
             leading=True, uses_attention=False),
    _block("inner_product_sum", "E C(X^L): the sum of all token inner products after L blocks"),
    _block("squared_norm", "E ||X^L||_F^2 after L blocks"),
    _block("mean_correlation", "rho^L: the average over token pairs of "
           "E<X_k, X_k'> / sqrt(E||X_k||^2 E||X_k'||^2) after L blocks", reduce="correlation"),
    Quantity(name="stack.query_key_loss_gradient",
             description="sum over layers of E ||dL/dW^Q||_F^2 + E ||dL/dW^K||_F^2, "
                         "L = <X^L, D> for a Gaussian D (ReLU feed-forward)",
             params=(*BLOCK, "alpha_1", "alpha_2"), inputs=("rank-one", "fixed"),
             derive=_vanishing_derive, sampler=_rank_one_gradients),
    Quantity(name="attention.jacobian_formulas",
             description="relative gap between the Jacobians of vec(S) in W^V and W^Q of a "
                         "softmax head and the printed Kronecker forms",
             params=LAYER, inputs=("fixed", "rank-one"), derive=_jacobian_gap_derive,
             sampler=_jacobian_gap_sampler, uses_attention=False, size=1.0),
    Quantity(name="softmax.uniform_jacobian_gap",
             description="squared gap between the softmax Jacobian at uniform attention and "
                         "the printed (1/n) I (x) (I - J/n)",
             params=("n", "d_v"), inputs=("fixed",), derive=_uniform_softmax_derive,
             sampler=_uniform_softmax_gap, uses_attention=False, size=1.0),
    *(Quantity(name=f"figure.{name}", description=description, params=("n", "d_v", "L"),
               inputs=("gaussian",), sampler=None) for name, description in (
        ("residual_scaling", "per-layer gradient norms of W^Q, W^K, W^V in a Post-LN stack"),
        ("correlation", "per-layer average token correlation, no LN / Pre-LN / Post-LN"),
        ("uniform_norms", "per-depth E ||X^l||_F^2, uniform against softmax attention"))),
)}


def get(name: str) -> Quantity:
    try:
        return QUANTITIES[name]
    except KeyError:
        raise ValueError(f"unknown quantity {name!r}; known: {', '.join(QUANTITIES)}") from None
