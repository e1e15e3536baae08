"""A paper's statements as data: read from TOML, never executed.

A statement file holds a ``[paper]`` table and one ``[[statement]]`` table per
printed result::

    [[statement]]
    id = "noci2022.lemma-gradients.queries"   # stable id
    label = "lemma:gradients_queries"          # the paper's \\label
    equation = "eq:jacobian_queries"           # optional: the equation's \\label
    section = "3.1"
    number = "Lemma 3.1"
    title = "Expected gradient of the queries"
    printed = "E||dS/dW^Q||^2 = ..."           # optional: the result as printed, for display
    formula = "sigma_v^2 sigma_k^2 d_v / n^2 * X_F2 * XtLX_F2"   # parser syntax
    relation = "equals"        # equals | upper-bound | limit | rate | zero | trend
    quantity = "attention.query_gradient_norm"
    input = "fixed"            # fixed | rank-one | gaussian
    assumptions = ["uniform-attention"]
    init = "free"              # free | xavier | glorot
    residual = "constant"      # constant | depth-scaled (alpha_i^2 = alpha_i_tilde / L)
    conditions = []            # stated conditions on X: equal-token-norms
    aliases = { d = "d_v" }    # the paper's names for parameters
    limit = "L"                # with relation limit or rate: the parameter that grows
    fixed = { tau = 1 }        # parameters held at one value (not varied by the search)
    ties = { d_k = "d_v" }     # parameters equal to another one (the paper's "d_k = d_v")
    tolerance = 0.05           # approximate statements: the error the file accepts
    notes = "..."
    [statement.params]         # defaults
    n = 4
    [statement.domain]         # narrower domains
    rho = [0.0, 0.99]

Formulas go through :mod:`sigprop.expressions` (no code is run); their
names are the statement's parameters, the statistics of X for a fixed input
(``theory.statistics``) and the aliases.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from numerics.estimators import Estimate
from sigprop.audit.inputs import (
    apply_conditions,
    check_conditions,
    check_input,
    check_tokens,
    default_tokens,
    statistics,
)
from sigprop.audit.model import INITS, RESIDUALS, Model
from sigprop.audit.params import PAPER_PARAMS, narrowed
from sigprop.audit.quantities import Quantity, Setting
from sigprop.audit.quantities import get as get_quantity
from sigprop.expressions import Formula, parse_formula
from sigprop.params import Param, resolve_point
from theory.attention import Derivation
from theory.statistics import STATISTICS

RELATIONS = ("equals", "upper-bound", "limit", "rate", "zero", "trend")
MAX_FILE_BYTES = 1_000_000
MAX_STATEMENTS = 500

_KEYS = {"id", "label", "equation", "section", "number", "title", "printed", "formula",
         "relation", "quantity", "input", "assumptions", "init", "residual", "conditions",
         "aliases", "limit", "tolerance", "notes", "params", "domain", "figure", "fixed", "ties"}
_REQUIRED = ("id", "label", "section", "title", "formula", "relation", "quantity")
_STRING_KEYS = ("id", "label", "equation", "section", "number", "title", "printed", "formula",
                "relation", "quantity", "input", "init", "residual", "limit", "notes")


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str = ""
    venue: str = ""
    source: str = ""


@dataclass(frozen=True, eq=False)
class Statement:
    """One printed result, ready to be audited."""

    id: str
    label: str
    section: str
    title: str
    formula_text: str
    relation: str
    quantity: Quantity
    input: str
    model: Model
    params: Mapping[str, Param]
    number: str = ""
    equation: str = ""
    printed: str = ""
    conditions: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    limit: str = ""
    tolerance: float | None = None
    notes: str = ""
    figure: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    ties: Mapping[str, str] = field(default_factory=dict)
    paper: Paper | None = None
    #: the TOML table and its index, from which ``statement_from_table`` builds it again
    table: tuple[Mapping[str, Any], int] | None = field(default=None, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its TOML table (its quantity holds functions that do not pickle),
        so a statement and its finding can travel to a worker process and back."""
        if self.table is None:
            raise TypeError(f"statement {self.id} was not built from a TOML table")
        return statement_from_table, (self.table[0], self.paper, self.table[1])

    # --- points -------------------------------------------------------------------------

    @property
    def fixed_input(self) -> bool:
        return self.input in ("fixed", "rank-one")

    def point(self, params: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``params`` (validated); a fixed input gets its X."""
        given = {k: v for k, v in (params or {}).items() if k not in self.fixed}
        x = given.pop("X", None)
        given = {k: v for k, v in given.items() if k not in self.ties}
        point: dict[str, Any] = {**resolve_point(self.params, given, self._constraints()),
                                 **self.fixed}
        point.update({name: point[target] for name, target in self.ties.items()})
        if self.fixed_input:
            n, d_v = int(point["n"]), int(point["d_v"])
            if x is None:
                tokens = default_tokens(self.input, n, d_v, point.get("sigma_x", 1.0),
                                        self.conditions)
            else:
                tokens = apply_conditions(check_tokens(x, n, d_v), self.conditions)
            point["X"] = tokens
        elif x is not None:
            raise ValueError(f"{self.id}: the input model is {self.input}; X cannot be given")
        return point

    def _constraints(self) -> tuple:
        def tokens_exist(p: Mapping[str, float]) -> str | None:
            for name in ("i", "j"):
                if name in p and p[name] > p["n"]:
                    return f"{name} must be a token index <= n, got {name}={p[name]:g}"
            return None
        return (tokens_exist,)

    def free(self, point: Mapping[str, Any]) -> dict[str, float]:
        """The point's parameters that the statement varies (no fixed ones, no X)."""
        return {k: v for k, v in point.items() if k in self.params}

    def setting(self, point: Mapping[str, Any], model: Model | None = None) -> Setting:
        """The point as the quantity's sampler reads it (initialization applied)."""
        model = model or self.model
        values = {k: float(v) for k, v in point.items() if k != "X"}
        for name, rule in self._rules(model).items():
            values.setdefault(name, float(np.sqrt(rule(values))))
        return Setting(values, point.get("X"), self.input, model)

    def _rules(self, model: Model) -> dict:
        """The model's variance rules for the weights this statement's quantity has."""
        return {name: rule for name, rule in model.variances().items()
                if name in self.quantity.params or name in ("sigma_1", "sigma_2")}

    def values(self, point: Mapping[str, Any]) -> dict[str, float]:
        """Scalar parameters, the weight scales the initialization fixes and, for a fixed
        input, the statistics of X."""
        out = {k: float(v) for k, v in point.items() if k != "X"}
        for name, rule in self._rules(self.model).items():
            out.setdefault(name, float(np.sqrt(rule(out))))
        if "X" in point:
            out.update(statistics(point["X"], int(out.get("i", 1)), int(out.get("j", 2))))
        return out

    # --- the three sides --------------------------------------------------------------------

    @cached_property
    def formula(self) -> Formula:
        names = (set(self.params) | set(self.fixed) | set(self.ties) | set(self.aliases)
                 | set(self.model.fixed))
        if self.fixed_input:
            names |= set(STATISTICS)
        return parse_formula(self.formula_text, names)

    def _named(self, values: Mapping[str, float]) -> dict[str, float]:
        return {**values, **{alias: values[target] for alias, target in self.aliases.items()
                             if target in values}}

    def stated(self, params: Mapping[str, object] | None = None) -> float:
        """The printed formula evaluated at a point."""
        return self.formula.value(self._named(self.values(self.point(params))))

    def substitutions(self, symbols: Mapping[str, sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
        """What this statement's model fixes, for SymPy symbols named in ``symbols``: the
        weight scales of the initialization, the depth-scaled residuals, the fixed and the
        tied parameters (sizes are read from ``symbols`` or made as positive integers)."""
        def size(name: str) -> sp.Symbol:
            return symbols.get(name, sp.Symbol(name, positive=True, integer=True))

        sizes = {name: size(name) for name in ("d_v", "d_k", "L")}
        out = {symbols[name]: sp.sqrt(rule(sizes))
               for name, rule in self.model.variances().items() if name in symbols}
        if self.model.residual == "depth-scaled":
            for k in (1, 2):
                if f"alpha_{k}" in symbols:
                    tilde = sp.Symbol(f"alpha_{k}_tilde", nonnegative=True)
                    out[symbols[f"alpha_{k}"]] = sp.sqrt(tilde / sizes["L"])
        out.update({symbols[name]: sp.nsimplify(value) for name, value in self.fixed.items()
                    if name in symbols})
        return out

    def with_model(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with what the model fixes substituted, then the tied parameters
        replaced by their targets (also where the first step brought them in)."""
        out = expr.xreplace(self.substitutions({s.name: s for s in expr.free_symbols}))
        by_name = {s.name: s for s in out.free_symbols}
        tied = {by_name[name]: by_name.get(target, sp.Symbol(target, positive=True,
                                                             integer=True))
                for name, target in self.ties.items() if name in by_name}
        return out.xreplace(tied)

    @cached_property
    def derivation(self) -> Derivation | None:
        """The engine's derivation of the quantity under this statement's model, with the
        initialization and the residual scaling substituted (None: no closed form)."""
        base = self.quantity.derive(self.input)
        if base is None:
            return None
        value = self.with_model(base.value)
        steps = base.steps
        if value != base.value:
            steps = (*steps, ("In this statement's model (" + self.model.init + " init, "
                              + self.model.residual + " residuals)", sp.latex(value)))
        return Derivation(value, steps)

    def exact(self, params: Mapping[str, object] | None = None) -> float | None:
        """The engine's derivation evaluated at a point (None where there is none)."""
        return self.exact_at(self.point(params))

    def exact_at(self, point: Mapping[str, Any]) -> float | None:
        derivation = self.derivation
        if derivation is None:
            return None
        if self.quantity.exact_value is not None and "X" in point:
            return self.quantity.exact_value(self.setting(point), derivation.value)
        return substitute(derivation.value, self.values(point))

    def estimate(self, params: Mapping[str, object] | None, samples: int, seed: int,
                 model: Model | None = None) -> Estimate:
        """Monte Carlo estimate of the quantity (under this statement's model by default)."""
        return self.estimate_at(self.point(params), samples, seed, model)

    def estimate_at(self, point: Mapping[str, Any], samples: int, seed: int,
                    model: Model | None = None) -> Estimate:
        return self.quantity.estimate(self.setting(point, model), samples, seed)

    def estimate_beside(self, point: Mapping[str, Any], samples: int, seed: int,
                        model: Model) -> Estimate:
        """The quantity's mean under ``model`` at ``point``: the derivation (under the
        statement's own model) plus the mean difference of the two models on the same
        networks (``Quantity.estimate_beside``)."""
        exact = self.exact_at(point)
        if exact is None:
            raise ValueError(f"{self.id} has no derivation")
        return self.quantity.estimate_beside(self.setting(point, model), self.setting(point),
                                             exact, samples, seed)


def substitute(expr: sp.Expr, values: Mapping[str, float]) -> float:
    """``expr`` at the named values (symbols matched by name)."""
    missing = sorted(s.name for s in expr.free_symbols if s.name not in values)
    if missing:
        raise ValueError(f"the derivation needs {', '.join(missing)}")
    return float(expr.xreplace({s: values[s.name] for s in expr.free_symbols}))


# --- reading a file -------------------------------------------------------------------------

def _string(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key} must be a string, got {type(value).__name__}")
    if len(value) > 4000:
        raise ValueError(f"{where}: {key} is longer than 4000 characters")
    return value


def _fixed(quantity: Quantity, table: Mapping[str, Any], where: str) -> dict[str, float]:
    fixed = table.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ValueError(f"{where}: fixed must be a table of numbers")
    out = {}
    for name, value in fixed.items():
        if name not in quantity.params or name not in PAPER_PARAMS:
            raise ValueError(f"{where}: fixed names {name!r}, which {quantity.name} does not "
                             f"take; it takes: {', '.join(quantity.params)}")
        try:
            out[name] = PAPER_PARAMS[name].validate(value)
        except ValueError as exc:
            raise ValueError(f"{where}: fixed {exc}") from None
    return out


def _ties(quantity: Quantity, table: Mapping[str, Any], where: str) -> dict[str, str]:
    ties = table.get("ties", {})
    if not isinstance(ties, dict) or not all(
            k in quantity.params and v in quantity.params and k != v for k, v in ties.items()):
        raise ValueError(f"{where}: ties must map parameters of {quantity.name} to others "
                         f"({', '.join(quantity.params)})")
    return dict(ties)


def _params(quantity: Quantity, model: Model, kind: str, table: Mapping[str, Any],
            where: str, fixed: Mapping[str, float], ties: Mapping[str, str]
            ) -> dict[str, Param]:
    names = [p for p in quantity.params
             if p not in model.fixed and p not in fixed and p not in ties]
    if model.residual == "depth-scaled" and "alpha_1" in names:
        names = [{"alpha_1": "alpha_1_tilde", "alpha_2": "alpha_2_tilde"}.get(p, p)
                 for p in names]
    names += ["sigma_x"] + (["rho"] if kind == "gaussian" else [])
    defaults = table.get("params", {})
    domains = table.get("domain", {})
    for what, mapping in (("params", defaults), ("domain", domains)):
        if not isinstance(mapping, dict):
            raise ValueError(f"{where}: {what} must be a table")
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ValueError(f"{where}: {what} names {unknown[0]!r}, which this statement does "
                             f"not take; it takes: {', '.join(names)}")
    return {name: narrowed(PAPER_PARAMS[name], defaults.get(name), domains.get(name),
                           f"{where}, parameter {name}") for name in names}


def statement_from_table(table: Mapping[str, Any], paper: Paper | None, index: int
                         ) -> Statement:
    """One ``[[statement]]`` table, validated."""
    where = f"statement {index + 1}"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    source = (table, index)
    if isinstance(table.get("id"), str):
        where = f"statement {table['id']!r}"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    if table.get("relation") == "trend":
        table = {"formula": "0", **table}  # a figure states a trend, not a formula
    for key in _REQUIRED:
        if key not in table:
            raise ValueError(f"{where}: missing key {key!r}")
    for key in _STRING_KEYS:
        _string(table, key, where)
    relation = table["relation"]
    if relation not in RELATIONS:
        raise ValueError(f"{where}: relation must be one of {', '.join(RELATIONS)}, "
                         f"got {relation!r}")
    quantity = get_quantity(table["quantity"])
    kind = check_input(table.get("input", "fixed"), where)
    if kind not in quantity.inputs:
        raise ValueError(f"{where}: quantity {quantity.name} takes input "
                         f"{', '.join(quantity.inputs)}, got {kind!r}")
    init, residual = table.get("init", "free"), table.get("residual", "constant")
    if init not in INITS or residual not in RESIDUALS:
        raise ValueError(f"{where}: init must be one of {', '.join(INITS)} and residual one of "
                         f"{', '.join(RESIDUALS)}")
    assumptions = table.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise ValueError(f"{where}: assumptions must be a list of strings")
    try:
        model = Model.from_assumptions(tuple(assumptions), init, residual)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    fixed = _fixed(quantity, table, where)
    ties = _ties(quantity, table, where)
    params = _params(quantity, model, kind, table, where, fixed, ties)
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and v in params for k, v in aliases.items()):
        raise ValueError(f"{where}: aliases must map names to this statement's parameters")
    limit = table.get("limit", "")
    if relation in ("limit", "rate") and limit not in params:
        raise ValueError(f"{where}: relation {relation} needs limit = the parameter that "
                         f"grows, one of {', '.join(params)}")
    tolerance = table.get("tolerance")
    if tolerance is not None and (isinstance(tolerance, bool)
                                  or not isinstance(tolerance, (int, float))
                                  or not 0 < tolerance < 1):
        raise ValueError(f"{where}: tolerance must be a number in (0, 1), got {tolerance!r}")
    figure = table.get("figure", {})
    if not isinstance(figure, dict):
        raise ValueError(f"{where}: figure must be a table")
    statement = Statement(
        id=table["id"], label=table["label"], section=table["section"], title=table["title"],
        formula_text=table["formula"], relation=relation, quantity=quantity, input=kind,
        model=model, params=params, number=_string(table, "number", where),
        equation=_string(table, "equation", where), printed=_string(table, "printed", where),
        conditions=check_conditions(table.get("conditions", []), where), aliases=aliases,
        limit=limit, tolerance=tolerance, notes=_string(table, "notes", where), figure=figure,
        fixed=fixed, ties=ties, paper=paper, table=source)
    try:
        statement.stated()  # parse and evaluate now: a bad formula is an error at load time
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return statement


def load_text(text: str, source: str = "<text>") -> dict[str, Statement]:
    """The statements of a TOML document, by id (file order)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source} is not valid TOML: {exc}") from None
    paper_table = data.get("paper", {})
    if not isinstance(paper_table, dict):
        raise ValueError(f"{source}: [paper] must be a table")
    unknown = sorted(set(data) - {"paper", "statement"})
    if unknown:
        raise ValueError(f"{source}: unknown top-level key {unknown[0]!r}")
    paper = Paper(**{k: _string(paper_table, k, f"{source} [paper]")
                     for k in ("id", "title", "authors", "venue", "source")})
    tables = data.get("statement", [])
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{source} has no [[statement]] tables")
    if len(tables) > MAX_STATEMENTS:
        raise ValueError(f"{source} has more than {MAX_STATEMENTS} statements")
    out: dict[str, Statement] = {}
    for index, table in enumerate(tables):
        statement = statement_from_table(table, paper, index)
        if statement.id in out:
            raise ValueError(f"{source}: statement id {statement.id!r} appears twice")
        out[statement.id] = statement
    return out


def load_file(path: str | Path) -> dict[str, Statement]:
    """The statements of a TOML file (at most MAX_FILE_BYTES), by id."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    return load_text(text, str(path))
