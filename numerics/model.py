"""Forward and analytic backward of a stack of transformer blocks, B networks at once.

Every block is the architecture's sequence of sublayers (``Architecture.sublayers``,
applied by ``numerics.sublayers``); for the three norm placements that is

    none:  Z = X + a1 S(X),        Y = Z + a2 MLP(Z)
    post:  Z = LN(X + a1 S(X)),    Y = LN(Z + a2 MLP(Z))
    pre:   Z = X + a1 S(LN(X)),    Y = Z + a2 MLP(LN(Z))

with S(U) = concat_h(A_h U W^V_h) W^O (W^O left out when one head has
d_v = d) and MLP(M) = phi(M W^1) W^2; without an MLP, Y = Z. ``backward``
returns the gradients of the scalar <Y, dY> for a cotangent dY, by the
chain rule through the recorded intermediates, in float64;
``squared_gradient_norms`` returns only their squared Frobenius norms, without
forming any weight gradient. Weights are dense, or two-sided lazy
(``numerics.weights.sample_weights(lazy=True)``, exact in law: numerics.lazy).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from architecture.spec import Architecture
from architecture.sublayers import MLP, Attention, Residual
from numerics.attention import AttentionCache
from numerics.inputs import as_tokens
from numerics.lazy import Outer
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


def _backpropagate(arch: Architecture, batch: int, cache: Cache, dy: object,
                   wanted: frozenset[str], keep: Callable[[str, int, Outer], None]
                   ) -> np.ndarray | None:
    """Back-propagate the cotangent dy through every block, last to first, through the
    weights each forward used (kept in the records); hand each wanted weight gradient
    of layer l to ``keep(name, l, U^T dH)``. Returns dL/dX (None unless "x" is wanted)."""
    grad = np.broadcast_to(np.asarray(dy, dtype=np.float64), (batch, arch.n, arch.d))
    for layer in reversed(range(arch.depth)):
        records, found = cache.layers[layer].records, {}
        for k in reversed(range(len(records))):
            need_dx = layer > 0 or k > 0 or "x" in wanted
            grad = sublayer_backward(records[k], grad, found, wanted, need_dx)
        for name, outer in found.items():
            keep(name, layer, outer)
        if grad is None:
            return None
    return np.ascontiguousarray(grad)


def backward(arch: Architecture, weights: Weights, cache: Cache, dy: object,
             wrt: Collection[str] | None = None) -> Grads:
    """Analytic gradients of <Y, dY> w.r.t. the weights of every layer and w.r.t. X.

    ``dy`` is the cotangent (B, n, d) (or (n, d), shared); ``cache`` comes from
    ``forward`` on ``weights`` (the backward goes through the weights that forward
    used).  ``wrt`` names the gradients wanted (weights of WEIGHT_NAMES and "x";
    default: all the architecture uses); the others are None and the matmuls only
    they need (dW = U^T dH of an unwanted weight, the input gradient of the first
    block when x is not wanted) are skipped, as autograd skips leaves that do
    not require a gradient.  The x gradient is per network, (B, n, d), also
    when X was shared.
    """
    batch = check_weights(arch, weights)
    wanted = _check_wrt(weights, wrt)
    grads: dict[str, np.ndarray | None] = {
        name: np.empty(getattr(weights, name).shape) if name in wanted else None
        for name in WEIGHT_NAMES}

    def keep(name: str, layer: int, outer: Outer) -> None:
        grads[name][:, layer] = outer.dense()

    return Grads(**grads, x=_backpropagate(arch, batch, cache, dy, wanted, keep))


def squared_gradient_norms(arch: Architecture, weights: Weights, cache: Cache, dy: object,
                           wrt: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """||dL/dW_l||_F^2 of L = <Y, dY> per network and layer, heads together, (B, L), for
    every weight named in ``wrt`` (as in ``backward``), and ||dL/dX||_F^2 (B,) under
    "x" if asked for. No weight gradient is formed: ||U^T dH||_F^2 = <U U^T, dH dH^T>_F
    costs O(n^2 (rows + cols)) instead of O(n rows cols). Its rounding error is about
    eps ||U||^2 ||dH||^2, so a gradient norm far below ||U|| ||dH|| is only guaranteed to
    about sqrt(eps) ||U|| ||dH|| (``backward`` forms it to about eps)."""
    batch = check_weights(arch, weights)
    wanted = _check_wrt(weights, wrt)
    norms = {name: np.empty((batch, arch.depth)) for name in WEIGHT_NAMES if name in wanted}

    def keep(name: str, layer: int, outer: Outer) -> None:
        norms[name][:, layer] = outer.squared_norm().reshape(batch, -1).sum(axis=1)

    dx = _backpropagate(arch, batch, cache, dy, wanted, keep)
    if dx is not None:
        norms["x"] = np.einsum("bij,bij->b", dx, dx)
    return norms
