"""``sigprop propagate`` and its SPEC/INPUT parsers.

The command's JSON follows the documented schema (layers 1..L in order, n x n
Gram lists); an exact stack passes against its own simulation; a SPEC given as
key=value pairs and as a TOML file describes the same model; the defaults are the
paper's Xavier values; and bad SPEC or INPUT text is refused with exit 2 and one
line that names the problem (the library raises ValueError with that line).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from sigprop.arch_spec import parse_arch, parse_input
from sigprop.cli import main


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_json_report_follows_the_schema_and_an_exact_stack_passes(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    # the standard budget: the quick one plans equivalence with too little power for
    # "every comparison passes" to hold on any stream (an inconclusive layer is legitimate)
    code, _, err = run(["propagate", "--arch", "L=3,n=3,d=6,attention=uniform,mlp=linear,"
                        "mask=causal,alpha_1=1/sqrt(L)", "--input", "gram:rho=0.3,s=2",
                        "--budget", "standard", "--seed", "4", "--json", str(report)])
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["arch"]["mask"] == "causal" and data["input"] == {"kind": "gram", "rho": 0.3,
                                                                  "s": 2.0}
    assert [layer["layer"] for layer in data["layers"]] == [1, 2, 3]
    for layer in data["layers"]:
        for key in ("gram_theory", "gram_estimate", "gram_se"):
            assert len(layer[key]) == 3 and all(len(row) == 3 for row in layer[key])
        assert layer["how"] == "exact"
        assert set(layer["verdicts"]) >= {"gram", "mean_norm", "correlation"}
        assert set(layer["verdicts"].values()) == {"pass"}
        for key in ("correlation", "mean_norm"):
            assert {"theory", "estimate", "se", "verdict"} <= set(layer[key])
    first = data["layers"][0]["gram_theory"]
    assert first[0][0] > 0 and math.isclose(first[0][1], first[1][0])


def test_a_toml_spec_is_the_same_model_as_its_pairs(tmp_path: Path) -> None:
    pairs = "L=2,n=3,d=8,heads=2,norm=post,mlp=gelu,alpha_2=0.5,sigma_v=0.3"
    path = tmp_path / "arch.toml"
    path.write_text('L = 2\nn = 3\nd = 8\nheads = 2\nnorm = "post"\nmlp = "gelu"\n'
                    'alpha_2 = 0.5\nsigma_v = 0.3\n')
    assert parse_arch(str(path)).model() == parse_arch(pairs).model()


def test_the_defaults_are_the_papers_xavier_block() -> None:
    block = transformer_block(xavier_attention(32), xavier_mlp(32, "relu"), "none")
    assert parse_arch("").model() == Model(4, 32, (block,) * 4)


def test_alpha_is_a_formula_in_the_depth() -> None:
    spec = parse_arch("L=16,alpha_1=1/sqrt(L),alpha_2=2^-2")
    assert spec.alpha("alpha_1") == pytest.approx(0.25)
    assert spec.alpha("alpha_2") == pytest.approx(0.25)


@pytest.mark.parametrize(("arch", "tokens", "message"), [
    ("L=0", "rank-one", "L must be an integer in [1, 128]"),
    ("L=2,L=3", "rank-one", "--arch sets L twice"),
    ("depth=3", "rank-one", "unknown architecture key 'depth'"),
    ("norm=mid", "rank-one", "norm must be one of none, pre, post"),
    ("mlp=swish", "rank-one", "mlp must be one of"),
    ("sigma_v=-1", "rank-one", "sigma_v must be a finite number >= 0"),
    ("alpha_1=-1", "rank-one", "alpha_1 must be >= 0"),
    ("alpha_1=__import__('os')", "rank-one", "alpha_1"),
    ("L", "rank-one", "--arch must be key=value pairs"),
    ("missing.toml", "rank-one", "cannot read architecture file"),
    ("L=2", "gram:rho=2,s=1", "rho"),
    ("L=2", "gaussian:rho=0.5,sigma_x=0", "sigma_x"),
    ("L=2", "uniform", "--input"),
])
def test_bad_input_exits_2_with_one_line(arch: str, tokens: str, message: str) -> None:
    code, _, err = run(["propagate", "--arch", arch, "--input", tokens, "--budget", "quick"])
    assert code == 2
    assert err.startswith("sigprop: error: ") and err.count("\n") == 1, err
    assert message in err, err
    with pytest.raises(ValueError) as raised:  # the library says the same, in the same order
        parse_arch(arch)
        parse_input(tokens)
    assert str(raised.value) == err.removeprefix("sigprop: error: ").rstrip("\n")


def test_plot_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "depth.png"
    code, _, err = run(["propagate", "--arch", "L=2,n=2,d=4,attention=uniform,mlp=none",
                        "--input", "rank-one", "--budget", "quick", "--plot", str(plot)])
    assert code == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
