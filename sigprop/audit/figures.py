"""The paper's figure statements, checked on the real softmax network.

A figure states a trend or an agreement, not a formula. Each check here
simulates the networks the figure describes (``numerics``), estimates the
curves with their standard errors, and decides every part of the statement
at a family-wise level: ``holds`` when every part is confirmed, ``false`` when
one is contradicted, ``inconclusive`` otherwise. Curves that are compared run
on the same networks (``numerics.stack.common_gram_sampler``), so their gaps carry
only the variation of the comparison itself.

- ``figure.residual_scaling``: in a Post-LN stack with alpha = 1, the per-layer
  squared gradient norms of W^Q and W^K, relative to the first layer, fall
  with depth, and those of W^V rise (compared at the last layer);
- ``figure.correlation``: with the 1/sqrt(L) scaling of the residuals the
  average-correlation curves of no LayerNorm, Pre-LN and Post-LN stay within a
  tolerance of each other at every layer; without it, Pre-LN's correlation at
  the last layer is below both others;
- ``figure.uniform_norms``: E ||X^l||_F^2 of the uniform-attention network
  matches the softmax network (Xavier) within a tolerance at every depth when
  the input entries have sd 1/sqrt(d), and does not when they have sd 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from architecture.spec import Architecture
from numerics.estimators import Estimate, RunningMoments, delta_method, ratio_from_moments
from numerics.montecarlo import Sampler, run_moments
from numerics.quantities import layer_gradient_sampler
from numerics.stack import GaussianTokens, common_gram_sampler
from sigprop.budget import ALPHA_FAIL, get_budget
from sigprop.harness import check_seed

#: samples per simulated network, as a multiple of the budget's pilot
SAMPLES_PER_PILOT = 4


@dataclass
class FigureResult:
    verdict: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    condition: str = ""


def _arch(p: Mapping[str, float], norm: str, attention: str = "softmax",
          activation: str = "relu", scaling: str = "constant", alpha: float = 1.0,
          depth: int | None = None) -> Architecture:
    """The paper's block at its standard initialization (Xavier, He for a ReLU W^{F1})."""
    d = int(p["d_v"])
    first = math.sqrt((2.0 if activation == "relu" else 1.0) / d)
    return Architecture(n=int(p["n"]), d=d, d_k=d, d_v=d, d_ff=d,
                        depth=int(depth or p["L"]), norm=norm, activation=activation,
                        attention=attention, alpha_1=alpha, alpha_2=alpha,
                        residual_scaling=scaling, sigma_q=1 / math.sqrt(d),
                        sigma_k=1 / math.sqrt(d), sigma_v=1 / math.sqrt(d), sigma_o=1.0,
                        sigma_1=first, sigma_2=1 / math.sqrt(d))


Parts = list[tuple[str, float]]


def _z(tests: int) -> float:
    """One-sided critical value at the family-wise level over ``tests`` tests, each looked
    at twice (``_staged``)."""
    return float(sps.norm.isf(ALPHA_FAIL / (2 * tests)))


def _decide(parts: Parts, tests: int) -> str:
    """Each part is (text, z) with z > 0 pointing to the statement: confirmed when every
    z is above the critical value, contradicted when one is below its negative."""
    crit = _z(tests)
    if any(z < -crit for _, z in parts):
        return "false"
    return "holds" if all(z > crit for _, z in parts) else "inconclusive"


def _staged(samplers: Mapping[str, Sampler], parts_of: Callable[[dict], Parts], tests: int,
            budget: str, seed: int) -> tuple[Parts, dict[str, RunningMoments]]:
    """The parts from a pilot of every network, and from SAMPLES_PER_PILOT times as many
    samples only when the pilot leaves one undecided (two looks, Bonferroni in ``_z``)."""
    pilot = get_budget(budget).pilot
    moments = {tag: run_moments(s, pilot, check_seed(seed, tag, 0), chunk=512)
               for tag, s in samplers.items()}
    parts = parts_of(moments)
    if _decide(parts, tests) == "inconclusive":
        more = (SAMPLES_PER_PILOT - 1) * pilot
        moments = {tag: moments[tag].merge(run_moments(s, more, check_seed(seed, tag, 0),
                                                       chunk=512, first=pilot))
                   for tag, s in samplers.items()}
        parts = parts_of(moments)
    return parts, moments


