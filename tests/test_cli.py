"""The command line: exit codes, one-line errors, reports, and `check`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sigprop.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sigprop.cli", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args, needle", [
    (["verify", "--claim", "nope"], "unknown claim id 'nope'"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "n=0"], "n must be"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "sigma_k=-1"], "sigma_k must"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "rho=1.5"], "rho must be"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "rho=nan"], "rho must be"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "d=inf"], "d must be"),
    (["verify", "--claim", "grad.query-norm-uniform", "--params", "n=9,d=8"], "n must be <= d"),
    (["verify", "--params", "zeta=1"], "unknown parameter zeta"),
    (["verify", "--params", "n"], "name=value"),
    (["verify", "--budget", "huge"], "invalid choice"),
    (["check", "grad.query-norm-uniform", "__import__('os').system('echo pwned')"],
     "unexpected character"),
    (["check", "grad.query-norm-uniform", "n.__class__"], "unexpected character"),
    (["check", "grad.query-norm-uniform", "foo(n)"], "unknown name 'foo'"),
    (["check", "grad.query-norm-uniform", "n**(10**10)"], "exponent"),
    (["check", "grad.query-norm-uniform", "(n+1"], "malformed"),
    (["bogus"], "invalid choice"),
    (["verify", "--seed", "-1"], "seed must be an integer >= 0"),
    (["calibrate", "--seeds", "0"], "--seeds must be an integer in [1, 1000]"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigprop: error: "), err
    assert needle in err
    assert "Traceback" not in err


def test_hostile_expression_is_not_evaluated(tmp_path, capsys) -> None:
    marker = tmp_path / "pwned"
    code = main(["check", "grad.query-norm-uniform", f"__import__('os').mkdir('{marker}')"])
    assert code == 2 and not marker.exists()


def test_verify_json_and_markdown(tmp_path) -> None:
    md = tmp_path / "r.md"
    proc = run("verify", "--claim", "forward.attention-gram-update", "--budget", "quick",
               "--json", "-", "--markdown", str(md))
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["results"][0]["verdict"] == "pass"
    assert "forward.attention-gram-update" in md.read_text()


def test_list_json() -> None:
    proc = run("list", "--json", "-")
    ids = [row["id"] for row in json.loads(proc.stdout)]
    assert "grad.query-value-ratio" in ids and proc.returncode == 0


def test_check_accepts_the_right_formula_in_latex(capsys) -> None:
    code = main(["check", "grad.query-value-ratio",
                 r"\frac{\sigma_k^2 \sigma_v^2 s^2 d^2 (1-\rho)^2 (n-1)}{n(1+(n-1)\rho)}",
                 "--budget", "quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "symbolic comparison: equal" in out


def test_check_refutes_n_for_n_minus_1_with_a_counterexample(capsys) -> None:
    code = main(["check", "grad.query-value-ratio",
                 "sigma_k^2 sigma_v^2 s^2 d^2 (1-rho)^2 n / (n (1 + (n-1) rho))"])
    out = capsys.readouterr().out
    assert code == 1
    assert "symbolic comparison: different" in out
    assert "counterexample point" in out and "verdict: fail" in out
