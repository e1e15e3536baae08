"""sigprop: derive moments of transformers at initialization and verify them.

Public API::

    from sigprop import registry, verify_claim
    claim = registry.get("engine.wick-trace")
    result = verify_claim(claim, params=None, budget="standard", seed=0)
    result.verdict  # "pass" | "fail" | "inconclusive"
"""

from sigprop import registry
from sigprop.harness import Result, verify_claim, verify_claims

__all__ = ["Result", "registry", "verify_claim", "verify_claims"]
