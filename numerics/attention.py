"""Multi-head self-attention for a batch of networks, forward and backward.

Shapes: U (B, n, d) the attention input; per head h (B, H, ...):

    Q = U W^Q_h, K = U W^K_h, V = U W^V_h
    A = softmax_rows(tau Q K^T)      ("uniform": A = J/n, independent of W^Q, W^K)
    O = A V                          (B, H, n, d_v)

Backward of the scalar <O, dO>:

    dV = A^T dO,  dA = dO V^T,  dL = tau (diag(a) - a a^T) dA  (row by row)
    dQ = dL K,    dK = dL^T Q
    dW^Q = U^T dQ,  dW^K = U^T dK,  dW^V = U^T dV
    dU = sum_h dQ W^Q_h^T + dK W^K_h^T + dV W^V_h^T
Under uniform attention dW^Q = dW^K = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.layers import softmax_rows, softmax_rows_backward


@dataclass(frozen=True)
class AttentionCache:
    """What the backward needs: Q and K (None under uniform attention), V, A."""

    q: np.ndarray | None
    k: np.ndarray | None
    v: np.ndarray
    a: np.ndarray


@dataclass(frozen=True)
class AttentionGrads:
    """Cotangents of the input U and of the head weights (zeros for W^Q, W^K if
    uniform; None for those not asked for)."""

    u: np.ndarray | None
    wq: np.ndarray | None
    wk: np.ndarray | None
    wv: np.ndarray | None


def _transpose(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def attention_forward(
    u: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, tau: float, uniform: bool
) -> tuple[np.ndarray, AttentionCache]:
    """Head outputs O = A U W^V (B, H, n, d_v) and the cache; weights (B, H, d, .)."""
    heads = u[:, None]
    v = heads @ wv
    n = u.shape[-2]
    if uniform:
        a = np.full((*v.shape[:2], n, n), 1.0 / n)
        return a @ v, AttentionCache(None, None, v, a)
    q = heads @ wq
    k = heads @ wk
    logits = q @ _transpose(k)
    logits *= tau
    a = softmax_rows(logits)
    return a @ v, AttentionCache(q, k, v, a)


def attention_backward(
    u: np.ndarray,
    wq: np.ndarray,
    wk: np.ndarray,
    wv: np.ndarray,
    tau: float,
    cache: AttentionCache,
    do: np.ndarray,
    wrt: frozenset[str] = frozenset({"u", "wq", "wk", "wv"}),
) -> AttentionGrads:
    """Gradients of <O, dO> with respect to U and the weights of every head.

    Only the cotangents named in ``wrt`` (of u, wq, wk, wv) are computed; the
    others are None, and the matmuls that only they need are skipped.
    """
    ut = _transpose(u)[:, None]
    dv = _transpose(cache.a) @ do
    dwv = ut @ dv if "wv" in wrt else None
    du = (dv @ _transpose(wv)).sum(axis=1) if "u" in wrt else None
    if cache.q is None:
        zeros = {name: np.zeros_like(w) if name in wrt else None
                 for name, w in (("wq", wq), ("wk", wk))}
        return AttentionGrads(du, zeros["wq"], zeros["wk"], dwv)
    if not wrt & {"u", "wq", "wk"}:
        return AttentionGrads(du, None, None, dwv)
    dl = softmax_rows_backward(cache.a, do @ _transpose(cache.v))
    dl *= tau
    dq = dl @ cache.k
    dk = _transpose(dl) @ cache.q
    if du is not None:
        du += (dq @ _transpose(wq)).sum(axis=1)
        du += (dk @ _transpose(wk)).sum(axis=1)
    return AttentionGrads(du, ut @ dq if "wq" in wrt else None,
                          ut @ dk if "wk" in wrt else None, dwv)
