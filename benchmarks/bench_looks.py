"""Samples a check spends in its sequential looks against the single-look plan.

Run: python3 benchmarks/bench_looks.py [--seeds 3] [--budget standard] [--claim ID ...]

For every exact and asymptotic claim of the registry (or the ``--claim`` ones) and seeds
0 .. seeds-1, the check is run as ``sigprop verify`` runs it (``sigprop.harness``: half
the planned samples, the rest only when the first half leaves the verdict open, a third
look only when two leave it open; for a ladder, half of every rung's plan first), and its
Monte Carlo samples (pilots and looks) are
set beside those of the single-look plan the same pilots give (``planned_samples`` with
one look: N = max(N_detect, N_equiv) at the unsplit levels; for a ladder, per rung, as
``_ladder_plan`` spreads the precision). The pilots are read back from the check's own
run (one ``shared`` block), so the comparison costs no extra Monte Carlo. Prints one row
per claim and the total.
"""

from __future__ import annotations

import argparse
import math
import time

from numerics.cache import shared
from sigprop import registry
from sigprop.budget import Budget, get_budget
from sigprop.claim import Claim
from sigprop.harness import _ladder_plan, _pilot, planned_samples, verify_claim


def _single_look(claim: Claim, plan: Budget, seed: int) -> tuple[int, int]:
    """(pilot samples, main samples of the single-look plan) of one check; the pilots come
    from memory when the check ran in the same ``shared`` block."""
    point = claim.point()
    if claim.ladder is None:
        pilot, cv = _pilot(claim, point, plan, seed, 0)
        return pilot.n, planned_samples(cv, claim, plan, 1) if 0 < cv < math.inf else 0
    ladder = claim.ladder
    pilots = [_pilot(claim, claim.point(ladder.at(point, w)), plan, seed, 2 * i)
              for i, w in enumerate(ladder.widths)]
    cvs = _ladder_plan(ladder, [cv for _, cv in pilots])
    main = sum(planned_samples(cv, claim, plan, 2) for cv in cvs if 0 < cv < math.inf)
    return sum(p.n for p, _ in pilots), main


def spent(claim_id: str, seeds: int, budget: str) -> tuple[int, int, int, float]:
    """(samples of the sequential checks, samples of the single-look plans, checks that
    stopped at the first look, seconds) over ``seeds`` seeds of one claim."""
    claim, plan = registry.get(claim_id), get_budget(budget)
    looked = single = first = 0
    t0 = time.perf_counter()
    for seed in range(seeds):
        with shared():
            result = verify_claim(claim, budget=budget, seed=seed)
            pilots, main = _single_look(claim, plan, seed)
        looked += pilots + (result.samples if main else 0)
        single += pilots + main
        first += bool(main) and result.samples < main
    return looked, single, first, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--claim", action="append", help="claim id (repeatable)")
    args = parser.parse_args()
    ids = args.claim or [c.id for c in registry.claims() if c.kind in ("exact", "asymptotic")]
    print(f"| claim | sequential looks | single look | ratio | stopped at the first look "
          f"({args.seeds} seeds) | seconds |")
    print("|---|---|---|---|---|---|")
    totals = [0, 0]
    for claim_id in ids:
        looked, single, first, seconds = spent(claim_id, args.seeds, args.budget)
        totals[0] += looked
        totals[1] += single
        print(f"| {claim_id} | {looked} | {single} | {looked / single:.2f} | {first} | "
              f"{seconds:.1f} |")
    print(f"| all | {totals[0]} | {totals[1]} | {totals[0] / totals[1]:.2f} | | |")


if __name__ == "__main__":
    main()
