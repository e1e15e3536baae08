"""Audit a statement: symbolic comparison, counterexample search, Monte Carlo, verdict.

For each statement:

1. symbolic (``sigprop.audit.symbolic``): the printed formula against the
   engine's derivation, with the exact correction when they differ;
2. scan: both evaluated at the default point, at random points of the
   domain, at its edges and on the degenerate inputs of
   ``sigprop.audit.inputs.FAMILIES`` (for a fixed X), recording where they
   differ and where the printed formula is not finite;
3. verdict, in the words of ``VERDICTS``:

   - ``holds``: equal symbolically and on every scanned point, and Monte
     Carlo agrees with the derivation at the default point;
   - ``holds-under-assumption``: the same under the paper's uniform-attention
     assumption, with the assumption's own error measured on the real softmax
     network (Xavier initialization) at representative settings;
   - ``approximate``: they differ, and the exact correction (derived /
     printed) tends to 1 along a growing size;
   - ``bound-holds``: an upper bound that every scanned point respects, with
     the slack (ratio derived / bound);
   - ``needs-condition``: equal only when a condition the statement does not
     state holds (a parameter equality, or a property of X that the failing
     degenerate inputs lack);
   - ``false``: a counterexample point, with Monte Carlo evidence there;
   - ``inconclusive``: Monte Carlo could not confirm the derivation at the
     budget, or there is nothing to compare with; the finding says what
     would decide it;
4. Monte Carlo (``sigprop.harness``): the derivation at the default point,
   the printed formula at the counterexample point, each a harness check at
   the run's budget (the checks of one statement are one Holm family); the
   printed and the derived formula at one point are compared with one
   measurement of the same networks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from numerics.cache import shared
from numerics.stats import fit_power_law, samples_for_relative_precision, tost, z_test
from sigprop.audit.figures import CHECKS
from sigprop.audit.inputs import FAMILIES, family_tokens, tokens_as_list
from sigprop.audit.model import VARIANCES, Model
from sigprop.audit.statements import Statement
from sigprop.audit.symbolic import Symbolic, analyse
from sigprop.budget import ALPHA_EQUIV, ALPHA_FAIL, get_budget
from sigprop.claim import Claim, Derived, Ladder
from sigprop.expressions import NotFinite, describe_point
from sigprop.harness import Result, check_seed, verify_claims
from sigprop.limits import DEFAULT_TIMEOUT, run_limited
from sigprop.scheduler import run_each

VERDICTS = ("holds", "holds-under-assumption", "approximate", "bound-holds", "needs-condition",
            "false", "inconclusive")
#: printed and derived values closer than this (relative) are equal
AGREE = 1e-9
#: random points of the domain per statement in the counterexample search
RANDOM_POINTS = 40
#: Monte Carlo ladder of a limit statement (values of the growing parameter) and the
#: orders of 1/L it declares (fitted with one more). The rung at 2 costs little and
#: halves the cost of the limit's precision; the truncation it adds is checked in the
#: tests against each statement's exact finite-depth derivation.
LIMIT_LADDER = (2, 4, 8, 16, 32, 64)
LIMIT_TERMS = 2

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class ScanRow:
    origin: str
    point: Mapping[str, Any]
    stated: float | None
    exact: float | None
    problem: str = ""

    @property
    def gap(self) -> float:
        """|printed - derived| / |derived| (inf where the printed value is not finite)."""
        if self.problem:
            return math.inf
        if self.stated is None or self.exact is None:
            return 0.0
        scale = max(abs(self.exact), abs(self.stated))
        return 0.0 if scale == 0 else abs(self.stated - self.exact) / scale

    @property
    def ratio(self) -> float | None:
        """derived / printed."""
        if self.problem or not self.stated or self.exact is None:
            return None
        return self.exact / self.stated


@dataclass
class Finding:
    """The audit of one statement."""

    statement: Statement
    verdict: str = "inconclusive"
    summary: str = ""
    symbolic: Symbolic | None = None
    scan: list[ScanRow] = field(default_factory=list)
    checks: list[tuple[str, Mapping[str, Any], Result]] = field(default_factory=list)
    counterexample: Mapping[str, Any] | None = None
    condition: str = ""
    rate: dict[str, Any] | None = None
    slack: dict[str, float] | None = None
    assumption_error: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        st, sym = self.statement, self.symbolic
        points = [{"params": _jsonable(p), "role": role, "stated": r.theory if role.startswith(
            "printed") else _safe(st, "stated", p), "exact": _safe(st, "exact", p),
            "estimate": r.estimate, "se": r.se, "verdict": r.verdict}
            for role, p, r in self.checks]
        return {
            "id": st.id, "label": st.label, "equation": st.equation, "section": st.section,
            "number": st.number, "title": st.title, "relation": st.relation,
            "quantity": st.quantity.name, "input": st.input,
            "assumptions": ["uniform-attention"] if st.model.attention == "uniform" else [],
            "init": st.model.init, "verdict": self.verdict, "summary": self.summary,
            "printed": st.printed or st.formula_text, "stated": st.formula_text,
            "stated_sympy": sp.sstr(sym.stated) if sym else None,
            "exact": sp.sstr(sym.exact) if sym and sym.exact is not None else None,
            "correction": sp.sstr(sym.ratio) if sym and sym.ratio is not None else None,
            "points": points,
            "counterexample": _jsonable(self.counterexample) if self.counterexample else None,
            "condition": self.condition or None, "rate": self.rate, "slack": self.slack,
            "assumption_error": self.assumption_error, "evidence": self.evidence,
            "data": self.data,
            "scanned_points": len(self.scan), "seconds": round(self.seconds, 2),
        }


def _jsonable(point: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {k: tokens_as_list(v) if k == "X" else float(v) for k, v in point.items()}


def _safe(statement: Statement, side: str, point: Mapping[str, Any]) -> float | None:
    try:
        if side == "stated":
            return statement.formula.value(statement._named(statement.values(point)))
        return statement.exact_at(point)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


# --- the counterexample search -------------------------------------------------------------

def _random_params(statement: Statement, rng: np.random.Generator) -> dict[str, float]:
    out = {}
    for name, p in statement.params.items():
        lo, hi = p.test_low, p.test_high
        out[name] = int(rng.integers(int(lo), int(hi) + 1)) if p.integer else float(
            rng.uniform(lo, hi))
    return out


def _edge_params(statement: Statement, base: Mapping[str, float]) -> list[dict[str, float]]:
    """One parameter at a time at the ends of its test range, and the real ones at the
    closed ends of their domains (rho = 0 and 1, a huge or a tiny input scale)."""
    out = []
    for name, p in statement.params.items():
        ends = {p.test_low, p.test_high}
        if not p.integer:
            ends |= {e for e in (p.low, p.high) if e is not None}
            if p.low_open and p.low in ends:
                ends.discard(p.low)
                ends.add(p.test_low / 1e3 if p.test_low else 1e-3)
        out += [{**base, name: e} for e in sorted(ends)]
    return out


def _candidate_points(statement: Statement, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng([seed, 7])
    base = statement.free(statement.point())
    raw: list[tuple[str, dict[str, Any]]] = [("default", dict(base))]
    raw += [("edge", p) for p in _edge_params(statement, base)]
    raw += [("random", _random_params(statement, rng)) for _ in range(RANDOM_POINTS)]
    if statement.fixed_input and statement.input == "fixed":
        for family in FAMILIES:
            for k, params in enumerate([base, _random_params(statement, rng)]):
                n, d_v = int(params["n"]), int(params["d_v"])
                x = family_tokens(family, n, d_v, params.get("sigma_x", 1.0), seed + k,
                                  statement.conditions)
                raw.append((f"family:{family.name}", {**params, "X": x}))
    out = []
    for origin, params in raw:
        try:
            out.append((origin, statement.point(params)))
        except ValueError:
            continue
    return out


def scan(statement: Statement, seed: int) -> list[ScanRow]:
    """Printed and derived values over the search points (see the module doc)."""
    rows = []
    for origin, point in _candidate_points(statement, seed):
        try:
            exact = statement.exact_at(point)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if exact is not None and not math.isfinite(exact):
            continue
        try:
            stated = statement.formula.value(statement._named(statement.values(point)))
            rows.append(ScanRow(origin, point, stated, exact))
        except NotFinite as exc:
            rows.append(ScanRow(origin, point, None, exact, str(exc)))
    return rows


def _cost(point: Mapping[str, Any]) -> float:
    return float(np.prod([point.get(k, 1) for k in ("n", "d_v", "d_k", "L")]))


def _counterexample(rows: Sequence[ScanRow], violates: Callable[[ScanRow], bool]
                    ) -> ScanRow | None:
    """The cheapest point whose violation is at least half the largest one (and >= 5%)."""
    bad = [r for r in rows if violates(r)]
    if not bad:
        return None
    worst = max(_severity(r) for r in bad)
    visible = [r for r in bad if _severity(r) >= min(0.05, worst) and _severity(r) >= worst / 2]
    return min(visible, key=lambda r: (_cost(r.point), -_severity(r)))


def _severity(row: ScanRow) -> float:
    return min(row.gap, 1e6)


def _breaks(rows: Sequence[ScanRow], violates: Callable[[ScanRow], bool]) -> str:
    """The property of X that every violating input lacks, when only degenerate inputs
    violate (random points and the default never do)."""
    bad = [r for r in rows if violates(r)]
    if not bad or any(not r.origin.startswith("family:") for r in bad):
        return ""
    names = {r.origin.split(":", 1)[1] for r in bad}
    broken = {f.breaks for f in FAMILIES if f.name in names and f.breaks}
    return "; ".join(sorted(broken))


# --- Monte Carlo checks ----------------------------------------------------------------------

def _claim(statement: Statement, point: Mapping[str, Any], side: str,
           model: Model | None = None, ladder: Ladder | None = None, at: str = "",
           beside: bool = False) -> Claim:
    """A harness claim for one side (``printed`` or ``derived``) at one point. The two
    sides' claims at the point named ``at`` share their random stream, so they compare
    their formulas with one measurement of the same networks (a paired comparison, run
    once within the statement's ``numerics.cache.shared`` block). The quantity is
    measured under ``model`` (default the statement's), ``beside`` the statement's own
    model on the same networks (``Statement.estimate_beside``) if asked."""
    x = point.get("X")

    def full(p: Mapping[str, float]) -> dict[str, Any]:
        return statement.point({**p, "X": x} if x is not None else p)

    if side == "printed":
        def value(_e: sp.Expr, p: Mapping[str, float]) -> float:
            return statement.formula.value(statement._named(statement.values(full(p))))
    else:
        def value(_e: sp.Expr, p: Mapping[str, float]) -> float:
            out = statement.exact_at(full(p))
            if out is None:
                raise ValueError(f"{statement.id} has no derivation")
            return out

    kind = "asymptotic" if ladder else ("identity" if statement.relation == "zero" else "exact")
    return Claim(
        id=f"{statement.id}:{side}", title=statement.title, kind=kind, section=statement.section,
        statement=statement.formula_text, assumptions=(), params=statement.params,
        derive=lambda: Derived(sp.Symbol(side), evaluator=value),
        estimator=(lambda p, n, s: statement.estimate_beside(full(p), n, s, model)) if beside
        else lambda p, n, s: statement.estimate_at(full(p), n, s, model),
        ladder=ladder, tolerance=1e-12 if statement.relation == "zero" else 1e-9,
        scale=1.0 if statement.quantity.reduce == "correlation" else 0.0,
        stream=f"{statement.id}@{at}" if at else "")


def _representative(statement: Statement) -> list[dict[str, Any]]:
    """Where the uniform-attention assumption's error is measured: the default point at
    Xavier initialization, with tokens of norm about 1 and about sqrt(d_v) (input std
    1/sqrt(d_v) and 1), or at the statement's own ``representative`` settings."""
    base = statement.free(statement.point())
    xavier = {name: math.sqrt(rule(base)) for name, rule in VARIANCES["xavier"].items()
              if name in statement.params}
    settings = list(statement.figure.get("representative", [])) or [
        {"sigma_x": 1 / math.sqrt(base["d_v"])}, {"sigma_x": 1.0}]
    out = []
    for change in settings:
        try:
            out.append(statement.point({**base, **xavier, **dict(change)}))
        except ValueError:
            continue
    return out


def _assumption_error(statement: Statement, budget: str, seed: int) -> list[dict[str, Any]]:
    """The uniform-attention value (the derivation, equal to the printed formula where the
    statement holds) against the real softmax network at representative settings,
    measured beside the uniform-attention network on the same networks where the
    quantity can be (the softmax mean as the derivation plus the mean difference: the
    difference varies far less than the quantity where attention is nearly uniform)."""
    rows = []
    model = statement.model.with_softmax()
    beside = statement.quantity.paired is not None
    for point in _representative(statement):
        claim = _claim(statement, point, "derived", model=model, beside=beside)
        result = verify_claims([(claim, statement.free(point))], budget=budget, seed=seed)[0]
        rows.append({"params": _jsonable(statement.free(point)), "uniform": result.theory,
                     "softmax_estimate": result.estimate, "se": result.se,
                     "relative_error": (result.theory - result.estimate) / result.estimate
                     if result.estimate else None})
    return rows


# --- one statement ---------------------------------------------------------------------------

def _model_symbols(statement: Statement) -> dict[str, sp.Expr]:
    """Name -> value of what the model fixes, for the names the printed formula uses."""
    symbols = [sp.Symbol(name, positive=True) for name in statement.formula.names]
    return {sym.name: statement.with_model(sym) for sym in symbols
            if statement.with_model(sym) != sym}


def audit_statement(statement: Statement, budget: str = "standard", seed: int = 0,
                    timeout: float = DEFAULT_TIMEOUT) -> Finding:
    """The finding for one statement (see the module doc)."""
    t0 = time.perf_counter()
    with shared():
        finding = _audit(statement, budget, seed, timeout)
    finding.seconds = time.perf_counter() - t0
    return finding


def _audit(statement: Statement, budget: str, seed: int, timeout: float) -> Finding:
    finding = Finding(statement)
    derivation = statement.derivation
    finding.symbolic = run_limited(
        f"{statement.id}: symbolic comparison", analyse, statement.formula,
        dict(statement.aliases), None if derivation is None else derivation.value,
        statement.relation, statement.limit, statement.fixed_input,
        statement.values(statement.point()), _model_symbols(statement), timeout=timeout)
    if statement.relation == "trend":
        result = CHECKS[statement.quantity.name](statement.point(), statement.figure, budget,
                                                 seed)
        finding.verdict, finding.summary = result.verdict, result.summary
        finding.evidence, finding.data = result.evidence, result.data
        finding.condition = result.condition
    elif statement.relation == "limit":
        _audit_limit(finding, budget, seed)
    elif statement.relation == "rate":
        _audit_rate(finding, budget, seed)
    else:
        finding.scan = scan(statement, seed)
        if statement.relation == "upper-bound":
            _audit_bound(finding, budget, seed)
        else:
            _audit_equality(finding, budget, seed)
    return finding


def _run_checks(finding: Finding, jobs: list[tuple[str, Claim, Mapping[str, Any]]],
                budget: str, seed: int) -> dict[str, Result]:
    st = finding.statement
    results = verify_claims([(claim, st.free(point)) for _, claim, point in jobs],
                            budget=budget, seed=seed)
    out = {}
    for (role, _, point), result in zip(jobs, results, strict=True):
        finding.checks.append((role, point, result))
        out[role] = result
    return out


def _describe(result: Result) -> str:
    return (f"estimate {result.estimate:.4g} +- {result.se:.2g} ({result.samples} samples), "
            f"{result.verdict}")


def _confirmed(finding: Finding, result: Result) -> bool:
    """Monte Carlo confirms the derivation; otherwise the finding is inconclusive."""
    if result.verdict == "pass":
        return True
    finding.verdict = "inconclusive"
    need = f"; about {result.samples_needed} samples would decide it" if (
        result.samples_needed) else ""
    finding.summary = (f"Monte Carlo does not confirm the derivation at the default point "
                       f"({_describe(result)}){need}")
    return False


def _audit_zero(finding: Finding, budget: str, seed: int) -> None:
    """A statement that a quantity is zero: symbolically, and by Monte Carlo either to
    rounding (when every sample is zero) or within the budget's margin of the size of
    one sample (a zero mean)."""
    st, sym = finding.statement, finding.symbolic
    b = get_budget(budget)
    base = st.point()
    # under the uniform-attention assumption a quantity of the query and key weights can
    # be zero for a trivial reason; the real softmax network is the informative check
    assumed = st.model.attention == "uniform" and st.quantity.uses_attention
    model = st.model.with_softmax() if assumed else None
    pilot = st.estimate_at(base, b.pilot, check_seed(seed, st.id, 0), model)
    spread = pilot.se * math.sqrt(pilot.n)
    size = st.quantity.size
    if size is None:
        generic = dict(base)
        if "X" in base:
            generic["X"] = family_tokens(FAMILIES[0], int(base["n"]), int(base["d_v"]),
                                         base.get("sigma_x", 1.0), seed, st.conditions)
        size = abs(st.estimate_at(generic, b.pilot, check_seed(seed, st.id, 1), model).mean)
    if spread <= 1e-12 * max(size, 1e-300):
        ok = abs(pilot.mean) <= 1e-12 * max(size, 1e-300)
        network = "the softmax network (Xavier)" if assumed else "the network"
        reference = ("relative" if st.quantity.size is not None else
                     f"at a generic X of the family 'random' it is {size:.3g}")
        mc = (f"on {network} the {pilot.n} samples average {abs(pilot.mean):.2g} "
              f"({reference})")
        fail = not ok
    else:
        margin = 0.02 * b.margin_scale
        n = samples_for_relative_precision(1.0, margin, ALPHA_EQUIV, b.power)
        est = st.estimate_at(base, max(n, b.pilot), check_seed(seed, st.id, 2))
        sd = est.se * math.sqrt(est.n)
        ok = tost(est, -margin * sd, margin * sd) < ALPHA_EQUIV
        fail = z_test(est, 0.0) < ALPHA_FAIL
        mc = (f"Monte Carlo mean {est.mean:.3g} +- {est.se:.2g} ({est.n} samples), within "
              f"{margin:.0%} of the sample sd {sd:.3g}: {'yes' if ok else 'no'}")
    finding.evidence.append(mc)
    if fail:
        finding.verdict, finding.summary = "false", f"Monte Carlo: {mc}"
    elif not ok or not sym.equal:
        finding.verdict = "inconclusive"
        finding.summary = f"the derivation is {sp.sstr(sym.exact)}; Monte Carlo: {mc}"
    else:
        finding.verdict = "holds"
        finding.summary = (f"the derivation is identically 0 at every scanned point "
                           f"({len(finding.scan)}); {mc}"
                           + ("; so the uniform-attention assumption is not needed"
                              if assumed else ""))


def _audit_equality(finding: Finding, budget: str, seed: int) -> None:
    st, sym, rows = finding.statement, finding.symbolic, finding.scan
    base = st.point()
    if st.relation == "zero" and sym.exact is not None:
        _audit_zero(finding, budget, seed)
        return
    if sym.exact is None:
        finding.summary = f"no closed form for {st.quantity.name} under this model"
        return
    differs = [r for r in rows if r.gap > AGREE]
    cx = _counterexample(rows, lambda r: r.gap > AGREE)
    jobs = [("derived@default", _claim(st, base, "derived", at="default"), base)]
    if cx is not None:
        jobs += [(f"{side}@counterexample", _claim(st, cx.point, side, at="counterexample"),
                  cx.point) for side in ("printed", "derived")]
    elif st.relation != "zero":
        jobs.append(("printed@default", _claim(st, base, "printed", at="default"), base))
    results = _run_checks(finding, jobs, budget, seed)
    if not _confirmed(finding, results["derived@default"]):
        return
    worst = max((r.gap for r in rows), default=0.0)
    if sym.equal and not differs:
        _holds(finding, budget, seed, len(rows))
        return
    if not sym.equal and not differs:
        finding.summary = (f"the symbolic comparison finds exact/printed = {sp.sstr(sym.ratio)} "
                           f"but every scanned point agrees: check the statement's model")
        return
    finding.counterexample = cx.point if cx else None
    evidence = _counterexample_evidence(st, cx, results)
    condition = sym.condition or _breaks(rows, lambda r: r.gap > AGREE)
    if condition:
        finding.verdict, finding.condition = "needs-condition", condition
        finding.summary = (f"holds only if {condition}, which the paper does not state; "
                           f"{evidence}")
    elif sym.approximate_in:
        finding.verdict = "approximate"
        near = [r.ratio for r in rows if r.ratio is not None]
        within = {tol: sum(abs(v - 1) <= tol for v in near) / max(1, len(near))
                  for tol in (0.01, 0.05)}
        regions = "; ".join(f"within 1% for {a}, 5% for {b}" for _, a, b in sym.thresholds
                            if a or b)
        finding.slack = {"within_1pct": within[0.01], "within_5pct": within[0.05],
                         "largest_gap": worst}
        finding.summary = (f"exact = printed x ({sp.sstr(sym.ratio)}), which tends to 1 as "
                           f"{' or '.join(sym.approximate_in)} grows; {regions or ''}"
                           f" (scanned points within 1%: {within[0.01]:.0%}, within 5%: "
                           f"{within[0.05]:.0%}); {evidence}")
    else:
        finding.verdict = "false"
        what = f"exact/printed = {sp.sstr(sym.ratio)}; " if sym.ratio is not None else ""
        finding.summary = f"{what}{evidence}"


def _counterexample_evidence(st: Statement, cx: ScanRow | None,
                             results: Mapping[str, Result]) -> str:
    if cx is None:
        return "no scanned point differs by more than the Monte Carlo can see"
    where = describe_point(st.free(cx.point))
    tokens = f" ({cx.origin.split(':', 1)[1]} X)" if cx.origin.startswith("family:") else ""
    if cx.problem:
        return f"at {where}{tokens} the printed formula {cx.problem.split(' at ')[0]}"
    printed, derived = results.get("printed@counterexample"), results.get(
        "derived@counterexample")
    mc = (f"; Monte Carlo {derived.estimate:.4g} +- {derived.se:.2g} (derived: "
          f"{derived.verdict}, printed: {printed.verdict})" if printed and derived else "")
    return (f"counterexample at {where}{tokens}: printed {cx.stated:.4g}, derived "
            f"{cx.exact:.4g}{mc}")


def _holds(finding: Finding, budget: str, seed: int, scanned: int) -> None:
    st = finding.statement
    check = finding.checks[0][2]
    agree = (f"printed = derived symbolically{' for every n and X' if st.fixed_input else ''}"
             f" and at {scanned} scanned points; Monte Carlo {check.estimate:.4g} +- "
             f"{check.se:.2g} at the default point")
    if st.model.attention != "uniform" or not st.quantity.uses_attention:
        finding.verdict, finding.summary = "holds", agree
        return
    finding.verdict = "holds-under-assumption"
    finding.assumption_error = _assumption_error(st, budget, seed)
    errors = ", ".join(
        f"{row['relative_error']:+.1%} at {describe_point(row['params'])}"
        for row in finding.assumption_error if row["relative_error"] is not None)
    finding.summary = (f"{agree}, under uniform attention; the uniform-attention value against "
                       f"the softmax network (Xavier): {errors}")


def _audit_bound(finding: Finding, budget: str, seed: int) -> None:
    st, rows = finding.statement, finding.scan
    base = st.point()
    ratios = [r.exact / r.stated for r in rows if r.stated and r.exact is not None]
    violated = [r for r in rows if r.stated is not None and r.exact is not None
                and r.exact > r.stated * (1 + AGREE)]
    cx = _counterexample(rows, lambda r: r in violated) if violated else None
    jobs = [("derived@default", _claim(st, base, "derived"), base)]
    if cx is not None:
        jobs.append(("derived@counterexample", _claim(st, cx.point, "derived"), cx.point))
    results = _run_checks(finding, jobs, budget, seed)
    if not _confirmed(finding, results["derived@default"]):
        return
    finding.slack = {"smallest_ratio": min(ratios), "typical_ratio": float(np.median(ratios)),
                     "largest_ratio": max(ratios)}
    if cx is None:
        finding.verdict = "bound-holds"
        finding.summary = (f"derived / bound over {len(rows)} scanned points: at most "
                           f"{max(ratios):.3g}, typically {np.median(ratios):.3g}, at least "
                           f"{min(ratios):.3g} (bound/derived up to {1 / min(ratios):.3g})")
        return
    finding.counterexample = cx.point
    mc = results["derived@counterexample"]
    z = (mc.estimate - cx.stated) / mc.se if mc.se > 0 else math.inf
    where = describe_point(st.free(cx.point))
    tokens = f" ({cx.origin.split(':', 1)[1]} X)" if cx.origin.startswith("family:") else ""
    share = len(violated) / len(rows)
    condition = _breaks(rows, lambda r: r in violated)
    finding.verdict = "needs-condition" if condition else "false"
    finding.condition = condition
    finding.summary = (f"{'holds only if ' + condition + '; ' if condition else ''}the bound "
                       f"fails at {share:.0%} of scanned points; at {where}{tokens} the derived "
                       f"value {cx.exact:.4g} exceeds the bound {cx.stated:.4g} "
                       f"({cx.exact / cx.stated:.3g}x); Monte Carlo {mc.estimate:.4g} +- "
                       f"{mc.se:.2g}, {z:.1f} se above the bound")


#: the growing parameter's values for the numeric limit (Richardson: 2 f(2L) - f(L))
LIMIT_PROBE = 10**6


@cache
def _limit_function(statement: Statement) -> Callable:
    expr = statement.derivation.value
    names = sorted(s.name for s in expr.free_symbols)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    return names, sp.lambdify(symbols, expr, modules="mpmath")


def _limit_at(statement: Statement, point: Mapping[str, Any]) -> float:
    """The derivation's limit as the statement's parameter grows, at the other values of
    ``point``: evaluated at L = 10^6 and 2 10^6 in 40-digit arithmetic and extrapolated
    (Richardson, error O(1/L^2) for a 1/L approach, exact for a geometric one). A zero
    statistic stays zero, which a symbolic limit over positive symbols would not allow."""
    names, function = _limit_function(statement)
    values = statement.values(point)
    with mpmath.workdps(40):
        def at(length: int):
            return function(*(mpmath.mpf(length) if n == statement.limit
                              else mpmath.mpf(values[n]) for n in names))
        near, far = at(LIMIT_PROBE), at(2 * LIMIT_PROBE)
        if abs(far - near) > 1e-3 * max(abs(far), mpmath.mpf(1e-30)):
            raise ValueError(f"{statement.id}: the derivation does not settle as "
                             f"{statement.limit} grows")
        return float(2 * far - near)


def _limit_rows(statement: Statement, seed: int) -> list[ScanRow]:
    rows = []
    for origin, point in _candidate_points(statement, seed):
        try:
            exact = _limit_at(statement, point)
            stated = statement.formula.value(statement._named(statement.values(point)))
        except NotFinite as exc:
            rows.append(ScanRow(origin, point, None, None, str(exc)))
            continue
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            continue
        if math.isfinite(exact):
            rows.append(ScanRow(origin, point, stated, exact))
    return rows


def _limit_check(statement: Statement, point: Mapping[str, Any]
                 ) -> tuple[Claim, dict[str, Any]]:
    """How Monte Carlo checks a printed limit at ``point``: where the derivation has
    already reached its limit (to 1e-6, relative) on a rung of the ladder (a geometric
    approach), one exact check at the first such rung, the cheapest network whose mean is
    the limit; otherwise the ladder, declaring c0 + c1/L + c2/L^2."""
    limit = _limit_at(statement, point)
    tokens = {"X": point["X"]} if "X" in point else {}
    for rung in LIMIT_LADDER:
        at = statement.point({**statement.free(point), statement.limit: rung, **tokens})
        if abs(statement.exact_at(at) - limit) <= 1e-6 * max(abs(limit), 1e-300):
            return _claim(statement, at, "printed"), at
    ladder = Ladder(statement.limit, LIMIT_LADDER, rate=1.0, terms=LIMIT_TERMS)
    return _claim(statement, point, "printed", ladder=ladder), point


def _audit_limit(finding: Finding, budget: str, seed: int) -> None:
    st, sym = finding.statement, finding.symbolic
    if sym.exact is None:
        finding.summary = f"no closed form for {st.quantity.name} under this model"
        return
    finding.scan = rows = _limit_rows(st, seed)
    base = st.point()
    cx = _counterexample(rows, lambda r: r.gap > AGREE)
    jobs = [("derived@default", _claim(st, base, "derived"), base),
            ("printed-limit@default", *_limit_check(st, base))]
    if cx is not None:
        jobs.append(("printed-limit@counterexample", *_limit_check(st, cx.point)))
    results = _run_checks(finding, jobs, budget, seed)
    if not _confirmed(finding, results["derived@default"]):
        return
    ladder = results["printed-limit@default"]
    finding.evidence.append(f"the printed limit against Monte Carlo as {st.limit} grows: "
                            f"{ladder.detail or _describe(ladder)}")
    if sym.equal is None and cx is None:
        finding.evidence.append("SymPy could not decide the derivation's limit; the numeric "
                                f"limits at {len(rows)} scanned points agree with the printed "
                                "one")
    if (sym.equal or sym.equal is None) and cx is None:
        if ladder.verdict != "pass":
            finding.verdict = "inconclusive"
            finding.summary = (f"the derived limit equals the printed one, but the Monte Carlo "
                               f"ladder gives {ladder.verdict}: {ladder.detail}")
            return
        _holds(finding, budget, seed, len(rows))
        how = (f"the Monte Carlo ladder extrapolates to it ({ladder.detail.split(';')[0]})"
               if ladder.detail else f"Monte Carlo at {st.limit} = "
               f"{int(ladder.params[st.limit])}, where the derivation has reached it, agrees "
               f"({_describe(ladder)})")
        finding.summary += f"; the printed limit: {how}"
        return
    finding.counterexample = cx.point if cx else None
    mc = results.get("printed-limit@counterexample")
    where = describe_point(st.free(cx.point)) if cx else ""
    tokens = f" ({cx.origin.split(':', 1)[1]} X)" if cx and cx.origin.startswith("family:") else ""
    evidence = (f"at {where}{tokens} the derived limit is {cx.exact:.4g}, the printed "
                f"{cx.stated:.4g}" + (f"; Monte Carlo against the printed limit: "
                                      f"{mc.detail or _describe(mc)}" if mc else "")) if cx else ""
    condition = sym.condition or _breaks(rows, lambda r: r.gap > AGREE)
    if condition:
        finding.verdict, finding.condition = "needs-condition", condition
        finding.summary = f"holds only if {condition}, which the paper does not state; {evidence}"
    else:
        finding.verdict = "false"
        finding.summary = evidence


def _audit_rate(finding: Finding, budget: str, seed: int) -> None:
    """A decay exponent: the printed one against the derivation's (leading-order term),
    the leading coefficient against Monte Carlo over a ladder, and the measured slope."""
    st, sym = finding.statement, finding.symbolic
    base = st.point()
    widths = tuple(int(w) for w in st.figure.get("ladder", (800, 1600, 3200, 6400)))
    ladder = Ladder(st.limit, widths, rate=2.0)  # corrections O(logit variance) ~ d_k^-2
    results = _run_checks(finding, [("derived-ladder@default",
                                     _claim(st, base, "derived", ladder=ladder), base)],
                          budget, seed)
    check = results["derived-ladder@default"]
    rows = check.rows
    sizes, ses = [r[st.limit] for r in rows], [r["se"] for r in rows]
    fit = fit_power_law(sizes, [r["estimate"] for r in rows], ses)
    derived_fit = fit_power_law(sizes, [r["theory"] for r in rows], ses)
    local = sym.local_rate
    grows = next((s for s in local.free_symbols if s.name == st.limit), None) if local else None
    values = st.values(base)
    predicted = [float(local.xreplace({s: values[s.name] for s in local.free_symbols
                                       if s != grows}).subs(grows, w)) for w in widths]
    stated = st.formula.value(st._named(values))
    finding.rate = {"printed": stated, "derived": float(sym.exact), "measured": fit.exponent,
                    "measured_se": fit.exponent_se, "ladder": list(widths),
                    "derived_local": predicted, "derived_fit": derived_fit.exponent}
    finding.evidence.append(f"leading coefficient against Monte Carlo over {st.limit} = "
                            f"{', '.join(map(str, widths))}: {check.verdict} ({check.detail})")
    local_text = (f"the derived local exponent is {sp.sstr(sp.simplify(local))}, "
                  f"{predicted[0]:.3f} .. {predicted[-1]:.3f} on the ladder")
    z = ((fit.exponent - derived_fit.exponent) / fit.exponent_se
         if fit.exponent_se > 0 else 0.0)
    measured = (f"Monte Carlo slope {fit.exponent:.3f} +- {fit.exponent_se:.2g} over "
                f"{st.limit} = {widths[0]} .. {widths[-1]}, the derived values' slope there "
                f"{derived_fit.exponent:.3f} ({z:+.1f} se)")
    if check.verdict != "pass" or abs(z) > 4:
        finding.verdict = "inconclusive"
        finding.summary = f"Monte Carlo does not confirm the derived decay: {measured}"
        return
    if not sym.equal:
        finding.verdict = "false"
        finding.summary = (f"the printed exponent {stated:g} differs from the derived "
                           f"{float(sym.exact):g}; {local_text}; {measured}")
        return
    finding.verdict = "holds"
    finding.summary = (f"the printed exponent {stated:g} is the derived limit of the local "
                       f"exponent as {st.limit} grows; {local_text}; {measured}; the derived "
                       f"leading coefficient matches Monte Carlo")


def _work(statement: Statement) -> float:
    """A rough guess of a statement's work, to start the long ones first: a limit runs a
    ladder and a figure deep stacks (2); an assumption's error, measured on softmax
    networks, adds to any other (1 or 2)."""
    if statement.relation in ("limit", "trend"):
        return 2.0
    assumed = statement.model.attention == "uniform" and statement.quantity.uses_attention
    return 2.0 if assumed else 1.0


def _audit_task(task: tuple[Statement, str, int, float]) -> Finding:
    """One statement audited by a worker (the statement travels as its TOML table)."""
    return audit_statement(*task)


def audit(statements: Sequence[Statement], budget: str = "standard", seed: int = 0,
          timeout: float = DEFAULT_TIMEOUT, progress: Progress | None = None,
          scheduler: str = "threads") -> list[Finding]:
    """Findings for ``statements``, in order. With ``threads`` the statements run one after
    another in this process (each one's Monte Carlo on threads); any other scheduler
    (``sigprop.scheduler``) runs them as its tasks, with the same numbers (every check is
    seeded by run seed, statement and stage). ``progress(done, what)``: statements
    finished, and what runs now."""
    tasks = [(statement, budget, seed, timeout) for statement in statements]
    findings = run_each(scheduler, _audit_task, tasks, [s.id for s in statements], progress,
                        cost=lambda task: _work(task[0]))
    # each finding gets back the caller's statement (a worker's copy is equal to it)
    return [dataclasses.replace(f, statement=s) for f, s in zip(findings, statements,
                                                                strict=True)]
