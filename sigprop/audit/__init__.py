"""Audit a paper's printed statements: derived by the engine, measured by Monte Carlo,
each given a verdict that says how it holds.

Python::

    from sigprop import audit
    statements = audit.load()                     # papers/noci2022.toml by default
    s = statements["noci2022.eq-grad-q"]
    s.stated({"n": 4, "d_v": 8, "rho": 0.5})      # the printed formula
    s.exact({"n": 4, "d_v": 8, "rho": 0.5})       # the engine's derivation
    s.estimate({"n": 4}, samples=10_000, seed=0)  # Monte Carlo
    findings = audit.run(statements.values(), budget="quick")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sigprop.audit.run import VERDICTS, Finding, audit_statement
from sigprop.audit.run import audit as run
from sigprop.audit.statements import Statement, load_file, load_text

#: the statements of Noci et al. (2022), audited by default
DEFAULT_FILE = Path(__file__).resolve().parent.parent.parent / "papers" / "noci2022.toml"


def load(path: str | Path | None = None) -> Mapping[str, Statement]:
    """The statements of a file (default: the Noci et al. 2022 audit), by id."""
    return load_file(DEFAULT_FILE if path is None else path)


__all__ = ["DEFAULT_FILE", "VERDICTS", "Finding", "Statement", "audit_statement", "load",
           "load_text", "run"]
