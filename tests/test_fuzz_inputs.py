"""Hostile input never crashes, hangs or writes where it should not.

Hypothesis drives every path a user's text takes into the tool (command-line
options, ``--params`` values, formulas for ``check``) with generated hostile
inputs. For each input the command must end with exit code 2 and one line
naming the problem, or with a verdict (exit 0 or 1); print at most three
lines on stderr and never a traceback; write no file except the output it
was asked for; and finish within its time limit. CI runs the examples
derandomized (profile ``ci``); ``thorough`` draws many more.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigprop.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 4 * settings().max_examples  # 100 in CI, 1200 with the thorough profile
TIMEOUT = 3.0  # --timeout given to every command that takes one
STATEMENT_FILE = "mine.toml"
SLACK = 45.0  # seconds a quick Monte Carlo verdict may add on top of the time limit

# claims whose quick Monte Carlo run takes about a second: a valid input reaches a verdict
CHEAP_CLAIMS = ("engine.isserlis-fourth", "grad.value-norm", "forward.attention-gram-update",
                "grad.query-norm-uniform")

HOSTILE_NUMBERS = ["nan", "NaN", "inf", "-inf", "+inf", "-0", "0", "-1", "1e400", "-1e400",
                   "1e-400", "2.5", "1/0", "0/0", "3/-0", "9" * 30, "1" * 400, "0x10", "1_0", "",
                   " ", "½", "٣", "1e", "e5", ".", "-", "--1", "1/2/3", "(1)", "1;2", "1e-5",
                   "4", "8", "0.5", "1e9", "-1e-9", "True", "None"]
NUMBERS = (st.sampled_from(HOSTILE_NUMBERS) | st.integers(-10**30, 10**30).map(str)
           | st.floats(allow_nan=True, allow_infinity=True).map(repr))
PARAM_NAMES = st.sampled_from(["n", "d", "d_k", "d_v", "d_ff", "L", "alpha_1", "sigma_k",
                               "sigma_v", "sigma_x", "r", "rho", "s", "zeta", "", "N", "n n",
                               "__class__", "rho;", "n=1"])
HOSTILE_FORMULAS = [
    "(" * 500, "n" + "^n" * 200, "exp(" * 60 + "n" + ")" * 60, "1/(n-n)", "sqrt(-1)", "log(0)",
    "exp(exp(99))", "9^9^9", "2^(2^64)", "n**(10**10)", "(2^64)^(2^64)", "10^300*10^300",
    r"\input{/etc/passwd}", "\\", "{", "}", "n.__class__", "lambda: 1", "[n]", "n[0]", "'a'",
    '"a"', "# x", "n" + "+n" * 1000, "1e99999", "0^-1", "(-8)^(1/3)", "acos(2)", "tan(pi/2)",
    "abs(-n)^65", "exp(710)", "exp(709)", r"\frac{1}{0}", r"\frac{n}", r"\sqrt{-n}",
    "__import__('os').system('touch pwned')", "open('x','w')", "n;import os", "\u202en",
    "n\t*\n2", "1e308*10", "-(-(-(-n)))", "n^-65", "d_v*n", "4*d_v", "d*d_v*s",
]
HOSTILE_ATOMS = ["x", "__import__", "os", "1e300", "1e-300", "65", "-1", "0"]


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "^", "**", " "]),
                       children).map(lambda t: f"({t[0]}){t[1]}({t[2]})")
    call = st.tuples(st.sampled_from(["sqrt", "log", "exp", "sin", "acos", "abs", "foo",
                                      "eval"]), children).map(lambda t: f"{t[0]}({t[1]})")
    return st.one_of(binary, call, children.map(lambda c: f"-{c}"),
                     children.map(lambda c: rf"\frac{{{c}}}{{n}}"))


def formulas(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Formulas over a claim's names: random compositions of the names and plain numbers
    (often valid, so the symbolic and Monte Carlo steps run), fixed hostile formulas,
    compositions with hostile atoms, and arbitrary text."""
    plain = st.sampled_from([*names, "1", "2", "pi", "E"])
    hostile = st.sampled_from([*names, *HOSTILE_ATOMS])
    return st.one_of(st.recursive(plain, _combine, max_leaves=12),
                     st.sampled_from(HOSTILE_FORMULAS),
                     st.recursive(hostile, _combine, max_leaves=24),
                     st.text(max_size=60))


CLAIM_NAMES = {"engine.isserlis-fourth": ("sigma_x", "sigma_y", "r"),
               "grad.value-norm": ("n", "d", "d_k", "d_v", "sigma_v", "rho", "s"),
               "forward.attention-gram-update": ("n", "d", "alpha_1", "sigma_v", "rho", "s"),
               "grad.query-norm-uniform": ("n", "d", "d_k", "d_v", "sigma_k", "sigma_v", "rho",
                                           "s")}
