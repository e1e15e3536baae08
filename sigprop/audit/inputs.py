"""Input models of a statement, the statistics of a fixed X, and degenerate inputs.

Input models:

- ``fixed``: a token matrix X (n x d_v), given as ``params["X"]`` or, by
  default, a seeded pseudo-random Gaussian matrix of scale sigma_x (a generic
  X: no structure that could hide a mistake);
- ``rank-one``: X = 1 x^T with a seeded pseudo-random x of scale sigma_x;
- ``gaussian``: the exchangeable Gaussian tokens of the paper's Sec. 3.4,
  rows with covariance sigma_x^2 ((1 - rho) I + rho J), independent features.

A statement may state conditions on X (``equal-token-norms``); every X it
sees, given or generated, is first projected onto them.

``FAMILIES`` are the degenerate and extreme inputs the counterexample search
tries besides random points: each says which property of X it breaks, so
that a statement failing only there "needs" the condition it breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

INPUTS = ("fixed", "rank-one", "gaussian")
CONDITIONS = ("equal-token-norms",)


def check_input(kind: object, where: str) -> str:
    if kind not in INPUTS:
        raise ValueError(f"{where}: input must be one of {', '.join(INPUTS)}, got {kind!r}")
    return str(kind)


def check_conditions(values: object, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(v in CONDITIONS for v in values):
        raise ValueError(f"{where}: conditions must be a list of {', '.join(CONDITIONS)}, "
                         f"got {values!r}")
    return tuple(values)


def _rng(n: int, d_v: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(n), int(d_v), salt])


def apply_conditions(x: np.ndarray, conditions: tuple[str, ...]) -> np.ndarray:
    """X projected onto the stated conditions (equal token norms: every row rescaled to
    the root mean square norm of the rows)."""
    if "equal-token-norms" in conditions:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if np.all(norms > 0):
            x = x / norms * np.sqrt(np.mean(norms**2))
    return x


def default_tokens(kind: str, n: int, d_v: int, sigma_x: float,
                   conditions: tuple[str, ...] = ()) -> np.ndarray:
    """The statement's X when none is given (seeded by n and d_v, so reproducible)."""
    z = _rng(n, d_v, 2022).standard_normal((n, d_v)) * sigma_x
    if kind == "rank-one":
        z = np.ones((n, 1)) * z[:1]
    return apply_conditions(z, conditions)


