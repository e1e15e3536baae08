"""Gaussian weights drawn only as far as a forward pass sees them.

A forward pass uses a weight matrix W (rows x cols, entries iid N(0, std^2), drawn
independently of its input) once, as X W for the token matrix X (n x rows) that
reaches it. Given X, the rows of X W are jointly Gaussian with

    X W ~ N(0, std^2 (X X^T) (x) I_cols),

so X W has the law of std R Z with R R^T = X X^T (any root of the n x n Gram) and Z
an n x cols matrix of fresh standard normals. Drawing Z instead of W takes n cols
normals instead of rows cols, and R Z costs n^2 cols instead of n rows cols: for a
few tokens at large width (n << d) the network costs O(n d) per weight instead of
O(d^2). The joint law of everything the forward pass computes is exactly the
brute-force law (each weight is independent of the past, so conditioning on the
past is the same as conditioning on X). A backward pass would also need W outside
the span of X's rows, so lazy weights refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def gram_root(x: np.ndarray) -> np.ndarray:
    """R (..., n, n) with R R^T = x x^T for x (..., n, k): the symmetric root, so a
    rank-deficient Gram (equal or zero tokens) is handled exactly."""
    gram = x @ np.swapaxes(x, -1, -2)
    values, vectors = np.linalg.eigh(gram)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]) @ np.swapaxes(
        vectors, -1, -2)


@dataclass(frozen=True)
class LazyGaussian:
    """A weight of B networks (shape (B, [H,] rows, cols), iid N(0, std^2)) held as the
    standard normals ``normals`` (B, [H,] n, cols) of its image under the token matrix
    that multiplies it."""

    std: float
    normals: np.ndarray
    rows: int

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.normals.shape[:-2], self.rows, self.normals.shape[-1])

    def __getitem__(self, index: object) -> LazyGaussian:
        """Index the leading (batch, head) axes, as for the dense weight."""
        return LazyGaussian(self.std, self.normals[index], self.rows)

    def left(self, x: np.ndarray) -> np.ndarray:
        """x @ W in distribution, for x (..., n, rows) broadcasting with the weight."""
        if x.shape[-1] != self.rows:
            raise ValueError(f"a token matrix of width {x.shape[-1]} cannot multiply a weight "
                             f"with {self.rows} rows")
        return self.std * (gram_root(x) @ self.normals)


Weight = np.ndarray | LazyGaussian


def times(x: np.ndarray, w: Weight) -> np.ndarray:
    """x @ W: the product for a dense weight, its exact-in-law draw for a lazy one."""
    return w.left(x) if isinstance(w, LazyGaussian) else x @ w


def dense(w: Weight | None, what: str) -> np.ndarray | None:
    """The dense weight; a lazy one is refused (a backward pass needs all of W)."""
    if isinstance(w, LazyGaussian):
        raise ValueError(f"{what} needs the whole weight matrix: run it on weights drawn in "
                         f"full (lazy=False)")
    return w
