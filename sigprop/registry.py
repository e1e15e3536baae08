"""The claim registry: every checkable claim, by stable id.

Claims are defined in the modules of :mod:`sigprop.claims`; each module
exposes ``CLAIMS``, a tuple of :class:`~sigprop.claim.Claim`. Adding a claim
there adds it to ``sigprop list``/``verify`` and to the test suite.
"""

from __future__ import annotations

from functools import cache

from sigprop.claim import Claim
from sigprop.claims import CLAIM_MODULES


@cache
def _by_id() -> dict[str, Claim]:
    table: dict[str, Claim] = {}
    for module in CLAIM_MODULES:
        for claim in module.CLAIMS:
            if claim.id in table:
                raise RuntimeError(f"claim id {claim.id} is registered twice")
            table[claim.id] = claim
    return table


def claims() -> list[Claim]:
    """Every registered claim, in registration order."""
    return list(_by_id().values())


def ids() -> list[str]:
    return list(_by_id())


def get(claim_id: str) -> Claim:
    """The claim with this id; ValueError naming the known ids otherwise."""
    try:
        return _by_id()[claim_id]
    except KeyError:
        raise ValueError(
            f"unknown claim id {claim_id!r}; known ids: {', '.join(_by_id())}"
        ) from None
