"""Parameter checks shared by every layer of the tool.

Each check raises ``ValueError`` with one line that names the parameter and
its allowed range, the message the CLI prints verbatim (exit code 2).
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float, refusing non-numbers, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return out


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, requiring an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float, requiring a finite number > 0."""
    out = check_finite(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float, requiring a finite number >= 0."""
    out = check_finite(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def check_correlation(name: str, value: object) -> float:
    """Return ``value`` as a float, requiring 0 <= value <= 1."""
    out = check_finite(name, value)
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return out
