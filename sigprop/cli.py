"""The ``sigprop`` command line.

Exit codes: 0 every check passed; 1 a check failed or was inconclusive;
2 bad usage or bad input (one line on stderr, never a traceback); 3 an internal
error (a bug: one line naming where, never a traceback).
"""

from __future__ import annotations

# ruff: noqa: E402  (the process settings must be chosen before NumPy is imported)
from sigprop.runtime import configure

configure()

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from sigprop import registry
from sigprop.budget import BUDGETS
from sigprop.params import parse_assignments

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: most seeds one calibration run takes (each seed verifies every claim and mistake)
MAX_SEEDS = 1000


class UsageError(Exception):
    """Bad usage or input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(message)


def _seed(text: str) -> int:
    """--seed: an integer >= 0 (argparse reports the ValueError as a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}")
    return value


def _timeout(text: str) -> float:
    """--timeout: seconds a symbolic step driven by your input may take."""
    from sigprop.limits import check_timeout

    try:
        return check_timeout(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_timeout(p: argparse.ArgumentParser) -> None:
    from sigprop.limits import DEFAULT_TIMEOUT

    p.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="time limit of each symbolic step that your input drives "
                        f"(default {DEFAULT_TIMEOUT:g})")


def _scheduler(text: str) -> str:
    """--scheduler: threads, processes, dask or tcp://HOST:PORT (sigprop.scheduler)."""
    from sigprop.scheduler import parse_scheduler

    try:
        return parse_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_scheduler(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", type=_scheduler, default="threads",
                   metavar="threads|processes|dask|tcp://HOST:PORT",
                   help="where the sweep's tasks run: threads (default) or processes here, "
                        "a local Dask cluster, or a running Dask scheduler; the numbers do "
                        "not depend on it")


def _add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR",
                   help="keep the Monte Carlo runs in DIR and reuse them when the simulating "
                        "code and the run are unchanged (after a change to a theory or a "
                        "printed formula only the comparison is redone; same numbers)")