def residual_scaling(p: Mapping[str, float], figure: Mapping[str, Any], budget: str,
                     seed: int) -> FigureResult:
    arch = _arch(p, norm="post")
    names = ("wq", "wk", "wv")
    depth = arch.depth
    sampler = layer_gradient_sampler(arch, p["rho"], p["sigma_x"]**2, names)

    def relative(m: RunningMoments, k: int) -> list[Estimate]:
        return [ratio_from_moments(m, k * depth + layer, k * depth) if layer
                else Estimate(1.0, 0.0, m.count) for layer in range(depth)]

    def parts_of(moments: dict) -> Parts:
        parts = []
        for k, name in enumerate(names):
            last = relative(moments["grad"], k)[-1]
            falls = name in ("wq", "wk")
            z = ((1.0 - last.mean) if falls else (last.mean - 1.0)) / max(last.se, 1e-300)
            parts.append((f"||dL/d{name}||^2 at layer {depth} / layer 1 = {last.mean:.3g} +- "
                          f"{last.se:.2g} ({'falls' if falls else 'rises'}: {z:+.1f} se)", z))
        return parts

    parts, moments = _staged({"figure.residual_scaling": sampler}, lambda m: parts_of(
        {"grad": m["figure.residual_scaling"]}), 3, budget, seed)
    curves = {name: [[r.mean, r.se] for r in relative(moments["figure.residual_scaling"], k)]
              for k, name in enumerate(names)}
    summary = (f"Post-LN, alpha = 1, n = {arch.n}, d = {arch.d}, L = {depth}, softmax "
               f"attention at Xavier initialization: " + "; ".join(t for t, _ in parts))
    return FigureResult(_decide(parts, 3), summary, [t for t, _ in parts],
                        {"relative_norms": curves})


NORMS = ("none", "pre", "post")


def _rho(moments: RunningMoments, depth: int, model: int) -> list[Estimate]:
    """Per layer, E[mean off-diagonal] / E[mean diagonal] of the block outputs' Grams of
    the ``model``-th of the models a common sampler ran (``entries``: 2 L columns each)."""
    base = 2 * depth * model
    return [ratio_from_moments(moments, base + 2 * layer + 1, base + 2 * layer)
            for layer in range(depth)]


def _rho_gap(moments: RunningMoments, depth: int, a: int, b: int, layer: int
             ) -> tuple[float, float]:
    """rho of model a minus rho of model b at ``layer``, on the same networks, and its se
    (delta method over the four means, their covariance included)."""
    cols = [2 * depth * m + 2 * layer + k for m in (a, b) for k in (1, 0)]
    mean = np.atleast_1d(moments.mean)[cols]
    cov = moments.covariance[np.ix_(cols, cols)] / moments.count

    def grad(m: np.ndarray) -> np.ndarray:
        return np.array([1 / m[1], -m[0] / m[1]**2, -1 / m[3], m[2] / m[3]**2])

    return float(mean[0] / mean[1] - mean[2] / mean[3]), delta_method(mean, cov, grad)


def correlation(p: Mapping[str, float], figure: Mapping[str, Any], budget: str,
                seed: int) -> FigureResult:
    """The three LayerNorm placements on common networks (they declare the same weights),
    so the gaps between their curves vary only as much as the placements disagree."""
    tolerance = float(figure.get("tolerance", 0.1))
    depth = int(p["L"])
    samplers = {scaling: common_gram_sampler(tuple(
        _arch(p, norm=norm, scaling=scaling).model() for norm in NORMS),
        GaussianTokens(p["rho"], p["sigma_x"]**2), "entries")
        for scaling in ("inv_sqrt_depth", "constant")}

    def parts_of(moments: dict) -> Parts:
        parts = []
        scaled, constant = moments["inv_sqrt_depth"], moments["constant"]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            gaps = [_rho_gap(scaled, depth, a, b, layer) for layer in range(depth)]
            worst = max(gaps, key=lambda g: abs(g[0]) + 3 * g[1])
            z = (tolerance - abs(worst[0])) / max(worst[1], 1e-300)
            parts.append((f"1/sqrt(L) scaling: largest |rho_{NORMS[a]} - rho_{NORMS[b]}| over "
                          f"the layers {abs(worst[0]):.3f} +- {worst[1]:.2g} (tolerance "
                          f"{tolerance:g}: {z:+.1f} se)", z))
        pre = _rho(constant, depth, 1)[-1]
        for other in (0, 2):
            o = _rho(constant, depth, other)[-1]
            gap, se = _rho_gap(constant, depth, other, 1, depth - 1)
            z = gap / max(se, 1e-300)
            parts.append((f"alpha = 1: rho at layer {depth}: Pre-LN {pre.mean:.3f} +- "
                          f"{pre.se:.2g} below {NORMS[other]} {o.mean:.3f} +- {o.se:.2g} "
                          f"({z:+.1f} se)", z))
        return parts

    tests = 5 * depth
    parts, moments = _staged(samplers, parts_of, tests, budget, seed)
    summary = (f"n = {int(p['n'])}, d = {int(p['d_v'])}, L = {depth}, tokens with correlation "
               f"{p['rho']:g}, softmax attention at Xavier initialization: "
               + "; ".join(t for t, _ in parts))
    return FigureResult(_decide(parts, tests), summary, [t for t, _ in parts],
                        {"correlation": {f"{norm}/{scaling}": [[e.mean, e.se] for e in
                                                               _rho(m, depth, k)]
                                         for scaling, m in moments.items()
                                         for k, norm in enumerate(NORMS)}})


