"""Multi-head self-attention for a batch of networks, forward and backward.

Shapes: U (B, n, d) the attention input; per head h (B, H, ...):

    Q = U W^Q_h, K = U W^K_h, V = U W^V_h
    A = softmax_rows(tau Q K^T + mask)   ("uniform": the average over the visible tokens,
                                          independent of W^Q, W^K)
    O = A V                              (B, H, n, d_v)

Uniform attention over all tokens has A = J/n, so O = 1 (ubar W^V_h) with ubar the mean
token: the forward pass sees W^V only through ubar (a lazy W^V then takes d_v normals).

The mask is "none" or "causal" (token i sees tokens 1..i: the logits above the
diagonal are -inf). ``attention_weights`` is the one place where attention
weights are computed (uniform ones by ``averaging_matrix``, which the forward pass
also uses directly when it needs no Q, K or V); every sampler and Jacobian takes A
from them.

Backward of the scalar <O, dO>:

    dV = A^T dO,  dA = dO V^T,  dL = tau (diag(a) - a a^T) dA  (row by row)
    dQ = dL K,    dK = dL^T Q
    dW^Q = U^T dQ,  dW^K = U^T dK,  dW^V = U^T dV   (kept as their factors, lazy.Outer)
    dU = sum_h dQ W^Q_h^T + dK W^K_h^T + dV W^V_h^T
Under uniform attention dW^Q = dW^K = 0. Weights are dense, or lazy (numerics.lazy:
forward-only ones serve the forward, two-sided ones both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.layers import softmax_rows, softmax_rows_backward
from numerics.lazy import Outer, Weight, seen_rows, times, times_each, times_transposed


@dataclass(frozen=True)
class AttentionCache:
    """What the backward needs: Q, K and V (None under uniform attention), A."""

    q: np.ndarray | None
    k: np.ndarray | None
    v: np.ndarray | None
    a: np.ndarray


@dataclass(frozen=True)
class AttentionGrads:
    """Cotangents of the input U and of the head weights, the latter as U^T dH (zero for
    W^Q, W^K if uniform; None for those not asked for)."""

    u: np.ndarray | None
    wq: Outer | None
    wk: Outer | None
    wv: Outer | None


def _transpose(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


MASKS = ("none", "causal")


def averaging_matrix(n: int, mask: str = "none") -> np.ndarray:
    """Uniform attention: J/n, or with a causal mask row i averaging tokens 1..i."""
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    if mask == "none":
        return np.full((n, n), 1.0 / n)
    lower = np.tril(np.ones((n, n)))
    return lower / lower.sum(axis=1, keepdims=True)


def attention_weights(q: np.ndarray, k: np.ndarray, scale: float, kind: str = "softmax",
                      mask: str = "none") -> np.ndarray:
    """A of every head: softmax_rows(scale Q K^T + mask), or the uniform average over the
    visible tokens; (..., n, n)."""
    n = q.shape[-2]
    if kind == "uniform":
        return np.broadcast_to(averaging_matrix(n, mask), (*q.shape[:-2], n, n)).copy()
    logits = q @ _transpose(k)
    logits *= scale
    if mask == "causal":
        rows, cols = np.triu_indices(n, 1)
        logits[..., rows, cols] = -np.inf
    elif mask != "none":
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    return softmax_rows(logits)


def attention_forward(
    u: np.ndarray, wq: Weight, wk: Weight, wv: Weight, tau: float,
    kind: str = "softmax", mask: str = "none",
) -> tuple[np.ndarray, AttentionCache]:
    """Head outputs O = A U W^V (B, H, n, d_v) and the cache; weights (B, H, d, .), dense
    or lazy (numerics.lazy). Uniform attention over all tokens computes 1 (ubar W^V),
    unless W^V is lazy for all n tokens (``seen_rows``)."""
    heads = u[:, None]
    if kind == "uniform":
        n = u.shape[-2]
        a = np.broadcast_to(averaging_matrix(n, mask), (u.shape[0], wv.shape[1], n, n))
        if mask == "none" and seen_rows(wv) in (None, 1):
            mean = times(heads.mean(axis=-2, keepdims=True), wv)
            return np.broadcast_to(mean, (*mean.shape[:-2], n, mean.shape[-1])), \
                AttentionCache(None, None, None, a)
        return a @ times(heads, wv), AttentionCache(None, None, None, a)
    v, q, k = times_each(heads, (wv, wq, wk))
    a = attention_weights(q, k, tau, kind, mask)
    return a @ v, AttentionCache(q, k, v, a)


def attention_backward(
    u: np.ndarray,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    tau: float,
    cache: AttentionCache,
    do: np.ndarray,
    wrt: frozenset[str] = frozenset({"u", "wq", "wk", "wv"}),
) -> AttentionGrads:
    """Gradients of <O, dO> with respect to U and the weights of every head.

    Only the cotangents named in ``wrt`` (of u, wq, wk, wv) are computed; the
    others are None, and the matmuls that only they need are skipped.
    """
    heads = u[:, None]
    dv = _transpose(cache.a) @ do
    dwv = Outer(heads, dv) if "wv" in wrt else None
    du = times_transposed(dv, wv).sum(axis=1) if "u" in wrt else None
    if cache.q is None:
        zeros = {name: Outer(heads, np.zeros((*do.shape[:-1], w.shape[-1])))
                 if name in wrt else None for name, w in (("wq", wq), ("wk", wk))}
        return AttentionGrads(du, zeros["wq"], zeros["wk"], dwv)
    if not wrt & {"u", "wq", "wk"}:
        return AttentionGrads(du, None, None, dwv)
    dl = softmax_rows_backward(cache.a, do @ _transpose(cache.v))
    dl *= tau
    dq = dl @ cache.k
    dk = _transpose(dl) @ cache.q
    if du is not None:
        du += times_transposed(dq, wq).sum(axis=1)
        du += times_transposed(dk, wk).sum(axis=1)
    return AttentionGrads(du, Outer(heads, dq) if "wq" in wrt else None,
                          Outer(heads, dk) if "wk" in wrt else None, dwv)
