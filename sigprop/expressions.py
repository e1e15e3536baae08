"""Read a user's formula without evaluating any of the user's text.

Two notations are accepted: SymPy/Python-like (``sigma_k**2*d_v*(n-1)/n``,
``^`` also means power) and LaTeX (``\\frac{\\sigma_k^2 (n-1)}{n}``). LaTeX is
first rewritten to the plain notation; the plain notation is read by a small
recursive-descent parser into a tree of tuples that knows numbers, the names
it is given (a claim's or a statement's parameters), the constants ``pi`` and
``E``, and a fixed set of functions. Anything else (attributes, strings,
``__import__``, lambdas, indexing) is refused with a one-line ``ValueError``.
Implicit multiplication (``2n``, ``\\sigma_k^2 d``) is understood.

Nothing about a formula is unbounded:

- its size is checked before any arithmetic: at most ``MAX_LENGTH``
  characters, ``MAX_NODES`` nodes and ``MAX_DEPTH`` levels of nesting;
  numeric literals have at most ``MAX_DIGITS`` digits and a decimal exponent
  of at most ``MAX_LITERAL_EXPONENT``; a constant exponent (one without
  parameters) is at most ``MAX_EXPONENT`` in size;
- :meth:`Formula.value` evaluates it in float arithmetic, a walk over at most
  ``MAX_NODES`` nodes, and names the point and the reason whenever the value
  is not a finite real number (division by zero, a complex value, an
  undefined logarithm, an overflow);
- :meth:`Formula.to_sympy` builds the SymPy expression; SymPy's own
  simplifications can be slow on a pathological formula, so callers run it,
  and everything they do with its result, under :func:`sigprop.limits.run_limited`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import sympy as sp

MAX_LENGTH = 2000
MAX_NODES = 400
MAX_DEPTH = 40
MAX_DIGITS = 40
MAX_LITERAL_EXPONENT = 300
MAX_EXPONENT = 64
MAX_SUM_TERMS = 100_000

#: name -> (SymPy function, float function); the float function may raise ValueError
#: (outside its domain) or OverflowError, which :meth:`Formula.value` reports.
FUNCTIONS: dict[str, tuple[Callable, Callable[[float], float]]] = {
    "sqrt": (sp.sqrt, math.sqrt), "exp": (sp.exp, math.exp), "log": (sp.log, math.log),
    "ln": (sp.log, math.log), "sin": (sp.sin, math.sin), "cos": (sp.cos, math.cos),
    "tan": (sp.tan, math.tan), "acos": (sp.acos, math.acos), "arccos": (sp.acos, math.acos),
    "asin": (sp.asin, math.asin), "arcsin": (sp.asin, math.asin),
    "atan": (sp.atan, math.atan), "arctan": (sp.atan, math.atan),
    "abs": (sp.Abs, abs), "Abs": (sp.Abs, abs),
}
CONSTANTS = {"pi": (sp.pi, math.pi), "E": (sp.E, math.e)}
_DOMAIN_ERRORS = {
    "sqrt": "the square root of a negative number",
    "log": "the logarithm of zero or a negative number",
    "ln": "the logarithm of zero or a negative number",
    "acos": "acos of a number outside [-1, 1]", "arccos": "acos of a number outside [-1, 1]",
    "asin": "asin of a number outside [-1, 1]", "arcsin": "asin of a number outside [-1, 1]",
}

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z][A-Za-z0-9_]*)|(\*\*|[-+*/^(),]))")

_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "kappa", "lambda", "mu", "nu",
          "pi", "rho", "sigma", "tau", "theta", "phi", "omega")

# A tree node is a tuple: ("num", Fraction), ("name", str), ("const", str),
# ("neg", node), ("add" | "sub" | "mul" | "div" | "pow", node, node), ("call", str, node),
# ("sum", index name, low, high, term): sum(k, low, high, term), k a bound index.
Node = tuple


class NotFinite(ValueError):
    """A formula's value at a point is not a finite real number."""


def latex_to_plain(text: str) -> str:
    """Rewrite the LaTeX subset used for formulas into the plain notation."""
    s = text.replace("$", "")
    for junk in (r"\left", r"\right", r"\,", r"\;", r"\!", r"\displaystyle"):
        s = s.replace(junk, " ")
    s = re.sub(r"\\(?:cdot|times)", "*", s)
    s = _rewrite_braced(s, r"\frac", 2, lambda a, b: f"(({a})/({b}))")
    s = _rewrite_braced(s, r"\sqrt", 1, lambda a: f"sqrt({a})")
    s = re.sub(r"_\{([A-Za-z0-9]+)\}", r"_\1", s)
    s = re.sub(r"\\operatorname\{([A-Za-z]+)\}", r"\1", s)
    s = re.sub(r"\\(" + "|".join(_GREEK) + r"|exp|log|ln|sin|cos|tan|arccos|arcsin|arctan)"
               r"(?![A-Za-z])", r"\1", s)
    if "\\" in s:
        bad = re.search(r"\\[A-Za-z]*", s)
        command = bad.group(0) if bad else "backslash"
        raise ValueError(f"expression uses unsupported LaTeX {command}")
    return s.replace("{", "(").replace("}", ")")