def _within(gaps: list[tuple[float, float]], tolerance: float) -> tuple[float, float, float]:
    """(z of 'every |gap| <= tolerance', the worst gap, its se)."""
    worst = max(gaps, key=lambda g: abs(g[0]) + 3 * g[1])
    return (tolerance - abs(worst[0])) / max(worst[1], 1e-300), abs(worst[0]), worst[1]


def uniform_norms(p: Mapping[str, float], figure: Mapping[str, Any], budget: str,
                  seed: int) -> FigureResult:
    """Both residual scalings: alpha = 1 (the lemma's constant alpha) and 1/sqrt(L); if the
    agreement at sd 1/sqrt(d) holds only with the scaling, the statement needs it."""
    tolerance = float(figure.get("tolerance", 0.05))
    n, d, depth = int(p["n"]), int(p["d_v"]), int(p["L"])
    small = 1 / math.sqrt(d)
    settings = [(scaling, sigma) for scaling in ("constant", "inv_sqrt_depth")
                for sigma in (small, 1.0)]
    # softmax and uniform attention on the same networks and inputs: their ratio varies
    # only as much as the two disagree on one network
    samplers = {f"{scaling}/{sigma:.4g}": common_gram_sampler(tuple(
        _arch(p, norm="none", attention=attention, activation="linear", scaling=scaling).model()
        for attention in ("softmax", "uniform")), GaussianTokens(0.0, sigma**2), "entries")
        for scaling, sigma in settings}

    def gaps_of(moments: dict) -> dict[tuple[str, float], list[tuple[float, float]]]:
        """Per setting and depth l, E||X^l||^2 softmax / uniform - 1 and its se: the ratio
        of the mean diagonal Gram entries (columns 2l, and 2 (L + l) for uniform)."""
        out = {}
        for scaling, sigma in settings:
            m = moments[f"{scaling}/{sigma:.4g}"]
            out[scaling, sigma] = [(r.mean - 1.0, r.se) for r in (
                ratio_from_moments(m, 2 * k, 2 * (depth + k)) for k in range(depth))]
        return out

    def parts_of(moments: dict) -> Parts:
        gaps, parts = gaps_of(moments), []
        for scaling, word in (("constant", "alpha = 1"), ("inv_sqrt_depth", "alpha = 1/sqrt(L)")):
            z, worst, se = _within(gaps[scaling, small], tolerance)
            last = gaps[scaling, 1.0][-1]
            z_far = (abs(last[0]) - tolerance) / max(last[1], 1e-300)
            parts.append((f"{word}: input sd 1/sqrt(d): largest |softmax / uniform - 1| over "
                          f"depths 1..{depth} is {worst:.3f} +- {se:.2g} ({z:+.1f} se within "
                          f"{tolerance:g})", z))
            parts.append((f"{word}: input sd 1: softmax / uniform - 1 at depth {depth} is "
                          f"{last[0]:+.3f} +- {last[1]:.2g} ({z_far:+.1f} se beyond "
                          f"{tolerance:g})", z_far))
        return parts

    tests = 4 * depth
    parts, moments = _staged(samplers, parts_of, tests, budget, seed)
    crit = _z(tests)
    (_, z_const), (_, far_const), (_, z_scaled), _ = parts
    gaps = gaps_of(moments)
    summary = (f"n = {n}, d = {d}, depths 1..{depth}, linear feed-forward, Xavier: "
               + "; ".join(t for t, _ in parts))
    condition = ""
    if z_const > crit and far_const > crit:
        verdict = "holds"
    elif z_const < -crit and z_scaled > crit and far_const > crit:
        verdict = "needs-condition"
        kept = next((k for k, (g, se) in enumerate(gaps["constant", small])
                     if abs(g) - crit * se > tolerance), depth)
        condition = (f"residual branches scaled like 1/sqrt(L) (with alpha = 1 the agreement "
                     f"holds up to depth {kept} only)")
        summary = f"holds only if {condition}; {summary}"
    elif z_const < -crit or far_const < -crit:
        verdict = "false"
    else:
        verdict = "inconclusive"
    return FigureResult(verdict, summary, [t for t, _ in parts],
                        {"relative_gap": {f"{sc}/sigma_x={sg:.4g}": [[g, se] for g, se in v]
                                          for (sc, sg), v in gaps.items()}},
                        condition=condition)


CHECKS: dict[str, Callable[..., FigureResult]] = {
    "figure.residual_scaling": residual_scaling,
    "figure.correlation": correlation,
    "figure.uniform_norms": uniform_norms,
}
