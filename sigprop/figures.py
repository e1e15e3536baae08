"""Figures: the derived theory drawn beside Monte Carlo points, for readers.

``make_figures`` writes four PNGs and ``summary.md`` (the numbers behind them):

1. ``correlation-depth.png``: token correlation rho_l after l attention-only
   blocks (uniform attention, d_v = d) with no norm, Pre-LN and Post-LN, for
   alpha_1 = 1 and alpha_1 = 1/sqrt(L), at the same a = alpha^2 sigma_v^2 d per
   block. Theory: the derived no-norm depth formula, the iterated Post-LN map
   and the iterated Pre-LN increment (the forward claims' evaluators);
   Monte Carlo: the same claims' estimators at width d.
2. ``query-value-ratio.png``: R = E||dS/dW^Q||^2 / ||dS/dW^V||^2 at uniform
   attention against n for several rho (log-log) and against rho for a few n.
3. ``query-gradient-depth.png``: per-layer query-gradient norm of a deep
   Post-LN softmax stack (sigprop.studies.depth_study), alpha = 1 vs 1/sqrt(L).
4. ``uniform-accuracy.png``: relative error of the uniform-attention formula
   against softmax attention as the logit scale sigma_q sigma_k d grows
   (sigprop.studies.uniform_accuracy), with the +-5% band.

Every Monte Carlo point carries an error bar of 2 standard errors.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.legend_handler import HandlerTuple

from numerics.estimators import Estimate
from numerics.rng import check_seed
from sigprop import registry, studies
from sigprop.scheduler import Scheduler
from sigprop.studies import DepthStudy, Row, UniformAccuracy

T = TypeVar("T")


@dataclass(frozen=True)
class FigureBudget:
    """Monte Carlo samples per point of each figure."""

    correlation: int
    ratio: int
    depth: int
    accuracy: int


FIGURE_BUDGETS: dict[str, FigureBudget] = {
    "quick": FigureBudget(correlation=150, ratio=400, depth=48, accuracy=3_000),
    "standard": FigureBudget(correlation=800, ratio=2_000, depth=256, accuracy=20_000),
}

FILES = {"correlation": "correlation-depth.png", "ratio": "query-value-ratio.png",
         "depth": "query-gradient-depth.png", "accuracy": "uniform-accuracy.png",
         "summary": "summary.md"}

# Figure 1: attention-only stacks at standard init sigma_v^2 = 1/d, so a = alpha^2.
CORR_N, CORR_D, CORR_DEPTH, CORR_RHO0 = 4, 64, 16, 0.2
CORR_MC_DEPTHS = (1, 2, 4, 8, 16)
NORM_CLAIMS = {"no norm": "forward.rank-collapse-depth",
               "Pre-LN": "forward.pre-ln-correlation-growth",
               "Post-LN": "forward.post-ln-correlation-map"}
# Figure 2: sigma_k^2 = sigma_v^2 = 1/d and s = 1, so R does not depend on d.
RATIO_CLAIM = "grad.query-value-ratio"
RATIO_D, RATIO_DK = 32, 8
RATIO_MC_N = (2, 4, 8, 16, 32)
RATIO_RHOS = (0.0, 0.1, 0.5, 0.9)
RATIO_MC_RHO = (0.0, 0.2, 0.4, 0.6, 0.8, 0.95)
RATIO_NS = (2, 8, 32)
# Figure 3: standard init sigma^2 = 1/d, so the logit scale sigma_q sigma_k d is 1
DEPTH_L, DEPTH_N, DEPTH_D, DEPTH_DK, DEPTH_RHO0 = 24, 8, 64, 16, 0.2
TAIL_LAYERS = 4
# Figure 4
ACC_N, ACC_D, ACC_DK, ACC_RHO = 4, 16, 8, 0.5


@dataclass(frozen=True)
class Series:
    """A theory curve (x, y) and Monte Carlo points (Row: x, theory at x, estimate, se)."""

    label: str
    curve_x: tuple[float, ...]
    curve_y: tuple[float, ...]
    points: tuple[Row, ...]


@dataclass(frozen=True)
class Simulation:
    """One Monte Carlo point: a registered claim's estimate at a point with the point's
    own seed. Plain data, so that any scheduler can run it (the claim is looked up by id
    where it runs)."""

    claim_id: str
    point: tuple[tuple[str, float], ...]
    samples: int
    seed: int

    def __call__(self) -> Estimate:
        return registry.get(self.claim_id).estimate(dict(self.point), self.samples, self.seed)


@dataclass(frozen=True)
class Planned:
    """A series before its Monte Carlo: the theory curve and, per point, (x, theory at x,
    the simulation). ``complement`` plots 1 - estimate (claims that give 1 - rho)."""

    label: str
    curve_x: tuple[float, ...]
    curve_y: tuple[float, ...]
    points: tuple[tuple[float, float, Simulation], ...]
    complement: bool = False

    def filled(self, estimates: Iterator[Estimate]) -> Series:
        """The series, its points' estimates taken in order from ``estimates``."""
        rows = []
        for x, theory, _ in self.points:
            est = next(estimates)
            rows.append(Row(x, theory, 1.0 - est.mean if self.complement else est.mean,
                            est.se))
        return Series(self.label, self.curve_x, self.curve_y, tuple(rows))