def _rewrite_braced(s: str, command: str, nargs: int, build) -> str:
    """Replace ``command{a}{b}`` (nested braces allowed) using ``build``."""
    while True:
        start = s.find(command + "{")
        if start < 0:
            return s
        pos, args = start + len(command), []
        for _ in range(nargs):
            if pos >= len(s) or s[pos] != "{":
                raise ValueError(f"expression has a malformed {command}")
            depth, end = 0, pos
            while end < len(s):
                depth += {"{": 1, "}": -1}.get(s[end], 0)
                if depth == 0:
                    break
                end += 1
            if depth:
                raise ValueError("expression has unbalanced braces")
            args.append(s[pos + 1:end])
            pos = end + 1
        s = s[:start] + build(*args) + s[pos:]


def _literal(text: str) -> Fraction:
    """A numeric literal as an exact fraction, refusing huge ones before converting."""
    mantissa, _, exponent = text.lower().partition("e")
    if len(mantissa.replace(".", "")) > MAX_DIGITS:
        raise ValueError(f"expression has a number with more than {MAX_DIGITS} digits")
    if exponent and abs(int(exponent)) > MAX_LITERAL_EXPONENT:
        raise ValueError(f"expression has a number with an exponent above "
                         f"{MAX_LITERAL_EXPONENT}: {text}")
    return Fraction(text)


class _Parser:
    def __init__(self, text: str, names: frozenset[str]):
        self.tokens = self._tokenize(text)
        self.i = 0
        self.names = names
        self.depth = 0
        self.nodes = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                char = text[pos:].strip()[:1]
                raise ValueError(f"expression has an unexpected character {char!r} at {pos}")
            num, name, op = m.groups()
            out.append(("num", num) if num else ("name", name) if name else ("op", op))
            pos = m.end()
        return out

    def node(self, *parts: object) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValueError(f"expression has more than {MAX_NODES} terms and operations")
        return tuple(parts)

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            want = f"{value!r}" if value else "more input"
            raise ValueError(f"expression is malformed: expected {want}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.tokens:
            raise ValueError("expression is empty")
        out = self.expr()
        if self.peek() is not None:
            raise ValueError(f"expression is malformed near {self.peek()[1]!r}")
        return out

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"expression is nested more than {MAX_DEPTH} levels deep")
        out = self.term()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.take()
            out = self.node("add" if tok[1] == "+" else "sub", out, self.term())
        self.depth -= 1
        return out

    def term(self) -> Node:
        out = self.unary()
        while (tok := self.peek()) is not None:
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                out = self.node("mul" if tok[1] == "*" else "div", out, self.unary())
            elif tok[0] in ("num", "name") or tok == ("op", "("):
                out = self.node("mul", out, self.power())
            else:
                break
        return out

    def unary(self) -> Node:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ValueError(f"expression is nested more than {MAX_DEPTH} levels deep")
            val = self.unary()
            self.depth -= 1
            return self.node("neg", val) if tok[1] == "-" else val
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() in (("op", "^"), ("op", "**")):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ValueError(f"expression is nested more than {MAX_DEPTH} levels deep")
            exponent = self.unary()
            self.depth -= 1
            _check_exponent(exponent)
            return self.node("pow", base, exponent)
        return base

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return self.node("num", _literal(value))
        if kind == "name":
            if value == "sum" and self.peek() == ("op", "("):
                return self.finite_sum()
            if self.peek() == ("op", "(") and value in FUNCTIONS:
                self.take("(")
                arg = self.expr()
                self.take(")")
                return self.node("call", value, arg)
            if value in self.names:
                return self.node("name", value)
            if value in CONSTANTS:
                return self.node("const", value)
            allowed = ", ".join(sorted(self.names))
            raise ValueError(f"expression uses unknown name {value!r}; allowed: {allowed}")
        if value == "(":
            inner = self.expr()
            self.take(")")
            return inner
        raise ValueError(f"expression is malformed near {value!r}")


    def finite_sum(self) -> Node:
        """sum(k, low, high, term): k a new name, bound in term only."""
        self.take("(")
        kind, index = self.take()
        if kind != "name" or index in self.names or index in CONSTANTS or index in FUNCTIONS:
            raise ValueError("a sum's index must be a new name: sum(k, low, high, term)")
        self.take(",")
        low = self.expr()
        self.take(",")
        high = self.expr()
        self.take(",")
        outer = self.names
        self.names = outer | {index}
        term = self.expr()
        self.names = outer
        self.take(")")
        return self.node("sum", index, low, high, term)


def _check_exponent(node: Node) -> None:
    """A constant exponent must be at most MAX_EXPONENT in size (2^(2^64) is refused
    before SymPy would try to build the integer)."""
    if _has_names(node):
        return
    try:
        size = abs(_float_value(node, {}))
    except (ValueError, OverflowError, ZeroDivisionError):
        size = math.inf
    if not size <= MAX_EXPONENT:
        raise ValueError(f"expression has an exponent above {MAX_EXPONENT}")


def _has_names(node: Node) -> bool:
    return bool(_names_of(node))