@contextmanager
def _monte_carlo_store(directory: str | None, console: Console) -> Iterator[None]:
    """Within the block, Monte Carlo runs are kept in ``directory`` (numerics.cache);
    at the end, how many were reused and how many computed."""
    from numerics import cache

    if directory is None:
        yield
        return
    if not directory.strip():
        raise UsageError("--cache needs a directory, got an empty name")
    if Path(directory).exists() and not Path(directory).is_dir():
        raise UsageError(f"cannot use {directory} as the Monte Carlo store: not a directory")
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use {directory} as the Monte Carlo store: "
                         f"{exc.strerror or exc}") from None
    cache.COUNTS.reset()
    with cache.use(directory):
        yield
    console.print(f"Monte Carlo store {directory}: {cache.COUNTS.hits} runs reused, "
                  f"{cache.COUNTS.stored} computed and kept")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", default="standard", choices=tuple(BUDGETS),
                   help="how hard to try (sample sizes follow from a power calculation)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed (default 0)")
    p.add_argument("--params", default="", metavar="k=v,...",
                   help="parameter values, e.g. n=8,d=32,rho=0.5")
    p.add_argument("--json", metavar="PATH|-", help="write a JSON report ('-': stdout)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sigprop", description="Derive moments of transformers at "
                     "initialization (SymPy) and verify them against Monte Carlo (NumPy).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list the registered claims")
    p.add_argument("--json", metavar="PATH|-", help="write the list as JSON")

    p = sub.add_parser("audit", help="audit a paper's printed statements (default: Noci et "
                       "al. 2022)")
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="statement file (TOML; default papers/noci2022.toml)")
    p.add_argument("--statement", action="append", metavar="ID",
                   help="statement id (repeatable; default: every statement)")
    p.add_argument("--budget", default="standard", choices=tuple(BUDGETS),
                   help="how hard the Monte Carlo tries (default standard)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed (default 0)")
    p.add_argument("--json", metavar="PATH|-", help="write a JSON report ('-': stdout)")
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown report")
    _add_timeout(p)
    _add_scheduler(p)
    _add_cache(p)

    p = sub.add_parser("verify", help="verify claims against Monte Carlo")
    p.add_argument("--claim", action="append", metavar="ID", help="claim id (repeatable)")
    _add_run_options(p)
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown report")
    _add_scheduler(p)
    _add_cache(p)

    p = sub.add_parser("check", help="check your own formula for a claim's quantity")
    p.add_argument("claim", metavar="CLAIM", help="claim id whose quantity EXPR describes")
    p.add_argument("expr", metavar="EXPR", help="formula in SymPy syntax or LaTeX")
    _add_run_options(p)
    _add_timeout(p)
    _add_cache(p)

    p = sub.add_parser("calibrate", help="measure false-fail and detection rates")
    p.add_argument("--claim", action="append", metavar="ID", help="claim id (repeatable)")
    p.add_argument("--seeds", type=int, default=20, help="seeds per claim for the false-fail "
                   "rate (default 20)")
    p.add_argument("--budget", default="standard", choices=tuple(BUDGETS))
    p.add_argument("--json", metavar="PATH|-", help="write a JSON report ('-': stdout)")
    _add_scheduler(p)
    _add_cache(p)

    p = sub.add_parser("derive", help="write each claim's derivation and check, and each "
                       "audited statement, as LaTeX")
    p.add_argument("--claim", action="append", metavar="ID", help="claim id (repeatable)")
    p.add_argument("--statement", action="append", metavar="ID",
                   help="statement id of the paper audit (repeatable)")
    p.add_argument("--audit-markdown", metavar="PATH",
                   help="also write the audit's Markdown report (docs/audit/noci2022.md)")
    p.add_argument("--out", default="derivations", metavar="DIR",
                   help="output directory (default derivations/)")
    p.add_argument("--budget", default="quick", choices=tuple(BUDGETS),
                   help="budget of the Monte Carlo checks (default quick)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed (default 0)")
    _add_cache(p)

    p = sub.add_parser("propagate", help="a model's expected Gram layer by layer: the "
                       "theory's composed maps beside Monte Carlo of the same model")
    p.add_argument("--arch", required=True, metavar="SPEC",
                   help="key=value,... (L, n, d, d_k, d_v, d_ff, heads, norm, attention, mask, "
                        "mlp, alpha_1, alpha_2, sigma_*, temperature) or a TOML file")
    p.add_argument("--input", default="gram:rho=0.5,s=1", metavar="INPUT",
                   help="gram:rho=R,s=S | gaussian:rho=R,sigma_x=S | rank-one "
                        "(default gram:rho=0.5,s=1)")
    p.add_argument("--budget", default="standard", choices=tuple(BUDGETS),
                   help="how hard the Monte Carlo tries (default standard)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed (default 0)")
    p.add_argument("--json", metavar="PATH|-", help="write a JSON report ('-': stdout)")
    p.add_argument("--plot", metavar="PATH", help="draw theory and Monte Carlo against depth "
                   "(PNG)")
    _add_cache(p)

    p = sub.add_parser("figures", help="draw theory curves beside Monte Carlo points (PNG)")
    p.add_argument("--out", default="docs/figures", metavar="DIR",
                   help="output directory (default docs/figures/)")
    p.add_argument("--budget", default="standard", choices=("quick", "standard"),
                   help="Monte Carlo samples per point (default standard)")
    p.add_argument("--seed", type=_seed, default=0, help="run seed (default 0)")
    _add_scheduler(p)
    _add_cache(p)
    return parser


def _write(target: str, text: str, console: Console) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    try:
        path.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    console.print(f"wrote {path}")


def _select(ids: Sequence[str] | None):
    return [registry.get(i) for i in ids] if ids else registry.claims()


def _params_for(claims, text: str) -> list[dict]:
    """Give each claim the assignments it takes; a name no claim takes is an error."""
    given = parse_assignments(text)
    known = set().union(*(c.params for c in claims)) if claims else set()
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"unknown parameter {unknown[0]} for the selected claims")
    out = []
    for c in claims:
        mine = {k: v for k, v in given.items() if k in c.params}
        c.point(mine)  # validate now, before any long run
        out.append(mine)
    return out


def cmd_list(args, console: Console) -> int:
    import json

    rows = [{"id": c.id, "kind": c.kind, "section": c.section, "provenance": c.provenance,
             "title": c.title,
             "params": {k: p.default for k, p in c.params.items()}}
            for c in registry.claims()]
    if args.json:
        _write(args.json, json.dumps(rows, indent=2) + "\n", console)
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"{len(rows)} registered claims")
    for col in ("id", "kind", "provenance", "title"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(escape(r[k]) for k in ("id", "kind", "provenance", "title")))
    console.print(table)
    return EXIT_OK


def cmd_verify(args, console: Console) -> int:
    from rich.progress import Progress

    from sigprop.harness import verify_claims
    from sigprop.report import print_table, to_json, to_markdown

    claims = _select(args.claim)
    jobs = list(zip(claims, _params_for(claims, args.params), strict=True))
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("verifying", total=len(jobs))

        def progress(done: int, claim_id: str) -> None:
            bar.update(task, completed=done, description=f"verifying {claim_id}")

        results = verify_claims(jobs, budget=args.budget, seed=args.seed, progress=progress,
                                scheduler=args.scheduler)
    seconds = time.perf_counter() - t0
    print_table(results, console, seconds, args.budget)
    meta = {"command": "verify", "budget": args.budget, "seed": args.seed,
            "scheduler": args.scheduler, "wall_seconds": seconds}
    if args.json:
        _write(args.json, to_json(results, meta), console)
    if args.markdown:
        _write(args.markdown, to_markdown(results, seconds, args.budget), console)
    return EXIT_OK if all(r.verdict == "pass" for r in results) else EXIT_FAILED


