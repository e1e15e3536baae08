"""Planted mistakes and the calibration report."""

from __future__ import annotations

import pytest
import sympy as sp

from numerics.estimators import Estimate
from sigprop import registry
from sigprop.calibrate import SEED0, Rate, calibrate
from sigprop.claim import Claim, Derived, Ladder
from sigprop.claims.common import params
from sigprop.harness import verify_claim
from sigprop.mutations import CLASSES, check_points, plant


def test_each_mutation_class_applies_to_the_ratio_claim() -> None:
    claim = registry.get("grad.query-value-ratio")
    point = claim.point()
    truth = claim.theory(point)
    for kind in CLASSES:
        m = plant(claim, kind, point, floor=0.03)
        assert not isinstance(m, str), (kind, m)
        assert abs(m.derived.evaluate(point) - truth) >= 0.03 * truth * (1 - 1e-9)
    assert "n" in plant(claim, "n-1-as-n", point, 0.03).description


def test_mutation_that_cannot_apply_says_why() -> None:
    claim = registry.get("engine.isserlis-fourth")
    assert isinstance(plant(claim, "n-1-as-n", claim.point(), 0.03), str)


def test_calibration_machinery_on_one_claim() -> None:
    report = calibrate([registry.get("forward.attention-gram-update")], seeds=2, budget="standard")
    assert report.false_fail.runs == 2 and report.false_fail.hits == 0
    detected = report.detection["forward.attention-gram-update"]
    assert detected["coefficient"].runs == 2
    assert detected["coefficient"].hits == 2
    assert report.as_dict()["budget"] == "standard"
    z = report.as_dict()["z_scores"]["forward.attention-gram-update"]
    assert z["seeds"] == 2 and z["over_2.5"] == sum(abs(v) > 2.5 for v in z["z"])
    assert z["max_abs"] == max(abs(v) for v in z["z"]) < 5  # the correct theory


def test_z_score_is_the_results_own_discrepancy_in_standard_errors() -> None:
    """Calibration reads each result's z (its first look's, ``tests/test_harness.py``)."""
    claim = registry.get("forward.attention-gram-update")
    report = calibrate([claim], seeds=1, budget="quick")
    r = verify_claim(claim, budget="quick", seed=SEED0)
    assert report.z_scores[claim.id].values == [r.z]


def test_identity_claims_have_no_z_scores() -> None:
    report = calibrate([registry.get("grad.value-norm")], seeds=1, budget="quick")
    assert report.false_fail.runs == 1 and report.z_scores == {}


def _fading_claim() -> Claim:
    """An asymptotic toy: theory 1 + 1/d, estimates exactly equal to it."""
    d = sp.Symbol("d", positive=True)
    return Claim(
        id="toy.fading", title="toy", kind="asymptotic", section="test", statement="1 + 1/d",
        assumptions=(), params=params(d=16), derive=lambda: Derived(1 + 1 / d),
        estimator=lambda p, n, s: Estimate(mean=1 + 1 / p["d"], se=1e-3, n=n),
        ladder=Ladder("d", (16, 32, 64, 128), rate=1.0),
    )


def test_mistake_that_fades_with_width_is_not_counted_as_one_the_limit_shows() -> None:
    # dropping 1/d changes the value by 1/17 = 5.9% at d = 16 but 0.8% at d = 128,
    # and nothing at all in the limit the asymptotic check is about: the smallest
    # visible mistake is then dropping the 1 (effect d/(d+1), smallest at d = 16)
    claim = _fading_claim()
    assert [p["d"] for p in check_points(claim, claim.point())] == [16, 32, 64, 128]
    chosen = plant(claim, "dropped-term", claim.point(), floor=0.03)
    assert chosen.description == "dropped term 1"
    assert chosen.effect == pytest.approx(16 / 17)


def test_coefficient_mistake_is_three_percent_of_an_iterated_prediction() -> None:
    # the Pre-LN theory iterates a derived increment; scaling the increment by 1.03
    # would move 1 - rho_L by only about 2%, so the planted mistake scales the prediction
    claim = registry.get("forward.pre-ln-correlation-growth")
    m = plant(claim, "coefficient", claim.point(), floor=0.03)
    assert not isinstance(m, str)
    for p in check_points(claim, claim.point()):
        assert m.derived.evaluate(p) / claim.derived.evaluate(p) == pytest.approx(1.03, rel=1e-12)


def test_measurement_is_blind_to_the_theory() -> None:
    """A planted mistake is measured on the correct theory's draws: the same pilots and
    first look on every rung (a second look, where either takes one, is the rest of the
    same plan)."""
    claim = registry.get("forward.scaled-residual-limit")
    wrong = plant(claim, "coefficient", claim.point(), floor=0.03)
    seen: dict[str, list] = {"right": [], "planted": []}

    def counting(name):
        def estimator(p, n, s):
            seen[name].append((n, s))
            return claim.estimator(p, n, s)
        return estimator

    right = verify_claim(claim.with_estimator(counting("right")), seed=7)
    planted = verify_claim(claim.with_derived(wrong.derived).with_estimator(
        counting("planted")), seed=7)
    rungs = len(claim.ladder.widths)
    assert seen["right"][:2 * rungs] == seen["planted"][:2 * rungs]
    assert right.verdict == "pass" and planted.verdict == "fail"


def test_calibration_reuses_the_draws_of_the_correct_theory() -> None:
    claim = registry.get("forward.scaled-residual-limit")
    calls = []

    def counting(p, n, s):
        calls.append((n, s))
        return claim.estimator(p, n, s)

    report = calibrate([claim.with_estimator(counting)], seeds=1, budget="quick")
    rungs = len(claim.ladder.widths)
    # pilots and first looks (and second looks where a theory takes them), each computed
    # once: every planted mistake reuses them
    assert len(calls) in (2 * rungs, 3 * rungs) and len(set(calls)) == len(calls)
    detected = report.detection[claim.id]
    # the quick budget promises 10% errors only, so the 3% coefficient is not planted
    assert {k for k, v in detected.items() if isinstance(v, Rate)} == {
        "dropped-term", "wrong-power"}
    assert all(v.hits == v.runs == 1 for v in detected.values() if isinstance(v, Rate))
