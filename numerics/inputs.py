"""Token matrices X (rows are tokens) used as inputs of the networks.

    rank one          X = 1 x^T
    near rank one     X = 1 x^T + eps E
    exchangeable      x_k = sqrt(s) (sqrt(rho) g + sqrt(1 - rho) h_k),  g, h_k ~ N(0, I_d)
                      so that E x_k^T x_k' = s d (rho + (1 - rho) delta_kk')
    Gram-matched      a fixed X with X X^T = s d ((1 - rho) I + rho J) exactly
"""

from __future__ import annotations

import numpy as np

from architecture.validate import (
    check_correlation,
    check_finite,
    check_positive,
    check_positive_int,
)
from numerics.rng import normal_rows

TOKEN_STREAM = "tokens"


def as_tokens(x: object, name: str = "X") -> np.ndarray:
    """``x`` as a float64 array of shape (n, d) or (B, n, d) with finite entries."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"{name} must have shape (n, d) or (B, n, d) with sizes >= 1, "
                         f"got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must have finite entries, got NaN or infinity")
    return array


def rank_one_tokens(x: object, n: int) -> np.ndarray:
    """X = 1 x^T: n copies of the token x (shape (d,) or (B, d)) -> (n, d) or (B, n, d)."""
    n = check_positive_int("n", n)
    token = np.asarray(x, dtype=np.float64)
    if token.ndim not in (1, 2) or 0 in token.shape or not np.all(np.isfinite(token)):
        raise ValueError(f"x must be a finite array of shape (d,) or (B, d), got {token.shape}")
    return np.repeat(token[..., None, :], n, axis=-2)


def near_rank_one_tokens(x: object, perturbation: object, eps: float) -> np.ndarray:
    """X = 1 x^T + eps E with E = ``perturbation`` of shape (n, d) or (B, n, d)."""
    eps = check_finite("eps", eps)
    direction = as_tokens(perturbation, "perturbation")
    return rank_one_tokens(x, direction.shape[-2]) + eps * direction


def exchangeable_tokens(
    n: int, d: int, rho: float, s: float, count: int, seed: int, start: int = 0
) -> np.ndarray:
    """Exchangeable Gaussian tokens for samples start, ..., start + count - 1: (count, n, d).

    x_k = sqrt(s) (sqrt(rho) g + sqrt(1 - rho) h_k) with g, h_k ~ N(0, I_d) iid
    per sample; sample i depends only on (seed, i).
    """
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    rho = check_correlation("rho", rho)
    s = check_positive("s", s)
    draws = normal_rows(seed, TOKEN_STREAM, start, count,
                        [(d, np.sqrt(s * rho)), (n * d, np.sqrt(s * (1.0 - rho)))])
    tokens = draws[:, d:].reshape(count, n, d)
    tokens += draws[:, None, :d]
    return tokens


def dct_rows(size: int, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of the orthonormal DCT-II matrix of order ``size``.

    Row k: c_k cos(pi k (j + 1/2) / size), j = 0..size-1, with c_0 = sqrt(1/size)
    and c_k = sqrt(2/size) otherwise.  Rows k >= 1 sum to zero.
    """
    j = np.arange(size) + 0.5
    basis = np.cos(np.pi * np.outer(rows, j) / size) * np.sqrt(2.0 / size)
    basis[np.asarray(rows) == 0] /= np.sqrt(2.0)
    return basis


def gram_matched_tokens(n: int, d: int, rho: float, s: float) -> np.ndarray:
    """A deterministic X (n x d) with X X^T = s d ((1 - rho) I + rho J) up to rounding.

    X = sqrt(s d) ( sqrt(1 - rho) C F + sqrt(rho + (1 - rho)/n) 1 f_0^T ), where
    C (n x (n-1)) holds the non-constant orthonormal DCT columns over tokens
    (C C^T = P, C^T 1 = 0) and f_0, ..., f_{n-1} (F = f_1..f_{n-1}) are the
    orthonormal feature DCT rows 1, 2, ..., n (row d read as row 0), so every
    token has zero mean over features when n < d.  For rho < 1 this needs
    n <= d (the Gram has rank n); at rho = 1, X = sqrt(s d) 1 f_0^T for any n.
    """
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    rho = check_correlation("rho", rho)
    s = check_positive("s", s)
    if rho < 1.0 and n > d:
        raise ValueError(f"n must be <= d for rho < 1 (the Gram has rank n), got n={n}, d={d}")
    width = 1 if rho == 1.0 else n
    features = dct_rows(d, np.arange(1, width + 1) % d)
    mean_part = np.sqrt(rho + (1.0 - rho) / n) * features[0]
    tokens = np.broadcast_to(mean_part, (n, d)).copy()
    if width > 1:
        centered = dct_rows(n, np.arange(1, n)).T
        tokens += np.sqrt(1.0 - rho) * (centered @ features[1:])
    tokens *= np.sqrt(s * d)
    return tokens
