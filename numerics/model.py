"""Forward and analytic backward of a stack of transformer blocks, B networks at once.

Every block is the architecture's sequence of sublayers (``Architecture.sublayers``,
applied by ``numerics.sublayers``); for the three norm placements that is

    none:  Z = X + a1 S(X),        Y = Z + a2 MLP(Z)
    post:  Z = LN(X + a1 S(X)),    Y = LN(Z + a2 MLP(Z))
    pre:   Z = X + a1 S(LN(X)),    Y = Z + a2 MLP(LN(Z))

with S(U) = concat_h(A_h U W^V_h) W^O (W^O left out when one head has
d_v = d) and MLP(M) = phi(M W^1) W^2; without an MLP, Y = Z. ``backward``
returns the gradients of the scalar <Y, dY> for a cotangent dY, by the
chain rule through the recorded intermediates, in float64.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from architecture.spec import Architecture
from architecture.sublayers import MLP, Attention, Residual
from numerics.attention import AttentionCache
from numerics.inputs import as_tokens
from numerics.sublayers import LayerWeights, Record, run_block, walk
from numerics.sublayers import backward as sublayer_backward
from numerics.weights import WEIGHT_NAMES, Weights, check_weights


@dataclass(frozen=True)
class LayerCache:
    """One block: its input X_l, the records of its top-level sublayers, its output."""

    x: np.ndarray
    records: tuple[Record, ...]
    y: np.ndarray

    def _attention_record(self) -> Record:
        return next(r for top in self.records for r in walk(top)
                    if isinstance(r.spec, Attention))

    @property
    def u(self) -> np.ndarray:
        """The attention sublayer's input (LN(X_l) under Pre-LN, else X_l)."""
        return self._attention_record().x

    @property
    def attention(self) -> AttentionCache:
        return self._attention_record().cache[0]

    @property
    def z(self) -> np.ndarray:
        """The stream after the attention residual (and its Post-LN), before the MLP."""
        z = self.x
        for top in self.records:
            if isinstance(top.spec, Residual) and any(isinstance(p, MLP)
                                                      for p in top.spec.branch):
                break
            z = top.y
        return z


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


def _layer(weights: Weights, layer: int) -> LayerWeights:
    return LayerWeights(**{name: None if getattr(weights, name) is None
                           else getattr(weights, name)[:, layer] for name in WEIGHT_NAMES})


def forward(arch: Architecture, weights: Weights, x: object) -> tuple[np.ndarray, Cache]:
    """Run B networks on X ((n, d) shared by all, or (B, n, d)); return (Y, cache)."""
    batch = check_weights(arch, weights)
    tokens = as_tokens(x)
    if tokens.shape[-2:] != (arch.n, arch.d) or (tokens.ndim == 3 and tokens.shape[0] != batch):
        raise ValueError(f"X must have shape ({arch.n}, {arch.d}) or ({batch}, {arch.n}, "
                         f"{arch.d}), got {tokens.shape}")
    current = np.broadcast_to(tokens, (batch, arch.n, arch.d))
    block = arch.sublayers()
    layers = []
    for layer in range(arch.depth):
        start = current
        current, records = run_block(block, _layer(weights, layer), current)
        layers.append(LayerCache(start, tuple(records), current))
    return current, Cache(tuple(layers))


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
    for layer in reversed(range(arch.depth)):
        c, w, found = cache.layers[layer], _layer(weights, layer), {}
        records = c.records
        for k in reversed(range(len(records))):
            need_dx = layer > 0 or k > 0 or "x" in wanted
            grad = sublayer_backward(records[k], w, grad, found, wanted, need_dx)
        for name, value in found.items():
            grads[name][:, layer] = value
        if grad is None:
            return Grads(**grads, x=None)
    return Grads(**grads, x=np.ascontiguousarray(grad))
