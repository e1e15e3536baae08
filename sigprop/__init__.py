"""sigprop: derive moments of transformers at initialization and verify them.

Public API::

    from sigprop import registry, verify_claim
    claim = registry.get("grad.query-value-ratio")
    result = verify_claim(claim, params=None, budget="standard", seed=0)
    result.verdict  # "pass" | "fail" | "inconclusive"

The names are loaded on first use, so that the command line can choose the
BLAS threading before NumPy is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"registry": "sigprop.registry", "Result": "sigprop.harness",
            "verify_claim": "sigprop.harness", "verify_claims": "sigprop.harness"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sigprop' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    return module if module.__name__.endswith(name) else getattr(module, name)
