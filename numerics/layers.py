"""Elementwise and row-wise layers with their backward maps.

All functions act on the last axis and broadcast over the leading ones.

    softmax   a_j = exp(l_j - max l) / sum_k exp(l_k - max l)
              backward: dl = a * (da - <a, da>)   (the Jacobian diag(a) - a a^T)
    LayerNorm y = (x - mean x) * r,  r = 1 / sqrt(var x + eps)   (no gain, no bias)
              backward: dx = r * (dy - mean dy - y * mean(dy * y))
    phi       linear x;  relu max(x, 0);  gelu x Phi(x) (exact, erf-based);  tanh
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from architecture.spec import ACTIVATIONS

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; stable for huge logits (the max is subtracted)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def softmax_rows_backward(a: np.ndarray, da: np.ndarray) -> np.ndarray:
    """Cotangent of the logits: (diag(a) - a a^T) da, row by row."""
    dl = da - np.einsum("...j,...j->...", a, da)[..., None]
    dl *= a
    return dl


def layer_norm(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """LayerNorm over the last axis. Returns (y, r) with r = 1/sqrt(var + eps), keepdims."""
    y = x - x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(np.einsum("...j,...j->...", y, y)[..., None] / x.shape[-1] + eps)
    y *= r
    return y, r


def layer_norm_backward(y: np.ndarray, r: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Cotangent of the LayerNorm input, from the output y, its r and the cotangent dy."""
    width = y.shape[-1]
    proj = np.einsum("...j,...j->...", dy, y)[..., None] / width
    dx = dy - dy.mean(axis=-1, keepdims=True)
    dx -= y * proj
    dx *= r
    return dx


def check_activation(name: str) -> str:
    """Return ``name`` if it is a known activation, else raise ValueError."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return name


def activate(name: str, h: np.ndarray) -> np.ndarray:
    """phi(h) for phi in linear, relu, gelu (h * Phi(h)), tanh; a new array."""
    check_activation(name)
    if name == "linear":
        return h.copy()
    if name == "relu":
        return np.maximum(h, 0.0)
    if name == "gelu":
        return h * ndtr(h)
    return np.tanh(h)


def activation_derivative(name: str, h: np.ndarray) -> np.ndarray:
    """phi'(h): 1, 1[h > 0], Phi(h) + h phi_N(h), 1 - tanh(h)^2."""
    check_activation(name)
    if name == "linear":
        return np.ones_like(h)
    if name == "relu":
        return (h > 0.0).astype(h.dtype)
    if name == "gelu":
        return ndtr(h) + h * np.exp(-0.5 * h * h) * _INV_SQRT_2PI
    return 1.0 - np.tanh(h) ** 2
