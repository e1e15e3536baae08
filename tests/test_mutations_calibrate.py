"""Planted mistakes and the calibration report."""

from __future__ import annotations

from sigprop import registry
from sigprop.calibrate import calibrate
from sigprop.mutations import CLASSES, plant


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
