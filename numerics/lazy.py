"""Gaussian weights drawn only as far as a forward (and backward) pass sees them.

Forward only (``LazyGaussian``). A forward pass uses a weight matrix W (rows x cols,
entries iid N(0, std^2), drawn independently of its input) once, as X W for the token
matrix X (n x rows) that reaches it. Given X, the rows of X W are jointly Gaussian with

    X W ~ N(0, std^2 (X X^T) (x) I_cols),

so X W has the law of std R Z with R R^T = X X^T (any root of the n x n Gram) and Z
an n x cols matrix of fresh standard normals. Drawing Z instead of W takes n cols
normals instead of rows cols, and R Z costs n^2 cols instead of n rows cols: for a
few tokens at large width (n << d) the network costs O(n d) per weight instead of
O(d^2). The joint law of everything the forward pass computes is exactly the
brute-force law (each weight is independent of the past, so conditioning on the
past is the same as conditioning on X). A backward pass also needs W outside the span
of X's rows, so these weights refuse it.

Forward and backward (``TwoSidedGaussian``). A backward pass also needs dY W^T for the
cotangent dY (n x cols) of X W. Write X = R Q^T with Q (rows x n, rows > n) of
orthonormal columns whose span holds the rows of X (``Frame``: the Householder QR
X^T = Q R^T, orthonormal at any rank of X) and split

    W = Q (Q^T W) + (I - Q Q^T) W.

Given X, Q^T W = std Z (Z n x cols) and (I - Q Q^T) W are independent, with iid
N(0, std^2) coordinates, and X W = std R Z sees Z alone. Everything downstream of X W
depends on W only through Z, so given X and Z the cotangent dY is independent of the
complement, which is therefore a fresh draw W' projected: dY ((I - Q Q^T) W')^T =
dY W'^T (I - Q Q^T), and the columns of dY W'^T (n x rows) are iid N(0, std^2 dY dY^T).
Hence, exactly in law jointly with the forward,

    dY W^T = std [(dY Z^T - root(dY dY^T) G Q) Q^T + root(dY dY^T) G]

with G (n x rows) fresh standard normals: n (rows + cols) normals instead of rows cols,
O(n^2 (rows + cols)) flops instead of O(n rows cols). Each weight is used once forward
and once backward, so every Z and G enters one product. The weight gradient
dW = X^T dY needs no W at all (``Outer`` keeps it as its factors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _t(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


#: a Gram whose Cholesky pivot falls to this fraction of its largest diagonal entry is
#: rank-deficient to rounding: it gets the symmetric root instead
PIVOT_FLOOR = 1e-12


def gram_root(x: np.ndarray) -> np.ndarray:
    """R (..., n, n) with R R^T = x x^T for x (..., n, k); any root serves, since R Z has
    the law of x W for every one. Each Gram's Cholesky factor (``_cholesky``, a quarter
    of the cost of an eigendecomposition at n = 4 or 8) unless a pivot falls to
    PIVOT_FLOOR of its largest diagonal entry, else its symmetric root, so a
    rank-deficient Gram (equal or zero tokens) is handled exactly; for one token, its
    norm. Which root a Gram gets, and every bit of it, depends on that Gram alone, never
    on the rest of its batch (so chunking does not change the numbers)."""
    gram = x @ _t(x)
    if gram.shape[-1] == 1:
        return np.sqrt(gram)
    root, factored = _cholesky(gram)
    if not factored.all():
        values, vectors = np.linalg.eigh(gram[~factored])
        root[~factored] = (vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]
                           ) @ _t(vectors)
    return root


def _cholesky(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower-triangular L with L L^T = G for a batch of Grams G (..., n, n), column by
    column with the same arithmetic for every Gram (pivot_j = G_jj - sum_k<j L_jk^2,
    L_jj = sqrt(pivot_j), L_ij = (G_ij - sum_k<j L_ik L_jk) / L_jj), and whether each
    Gram's pivots stayed above PIVOT_FLOOR times its largest diagonal entry (where not,
    L is not its root). Batched LAPACK would be faster, but its whole batch fails when
    one Gram does, and factoring one Gram at a time on that path rounds differently."""
    n = gram.shape[-1]
    low = np.zeros_like(gram)
    floor = PIVOT_FLOOR * np.einsum("...ii->...i", gram).max(axis=-1)
    factored = np.ones(gram.shape[:-2], dtype=bool)
    for j in range(n):
        row = low[..., j, :j]
        pivot = gram[..., j, j] - np.einsum("...k,...k->...", row, row)
        clear = pivot > floor
        factored &= clear
        diagonal = np.sqrt(np.where(clear, pivot, 1.0))
        low[..., j, j] = diagonal
        column = gram[..., j + 1:, j] - np.einsum("...ik,...k->...i", low[..., j + 1:, :j], row)
        low[..., j + 1:, j] = column / diagonal[..., None]
    return low, factored


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

    def left(self, x: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
        """x @ W in distribution, for x (..., n, rows) broadcasting with the weight;
        ``root``: x's ``gram_root``, if the caller has it already."""
        if x.shape[-1] != self.rows:
            raise ValueError(f"a token matrix of width {x.shape[-1]} cannot multiply a weight "
                             f"with {self.rows} rows")
        return self.std * ((gram_root(x) if root is None else root) @ self.normals)


@dataclass(frozen=True)
class Frame:
    """A token matrix X (..., n, rows), rows >= n, as X = R Q^T: Q (..., rows, n) with
    orthonormal columns whose span holds the rows of X, R = X Q (..., n, n), from the
    Householder QR X^T = Q R^T (so Q is orthonormal whatever the rank of X)."""

    x: np.ndarray
    q: np.ndarray
    r: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Frame:
        n, rows = x.shape[-2:]
        if rows < n:
            raise ValueError(f"a frame needs at least as many columns as tokens, got {n} "
                             f"tokens of width {rows}")
        q, t = np.linalg.qr(_t(x))
        return cls(x, q, _t(t))

    def holds(self, x: np.ndarray) -> bool:
        """Whether ``x`` is this frame's token matrix (the same memory, shape and strides)."""
        return x is self.x or (x.shape == self.x.shape and x.strides == self.x.strides
                               and x.__array_interface__["data"][0] ==
                               self.x.__array_interface__["data"][0])


@dataclass(frozen=True)
class TwoSidedGaussian:
    """A weight of B networks (shape (B, [H,] rows, cols), iid N(0, std^2), rows > n)
    held as standard normals: ``z`` (B, [H,] n, cols), its coordinates Q^T W / std in the
    frame Q of the token matrix that multiplies it, and ``g`` (B, [H,] n, rows), those of
    the complement as a backward pass sees it (module doc). Bound to that frame
    (``at``), it answers X W (``left``) and dY W^T (``right_transposed``)."""

    std: float
    z: np.ndarray
    g: np.ndarray
    frame: Frame | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.z.shape[:-2], self.g.shape[-1], self.z.shape[-1])

    def __getitem__(self, index: object) -> TwoSidedGaussian:
        """Index the leading (batch, head) axes of an unbound weight, as for a dense one."""
        if self.frame is not None:
            raise ValueError("index a lazy weight before binding it to a token matrix")
        return TwoSidedGaussian(self.std, self.z[index], self.g[index])

    def at(self, frame: Frame) -> TwoSidedGaussian:
        """The weight bound to the token matrix of ``frame`` (it multiplies that one only)."""
        if frame.q.shape[-2:] != self.g.shape[-1:] + self.z.shape[-2:-1]:
            raise ValueError(f"a weight of shape {self.shape} for {self.z.shape[-2]} tokens "
                             f"cannot take a token matrix of shape {frame.x.shape[-2:]}")
        return TwoSidedGaussian(self.std, self.z, self.g, frame)

    def _bound(self) -> Frame:
        if self.frame is None:
            raise ValueError("a two-sided lazy weight must be bound to its token matrix (at)")
        return self.frame

    def left(self, x: np.ndarray) -> np.ndarray:
        """x @ W in distribution, x the bound token matrix: std R Z."""
        frame = self._bound()
        if not frame.holds(x):
            raise ValueError("a lazy weight bound to one token matrix cannot multiply another")
        return self.std * (frame.r @ self.z)

    def right_transposed(self, dy: np.ndarray) -> np.ndarray:
        """dy @ W^T in distribution, jointly with ``left`` (module doc), for the cotangent
        dy (..., n, cols) of the bound X W."""
        q = self._bound().q
        rooted = gram_root(dy) @ self.g
        return self.std * ((dy @ _t(self.z) - rooted @ q) @ _t(q) + rooted)


