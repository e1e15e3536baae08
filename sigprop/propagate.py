"""``sigprop propagate``: a model's expected Gram, layer by layer, from the theory's maps
(theory.blocks) beside the Monte Carlo of the same model (numerics.stack).

Per block output X^l it reports the expected Gram K_l (theory, estimate, se), the
mean-token norm E||xbar||^2 = 1^T K 1 / n^2, and the average correlation rho^l, the
mean over k != k' of E<x_k, x_k'> / sqrt(E||x_k||^2 E||x_k'||^2) (a ratio of
expectations, the paper's definition), with a verdict per quantity:

- where the theory is exact (``how = exact``): ``fail`` when Holm's procedure over
  every exact comparison of the run rejects it at ALPHA_FAIL, ``pass`` when the
  (1 - 2 ALPHA_EQUIV) confidence interval lies within the margin (relative to the
  layer's mean diagonal entry; absolute for correlations), else ``inconclusive``;
- where it is a large-width map or the uniform-attention assumption: ``approximate``,
  with the gap estimate - theory and its se.

The Monte Carlo is planned like the harness's exact checks: a pilot gives the
coefficient of variation, and the main run has the samples that detect the budget's
relative error at the family-wise level and show equivalence within the margin,
capped by the budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp

from architecture.model import Model
from architecture.sublayers import Attention, Residual
from numerics.estimators import Estimate, RunningMoments, mean_correlation_from_moments
from numerics.inputs import gram_matched_tokens
from numerics.montecarlo import Sampler, run_moments
from numerics.stack import GaussianTokens, layer_gram_sampler
from numerics.stats import holm, samples_for_relative_precision, samples_to_detect, tost, z_test
from sigprop.arch_spec import ArchSpec, InputSpec
from sigprop.budget import ALPHA_EQUIV, ALPHA_FAIL, Budget, get_budget
from theory import blocks
from theory.attention import query_norm_uniform, value_norm

#: relative margin of the equivalence tests (times the budget's margin scale)
MARGIN = 0.02
QUANTITIES = ("gram", "mean_norm", "correlation")
#: a quantity with no spread across networks is compared to the theory up to this rounding
ROUNDING = 1e-9
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LayerTheory:
    gram: np.ndarray
    how: str
    mean_norm: float
    correlation: float
    steps: tuple[blocks.Step, ...]


def start_state(spec: InputSpec, n: int, d: int) -> blocks.State:
    """The input's expected Gram s d ((1-rho) I + rho J); deterministic unless Gaussian."""
    s, rho = sp.Float(spec.s, 30), sp.Float(spec.rho, 30)
    gram = blocks.exchangeable(n, s * d, s * d * rho)
    return blocks.State(gram, "exact", deterministic=spec.kind != "gaussian")


def tokens(spec: InputSpec, n: int, d: int) -> np.ndarray | GaussianTokens:
    if spec.kind == "gaussian":
        return GaussianTokens(spec.rho, spec.s)
    return gram_matched_tokens(n, d, spec.rho, spec.s)


def theory(model: Model, spec: InputSpec) -> list[LayerTheory]:
    """The maps' expected Gram after every block, with how it holds."""
    out = []
    for state, steps in blocks.propagate(model, start_state(spec, model.n, model.d)):
        k = blocks.as_matrix(state.gram)
        out.append(LayerTheory(np.array(k.evalf(20).tolist(), dtype=float), state.how,
                               float(blocks.mean_norm(state.gram)),
                               float(blocks.mean_correlation(state.gram)), tuple(steps)))
    return out


GRADIENTS = ("query_norm", "key_norm", "value_norm")


def _sees_input(model: Model) -> Attention | None:
    """The first block's attention if it reads X itself (first in the first branch, one
    head, no mask): where the paper's gradient formulas apply."""
    first = model.blocks[0][0]
    branch = first.branch if isinstance(first, Residual) else (first,)
    spec = branch[0]
    if isinstance(spec, Attention) and spec.heads == 1 and spec.mask == "none":
        return spec
    return None


@cache
def _gradient_formulas(temperature: str) -> dict[str, sp.Expr]:
    return {"query_norm": query_norm_uniform("query", temperature).value,
            "key_norm": query_norm_uniform("key", temperature).value,
            "value_norm": value_norm(True).value}


def gradient_theory(model: Model, arch: ArchSpec, spec: InputSpec) -> dict[str, float] | None:
    """E||dS/dW^Q||^2, E||dS/dW^K||^2 and E||dS/dW^V||^2 of the first attention head at
    X X^T = s d ((1-rho) I + rho J), at uniform attention (the paper's Lemma on the
    gradients): None where they do not apply (Gaussian input, masks, several heads, a
    LayerNorm before the attention)."""
    attention = _sees_input(model)
    if attention is None or spec.kind == "gaussian":
        return None
    values = {"n": model.n, "d": model.d, "d_k": attention.d_k, "d_v": attention.d_v,
              "sigma_q": attention.sigma_q, "sigma_k": attention.sigma_k,
              "sigma_v": attention.sigma_v, "rho": spec.rho, "s": spec.s}
    return {name: float(expr.xreplace({sym: sp.Float(values[sym.name], 30)
                                       for sym in expr.free_symbols}))
            for name, expr in _gradient_formulas(arch.temperature).items()}


