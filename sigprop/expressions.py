"""Parse a user's formula into SymPy without evaluating any of the user's text.

Two notations are accepted: SymPy/Python-like (``sigma_k**2*d_v*(n-1)/n``,
``^`` also means power) and LaTeX (``\\frac{\\sigma_k^2 (n-1)}{n}``). LaTeX is
first rewritten to the plain notation; the plain notation is read by a small
recursive-descent parser that knows numbers, the names it is given (the
claim's parameters), the constants ``pi`` and ``E``, and a fixed set of
functions. Anything else (attributes, strings, ``__import__``, lambdas,
indexing) is refused with a one-line ``ValueError``. Implicit multiplication
(``2n``, ``\\sigma_k^2 d``) is understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sympy as sp

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 64

FUNCTIONS = {
    "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "ln": sp.log, "sin": sp.sin,
    "cos": sp.cos, "tan": sp.tan, "acos": sp.acos, "arccos": sp.acos, "asin": sp.asin,
    "arcsin": sp.asin, "atan": sp.atan, "arctan": sp.atan, "abs": sp.Abs, "Abs": sp.Abs,
}
CONSTANTS = {"pi": sp.pi, "E": sp.E}

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z][A-Za-z0-9_]*)|(\*\*|[-+*/^(),]))")

_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "kappa", "lambda", "mu", "nu",
          "pi", "rho", "sigma", "tau", "theta", "phi", "omega")


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


class _Parser:
    def __init__(self, text: str, names: dict[str, sp.Symbol]):
        self.tokens = self._tokenize(text)
        self.i = 0
        self.names = names
        self.depth = 0

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

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            want = f"{value!r}" if value else "more input"
            raise ValueError(f"expression is malformed: expected {want}")
        self.i += 1
        return tok

    def parse(self) -> sp.Expr:
        if not self.tokens:
            raise ValueError("expression is empty")
        out = self.expr()
        if self.peek() is not None:
            raise ValueError(f"expression is malformed near {self.peek()[1]!r}")
        return out

    def expr(self) -> sp.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError("expression is nested too deeply")
        out = self.term()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.take()
            rhs = self.term()
            out = out + rhs if tok[1] == "+" else out - rhs
        self.depth -= 1
        return out

    def term(self) -> sp.Expr:
        out = self.unary()
        while (tok := self.peek()) is not None:
            if tok == ("op", "*") or tok == ("op", "/"):
                self.take()
                rhs = self.unary()
                out = out * rhs if tok[1] == "*" else out / rhs
            elif tok[0] in ("num", "name") or tok == ("op", "("):
                out = out * self.power()
            else:
                break
        return out

    def unary(self) -> sp.Expr:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            val = self.unary()
            return -val if tok[1] == "-" else val
        return self.power()

    def power(self) -> sp.Expr:
        base = self.atom()
        tok = self.peek()
        if tok in (("op", "^"), ("op", "**")):
            self.take()
            exponent = self.unary()
            if exponent.is_number and abs(complex(exponent)) > MAX_EXPONENT:
                raise ValueError(f"expression has an exponent above {MAX_EXPONENT}")
            return base**exponent
        return base

    def atom(self) -> sp.Expr:
        kind, value = self.take()
        if kind == "num":
            return sp.Rational(value) if len(value) <= 30 else sp.Float(value)
        if kind == "name":
            if self.peek() == ("op", "(") and value in FUNCTIONS:
                self.take("(")
                arg = self.expr()
                self.take(")")
                return FUNCTIONS[value](arg)
            if value in self.names:
                return self.names[value]
            if value in CONSTANTS:
                return CONSTANTS[value]
            allowed = ", ".join(sorted(self.names))
            raise ValueError(f"expression uses unknown name {value!r}; allowed: {allowed}")
        if value == "(":
            inner = self.expr()
            self.take(")")
            return inner
        raise ValueError(f"expression is malformed near {value!r}")


def parse_formula(text: str, names: Iterable[str]) -> sp.Expr:
    """The SymPy expression for ``text`` (plain or LaTeX) over the symbols ``names``.

    Symbols are created as positive reals with the given names, matching the
    claim parameters by name.
    """
    if not isinstance(text, str):
        raise ValueError("expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression is longer than {MAX_LENGTH} characters")
    plain = latex_to_plain(text) if "\\" in text or "{" in text else text
    symbols = {n: sp.Symbol(n, positive=True) for n in names}
    return _Parser(plain, symbols).parse()
