"""Every registered claim, through hypothesis: adding a claim adds these tests.

For each claim: its theory is derived and finite on its domain, and the
harness never reports "fail" at random valid points (a correct claim fails
with probability <= 1e-6 per check by construction). At the default point
at the standard budget every claim must pass (seeded, so deterministic).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

from sigprop import registry, verify_claims
from sigprop.harness import verify_claim
from tests.strategies import claim_points

CLAIMS = registry.claims()
IDS = [c.id for c in CLAIMS]
# the ci profile draws a handful of points per claim; thorough draws many more
EXAMPLES = max(2, settings().max_examples // 12)


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_theory_is_finite_over_the_domain(claim) -> None:
    @settings(max_examples=4 * EXAMPLES)
    @given(claim_points(claim))
    def check(point):
        assert math.isfinite(claim.theory(point))

    check()


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.kind != "asymptotic"],
                         ids=[c.id for c in CLAIMS if c.kind != "asymptotic"])
def test_no_false_fail_at_random_points(claim) -> None:
    @settings(max_examples=EXAMPLES)
    @given(claim_points(claim))
    def check(point):
        result = verify_claim(claim, point, budget="quick", seed=1)
        assert result.verdict != "fail", (point, result)

    check()


def test_every_claim_passes_at_the_standard_budget() -> None:
    results = verify_claims([(c, None) for c in CLAIMS], budget="standard", seed=0)
    bad = [(r.claim_id, r.verdict, r.detail) for r in results if r.verdict != "pass"]
    assert not bad, bad