@dataclass
class Comparison:
    """One quantity at one layer: theory, estimate, se, how, verdict."""

    theory: float | list
    estimate: float | list
    se: float | list
    how: str
    verdict: str = ""
    gap: float = 0.0  # (estimate - theory) / the quantity's scale; the Gram's largest entry
    gap_se: float = 0.0
    p_fail: float = 1.0
    p_equiv: float = 1.0
    entries: list[tuple[float, float, float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"theory": self.theory, "estimate": self.estimate, "se": self.se,
                "how": self.how, "verdict": self.verdict, "gap": self.gap,
                "gap_se": self.gap_se}


@dataclass(frozen=True)
class PropagateResult:
    arch: dict
    input: dict
    model: Model
    layers: tuple[dict[str, Comparison], ...]
    theory: tuple[LayerTheory, ...]
    samples: int
    seconds: float
    budget: str
    seed: int

    @property
    def verdicts(self) -> list[str]:
        return [c.verdict for layer in self.layers for c in layer.values()]

    def as_dict(self) -> dict:
        layers = []
        for index, layer in enumerate(self.layers):
            gram = layer["gram"]
            layers.append({
                "layer": index + 1, "how": self.theory[index].how,
                "gram_theory": gram.theory, "gram_estimate": gram.estimate,
                "gram_se": gram.se,
                "correlation": layer["correlation"].as_dict(),
                "mean_norm": layer["mean_norm"].as_dict(),
                "verdicts": {name: c.verdict for name, c in layer.items()},
                "gram_gap": {"gap": gram.gap, "se": gram.gap_se}})
        return {"arch": self.arch, "input": self.input, "budget": self.budget,
                "seed": self.seed, "samples": self.samples, "wall_seconds": self.seconds,
                "layers": layers}


def _layer_estimates(moments: RunningMoments, n: int, layer: int) -> dict[str, tuple]:
    """(mean, se) of the layer's Gram entries, its mean-token norm and its correlation."""
    size = n * n
    columns = slice(layer * size, (layer + 1) * size)
    mean = np.atleast_1d(moments.mean)[columns]
    cov = moments.covariance[columns, columns] / moments.count
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    ones = np.full(size, 1.0 / size)
    norm = (float(ones @ mean), float(math.sqrt(max(ones @ cov @ ones, 0.0))))
    if n > 1 and np.all(np.diag(mean.reshape(n, n)) > 0):
        rho = mean_correlation_from_moments(moments, n, layer * size)
        correlation = (rho.mean, rho.se)
    else:
        correlation = (math.nan, math.nan)
    return {"gram": (mean.reshape(n, n), se.reshape(n, n)), "mean_norm": norm,
            "correlation": correlation}


def _gradient_comparisons(moments: RunningMoments, model: Model, gradients: dict[str, float],
                          how: str) -> dict[str, Comparison]:
    first = model.depth * model.n * model.n
    mean = np.atleast_1d(moments.mean)
    se = np.sqrt(np.maximum(np.diag(moments.covariance), 0.0) / moments.count)
    out = {}
    for k, name in enumerate(GRADIENTS):
        value, m, s = gradients[name], float(mean[first + k]), float(se[first + k])
        c = Comparison(value, m, s, how, entries=[(value, m, s)])
        size = abs(value) or abs(m) or 1.0
        c.gap, c.gap_se = (m - value) / size, s / size
        out[name] = c
    return out


def _compare(th: LayerTheory, est: dict[str, tuple], n: int) -> dict[str, Comparison]:
    scale = float(np.mean(np.diag(th.gram))) or 1.0
    upper = np.triu_indices(n)
    mean, se = est["gram"]
    gram = Comparison(th.gram.tolist(), mean.tolist(), se.tolist(), th.how)
    gram.entries = [(float(th.gram[i, j]), float(mean[i, j]), float(se[i, j]))
                    for i, j in zip(*upper, strict=True)]
    out = {"gram": gram}
    for name, value, size in (("mean_norm", th.mean_norm, abs(th.mean_norm) or scale),
                              ("correlation", th.correlation, 1.0)):
        m, s = est[name]
        c = Comparison(value, m, s, th.how)
        c.entries = [(value, m, s)]
        out[name] = c
        c.gap, c.gap_se = ((m - value) / size, s / size) if math.isfinite(m) else (0.0, 0.0)
    diffs = [((e - t) / scale, s / scale) for t, e, s in gram.entries]
    gram.gap, gram.gap_se = max(diffs, key=lambda g: abs(g[0]))
    return out


def _decide(layers: list[dict[str, Comparison]], theories: list[LayerTheory],
            budget: Budget) -> None:
    """Verdicts: Holm over every exact comparison; TOST within the margin."""
    margin = MARGIN * budget.margin_scale
    tests: list[tuple[Comparison, float, float]] = []  # (comparison, p_fail, p_equiv)
    for layer, th in zip(layers, theories, strict=True):
        scale = float(np.mean(np.diag(th.gram))) or 1.0
        for name, c in layer.items():
            if c.how != "exact":
                c.verdict = "approximate"
                continue
            size = (1.0 if name == "correlation" else scale if name == "gram"
                    else abs(c.theory) or scale)
            worst_fail, worst_equiv = 1.0, 0.0
            for t, e, s in c.entries:
                if not math.isfinite(e):
                    continue
                if s <= ROUNDING * max(abs(t), abs(e)):  # no spread: equal up to rounding?
                    close = abs(e - t) <= ROUNDING * max(1.0, abs(t))
                    worst_fail = min(worst_fail, 1.0 if close else 0.0)
                    worst_equiv = max(worst_equiv, 0.0 if close else 1.0)
                    continue
                est = Estimate(e, s, 2)
                worst_fail = min(worst_fail, z_test(est, t))
                worst_equiv = max(worst_equiv, tost(est, t - margin * size, t + margin * size))
            # a quantity with several entries fails if its worst entry does: Bonferroni
            c.p_fail = min(1.0, worst_fail * len(c.entries))
            c.p_equiv = worst_equiv  # every entry within the margin: intersection-union
            tests.append((c, c.p_fail, c.p_equiv))
    rejected = holm([p for _, p, _ in tests], ALPHA_FAIL) if tests else []
    for (c, _, p_equiv), rej in zip(tests, rejected, strict=True):
        c.verdict = "fail" if rej else "pass" if p_equiv < ALPHA_EQUIV else "inconclusive"


def plan_samples(pilot: RunningMoments, model: Model, budget: Budget, tests: int) -> int:
    """Samples for the budget: the worst entry's cv relative to its layer's mean diagonal."""
    n, grams = model.n, model.depth * model.n * model.n
    means = np.atleast_1d(pilot.mean)
    sds = np.sqrt(np.maximum(np.diag(pilot.covariance), 0.0))
    mean, sd = means[:grams].reshape(model.depth, n, n), sds[:grams].reshape(model.depth, n, n)
    scale = np.abs(np.einsum("lii->l", mean)) / n
    if not np.all(scale > 0):
        return budget.pilot
    cvs = [float(np.max(sd / scale[:, None, None]))]
    cvs += [s / abs(m) for m, s in zip(means[grams:], sds[grams:], strict=True) if m != 0]
    cv = max(cvs)
    if cv == 0.0 or not math.isfinite(cv):
        return budget.pilot
    n_detect = samples_to_detect(cv, budget.detect, ALPHA_FAIL / max(tests, 1), budget.power)
    n_equiv = samples_for_relative_precision(cv, MARGIN * budget.margin_scale, ALPHA_EQUIV,
                                             budget.power)
    return int(min(max(n_detect, n_equiv, budget.pilot), budget.max_samples))


def simulate(sampler: Sampler, model: Model, budget: Budget, seed: int, tests: int,
             progress: Progress | None = None, chunk: int = 256) -> RunningMoments:
    """Pilot, plan, then the main run (independent of the pilot: samples after it)."""
    say = progress or (lambda _: None)
    t0 = time.perf_counter()
    say(f"pilot: {budget.pilot} networks")
    pilot = run_moments(sampler, budget.pilot, seed, chunk)
    per_sample = (time.perf_counter() - t0) / budget.pilot
    planned = plan_samples(pilot, model, budget, tests)
    say(f"main run: {planned} networks (about {planned * per_sample:.0f} s)")
    return run_moments(sampler, planned, seed, chunk, first=budget.pilot)


def propagate(arch: ArchSpec, spec: InputSpec, budget: str = "standard", seed: int = 0,
              progress: Progress | None = None) -> PropagateResult:
    """Theory and Monte Carlo of the model ``arch`` on the input ``spec``, with verdicts."""
    b = get_budget(budget)
    model = arch.model()
    t0 = time.perf_counter()
    if progress:
        progress(f"theory: {model.depth} blocks")
    theories = theory(model, spec)
    gradients = gradient_theory(model, arch, spec)
    sampler = layer_gram_sampler(model, tokens(spec, model.n, model.d),
                                 jacobians=gradients is not None)
    tests = sum(1 for th in theories if th.how == "exact") * len(QUANTITIES) + 3
    moments = simulate(sampler, model, b, seed, tests, progress)
    layers = [_compare(th, _layer_estimates(moments, model.n, index), model.n)
              for index, th in enumerate(theories)]
    if gradients is not None:
        how = "exact" if _sees_input(model).kind == "uniform" else "assumption"
        layers[0].update(_gradient_comparisons(moments, model, gradients, how))
    _decide(layers, theories, b)
    return PropagateResult(arch.as_dict(), spec.as_dict(), model, tuple(layers),
                           tuple(theories), moments.count, time.perf_counter() - t0, budget,
                           seed)