Weight = np.ndarray | LazyGaussian | TwoSidedGaussian


def seen_rows(w: Weight) -> int | None:
    """The rows of the token matrix a lazy weight was drawn for (None for a dense one)."""
    if isinstance(w, np.ndarray):
        return None
    return w.normals.shape[-2] if isinstance(w, LazyGaussian) else w.z.shape[-2]


def bind(x: np.ndarray, *weights: Weight | None) -> tuple[Weight | None, ...]:
    """The weights as a forward pass uses them on the token matrix x: two-sided lazy ones
    bound to x's frame (one QR for all of them), the others unchanged."""
    if not any(isinstance(w, TwoSidedGaussian) for w in weights):
        return weights
    frame = Frame.of(x)
    return tuple(w.at(frame) if isinstance(w, TwoSidedGaussian) else w for w in weights)


def times(x: np.ndarray, w: Weight) -> np.ndarray:
    """x @ W: the product for a dense weight, its exact-in-law draw for a lazy one."""
    return x @ w if isinstance(w, np.ndarray) else w.left(x)


def times_each(x: np.ndarray, weights: Sequence[Weight]) -> list[np.ndarray]:
    """[x @ W for W in weights], as ``times`` gives them, with the Gram root of x that
    every forward-only lazy weight needs computed once."""
    root = gram_root(x) if any(isinstance(w, LazyGaussian) for w in weights) else None
    return [w.left(x, root) if isinstance(w, LazyGaussian) else times(x, w) for w in weights]


def times_transposed(dy: np.ndarray, w: Weight) -> np.ndarray:
    """dy @ W^T for the cotangent dy of x @ W: the product for a dense weight, its
    exact-in-law draw for a two-sided lazy one; a forward-only lazy weight is refused."""
    if isinstance(w, LazyGaussian):
        raise ValueError("a backward pass needs the whole weight matrix: run it on weights "
                         "drawn in full or two-sided (numerics.weights, lazy=True)")
    return dy @ _t(w) if isinstance(w, np.ndarray) else w.right_transposed(dy)


@dataclass(frozen=True)
class Outer:
    """The gradient dW = X^T dY of a weight used as X W, kept as its factors X (..., n,
    rows) and dY (..., n, cols): it needs no W, and its norm needs no rows x cols array."""

    x: np.ndarray
    dy: np.ndarray

    def dense(self) -> np.ndarray:
        """X^T dY, (..., rows, cols)."""
        return _t(self.x) @ self.dy

    def squared_norm(self) -> np.ndarray:
        """||X^T dY||_F^2 = <X X^T, dY dY^T>_F = tr(X X^T dY dY^T), from the n x n Grams."""
        return np.einsum("...ij,...ij->...", self.x @ _t(self.x), self.dy @ _t(self.dy))
