"""Frobenius norms of attention Jacobians and of loss gradients, batched.

For one head S(X) = A X W^V, A = softmax_rows(tau X W^Q (X W^K)^T), with
K = X W^K, V = X W^V, q_i = W^Q^T x_i and J_i = diag(a_i) - a_i a_i^T the
softmax Jacobian of row i, summing the squared gradient norms of all n d_v
outputs S_ic gives

    ||dS/dW^Q||_F^2 = tau^2 sum_i ||x_i||^2 ||K^T J_i V||_F^2
    ||dS/dW^K||_F^2 = tau^2 sum_i ||q_i||^2 ||X^T J_i V||_F^2
    ||dS/dW^V||_F^2 = d_v ||A X||_F^2

(dS_ic/dW^Q = tau x_i (K^T J_i v_c)^T, dS_ic/dW^K = tau X^T J_i v_c q_i^T,
dS_ic/dW^V = X^T a_i e_c^T).  The middle factors are evaluated as
||L^T J_i R||_F^2 = tr(J_i G_L J_i G_R) with Grams G = L L^T of token-centred
L and R (J_i annihilates constant columns, so centring changes nothing and
keeps the sums well conditioned near uniform attention):

    tr(J G_L J G_R) = a^T (G_L o G_R) a - 2 sum_j a_j (G_L a)_j (G_R a)_j
                      + (a^T G_L a)(a^T G_R a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from architecture.spec import Architecture
from numerics.attention import attention_weights
from numerics.model import Cache, Grads
from numerics.weights import WEIGHT_NAMES, Weights


@dataclass(frozen=True)
class JacobianNorms:
    """Squared Frobenius norms ||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2 (batch shape)."""

    query: np.ndarray
    key: np.ndarray
    value: np.ndarray


def _centred_gram(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-2, keepdims=True)
    return centred @ np.swapaxes(centred, -1, -2)


def _rowwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...ij->...i", a, b)


def _centre(gram: np.ndarray) -> np.ndarray:
    """C G C with C = I - J/n: the Gram of the token-centred matrix."""
    rows = gram - gram.mean(axis=-1, keepdims=True)
    return rows - rows.mean(axis=-2, keepdims=True)


def softmax_sandwich(a: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """||L^T J_i R||_F^2 for every row i of A (J_i = diag(a_i) - a_i a_i^T); (..., n)."""
    return sandwich_from_grams(a, _centred_gram(left), _centred_gram(right))


def sandwich_from_grams(a: np.ndarray, g_left: np.ndarray, g_right: np.ndarray) -> np.ndarray:
    """``softmax_sandwich`` from the token-centred Grams of L and R."""
    a_left = a @ g_left
    a_right = a @ g_right
    trace = (_rowwise(a, a @ (g_left * g_right)) - 2.0 * _rowwise(a, a_left * a_right)
             + _rowwise(a, a_left) * _rowwise(a, a_right))
    return np.maximum(trace, 0.0)  # a squared norm; rounding may dip below zero


def attention_matrix(q: np.ndarray, k: np.ndarray, tau: float, uniform: bool,
                     mask: str = "none") -> np.ndarray:
    """A = softmax_rows(tau Q K^T + mask), or the uniform average (numerics.attention)."""
    return attention_weights(q, k, tau, "uniform" if uniform else "softmax", mask)


def attention_jacobian_norms(
    x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, tau: float,
    uniform: bool = False,
) -> JacobianNorms:
    """Jacobian norms of one head S(X) = A X W^V at the given X and weights.

    ``uniform``: the uniform-attention assumption, A = J/n with the softmax
    Jacobian taken at uniform attention (J_i = P/n), as if the logits were 0.
    Shapes broadcast over leading batch axes: x (..., n, d), wq, wk (..., d, d_k),
    wv (..., d, d_v); results have the broadcast batch shape.
    """
    q = x @ wq
    k = x @ wk
    v = x @ wv
    return jacobian_norms_from(x @ np.swapaxes(x, -1, -2), q, k, v,
                               attention_matrix(q, k, tau, uniform), tau)


def jacobian_norms_from(gram: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                        a: np.ndarray, tau: float) -> JacobianNorms:
    """The three norms from the head's input Gram X X^T, Q, K, V and A alone (the
    formulas above need X only through its Gram)."""
    tau2 = tau * tau
    g_v = _centred_gram(v)
    diag = np.einsum("...ii->...i", gram)
    query = tau2 * np.einsum("...i,...i->...", diag, sandwich_from_grams(a, _centred_gram(k),
                                                                         g_v))
    key = tau2 * np.einsum("...i,...i->...", _rowwise(q, q),
                           sandwich_from_grams(a, _centre(gram), g_v))
    value = v.shape[-1] * np.einsum("...ij,...ij->...", a @ gram, a)
    return JacobianNorms(query, key, value)


def input_jacobian_norm(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray,
                        tau: float, uniform: bool = False) -> np.ndarray:
    """||dS/dX||_F^2 of one head S(X) = A X W^V, from the Jacobian's entries.

    With Q = X W^Q, K = X W^K, V = X W^V and J_i the softmax Jacobian of row i,
    dS_ic/dX_ab is the sum of three terms (chain rule through A X W^V, through
    the rows of A, and through the logits' query and key factors):

        A_ia W^V_bc  +  tau delta_ia (V^T J_i K W^Q^T)_cb  +  tau (Q W^K^T)_ib (V^T J_i)_ca

    The tensor (..., n, d_v, n, d) is formed and summed, so n and d should be
    small. ``uniform`` as in :func:`attention_jacobian_norms`.
    """
    q, k, v = x @ wq, x @ wk, x @ wv
    a = attention_matrix(q, k, tau, uniform)
    n = a.shape[-1]
    jac = a[..., :, :, None] * np.eye(n) - a[..., :, :, None] * a[..., :, None, :]  # J_i
    vj = np.einsum("...jc,...ijl->...icl", v, jac)  # (V^T J_i)_cl per row i
    through_query = tau * np.einsum("...icl,...lk,...bk->...icb", vj, k, wq)
    through_key = tau * np.einsum("...ib,...ica->...icab",
                                  q @ np.swapaxes(wk, -1, -2), vj)
    through_values = np.einsum("...ia,...bc->...icab", a, wv)
    total = through_values + through_key
    total += np.einsum("...icb,ia->...icab", through_query, np.eye(n))
    return np.einsum("...icab,...icab->...", total, total)


def layer_jacobian_norms(arch: Architecture, weights: Weights, cache: Cache) -> JacobianNorms:
    """Per-layer, per-head Jacobian norms of the attention sub-layers of a stack: (B, L, H).

    Layer l's head h is S(U_l) = A U_l W^V_{l,h} at its recorded attention
    input U_l, Jacobian taken at fixed U_l, from the forward pass's own Q, K, V, A.
    Under uniform attention A = J/n does not depend on W^Q, W^K, so those norms are
    zero.
    """
    u = cache.attention_inputs
    gram = (u @ np.swapaxes(u, -1, -2))[:, :, None]
    heads = [layer.attention for layer in cache.layers]
    a = np.stack([h.a for h in heads], axis=1)
    if arch.attention == "softmax":
        q, k, v = (np.stack([getattr(h, name) for h in heads], axis=1) for name in "qkv")
        return jacobian_norms_from(gram, q, k, v, a, arch.tau)
    value = arch.d_v * np.einsum("...ij,...ij->...", a @ gram, a)
    return JacobianNorms(np.zeros_like(value), np.zeros_like(value), value)


def gradient_norms(grads: Grads) -> dict[str, np.ndarray]:
    """Frobenius norm of each weight gradient per network and layer, heads together: (B, L)."""
    norms = {}
    for name in WEIGHT_NAMES:
        array = getattr(grads, name)
        if array is not None:
            flat = array.reshape(*array.shape[:2], -1)
            norms[name] = np.sqrt(np.einsum("blk,blk->bl", flat, flat))
    return norms
