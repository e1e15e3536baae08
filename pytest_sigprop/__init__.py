"""pytest plugin: statement files are test items, so a team keeps its paper's claims as
regression tests.

Every ``*.sigprop.toml`` file pytest meets (and every file named in the ini option
``sigprop_files``) is read by :mod:`sigprop.audit`; each statement becomes one
test that audits it at the budget of ``sigprop_budget`` (default ``quick``)
and seed ``sigprop_seed`` (default 0):

- ``holds``, ``holds-under-assumption`` and ``bound-holds`` pass;
- ``false`` and ``needs-condition`` fail, with the evidence;
- ``approximate`` passes when the printed formula is within the statement's
  ``tolerance`` (relative) of the derivation at its default point, and fails
  otherwise (or when the file states no tolerance);
- ``inconclusive`` is an expected failure that says what would decide it.

Installed with sigprop (entry point ``pytest11``); it is a separate package so that
the runtime needs no pytest.
"""

from __future__ import annotations

# ruff: noqa: E402  (the process settings must be chosen before NumPy is imported)
from sigprop.runtime import configure

configure()

from pathlib import Path

import pytest

from sigprop.audit.run import Finding, audit_statement
from sigprop.audit.statements import Statement, load_file

SUFFIX = ".sigprop.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("sigprop_files", "statement files to collect besides *.sigprop.toml",
                  type="paths", default=[])
    parser.addini("sigprop_budget", "audit budget of statement tests (quick, standard, "
                  "thorough)", default="quick")
    parser.addini("sigprop_seed", "audit seed of statement tests", default="0")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    extra = {Path(p).resolve() for p in parent.config.getini("sigprop_files")}
    if file_path.name.endswith(SUFFIX) or file_path.resolve() in extra:
        return StatementFile.from_parent(parent, path=file_path)
    return None


class StatementFile(pytest.File):
    def collect(self):
        try:
            statements = load_file(self.path)
        except ValueError as exc:
            raise self.CollectError(str(exc)) from None
        for statement in statements.values():
            yield StatementItem.from_parent(self, name=statement.id, statement=statement)


class StatementFailure(Exception):
    """A statement whose audit does not support it."""


class StatementItem(pytest.Item):
    def __init__(self, *, statement: Statement, **kwargs) -> None:
        super().__init__(**kwargs)
        self.statement = statement

    def runtest(self) -> None:
        budget = self.config.getini("sigprop_budget")
        seed = int(self.config.getini("sigprop_seed"))
        finding = audit_statement(self.statement, budget=budget, seed=seed)
        self.user_properties.append(("verdict", finding.verdict))
        verdict = finding.verdict
        if verdict in ("holds", "holds-under-assumption", "bound-holds"):
            return
        if verdict == "inconclusive":
            pytest.xfail(f"inconclusive: {finding.summary}")
        if verdict == "approximate" and _within_tolerance(finding):
            return
        raise StatementFailure(f"{verdict}: {finding.summary}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, StatementFailure):
            return f"{self.statement.id} ({self.statement.label}): {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"statement {self.statement.id}"


def _within_tolerance(finding: Finding) -> bool:
    """Whether an approximate statement is within the tolerance its file states, at its
    default point."""
    st = finding.statement
    if st.tolerance is None:
        return False
    stated, exact = st.stated(), st.exact()
    return exact is not None and abs(stated - exact) <= st.tolerance * abs(exact)
