"""Parameters shared by the claims, and small helpers to build claims.

Every claim takes its parameters by these names (the issue's contract):
n, d, d_k, d_v, d_ff, L, alpha_1, alpha_2, sigma_q, sigma_k, sigma_v,
sigma_1, sigma_2, rho, s. ``params(...)`` picks some of them and sets the
claim's defaults.
"""

from __future__ import annotations

import sympy as sp

from sigprop.params import Param, Point

_DOMAINS: dict[str, Param] = {
    "n": Param("n", 4, integer=True, low=2, high=512, test_low=2, test_high=8, doc="tokens"),
    "d": Param("d", 16, integer=True, low=1, high=4096, test_low=2, test_high=24, doc="width"),
    "d_k": Param("d_k", 8, integer=True, low=1, high=4096, test_low=1, test_high=12,
                 doc="query/key width"),
    "d_v": Param("d_v", 8, integer=True, low=1, high=4096, test_low=1, test_high=12,
                 doc="value width"),
    "d_ff": Param("d_ff", 32, integer=True, low=1, high=16384, test_low=1, test_high=48,
                  doc="MLP width"),
    "L": Param("L", 4, integer=True, low=1, high=1000, test_low=1, test_high=12, doc="depth"),
    "alpha_1": Param("alpha_1", 1.0, low=0.0, high=1e3, test_low=0.05, test_high=2.0),
    "alpha_2": Param("alpha_2", 1.0, low=0.0, high=1e3, test_low=0.05, test_high=2.0),
    **{f"sigma_{w}": Param(f"sigma_{w}", 1.0, low=0.0, high=1e3, low_open=True, test_low=0.2,
                           test_high=2.0) for w in ("q", "k", "v", "1", "2")},
    "rho": Param("rho", 0.5, low=0.0, high=1.0, test_low=0.0, test_high=0.9,
                 doc="token correlation"),
    "s": Param("s", 1.0, low=0.0, high=1e6, low_open=True, test_low=0.3, test_high=3.0,
               doc="token scale (variance per feature)"),
}


def params(**defaults: float) -> dict[str, Param]:
    """The named shared parameters with the given defaults (in the given order)."""
    out = {}
    for name, default in defaults.items():
        base = _DOMAINS[name]
        out[name] = Param(**{**base.__dict__, "default": default})
    return out


def custom(name: str, default: float, **domain: object) -> dict[str, Param]:
    """A parameter that is not shared (engine claims' own variables)."""
    return {name: Param(name, default, **domain)}


def symbol(name: str) -> sp.Symbol:
    """The SymPy symbol of parameter ``name`` (positive, as every size/scale is)."""
    return sp.Symbol(name, positive=True)


def n_at_most_d(point: Point) -> str | None:
    """The deterministic X with Gram s d ((1-rho)I + rho J) needs n <= d when rho < 1."""
    if point["rho"] < 1 and point["n"] > point["d"]:
        return f"n must be <= d when rho < 1 (X has rank n), got n={point['n']}, d={point['d']}"
    return None
