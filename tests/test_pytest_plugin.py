"""The pytest plugin: each statement of a *.sigprop.toml file is a test item."""

from __future__ import annotations

PAPER = '[paper]\nid = "mine"\ntitle = "My paper"\n\n'
TEMPLATE = """[[statement]]
id = "{id}"
label = "eq:{id}"
section = "1"
title = "{id}"
formula = "{formula}"
relation = "equals"
quantity = "{quantity}"
input = "gaussian"
{extra}
"""
XLX = "{c} * sigma_x^4 * (1 - rho)^2 * d_v * (n - 1) * (n + d_v)"
GRAD_Q = "sigma_x^6 * (n - 1) / n * (1 - rho)^2 * d_v * (n + d_v)"
QUERIES = 'assumptions = ["uniform-attention"]\ninit = "xavier"\nfixed = { tau = 1 }\n' \
          'ties = { d_k = "d_v" }\n'


def statement(id_: str, formula: str, quantity: str = "tokens.centered_gram_norm",
              extra: str = "") -> str:
    return TEMPLATE.format(id=id_, formula=formula, quantity=quantity, extra=extra)


def test_verdicts_become_outcomes(pytester) -> None:
    # "close" and "too-far" are one approximate statement at one point (correction
    # 4(1 - rho)/(n d_v) = 6%), so the tolerance alone decides; at d_v = 8 the quick
    # budget confirms the derivation by Monte Carlo in 60 runs out of 60 (at d_v = 3
    # the quantity's heavy tails left 1 in 10 inconclusive)
    text = PAPER + "".join([
        statement("right", XLX.format(c=1)),
        statement("wrong", XLX.format(c="1.03")),
        statement("close", GRAD_Q, "attention.query_gradient_norm", QUERIES
                  + "tolerance = 0.2\nparams = { n = 4, d_v = 8 }"),
        statement("too-far", GRAD_Q, "attention.query_gradient_norm", QUERIES
                  + "tolerance = 0.01\nparams = { n = 4, d_v = 8 }"),
    ])
    pytester.makefile(".sigprop.toml", mine=text)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "sigprop_budget=quick")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*wrong*false*", "*too-far*approximate*"])


def test_a_broken_file_is_a_collection_error(pytester) -> None:
    pytester.makefile(".sigprop.toml", broken=PAPER + statement("bad", "zeta * n"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown name 'zeta'*"])
