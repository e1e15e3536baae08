"""Forward and analytic backward of a stack of transformer blocks, B networks at once.

Block l maps X_l (B, n, d) to X_{l+1} (architecture.spec):

    none:  Z = X + a1 S(X),        Y = Z + a2 MLP(Z)
    post:  Z = LN(X + a1 S(X)),    Y = LN(Z + a2 MLP(Z))
    pre:   Z = X + a1 S(LN(X)),    Y = Z + a2 MLP(LN(Z))

with S(U) = concat_h(A_h U W^V_h) W^O (W^O left out when one head has
d_v = d) and MLP(M) = phi(M W^1) W^2; without an MLP, Y = Z.  ``backward``
returns the gradients of the scalar <Y, dY> for a cotangent dY, by the
chain rule through the cached intermediates, in float64.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from architecture.spec import Architecture
from numerics.attention import AttentionCache, attention_backward, attention_forward
from numerics.inputs import as_tokens
from numerics.layers import activate, activation_derivative, layer_norm, layer_norm_backward
from numerics.weights import WEIGHT_NAMES, Weights, check_weights


@dataclass(frozen=True)
class LayerCache:
    """Intermediates of one block (B leading; r_* are LayerNorm 1/sqrt(var + eps)).

    x: block input X_l; u: attention input (LN(X_l) under Pre-LN, else X_l);
    attention: Q, K, V, A per head; o: concatenated head outputs (B, n, H d_v);
    z: Z; m: MLP input (LN(Z) under Pre-LN, else Z); h: pre-activations M W^1;
    y: block output (the next block's input).
    """

    x: np.ndarray
    u: np.ndarray
    r_u: np.ndarray | None
    attention: AttentionCache
    o: np.ndarray
    z: np.ndarray
    r_z: np.ndarray | None
    m: np.ndarray | None
    r_m: np.ndarray | None
    h: np.ndarray | None
    phi_h: np.ndarray | None
    y: np.ndarray
    r_y: np.ndarray | None


@dataclass(frozen=True)
class Cache:
    """Per-layer caches of a forward pass, with stacked views for the claims."""

    layers: tuple[LayerCache, ...]

    @property
    def block_inputs(self) -> np.ndarray:
        """X_l of every layer: (B, L, n, d)."""
        return np.stack([layer.x for layer in self.layers], axis=1)

    @property
    def attention_inputs(self) -> np.ndarray:
        """Attention-sublayer input of every layer: (B, L, n, d)."""
        return np.stack([layer.u for layer in self.layers], axis=1)

    @property
    def attention(self) -> np.ndarray:
        """Attention matrices: (B, L, H, n, n)."""
        return np.stack([layer.attention.a for layer in self.layers], axis=1)

    @property
    def z(self) -> np.ndarray:
        """Z of every layer: (B, L, n, d)."""
        return np.stack([layer.z for layer in self.layers], axis=1)

    @property
    def outputs(self) -> np.ndarray:
        """Block outputs Y_l = X_{l+1}: (B, L, n, d)."""
        return np.stack([layer.y for layer in self.layers], axis=1)

    @property
    def y(self) -> np.ndarray:
        """Output of the stack: (B, n, d)."""
        return self.layers[-1].y


@dataclass(frozen=True)
class Grads(Weights):
    """Gradients of <Y, dY>: one array per weight (shapes as in Weights) and x (B, n, d);
    None where the architecture has no such weight or the gradient was not asked for."""

    x: np.ndarray | None = None


def _maybe_norm(apply: bool, x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray | None]:
    return layer_norm(x, eps) if apply else (x, None)


def _merge_heads(o: np.ndarray) -> np.ndarray:
    batch, heads, n, d_v = o.shape
    return np.swapaxes(o, 1, 2).reshape(batch, n, heads * d_v)


def _block_forward(arch: Architecture, weights: Weights, layer: int, x: np.ndarray) -> LayerCache:
    eps = arch.ln_eps
    u, r_u = _maybe_norm(arch.norm == "pre", x, eps)
    wq, wk, wv = weights.wq[:, layer], weights.wk[:, layer], weights.wv[:, layer]
    heads, att = attention_forward(u, wq, wk, wv, arch.tau, arch.attention == "uniform")
    o = _merge_heads(heads)
    s = o @ weights.wo[:, layer] if arch.uses_output_projection else o
    z = x + arch.residual_1 * s
    z, r_z = _maybe_norm(arch.norm == "post", z, eps)
    if not arch.mlp:
        return LayerCache(x, u, r_u, att, o, z, r_z, None, None, None, None, z, None)
    m, r_m = _maybe_norm(arch.norm == "pre", z, eps)
    h = m @ weights.w1[:, layer]
    phi_h = activate(arch.activation, h)
    y = z + arch.residual_2 * (phi_h @ weights.w2[:, layer])
    y, r_y = _maybe_norm(arch.norm == "post", y, eps)
    return LayerCache(x, u, r_u, att, o, z, r_z, m, r_m, h, phi_h, y, r_y)


def forward(arch: Architecture, weights: Weights, x: object) -> tuple[np.ndarray, Cache]:
    """Run B networks on X ((n, d) shared by all, or (B, n, d)); return (Y, cache)."""
    batch = check_weights(arch, weights)
    tokens = as_tokens(x)
    if tokens.shape[-2:] != (arch.n, arch.d) or (tokens.ndim == 3 and tokens.shape[0] != batch):
        raise ValueError(f"X must have shape ({arch.n}, {arch.d}) or ({batch}, {arch.n}, "
                         f"{arch.d}), got {tokens.shape}")
    current = np.broadcast_to(tokens, (batch, arch.n, arch.d))
    layers = []
    for layer in range(arch.depth):
        cache = _block_forward(arch, weights, layer, current)
        layers.append(cache)
        current = cache.y
    return current, Cache(tuple(layers))


def _maybe_norm_backward(r: np.ndarray | None, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy if r is None else layer_norm_backward(y, r, dy)


GRADIENT_NAMES = (*WEIGHT_NAMES, "x")


def _check_wrt(weights: Weights, wrt: Collection[str] | None) -> frozenset[str]:
    used = {name for name in WEIGHT_NAMES if getattr(weights, name) is not None} | {"x"}
    if wrt is None:
        return frozenset(used)
    wanted = frozenset(wrt)
    unknown = sorted(wanted - set(GRADIENT_NAMES))
    if unknown or not wanted:
        raise ValueError(f"wrt must name some of {', '.join(GRADIENT_NAMES)}, got "
                         f"{', '.join(map(repr, unknown)) if unknown else 'none'}")
    return wanted & used


def backward(arch: Architecture, weights: Weights, cache: Cache, dy: object,
             wrt: Collection[str] | None = None) -> Grads:
    """Analytic gradients of <Y, dY> w.r.t. the weights of every layer and w.r.t. X.

    ``dy`` is the cotangent (B, n, d) (or (n, d), shared).  ``wrt`` names the
    gradients wanted (weights of WEIGHT_NAMES and "x"; default: all the
    architecture uses); the others are None and the matmuls only they need
    (dW = U^T dH of an unwanted weight, the input gradient of the first
    block when x is not wanted) are skipped, as autograd skips leaves that do
    not require a gradient.  The x gradient is per network, (B, n, d), also
    when X was shared.
    """
    batch = check_weights(arch, weights)
    wanted = _check_wrt(weights, wrt)
    grad = np.broadcast_to(np.asarray(dy, dtype=np.float64), (batch, arch.n, arch.d))
    grads: dict[str, np.ndarray | None] = {
        name: np.empty(getattr(weights, name).shape) if name in wanted else None
        for name in WEIGHT_NAMES}
    attention_wrt = frozenset({"u"} | (wanted & {"wq", "wk", "wv"}))
    for layer in reversed(range(arch.depth)):
        c = cache.layers[layer]
        first = layer == 0 and "x" not in wanted
        if arch.mlp:
            grad = _maybe_norm_backward(c.r_y, c.y, grad)
            df = arch.residual_2 * grad
            w1, w2 = weights.w1[:, layer], weights.w2[:, layer]
            if grads["w2"] is not None:
                np.matmul(np.swapaxes(c.phi_h, 1, 2), df, out=grads["w2"][:, layer])
            dh = df @ np.swapaxes(w2, 1, 2)
            dh *= activation_derivative(arch.activation, c.h)
            if grads["w1"] is not None:
                np.matmul(np.swapaxes(c.m, 1, 2), dh, out=grads["w1"][:, layer])
            grad = grad + _maybe_norm_backward(c.r_m, c.m, dh @ np.swapaxes(w1, 1, 2))
        grad = _maybe_norm_backward(c.r_z, c.z, grad)
        ds = arch.residual_1 * grad
        if arch.uses_output_projection:
            if grads["wo"] is not None:
                np.matmul(np.swapaxes(c.o, 1, 2), ds, out=grads["wo"][:, layer])
            ds = ds @ np.swapaxes(weights.wo[:, layer], 1, 2)
        do = np.swapaxes(ds.reshape(batch, arch.n, arch.heads, arch.d_v), 1, 2)
        att = attention_backward(c.u, weights.wq[:, layer], weights.wk[:, layer],
                                 weights.wv[:, layer], arch.tau, c.attention, do,
                                 attention_wrt - {"u"} if first else attention_wrt)
        for name in ("wq", "wk", "wv"):
            if grads[name] is not None:
                grads[name][:, layer] = getattr(att, name)
        if first:
            return Grads(**grads, x=None)
        grad = grad + _maybe_norm_backward(c.r_u, c.u, att.u)
    return Grads(**grads, x=np.ascontiguousarray(grad))