# --- data ----------------------------------------------------------------------------

def point_seeds(seed: int, count: int) -> list[int]:
    """Seeds for the Monte Carlo points of one figure, derived from the run seed, so that
    points are independent (one seed for all would share weight draws between points
    and make their errors move together)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def _alphas(depth: int) -> tuple[tuple[str, float], ...]:
    return (("alpha=1", 1.0), ("alpha=1/sqrt(L)", 1.0 / math.sqrt(depth)))


def correlation_plan(samples: int, seed: int) -> list[Planned]:
    """rho_l, l = 0..L, for each norm and alpha. The first l blocks of an L-block stack
    with alpha_1 = 1/sqrt(L) are an l-block stack with constant alpha_1 = 1/sqrt(L), so
    each depth is evaluated (and simulated) as its own stack. The claims give 1 - rho_l."""
    out = []
    sigma_v = 1.0 / math.sqrt(CORR_D)
    seeds = iter(point_seeds(seed, 2 * len(NORM_CLAIMS) * len(CORR_MC_DEPTHS)))
    for norm, claim_id in NORM_CLAIMS.items():
        claim = registry.get(claim_id)
        for alpha_label, alpha in _alphas(CORR_DEPTH):
            def point(depth: int, alpha: float = alpha) -> dict:
                return {"n": CORR_N, "d": CORR_D, "L": depth, "alpha_1": alpha,
                        "sigma_v": sigma_v, "rho": CORR_RHO0, "s": 1.0}

            layers = range(CORR_DEPTH + 1)
            curve = [CORR_RHO0] + [1.0 - claim.theory(point(k)) for k in layers[1:]]
            points = tuple((float(depth), curve[depth],
                            Simulation(claim_id, tuple(point(depth).items()), samples,
                                       next(seeds)))
                           for depth in CORR_MC_DEPTHS)
            out.append(Planned(f"{norm}, {alpha_label}", tuple(float(x) for x in layers),
                               tuple(curve), points, complement=True))
    return out


def _ratio_point(n: int, rho: float) -> dict:
    sigma = 1.0 / math.sqrt(RATIO_D)
    return {"n": n, "d": RATIO_D, "d_k": RATIO_DK, "d_v": RATIO_DK, "sigma_k": sigma,
            "sigma_v": sigma, "rho": rho, "s": 1.0}


def _ratio_plan(label: str, grid: list[tuple[float, dict]], mc: list[tuple[float, dict]],
                samples: int, seeds: Iterator[int]) -> Planned:
    claim = registry.get(RATIO_CLAIM)
    points = tuple((x, claim.theory(p), Simulation(RATIO_CLAIM, tuple(p.items()), samples,
                                                   next(seeds)))
                   for x, p in mc)
    return Planned(label, tuple(x for x, _ in grid), tuple(claim.theory(p) for _, p in grid),
                   points)


def ratio_plan(samples: int, seed: int) -> tuple[list[Planned], list[Planned]]:
    """(R against n for each rho, R against rho for each n)."""
    ns = range(2, RATIO_D + 1)
    seeds = iter(point_seeds(seed, len(RATIO_RHOS) * len(RATIO_MC_N)
                             + len(RATIO_NS) * len(RATIO_MC_RHO)))
    by_n = [_ratio_plan(f"rho={rho:g}", [(n, _ratio_point(n, rho)) for n in ns],
                        [(n, _ratio_point(n, rho)) for n in RATIO_MC_N], samples, seeds)
            for rho in RATIO_RHOS]
    rhos = np.linspace(0.0, 0.98, 50)
    by_rho = [_ratio_plan(f"n={n}", [(float(r), _ratio_point(n, float(r))) for r in rhos],
                          [(r, _ratio_point(n, r)) for r in RATIO_MC_RHO], samples, seeds)
              for n in RATIO_NS]
    return by_n, by_rho


def study_tasks(b: FigureBudget, seed: int) -> list[Callable[[], DepthStudy | UniformAccuracy]]:
    """The depth studies (alpha = 1, alpha = 1/sqrt(L)) and the accuracy study, as tasks."""
    depth = [partial(studies.depth_study, depth=DEPTH_L, n=DEPTH_N, d=DEPTH_D, d_k=DEPTH_DK,
                     rho0=DEPTH_RHO0, samples=b.depth, seed=seed, scaling=s)
             for s in ("constant", "inv_sqrt_depth")]
    return [*depth, partial(studies.uniform_accuracy, n=ACC_N, d=ACC_D, d_k=ACC_DK,
                            rho=ACC_RHO, samples=b.accuracy, seed=seed)]


def _run(task: Callable[[], T]) -> T:
    return task()


# --- drawing -------------------------------------------------------------------------

def _errorbars(ax, rows: tuple[Row, ...], color, marker: str, hollow: bool = False,
               transform: Callable[[float], float] = lambda v: v):
    """Monte Carlo points with error bars of 2 standard errors."""
    return ax.errorbar([r.x for r in rows], [transform(r.estimate) for r in rows],
                       yerr=[2 * r.se for r in rows], fmt=marker, color=color, ms=5,
                       capsize=3, lw=1, mfc="white" if hollow else color)


def _legend(ax, entries: list[tuple[tuple, str]], **kwargs) -> None:
    """One legend entry per series, showing its theory line and its MC marker together."""
    handles, labels = zip(*entries, strict=True)
    ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None)}, **kwargs)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_correlation(series: list[Series], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    colors = dict(zip(NORM_CLAIMS, ("tab:red", "tab:green", "tab:blue"), strict=True))
    markers = dict(zip(NORM_CLAIMS, ("o", "s", "^"), strict=True))
    entries = []
    for s in series:
        norm, alpha = s.label.split(", ")
        scaled = alpha != "alpha=1"
        # Post-LN's theory coincides with no norm's: a wide translucent line under a thin one
        look = {"ls": "--" if scaled else "-", "color": colors[norm],
                **({"lw": 1.2} if norm == "Post-LN" else {"lw": 3.5, "alpha": 0.5})}
        line, = left.plot(s.curve_x, s.curve_y, **look)
        right.semilogy(s.curve_x, [1 - y for y in s.curve_y], **look)
        points = _errorbars(left, s.points, colors[norm], markers[norm], scaled)
        _errorbars(right, s.points, colors[norm], markers[norm], scaled, lambda v: 1 - v)
        entries.append(((line, points), s.label))
    left.set(xlabel="layer l", ylabel="token correlation rho_l", ylim=(0, 1.02),
             title="token correlation rho_l")
    right.set(xlabel="layer l", ylabel="1 - rho_l (log scale)",
              title="distance from rank collapse, 1 - rho_l")
    _legend(right, entries, fontsize=8, loc="lower left")
    fig.suptitle(f"Rank collapse with depth: attention-only stacks, uniform attention, "
                 f"n={CORR_N}, d={CORR_D}, rho_0={CORR_RHO0}, L={CORR_DEPTH}, sigma_v^2=1/d\n"
                 "lines: derived theory; markers: Monte Carlo +- 2 se "
                 "(Post-LN theory = no-norm theory)")
    _save(fig, path)


def plot_ratio(by_n: list[Series], by_rho: list[Series], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for ax, group, xlabel in ((left, by_n, "sequence length n"), (right, by_rho, "rho")):
        entries = []
        for k, s in enumerate(group):
            line, = ax.plot(s.curve_x, s.curve_y, "-", color=f"C{k}")
            entries.append(((line, _errorbars(ax, s.points, f"C{k}", "o")), s.label))
        ax.set(xlabel=xlabel, ylabel="R = E||dS/dW^Q||^2 / ||dS/dW^V||^2", yscale="log")
        _legend(ax, entries, fontsize=8, loc="lower left")
    left.set(xscale="log", title="R against n (log-log): falls like 1/n at large n if rho > 0")
    left.set_xticks(RATIO_MC_N, [str(n) for n in RATIO_MC_N])
    left.minorticks_off()
    right.set(title="R against rho: vanishes like (1 - rho)^2 as rho -> 1")
    fig.suptitle(f"Query vs value gradient norms at uniform attention (W^Q = 0), d={RATIO_D}, "
                 f"d_k=d_v={RATIO_DK}, sigma_k^2=sigma_v^2=1/d, s=1\n"
                 "lines: derived R; markers: Monte Carlo +- 2 se")
    _save(fig, path)


def _ratio(row: Row) -> float:
    return row.estimate / row.theory


def _ratio_range(study: DepthStudy) -> tuple[float, float]:
    ratios = [_ratio(r) for r in study.rows]
    return min(ratios), max(ratios)


def _decades(study: DepthStudy) -> float:
    return math.log10(study.rows[0].theory / study.rows[-1].theory)


def plot_depth(pair: tuple[DepthStudy, DepthStudy], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8.5, 5.6))
    entries = []
    for color, study, label in zip(("tab:red", "tab:blue"), pair,
                                   ("alpha=1", "alpha=1/sqrt(L)"), strict=True):
        line, = ax.semilogy([r.x for r in study.rows], [r.theory for r in study.rows], "-",
                            color=color)
        entries.append(((line, _errorbars(ax, study.rows, color, "o")), label))
    const, scaled = pair
    ax.set(xlabel="layer l", ylabel="E||dS_l/dW^Q_l||_F^2 (log scale)")
    _legend(ax, entries, fontsize=9, loc="lower left")
    ax.set_title(
        f"Post-LN softmax stack, L={DEPTH_L}, n={DEPTH_N}, d={DEPTH_D}, sigma^2=1/d: "
        "query-gradient norm per layer\n"
        "lines: uniform-attention theory at the Post-LN map's rho_l; markers: MC +- 2 se\n"
        f"MC/theory: layer 1 {_ratio(const.rows[0]):.2f} (softmax at logit scale 1 is not "
        f"uniform); last {TAIL_LAYERS} layers {studies.tail_ratio(const, TAIL_LAYERS):.2f} "
        f"for alpha=1,\n{studies.tail_ratio(scaled, TAIL_LAYERS):.2f} for alpha=1/sqrt(L): "
        f"the theory tracks the {_decades(const):.0f}-decade fall in shape, not in scale "
        "deep down", fontsize=9)
    _save(fig, path)


def plot_accuracy(acc: UniformAccuracy, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    xs = [r.x for r in acc.rows]
    ax.axhspan(-0.05, 0.05, color="tab:green", alpha=0.15, label="+-5%")
    ax.axhline(0.0, color="gray", lw=0.8)
    ax.errorbar(xs, [r.rel_error for r in acc.rows], yerr=[2 * r.rel_error_se for r in acc.rows],
                fmt="o-", color="tab:blue", capsize=3, ms=5, label="(theory - MC)/MC, +- 2 se")
    if acc.within_5_percent is not None:
        ax.axvline(acc.within_5_percent, color="tab:red", ls="--",
                   label=f"within 5% up to {acc.within_5_percent:g}")
    ax.set(xscale="log", xlabel="logit scale sigma_q sigma_k d",
           ylabel="relative error of the uniform-attention formula",
           title="Uniform-attention approximation of E||dS/dW^Q||^2 against softmax attention\n"
                 f"one head, n={ACC_N}, d={ACC_D}, d_k={ACC_DK}, rho={ACC_RHO} (W^Q, W^K random)")
    ax.legend(fontsize=8)
    _save(fig, path)


# --- summary -------------------------------------------------------------------------

def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _pm(est: float, se: float, digits: int = 4) -> str:
    return f"{est:.{digits}g} ± {se:.2g}"


def _correlation_section(corr: list[Series], samples: int) -> list[str]:
    lines = ["## 1. Token correlation versus depth", "",
             f"`{FILES['correlation']}`: attention-only stacks, uniform attention, d_v = d, "
             f"n = {CORR_N}, d = {CORR_D}, rho_0 = {CORR_RHO0}, L = {CORR_DEPTH}, "
             f"sigma_v^2 = 1/d (so a = alpha^2 per block), {samples} samples per point. "
             "No norm and Pre-LN: 1 - rho_l estimated as E[q_l - c_l]/E[q_l]; Post-LN: mean "
             "cosine. Post-LN's theory equals no norm's: with uniform attention LayerNorm only "
             "rescales tokens of equal expected norm. Without norm and alpha = 1 the Gram "
             "entries grow by a random factor per block and are heavy-tailed, so at this "
             "sample size a point can sit a few (optimistic) standard errors from the exact "
             "theory.", ""]
    return lines + _table(
        ("stack", "l", "theory rho_l", "MC rho_l", "theory 1-rho_l", "MC/theory of 1-rho_l"),
        [(s.label, f"{r.x:g}", f"{r.theory:.5g}", _pm(r.estimate, r.se, 5), f"{1 - r.theory:.4g}",
          f"{(1 - r.estimate) / (1 - r.theory):.3f}") for s in corr for r in s.points])


def _ratio_section(by_n: list[Series], by_rho: list[Series], samples: int) -> list[str]:
    lines = ["## 2. Query/value gradient-norm ratio R", "",
             f"`{FILES['ratio']}`: one head at uniform attention (W^Q = 0), d = {RATIO_D}, "
             f"d_k = d_v = {RATIO_DK}, sigma_k^2 = sigma_v^2 = 1/d, s = 1, {samples} samples "
             "per point.", ""]
    rows = [(s.label, f"{axis}={r.x:g}", f"{r.theory:.4g}", _pm(r.estimate, r.se),
             f"{(r.estimate - r.theory) / r.se:+.2f}")
            for axis, group in (("n", by_n), ("rho", by_rho)) for s in group for r in s.points]
    return lines + _table(("curve", "at", "theory R", "MC R", "z = (MC - theory)/se"), rows)


def _depth_section(pair: tuple[DepthStudy, DepthStudy], samples: int) -> list[str]:
    const, scaled = pair
    lo_c, hi_c = _ratio_range(const)
    lo_s, hi_s = _ratio_range(scaled)
    lines = ["## 3. Query-gradient norm per layer, deep Post-LN", "",
             f"`{FILES['depth']}`: Post-LN softmax stack, L = {DEPTH_L}, n = {DEPTH_N}, "
             f"d = {DEPTH_D}, d_k = {DEPTH_DK}, sigma^2 = 1/d for every weight (logit scale "
             f"sigma_q sigma_k d = 1), rho_0 = {DEPTH_RHO0}, {samples} networks (each "
             "column's layers are measured on the same networks). Theory: the "
             "uniform-attention query norm at the correlation the Post-LN map gives for the "
             f"layer's input. For alpha = 1 it falls {_decades(const):.1f} decades over the "
             f"stack. MC/theory over the last {TAIL_LAYERS} layers: alpha = 1 "
             f"{studies.tail_ratio(const, TAIL_LAYERS):.3f}, alpha = 1/sqrt(L) "
             f"{studies.tail_ratio(scaled, TAIL_LAYERS):.3f}; over all layers: alpha = 1 "
             f"{lo_c:.3f} to {hi_c:.3f}, alpha = 1/sqrt(L) {lo_s:.3f} to {hi_s:.3f}.", ""]
    return lines + _table(
        ("layer", "theory a=1", "MC a=1", "MC/theory a=1", "theory a=1/sqrt(L)",
         "MC a=1/sqrt(L)", "MC/theory a=1/sqrt(L)"),
        [(f"{c.x:g}", f"{c.theory:.4g}", _pm(c.estimate, c.se), f"{_ratio(c):.3f}",
          f"{s.theory:.4g}", _pm(s.estimate, s.se), f"{_ratio(s):.3f}")
         for c, s in zip(const.rows, scaled.rows, strict=True)])


def _accuracy_section(acc: UniformAccuracy, samples: int) -> list[str]:
    within = "none" if acc.within_5_percent is None else f"{acc.within_5_percent:g}"
    lines = ["## 4. Accuracy of the uniform-attention approximation", "",
             f"`{FILES['accuracy']}`: one softmax head, n = {ACC_N}, d = {ACC_D}, "
             f"d_k = {ACC_DK}, rho = {ACC_RHO}, sigma_q = sigma_k, W^Q and W^K random, "
             f"{samples} samples per point. Within 5% (|error| + 2 se < 5%, from the smallest "
             f"scale up) up to logit scale sigma_q sigma_k d = {within}.", ""]
    return lines + _table(
        ("sigma_q sigma_k d", "theory", "MC", "(theory - MC)/MC"),
        [(f"{r.x:g}", f"{r.theory:.5g}", _pm(r.estimate, r.se),
          _pm(r.rel_error, r.rel_error_se)) for r in acc.rows])


def summary_markdown(budget: str, seed: int, corr: list[Series], by_n: list[Series],
                     by_rho: list[Series], pair: tuple[DepthStudy, DepthStudy],
                     acc: UniformAccuracy) -> str:
    """The tables behind the four figures, as Markdown."""
    b = FIGURE_BUDGETS[budget]
    lines = ["# Figures: the numbers behind them", "",
             f"Generated by `sigprop figures --budget {budget} --seed {seed}`. Monte Carlo "
             "values are mean ± one standard error (the figures draw ± 2 se).", "",
             *_correlation_section(corr, b.correlation), "",
             *_ratio_section(by_n, by_rho, b.ratio), "",
             *_depth_section(pair, b.depth), "",
             *_accuracy_section(acc, b.accuracy)]
    return "\n".join(lines) + "\n"


# --- driver --------------------------------------------------------------------------

def make_figures(out: Path, budget: str = "standard", seed: int = 0,
                 scheduler: str = "threads",
                 progress: Callable[[int, int, str], None] | None = None) -> list[Path]:
    """Compute, draw and write the four figures and summary.md into ``out`` (which must
    exist). Every Monte Carlo point and study is a task on ``scheduler`` (see
    :mod:`sigprop.scheduler`), with its own seed: the numbers do not depend on the
    scheduler. ``progress(done, total, what)`` is called as tasks complete."""
    if budget not in FIGURE_BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(FIGURE_BUDGETS)}, got {budget!r}")
    seed = check_seed(seed)
    b = FIGURE_BUDGETS[budget]
    paths = {k: out / name for k, name in FILES.items()}
    pool = Scheduler(scheduler)
    corr = correlation_plan(b.correlation, seed)
    by_n, by_rho = ratio_plan(b.ratio, seed)
    # the long studies first, so that the points fill the workers around them
    tasks = [*study_tasks(b, seed),
             *(sim for s in (*corr, *by_n, *by_rho) for _, _, sim in s.points)]
    done = itertools.count(1)

    def report(what: str, count: int) -> None:
        if progress is not None:
            progress(count, len(tasks), what)

    report("simulating", 0)
    with pool:
        const, scaled, acc, *estimates = pool.map(
            _run, tasks, done=lambda _: report("simulating", next(done)))
    points = iter(estimates)
    corr, by_n, by_rho = ([s.filled(points) for s in group] for group in (corr, by_n, by_rho))
    report("drawing", len(tasks))
    plot_correlation(corr, paths["correlation"])
    plot_ratio(by_n, by_rho, paths["ratio"])
    plot_depth((const, scaled), paths["depth"])
    plot_accuracy(acc, paths["accuracy"])
    text = summary_markdown(budget, seed, corr, by_n, by_rho, (const, scaled), acc)
    paths["summary"].write_text(text, encoding="utf-8", newline="\n")
    return list(paths.values())