BAD_CLAIM_IDS = st.sampled_from(["nope", "", "grad.*", "../x", "grad.value-norm "])
BAD_SEEDS = st.sampled_from(["-1", "1.5", "nan", "1e3", "x", "", str(10**40)])
BAD_TIMEOUTS = st.sampled_from(["0", "-1", "nan", "inf", "1e9", "abc", "", "0.0001"])


def _mostly(draw, good: object, bad: st.SearchStrategy) -> object:
    """``good`` four times in five, else a value drawn from ``bad``: each hostile part
    then meets a command that is otherwise valid and reaches the code behind it."""
    return good if draw(st.integers(0, 4)) else draw(bad)


@st.composite
def params_text(draw, names: tuple[str, ...]) -> str:
    """--params text: the claim's own names (mostly) with hostile or plain values."""
    keys = st.sampled_from(names) | PARAM_NAMES if draw(st.booleans()) else st.sampled_from(names)
    pairs = draw(st.lists(st.tuples(keys, NUMBERS), max_size=3))
    text = ",".join(f"{k}={v}" for k, v in pairs)
    return text if draw(st.integers(0, 9)) else draw(st.text(max_size=40))


STATEMENT_KEYS = {
    "id": '"fuzz.one"', "label": '"eq:one"', "section": '"1"', "title": '"one"',
    "formula": '"sigma_x^4 * (1 - rho)^2 * d_v * (n - 1) * (n + d_v)"',
    "relation": '"equals"', "quantity": '"tokens.centered_gram_norm"', "input": '"gaussian"',
}
HOSTILE_VALUES = ['""', "1", "-1", "1e999", "nan", "true", "[]", "{}", '"x"',
                  '"' + "a" * 5000 + '"', "[1, [2, [3]]]", '{ n = -1 }', '{ rho = [0, 9] }',
                  '"nope"', '"\\input"', '{ tau = 0 }', '{ d_k = "d_k" }', '{ zeta = 1 }',
                  '["uniform-attention", 1]']


@st.composite
def statement_files(draw) -> str:
    """A statement file built from a valid one: keys dropped, values made hostile, the
    formula from the hostile formulas, unknown keys added, or plain junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=300))
    table = dict(STATEMENT_KEYS)
    for key in draw(st.lists(st.sampled_from(sorted(table)), max_size=2, unique=True)):
        del table[key]
    for key in draw(st.lists(st.sampled_from([
            *sorted(STATEMENT_KEYS), "params", "domain", "fixed", "ties", "aliases",
            "assumptions", "init", "limit", "tolerance", "colour"]), max_size=2, unique=True)):
        table[key] = draw(st.sampled_from(HOSTILE_VALUES))
    if draw(st.booleans()):
        formula = draw(formulas(("n", "d_v", "rho", "sigma_x")))
        table["formula"] = '"' + formula.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = [f"{k} = {v}" for k, v in table.items()]
    return '[paper]\nid = "fuzz"\n\n[[statement]]\n' + "\n".join(lines) + "\n"


ARCH_VALUES = {
    "L": ["1", "2"], "n": ["2", "3"], "d": ["4", "6"], "d_k": ["2"], "d_v": ["3"], "d_ff": ["5"],
    "heads": ["1", "2"], "norm": ["none", "pre", "post"], "attention": ["softmax", "uniform"],
    "mask": ["none", "causal"], "mlp": ["none", "linear", "relu", "gelu", "tanh"],
    "alpha_1": ["1", "1/sqrt(L)", "0"], "alpha_2": ["0.5", "L^-1"], "sigma_v": ["0.3"],
    "sigma_1": ["1"], "temperature": ["inv_dk"],
}
HOSTILE_KEYS = ["zeta", "", " L", "L L", "__class__", "sigma_", "=", "L=1"]
HOSTILE_INPUTS = ["gram:", "gram:rho=2,s=1", "gram:rho=nan,s=1", "gram:rho=0.5,s=0",
                  "gaussian:rho=-1,sigma_x=1", "gaussian:sigma_x=inf", "rank-one:rho=1",
                  "gram:rho=0.5,rho=0.5", "gram;rho=1", ":", "", "x" * 300, "gram:s=1e400",
                  "gram:rho=0.5,s=1,t=2"]


@st.composite
def arch_specs(draw) -> str:
    """--arch text: a small valid architecture (so a valid run is quick) with keys given
    hostile values, unknown keys, or plain junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=60))
    table = {"L": "2", "n": "3", "d": "6"}
    for key in draw(st.lists(st.sampled_from(sorted(ARCH_VALUES)), max_size=4, unique=True)):
        hostile = st.sampled_from(HOSTILE_NUMBERS) | formulas(("L",))
        table[key] = _mostly(draw, draw(st.sampled_from(ARCH_VALUES[key])), hostile)
    if draw(st.integers(0, 4)) == 0:
        table[draw(st.sampled_from(HOSTILE_KEYS))] = draw(st.sampled_from(HOSTILE_NUMBERS))
    return ",".join(f"{k}={v}" for k, v in table.items())