def _names_of(node: Node) -> set[str]:
    if node[0] == "name":
        return {node[1]}
    if node[0] == "sum":
        _, index, low, high, term = node
        return _names_of(low) | _names_of(high) | (_names_of(term) - {index})
    return set().union(*(_names_of(p) for p in node[1:] if isinstance(p, tuple)))


def _real(value: complex | float, what: str) -> float:
    if isinstance(value, complex):
        raise NotFinite(f"is not real ({what})")
    return value


_BINARY: dict[str, Callable] = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                                 "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
                                 "pow": lambda a, b: a**b}


def _float_value(node: Node, point: Mapping[str, float]) -> float:
    """The value in float arithmetic; raises NotFinite, ZeroDivisionError or OverflowError."""
    op = node[0]
    if op == "num":
        return float(node[1])
    if op == "name":
        return float(point[node[1]])
    if op == "const":
        return CONSTANTS[node[1]][1]
    if op == "neg":
        return -_float_value(node[1], point)
    if op == "sum":
        _, index, low, high, term = node
        lo, hi = math.ceil(_float_value(low, point)), math.floor(_float_value(high, point))
        if hi - lo + 1 > MAX_SUM_TERMS:
            raise NotFinite(f"is a sum of more than {MAX_SUM_TERMS} terms")
        return math.fsum(_float_value(term, {**point, index: float(k)})
                         for k in range(lo, hi + 1))
    if op == "call":
        arg = _float_value(node[2], point)
        try:
            return _real(FUNCTIONS[node[1]][1](arg), node[1])
        except ValueError:
            raise NotFinite(f"is undefined ({_DOMAIN_ERRORS.get(node[1], node[1])})") from None
    a, b = _float_value(node[1], point), _float_value(node[2], point)
    if op != "pow":
        return _BINARY[op](a, b)
    if a < 0 and not float(b).is_integer():
        raise NotFinite("is not real (a negative number to a fractional power)")
    if a == 0 and b < 0:
        raise ZeroDivisionError
    return _real(a**b, "a negative number to a fractional power")


def describe_point(point: Mapping[str, float]) -> str:
    """``n=4, rho=0.5``: a parameter point in one line."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}=<matrix>"
                     for k, v in point.items())


def _sympy(node: Node, symbols: Mapping[str, sp.Symbol]) -> sp.Expr:
    op = node[0]
    if op == "num":
        return sp.Rational(node[1].numerator, node[1].denominator)
    if op == "name":
        return symbols[node[1]]
    if op == "const":
        return CONSTANTS[node[1]][0]
    if op == "neg":
        return -_sympy(node[1], symbols)
    if op == "sum":
        _, index, low, high, term = node
        k = sp.Symbol(index, integer=True)
        return sp.Sum(_sympy(term, {**symbols, index: k}),
                      (k, _sympy(low, symbols), _sympy(high, symbols))).doit()
    if op == "call":
        return FUNCTIONS[node[1]][0](_sympy(node[2], symbols))
    a, b = _sympy(node[1], symbols), _sympy(node[2], symbols)
    return _BINARY[op](a, b)


@dataclass(frozen=True)
class Formula:
    """A parsed, size-checked formula over named parameters."""

    text: str
    tree: Node

    @cached_property
    def names(self) -> frozenset[str]:
        """The parameter names the formula uses."""
        return frozenset(_names_of(self.tree))

    def value(self, point: Mapping[str, float]) -> float:
        """The formula at ``point`` in float arithmetic; ``NotFinite`` (a ValueError) names
        the point and the reason when the value is not a finite real number."""
        missing = sorted(self.names - set(point))
        if missing:
            raise ValueError(f"formula needs parameter(s) {', '.join(missing)}")
        where = describe_point({k: point[k] for k in sorted(self.names)}) or "every point"
        try:
            out = _float_value(self.tree, point)
        except NotFinite as exc:
            raise NotFinite(f"formula {exc} at {where}") from None
        except ZeroDivisionError:
            raise NotFinite(f"formula divides by zero at {where}") from None
        except OverflowError:
            raise NotFinite(f"formula overflows (is not finite) at {where}") from None
        if isinstance(out, complex) or not math.isfinite(out):
            what = "is NaN" if out != out else "is infinite"
            raise NotFinite(f"formula {what} at {where}")
        return float(out)

    def to_sympy(self, positive: bool = True) -> sp.Expr:
        """The SymPy expression, symbols named after the parameters (positive reals by
        default). SymPy simplifies as it builds, so run this under a time limit."""
        symbols = {n: sp.Symbol(n, positive=True) if positive else sp.Symbol(n, real=True)
                   for n in self.names}
        return _sympy(self.tree, symbols)


def parse_formula(text: str, names: Iterable[str]) -> Formula:
    """The formula ``text`` (plain or LaTeX) over the parameter ``names``, size-checked."""
    if not isinstance(text, str):
        raise ValueError("expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression is longer than {MAX_LENGTH} characters")
    if not text.isprintable():
        raise ValueError("expression has a control character")
    plain = latex_to_plain(text) if "\\" in text or "{" in text else text
    return Formula(text, _Parser(plain, frozenset(names)).parse())
