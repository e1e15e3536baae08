"""Verification budgets: how hard each check tries, set by a power calculation.

A budget fixes what a run must be able to see, not a sample count:
``detect`` is the relative error that must be caught (fail verdict) with
probability ``power`` at the family-wise level, and ``margin_scale`` scales
each claim's equivalence margin delta. The sample size of every exact check
then follows from a pilot estimate of the per-sample coefficient of
variation cv = sd/|pilot mean| (the theory value is never consulted, so the
plan is blind to the claim it is compared with):

    N_detect = ((z_{1-w alpha_fw/(2 m)} + z_power) * cv / detect)^2
    N_equiv  = ((z_{1-w alpha_eq} + z_{1-(1-power)/2}) * cv / delta)^2
    N        = min(max(N_detect, N_equiv, pilot), max_samples)

with m the number of checks in the run (the strictest Holm level) and w the share of
each level that the look judging all N samples spends: an exact check or a ladder
takes up to three looks (``SPEND``; half of N, then the rest only when the first half
has not decided the verdict, which then depends on the theory), so w = SPEND[1]; a
trend check takes one (w = 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    name: str
    detect: float
    power: float
    margin_scale: float
    pilot: int
    max_samples: int
    identity_draws: int


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", detect=0.10, power=0.95, margin_scale=2.5, pilot=400,
                    max_samples=200_000, identity_draws=4),
    "standard": Budget("standard", detect=0.03, power=0.99, margin_scale=1.0, pilot=2_000,
                       max_samples=2_000_000, identity_draws=16),
    "thorough": Budget("thorough", detect=0.01, power=0.999, margin_scale=0.5, pilot=8_000,
                       max_samples=40_000_000, identity_draws=64),
}

#: family-wise level of the fail verdict (Holm over all checks of a run)
ALPHA_FAIL = 1e-6
#: level of each equivalence test (TOST): pass means the (1 - 2 alpha) CI lies in the margin
ALPHA_EQUIV = 0.005
#: the looks of an exact check or a ladder (``sigprop.harness``), as the share of every
#: test's level each one spends (weighted Bonferroni: a test rejects at look k when its
#: p-value there is below SPEND[k] times its level). The first two carry the plan: half
#: the planned samples, then the rest when the first look has not decided. The third,
#: taken only when two leave the verdict open with the estimate inside the margin, grows
#: the run to 1.2 times what the margin needs were that estimate the truth.
SPEND = (0.45, 0.45, 0.10)


def get_budget(name: str) -> Budget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ValueError(
            f"budget must be one of {', '.join(BUDGETS)}, got {name!r}"
        ) from None