def check_tokens(x: object, n: int, d_v: int) -> np.ndarray:
    """A user's X: a finite real matrix of shape (n, d_v)."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"X must be a real matrix of shape ({n}, {d_v})") from None
    if array.shape != (n, d_v):
        raise ValueError(f"X must have shape ({n}, {d_v}) (n, d_v), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("X must have finite entries, got NaN or infinity")
    return array


def statistics(x: np.ndarray, i: int = 1, j: int = 2) -> dict[str, float]:
    """The named statistics of X (theory.statistics), tokens i, j counted from 1."""
    n = x.shape[0]
    g = x @ x.T
    ones = g.sum(axis=1)
    centred = x - x.mean(axis=0)
    c = centred.T @ centred
    scale = float(np.trace(g))
    # a statistic that is zero up to rounding is zero: C(X) of tokens summing to zero, the
    # centred parts of a rank-one X (limits can jump there, so rounding must not decide)
    total = _snap(float(ones.sum()), n * scale)
    spread = _snap(float(np.sum(centred * centred)), scale)
    return {
        "X_F2": scale, "C_X": total, "xbar_sq": total / n**2, "PX_F2": spread,
        "XtLX_F2": _snap(float(np.sum(c * c)), scale**2), "G_F2": float(np.sum(g * g)),
        "G1_sq": float(ones @ ones),
        "Xi_sq": float(g[i - 1, i - 1]) if 1 <= i <= n else float("nan"),
        "Xj_sq": float(g[j - 1, j - 1]) if 1 <= j <= n else float("nan"),
        "XiXj": float(g[i - 1, j - 1]) if 1 <= i <= n and 1 <= j <= n else float("nan"),
    }


def _snap(value: float, scale: float) -> float:
    return 0.0 if abs(value) <= 1e-12 * scale else value


@dataclass(frozen=True)
class Family:
    """Degenerate inputs: ``build(n, d_v, sigma_x, rng)`` gives an X; ``breaks`` says which
    property of X it lacks (the condition a statement would need if it fails here)."""

    name: str
    description: str
    breaks: str
    build: Callable[[int, int, float, np.random.Generator], np.ndarray]


def _gaussian(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n, d)) * s


def _correlated(rho: float) -> Callable:
    def build(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
        shared = rng.standard_normal((1, d))
        return s * (np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((n, d)))
    return build


def _rank_one(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return np.ones((n, 1)) * rng.standard_normal((1, d)) * s


def _rank_one_unequal(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.2, 2.0, size=(n, 1)) * rng.standard_normal((1, d)) * s


def _zero_mean(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, d)) * s
    return x - x.mean(axis=0)


def _simplex(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """Tokens of equal norms that sum to zero (a regular simplex): the rows of the
    centring I - J/n in an orthonormal basis of their span, mapped into R^d by a random
    isometry (needs d >= n - 1; otherwise centred Gaussian rows)."""
    if d < n - 1:
        return _zero_mean(n, d, s, rng)
    centred = np.eye(n) - 1.0 / n
    basis = np.linalg.svd(centred)[0][:, : n - 1]
    isometry = np.linalg.qr(rng.standard_normal((d, n - 1)))[0].T
    return s * np.sqrt(d) * (centred @ basis) @ isometry


def _one_large(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, d)) * s
    x[0] *= 100.0
    return x


def _scaled(factor: float) -> Callable:
    def build(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, d)) * s * factor
    return build


def _near_rank_one(n: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    return s * (np.ones((n, 1)) * rng.standard_normal((1, d))
                + 1e-3 * rng.standard_normal((n, d)))


FAMILIES: tuple[Family, ...] = (
    Family("random", "Gaussian entries", "", _gaussian),
    Family("correlated-0.99", "tokens with correlation 0.99", "tokens are not nearly aligned",
           _correlated(0.99)),
    Family("near-rank-one", "X = 1 x^T + 1e-3 E", "X is not nearly rank one", _near_rank_one),
    Family("rank-one", "X = 1 x^T", "X is not 1 x^T", _rank_one),
    Family("rank-one-unequal", "X = a x^T with unequal a_k", "X is not a rank-one a x^T",
           _rank_one_unequal),
    Family("zero-mean", "mean token xbar = 0", "the mean token is nonzero (C(X) > 0)",
           _zero_mean),
    Family("simplex", "equal norms summing to zero", "the mean token is nonzero (C(X) > 0)",
           _simplex),
    Family("one-large-token", "one token 100 times longer", "token norms are comparable",
           _one_large),
    Family("large-scale", "entries of size 1e3", "the input scale is moderate", _scaled(1e3)),
    Family("tiny-scale", "entries of size 1e-3", "the input scale is moderate", _scaled(1e-3)),
)


def family_tokens(family: Family, n: int, d_v: int, sigma_x: float, seed: int,
                  conditions: tuple[str, ...]) -> np.ndarray:
    """An X of ``family`` (seeded), projected onto the stated conditions."""
    rng = np.random.default_rng([seed, int(n), int(d_v), FAMILIES.index(family)])
    return apply_conditions(family.build(n, d_v, sigma_x, rng), conditions)


def describe_tokens(x: np.ndarray) -> str:
    """A short description of X for reports."""
    stats = statistics(x)
    return (f"X {x.shape[0]}x{x.shape[1]}, ||X||_F^2 = {stats['X_F2']:.4g}, "
            f"||xbar||^2 = {stats['xbar_sq']:.4g}")


def tokens_as_list(x: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in x]


def statistic_point(point: Mapping[str, object]) -> dict[str, float]:
    """The scalar parameters of ``point`` and, if it holds an X, its statistics."""
    scalars = {k: float(v) for k, v in point.items() if k != "X"}
    if "X" in point:
        scalars.update(statistics(np.asarray(point["X"]), int(scalars.get("i", 1)),
                                  int(scalars.get("j", 2))))
    return scalars