@st.composite
def commands(draw) -> tuple[list[str], list[str], str | None]:
    """(argv, the output paths it asks for, relative to the working directory, and the
    text of the statement file it reads, if any)."""
    kind = draw(st.sampled_from(["check"] * 6 + ["verify"] * 3 + ["audit"] * 3
                                + ["propagate"] * 3 + ["calibrate", "derive", "list",
                                                       "options"]))
    claim = draw(st.sampled_from(CHEAP_CLAIMS))
    outputs = ["out/report.json"] if draw(st.booleans()) else []
    json_opt = ["--json", outputs[0]] if outputs else []
    seed = _mostly(draw, "7", BAD_SEEDS)
    params = draw(st.one_of(st.just([]), params_text(CLAIM_NAMES[claim]).map(
        lambda t: ["--params", t])))
    if kind == "check":
        argv = ["check", _mostly(draw, claim, BAD_CLAIM_IDS),
                draw(formulas(CLAIM_NAMES[claim])), "--budget",
                "quick", "--seed", seed, "--timeout", _mostly(draw, str(TIMEOUT), BAD_TIMEOUTS),
                *params, *json_opt]
    elif kind == "verify":
        argv = ["verify", "--claim", _mostly(draw, claim, BAD_CLAIM_IDS), "--budget", "quick",
                "--seed", seed, *params, *json_opt]
    elif kind == "audit":  # a statement file of the user's (written by the test below)
        argv = ["audit", STATEMENT_FILE, "--budget", "quick", "--seed", seed,
                "--timeout", _mostly(draw, str(TIMEOUT), BAD_TIMEOUTS), *json_opt]
        return argv, outputs, draw(statement_files())
    elif kind == "propagate":
        tokens = _mostly(draw, draw(st.sampled_from(["gram:rho=0.3,s=1", "rank-one",
                                                     "gaussian:rho=0.2,sigma_x=1"])),
                         st.sampled_from(HOSTILE_INPUTS) | st.text(max_size=30))
        argv = ["propagate", "--arch", draw(arch_specs()), "--input", tokens, "--budget",
                "quick", "--seed", seed, *json_opt]
    elif kind == "calibrate":  # only values the command must refuse: a valid run is long
        argv = ["calibrate", "--seeds", draw(st.sampled_from(["0", "-3", "nan", "x", "", "1e3",
                                                              "10000000", "2.5"]))]
    elif kind == "derive":  # an unknown claim: nothing may be written
        argv = ["derive", "--claim", draw(BAD_CLAIM_IDS), "--out", "out/derivations"]
    elif kind == "list":
        argv = ["list", *json_opt]
    else:  # a soup of options, ending in a word no command takes (a valid run is long)
        argv = draw(st.lists(st.sampled_from(["verify", "check", "--budget", "huge", "--seed",
                                              "--params", "--json", "--bogus", "-h", "--claim",
                                              "x", "=", "--timeout", "list", ""]),
                             max_size=5))
        argv.append(draw(st.sampled_from(["--bogus", "x", "="])))
        outputs = []
    return argv, outputs, None


def _run(argv: list[str]) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's -h/--help
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue(), time.perf_counter() - start


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow,
                                                        HealthCheck.filter_too_much])
@given(commands())
def test_hostile_input_ends_cleanly(tmp_path_factory, case) -> None:
    argv, outputs, statements = case
    work = tmp_path_factory.mktemp("fuzz")
    (work / "out").mkdir()
    if statements is not None:
        (work / STATEMENT_FILE).write_text(statements, encoding="utf-8", errors="replace")
        outputs = [*outputs, STATEMENT_FILE]
    cwd = os.getcwd()
    os.chdir(work)
    try:
        code, err, seconds = _run(argv)
    finally:
        os.chdir(cwd)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    assert err.count("\n") <= 3, (argv, err)
    if code == 2 and "-h" not in argv:
        assert err.startswith("sigprop: error: ") and err.count("\n") == 1, (argv, err)
    assert _files(work) <= set(outputs), (argv, _files(work))
    assert seconds < TIMEOUT + SLACK, (argv, seconds)
