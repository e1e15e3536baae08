"""The model a statement assumes: attention, initialization, residual scaling.

``Model`` is what a statement file's ``assumptions`` and ``init`` select:

- attention ``uniform`` (the paper's Assumption 3.1: A = J/n, softmax
  Jacobian at uniform attention) or ``softmax`` (the real network);
- init ``free`` (the weight variances are parameters), ``xavier``
  (sigma_v^2 = sigma_1^2 = sigma_2^2 = 1/d_v, sigma_q^2 = sigma_k^2 = 1/d_k) or
  ``glorot`` (sigma_q^2 = sigma_k^2 = 2/(d_v + d_k), values 1/d_v);
- residual ``constant`` (alpha_1, alpha_2) or ``depth-scaled``
  (alpha_i^2 = alpha_i_tilde / L).

The initialization rules are written once, as functions of a mapping of
sizes, and serve both engines: the theory applies them to SymPy symbols, the
Monte Carlo to numbers. The feed-forward width is d_F = d_v throughout (the
paper's W^{F1}, W^{F2} are d_v x d_v).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

ATTENTIONS = ("uniform", "softmax")
INITS = ("free", "xavier", "glorot")
RESIDUALS = ("constant", "depth-scaled")
ASSUMPTIONS = ("uniform-attention",)

Rule = Callable[[Mapping[str, object]], object]

#: init -> weight name -> variance as a function of the sizes
VARIANCES: dict[str, dict[str, Rule]] = {
    "free": {},
    "xavier": {"sigma_q": lambda p: 1 / p["d_k"], "sigma_k": lambda p: 1 / p["d_k"],
               "sigma_v": lambda p: 1 / p["d_v"], "sigma_1": lambda p: 1 / p["d_v"],
               "sigma_2": lambda p: 1 / p["d_v"]},
    "glorot": {"sigma_q": lambda p: 2 / (p["d_v"] + p["d_k"]),
               "sigma_k": lambda p: 2 / (p["d_v"] + p["d_k"]),
               "sigma_v": lambda p: 1 / p["d_v"], "sigma_1": lambda p: 1 / p["d_v"],
               "sigma_2": lambda p: 1 / p["d_v"]},
}
#: the feed-forward weights are free parameters of no statement: Xavier unless the init
#: says otherwise
FEED_FORWARD_DEFAULT = {"sigma_1": lambda p: 1 / p["d_v"], "sigma_2": lambda p: 1 / p["d_v"]}


@dataclass(frozen=True)
class Model:
    attention: str = "softmax"
    init: str = "free"
    residual: str = "constant"

    def __post_init__(self) -> None:
        for name, value, allowed in (("attention", self.attention, ATTENTIONS),
                                     ("init", self.init, INITS),
                                     ("residual", self.residual, RESIDUALS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @property
    def fixed(self) -> frozenset[str]:
        """Weight standard deviations the initialization fixes (not parameters)."""
        return frozenset(VARIANCES[self.init])

    def variances(self) -> dict[str, Rule]:
        """Every weight variance this model fixes, the feed-forward ones included."""
        return {**FEED_FORWARD_DEFAULT, **VARIANCES[self.init]}

    def with_softmax(self) -> Model:
        """The same model without the uniform-attention assumption."""
        return replace(self, attention="softmax")

    @classmethod
    def from_assumptions(cls, assumptions: tuple[str, ...], init: str,
                         residual: str) -> Model:
        unknown = [a for a in assumptions if a not in ASSUMPTIONS]
        if unknown:
            raise ValueError(f"assumptions must be among {', '.join(ASSUMPTIONS)}, "
                             f"got {unknown[0]!r}")
        attention = "uniform" if "uniform-attention" in assumptions else "softmax"
        return cls(attention=attention, init=init, residual=residual)
