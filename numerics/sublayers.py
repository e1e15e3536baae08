"""One numerics apply per sublayer kind (architecture.sublayers), forward and backward.

``forward(spec, x, w)`` runs one sublayer on B networks at once and returns its
output (B, n, d) and a :class:`Record` of what the backward needs, including the
weights as the forward used them (two-sided lazy ones bound to their token
matrices, numerics.lazy); ``backward(record, dy, grads, wanted, need_dx)`` returns
the cotangent of the input and writes the gradients dW = X^T dY asked for into
``grads``, as their factors (``lazy.Outer``). ``w`` holds one layer's weights
(``LayerWeights``). Dispatch is on the spec's type, so a new kind adds one forward
and one backward here.

    Attention   S = concat_h(A_h U W^V_h) W^O (numerics.attention, the one softmax)
    MLP         phi(U W^1) W^2
    LayerNorm   (x - mean x) r, r = 1/sqrt(var x + eps)
    Residual    X + alpha branch(X)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from architecture.sublayers import MLP, Attention, LayerNorm, Residual, Sublayer
from numerics.attention import attention_backward, attention_forward
from numerics.layers import activate, activation_derivative, layer_norm, layer_norm_backward
from numerics.lazy import Outer, Weight, bind, times, times_transposed


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights of B networks (None where the architecture has none):
    wq, wk (B, H, d, d_k), wv (B, H, d, d_v), wo (B, H d_v, d), w1 (B, d, d_ff),
    w2 (B, d_ff, d); dense arrays, or lazy (numerics.lazy: forward-only, or two-sided
    for forward and backward passes)."""

    wq: Weight | None = None
    wk: Weight | None = None
    wv: Weight | None = None
    wo: Weight | None = None
    w1: Weight | None = None
    w2: Weight | None = None


@dataclass
class Record:
    """A sublayer's input, output and what its backward needs; a residual's children;
    the weights as the forward used them (None for a sublayer without weights)."""

    spec: Sublayer
    x: np.ndarray
    y: np.ndarray
    cache: Any = None
    children: list[Record] = field(default_factory=list)
    weights: LayerWeights | None = None


def _merge_heads(o: np.ndarray) -> np.ndarray:
    batch, heads, n, d_v = o.shape
    return np.swapaxes(o, 1, 2).reshape(batch, n, heads * d_v)


def _attention(spec: Attention, x: np.ndarray, w: LayerWeights) -> Record:
    wq, wk, wv = bind(x[:, None], w.wq, w.wk, w.wv)
    heads, att = attention_forward(x, wq, wk, wv, spec.scale, spec.kind, spec.mask)
    o = _merge_heads(heads)
    (wo,) = bind(o, w.wo)
    y = times(o, wo) if spec.output_projection else o
    return Record(spec, x, y, (att, o), weights=LayerWeights(wq, wk, wv, wo))


def _attention_back(r: Record, dy: np.ndarray, grads: dict, wanted: Collection[str],
                    need_dx: bool) -> np.ndarray | None:
    spec: Attention = r.spec
    w: LayerWeights = r.weights
    att, o = r.cache
    batch, n, _ = r.x.shape
    if spec.output_projection:
        if "wo" in wanted:
            grads["wo"] = Outer(o, dy)
        dy = times_transposed(dy, w.wo)
    do = np.swapaxes(dy.reshape(batch, n, spec.heads, spec.d_v), 1, 2)
    asked = frozenset(wanted) & {"wq", "wk", "wv"}
    back = attention_backward(r.x, w.wq, w.wk, w.wv, spec.scale, att, do,
                              asked | ({"u"} if need_dx else set()))
    for name in asked:
        grads[name] = getattr(back, name)
    return back.u


def _mlp(spec: MLP, x: np.ndarray, w: LayerWeights) -> Record:
    (w1,) = bind(x, w.w1)
    h = times(x, w1)
    phi = activate(spec.activation, h)
    (w2,) = bind(phi, w.w2)
    return Record(spec, x, times(phi, w2), (h, phi), weights=LayerWeights(w1=w1, w2=w2))


def _mlp_back(r: Record, dy: np.ndarray, grads: dict, wanted: Collection[str],
              need_dx: bool) -> np.ndarray | None:
    h, phi = r.cache
    w: LayerWeights = r.weights
    if "w2" in wanted:
        grads["w2"] = Outer(phi, dy)
    dh = times_transposed(dy, w.w2)
    dh *= activation_derivative(r.spec.activation, h)
    if "w1" in wanted:
        grads["w1"] = Outer(r.x, dh)
    return times_transposed(dh, w.w1) if need_dx else None


def _layer_norm(spec: LayerNorm, x: np.ndarray, w: LayerWeights) -> Record:
    y, inv = layer_norm(x, spec.eps)
    return Record(spec, x, y, inv)


def _layer_norm_back(r: Record, dy: np.ndarray, grads: dict, wanted: Collection[str],
                     need_dx: bool) -> np.ndarray | None:
    return layer_norm_backward(r.y, r.cache, dy)


def _residual(spec: Residual, x: np.ndarray, w: LayerWeights) -> Record:
    children, u = [], x
    for part in spec.branch:
        child = forward(part, u, w)
        children.append(child)
        u = child.y
    return Record(spec, x, x + spec.alpha * u, children=children)


def _residual_back(r: Record, dy: np.ndarray, grads: dict, wanted: Collection[str],
                   need_dx: bool) -> np.ndarray | None:
    d = r.spec.alpha * dy
    for k, child in reversed(list(enumerate(r.children))):
        d = backward(child, d, grads, wanted, need_dx or k > 0)
    return dy + d if need_dx else None


_FORWARD: dict[type, Callable[..., Record]] = {
    Attention: _attention, MLP: _mlp, LayerNorm: _layer_norm, Residual: _residual}
_BACKWARD: dict[type, Callable[..., np.ndarray | None]] = {
    Attention: _attention_back, MLP: _mlp_back, LayerNorm: _layer_norm_back,
    Residual: _residual_back}


def forward(spec: Sublayer, x: np.ndarray, w: LayerWeights) -> Record:
    """One sublayer on B networks: x (B, n, d) -> Record (output in ``.y``)."""
    try:
        apply = _FORWARD[type(spec)]
    except KeyError:
        raise ValueError(f"no numerics apply for sublayer {type(spec).__name__}") from None
    return apply(spec, x, w)


def backward(record: Record, dy: np.ndarray, grads: dict, wanted: Collection[str],
             need_dx: bool = True) -> np.ndarray | None:
    """Cotangent of the sublayer's input (None when not needed), through the weights the
    forward used (``record.weights``); the gradients of the weights named in ``wanted``
    are written into ``grads`` as ``Outer`` factors."""
    return _BACKWARD[type(record.spec)](record, dy, grads, wanted, need_dx)


def walk(record: Record):
    """Every record of a sublayer tree, depth first."""
    yield record
    for child in record.children:
        yield from walk(child)


def run_block(block: Sequence[Sublayer], w: LayerWeights, x: np.ndarray
              ) -> tuple[np.ndarray, list[Record]]:
    """One block (a sequence of sublayers sharing one layer's weights ``w``) on B networks:
    (its output, the records of its top-level sublayers)."""
    records = []
    for spec in block:
        records.append(forward(spec, x, w))
        x = records[-1].y
    return x, records
