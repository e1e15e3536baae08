"""The parameters a paper's statements may use, named with the paper's symbols.

A statement file names its parameters from this table; it may give other
defaults and narrow a domain (never widen it). ``test_low``/``test_high``
bound the values that the counterexample search and the tests draw.
"""

from __future__ import annotations

from sigprop.params import Param


def _real(name: str, default: float, low: float, high: float, test: tuple[float, float],
          low_open: bool = False, doc: str = "") -> Param:
    return Param(name, default, low=low, high=high, low_open=low_open, test_low=test[0],
                 test_high=test[1], doc=doc)


def _size(name: str, default: int, low: int, high: int, test: tuple[int, int],
          doc: str) -> Param:
    return Param(name, default, integer=True, low=low, high=high, test_low=test[0],
                 test_high=test[1], doc=doc)


PAPER_PARAMS: dict[str, Param] = {p.name: p for p in (
    _size("n", 4, 2, 64, (2, 8), "tokens"),
    _size("d_v", 8, 1, 1024, (1, 16), "token and value width"),
    _size("d_k", 8, 1, 65_536, (1, 16), "query and key width"),
    _size("L", 4, 1, 10_000, (1, 12), "depth"),
    _size("i", 1, 1, 64, (1, 2), "a token (counted from 1)"),
    _size("j", 2, 1, 64, (1, 2), "a token (counted from 1)"),
    _real("alpha_1", 1.0, 0.0, 10.0, (0.0, 2.0), doc="attention residual scale"),
    _real("alpha_2", 1.0, 0.0, 10.0, (0.0, 2.0), doc="feed-forward residual scale"),
    _real("alpha_1_tilde", 1.0, 0.0, 10.0, (0.0, 3.0), doc="alpha_1^2 L"),
    _real("alpha_2_tilde", 1.0, 0.0, 10.0, (0.0, 3.0), doc="alpha_2^2 L"),
    _real("sigma_x", 1.0, 0.0, 1e3, (0.2, 3.0), low_open=True, doc="token scale"),
    _real("rho", 0.5, 0.0, 1.0, (0.0, 0.95), doc="token correlation"),
    _real("tau", 1.0, 0.0, 100.0, (0.2, 3.0), low_open=True, doc="inverse temperature"),
    _real("sigma_q", 1.0, 0.0, 100.0, (0.2, 2.0), low_open=True, doc="query weight sd"),
    _real("sigma_k", 1.0, 0.0, 100.0, (0.2, 2.0), low_open=True, doc="key weight sd"),
    _real("sigma_v", 1.0, 0.0, 100.0, (0.2, 2.0), low_open=True, doc="value weight sd"),
)}


def narrowed(base: Param, default: object | None, domain: object | None, where: str) -> Param:
    """``base`` with another default and/or a narrower [low, high] from a statement file."""
    low, high = base.low, base.high
    if domain is not None:
        if (not isinstance(domain, list) or len(domain) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in domain)):
            raise ValueError(f"{where}: domain of {base.name} must be [low, high], got {domain!r}")
        low, high = float(domain[0]), float(domain[1])
        base.validate(low if not base.low_open or low != base.low else high)
        base.validate(high)
        if low > high:
            raise ValueError(f"{where}: domain of {base.name} has low > high: {domain!r}")
    test_low = max(low, base.test_low) if base.test_low is not None else low
    test_high = min(high, base.test_high) if base.test_high is not None else high
    if test_low > test_high:
        test_low, test_high = low, high
    out = Param(base.name, base.default, integer=base.integer, low=low, high=high,
                low_open=base.low_open and low == base.low, test_low=test_low,
                test_high=test_high, doc=base.doc)
    if default is not None:
        try:
            value = out.validate(default)
        except ValueError as exc:
            raise ValueError(f"{where}: default {exc}") from None
        out = Param(**{**out.__dict__, "default": value})
    else:
        try:
            out.validate(out.default)
        except ValueError:
            out = Param(**{**out.__dict__, "default": out.low if out.low is not None else 0})
    return out