def cmd_check(args, console: Console) -> int:
    from sigprop.check import check_formula, print_check

    claim = registry.get(args.claim)
    params = _params_for([claim], args.params)[0]
    with console.status(f"checking your formula for {claim.id} (symbolic, scan, Monte Carlo)"):
        outcome = check_formula(claim, args.expr, params, budget=args.budget, seed=args.seed,
                                timeout=args.timeout)
    if args.json:
        import json

        _write(args.json, json.dumps(outcome.as_dict(), indent=2) + "\n", console)
    print_check(outcome, console)
    return EXIT_OK if outcome.verdict == "pass" else EXIT_FAILED


def cmd_audit(args, console: Console) -> int:
    """Every statement of the file (or the selected ones), a verdict each. Exit 0 when
    every verdict is conclusive, whatever it is; 1 when one is inconclusive."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from sigprop import audit
    from sigprop.audit.report import print_table, to_json, to_markdown

    statements = audit.load(args.file)
    if args.statement:
        unknown = [s for s in args.statement if s not in statements]
        if unknown:
            raise UsageError(f"unknown statement id {unknown[0]!r}; the file has: "
                             f"{', '.join(statements)}")
        chosen = [statements[s] for s in args.statement]
    else:
        chosen = list(statements.values())
    paper = chosen[0].paper
    t0 = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("auditing", total=len(chosen))

        def progress(done: int, what: str) -> None:
            bar.update(task, completed=done, description=f"auditing {what}")

        findings = audit.run(chosen, budget=args.budget, seed=args.seed,
                             timeout=args.timeout, progress=progress,
                             scheduler=args.scheduler)
    seconds = time.perf_counter() - t0
    print_table(findings, console, seconds, args.budget, paper)
    meta = {"command": "audit", "file": str(args.file or audit.DEFAULT_FILE),
            "budget": args.budget, "seed": args.seed, "scheduler": args.scheduler,
            "wall_seconds": seconds}
    if args.json:
        _write(args.json, to_json(findings, paper, meta), console)
    if args.markdown:
        _write(args.markdown, to_markdown(findings, paper, args.budget, args.seed), console)
    return EXIT_FAILED if any(f.verdict == "inconclusive" for f in findings) else EXIT_OK


def cmd_calibrate(args, console: Console) -> int:
    from sigprop.calibrate import calibrate, print_calibration

    if not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds must be an integer in [1, {MAX_SEEDS}], got {args.seeds}")
    report = calibrate(_select(args.claim), seeds=args.seeds, budget=args.budget,
                       console=console, scheduler=args.scheduler)
    if args.json:
        import json

        _write(args.json, json.dumps(report.as_dict(), indent=2) + "\n", console)
    print_calibration(report, console)
    return EXIT_OK if report.ok else EXIT_FAILED


def _output_dir(target: str) -> Path:
    """Create ``target`` if needed and make sure a file can be written in it."""
    import tempfile

    path = Path(target)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to output directory {target}: "
                         f"{exc.strerror or exc}") from None
    return path


def _write_tex(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def cmd_derive(args, console: Console) -> int:
    """One LaTeX file per claim (each verified alone at its default point) and per audited
    statement of the paper, and main.tex, which inputs every registered claim and every
    statement whose file is in the output directory. Without --claim or --statement:
    all of both."""
    from rich.progress import Progress

    from sigprop import audit
    from sigprop.audit.latex import statement_stem, statement_tex
    from sigprop.audit.report import to_markdown
    from sigprop.harness import verify_claim
    from sigprop.latex import claim_tex, file_stems, main_tex

    stems = file_stems(registry.claims())
    statements = audit.load()
    everything = not args.claim and not args.statement
    claims = _select(args.claim) if args.claim or everything else []
    unknown = [s for s in args.statement or () if s not in statements]
    if unknown:
        raise UsageError(f"unknown statement id {unknown[0]!r}")
    chosen = ([statements[s] for s in args.statement] if args.statement
              else list(statements.values()) if everything else [])
    out = _output_dir(args.out)
    results, findings = [], []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("deriving", total=len(claims) + len(chosen))
        for claim in claims:
            bar.update(task, description=f"deriving {claim.id}")
            result = verify_claim(claim, budget=args.budget, seed=args.seed)
            _write_tex(out / f"{stems[claim.id]}.tex", claim_tex(claim, result))
            results.append(result)
            bar.advance(task)
        for statement in chosen:
            bar.update(task, description=f"auditing {statement.id}")
            finding = audit.audit_statement(statement, budget=args.budget, seed=args.seed)
            _write_tex(out / f"{statement_stem(statement.id)}.tex", statement_tex(finding))
            findings.append(finding)
            bar.advance(task)
    listed = [c for c in registry.claims() if (out / f"{stems[c.id]}.tex").is_file()]
    audited = [s.id for s in statements.values()
               if (out / f"{statement_stem(s.id)}.tex").is_file()]
    _write_tex(out / "main.tex", main_tex(listed, [statement_stem(i) for i in audited]))
    if args.audit_markdown:
        if not everything:
            raise UsageError("--audit-markdown needs the whole audit (no --claim, no --statement)")
        _write(args.audit_markdown, to_markdown(findings, chosen[0].paper, args.budget,
                                                args.seed), console)
    console.print(f"wrote {len(claims)} claim files, {len(chosen)} statement files and main.tex "
                  f"({len(listed)} claims, {len(audited)} statements) to {out}")
    unsettled = [f"{r.claim_id} ({r.verdict})" for r in results if r.verdict != "pass"]
    unsettled += [f"{f.statement.id} (inconclusive)" for f in findings
                  if f.verdict == "inconclusive"]
    if unsettled:
        console.print(f"not settled: {escape(', '.join(unsettled))}")
    return EXIT_FAILED if unsettled else EXIT_OK


def cmd_propagate(args, console: Console) -> int:
    """Exit 0 when no exact comparison fails or is inconclusive (approximate maps report
    their gap and do not change the exit code); 1 otherwise."""
    from sigprop.arch_spec import parse_arch, parse_input
    from sigprop.propagate import propagate
    from sigprop.propagate_report import plot, print_table, to_json

    arch, spec = parse_arch(args.arch), parse_input(args.input)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            raise UsageError(f"--plot needs matplotlib ({exc}); install it with "
                             "pip install -e '.[figures]'") from None
        _output_dir(str(Path(args.plot).parent))
    with console.status("propagating") as status:
        result = propagate(arch, spec, budget=args.budget, seed=args.seed,
                           progress=lambda text: status.update(f"propagate: {text}"))
    print_table(result, console)
    if args.json:
        _write(args.json, to_json(result), console)
    if args.plot:
        try:
            plot(result, Path(args.plot))
        except OSError as exc:
            raise UsageError(f"cannot write {args.plot}: {exc.strerror or exc}") from None
        console.print(f"wrote {args.plot}")
    unsettled = [v for v in result.verdicts if v in ("fail", "inconclusive")]
    return EXIT_FAILED if unsettled else EXIT_OK


def cmd_figures(args, console: Console) -> int:
    """Four PNGs (theory curves, Monte Carlo points +- 2 se) and summary.md."""
    from rich.progress import Progress

    try:
        from sigprop.figures import make_figures
    except ImportError as exc:
        raise UsageError(f"sigprop figures needs matplotlib ({exc}); install it with "
                         "pip install -e '.[figures]'") from None
    out = _output_dir(args.out)
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("figures")

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"figures: {what}")

        try:
            written = make_figures(out, budget=args.budget, seed=args.seed,
                                   scheduler=args.scheduler, progress=progress)
        except OSError as exc:
            raise UsageError(f"cannot write to output directory {args.out}: "
                             f"{exc.strerror or exc}") from None
    console.print(f"wrote {', '.join(p.name for p in written)} to {out} "
                  f"in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


COMMANDS: dict[str, Callable] = {"list": cmd_list, "audit": cmd_audit, "verify": cmd_verify,
                                 "check": cmd_check,
                                 "calibrate": cmd_calibrate, "derive": cmd_derive,
                                 "propagate": cmd_propagate, "figures": cmd_figures}


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM ends a command like Ctrl-C does: through its cleanup (worker processes
    are stopped, ``sigprop.scheduler``), with exit code 128 + the signal number."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():  # no signals there
        return _main(argv)
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, before)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        # with --json -, stdout carries only the JSON; everything else goes to stderr
        to_stderr = getattr(args, "json", None) == "-"
        stream = sys.stderr if to_stderr else sys.stdout
        console = Console(highlight=False, stderr=to_stderr,
                          width=None if stream.isatty() else 160)
        with _monte_carlo_store(getattr(args, "cache", None), console):
            code = COMMANDS[args.command](args, console)
    except (UsageError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sigprop: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sigprop: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback
        where = exc.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        place = (f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}"
                 if where is not None else "")
        print(f"sigprop: internal error{place}: {type(exc).__name__}: {exc} "
              "(please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    return code


if __name__ == "__main__":
    sys.exit(main())
