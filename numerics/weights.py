"""Stacked random weights of B independent transformers at initialization.

Shapes (B networks, L layers, H heads):

    wq (B, L, H, d, d_k)   wk (B, L, H, d, d_k)   wv (B, L, H, d, d_v)
    wo (B, L, H*d_v, d)    only when arch.uses_output_projection, else None
    w1 (B, L, d, d_ff)     w2 (B, L, d_ff, d)     only when arch.mlp, else None

Entries are iid N(0, sigma^2) with the sigma of the weight's name.  The draws
of network i come from its own generator (``numerics.rng``), in the order
wq, wk, wv, wo, w1, w2, each layer after layer, so network i is the same
whatever the batch it is drawn in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from math import prod

import numpy as np

from architecture.spec import Architecture
from numerics.rng import normal_rows

WEIGHT_STREAM = "weights"
WEIGHT_NAMES = ("wq", "wk", "wv", "wo", "w1", "w2")


def weight_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Per-network shape (L, ...) of every weight the architecture uses, in draw order."""
    L, H, d = arch.depth, arch.heads, arch.d
    shapes = {
        "wq": (L, H, d, arch.d_k),
        "wk": (L, H, d, arch.d_k),
        "wv": (L, H, d, arch.d_v),
    }
    if arch.uses_output_projection:
        shapes["wo"] = (L, H * arch.d_v, d)
    if arch.mlp:
        shapes["w1"] = (L, d, arch.d_ff)
        shapes["w2"] = (L, arch.d_ff, d)
    return shapes


def draws_per_network(arch: Architecture) -> int:
    """Number of Gaussian draws for the weights of one network."""
    return sum(prod(shape) for shape in weight_shapes(arch).values())


def weight_std(arch: Architecture, name: str) -> float:
    """Standard deviation of the entries of weight ``name``."""
    sigma = {"wq": arch.sigma_q, "wk": arch.sigma_k, "wv": arch.sigma_v,
             "wo": arch.sigma_o, "w1": arch.sigma_1, "w2": arch.sigma_2}
    return sigma[name]


@dataclass(frozen=True)
class Weights:
    """Weights of a batch of networks; absent weights are None (see module doc)."""

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray | None
    w1: np.ndarray | None
    w2: np.ndarray | None

    @property
    def batch(self) -> int:
        """Number of networks B."""
        return self.wq.shape[0]

    def replace(self, **values: object) -> Weights:
        """A copy with some weights replaced by arrays (or scalars) broadcast to their shape.

        ``weights.replace(wq=0.0)`` gives every network W^Q = 0 (exactly uniform
        attention).  Only weights the architecture uses can be replaced.
        """
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in values.items():
            if name not in arrays:
                raise ValueError(f"weight name must be one of {', '.join(arrays)}; got {name!r}")
            old = arrays[name]
            if old is None:
                raise ValueError(f"{name} is not used by this architecture, got a replacement")
            new = np.asarray(value, dtype=np.float64)
            try:
                arrays[name] = np.array(np.broadcast_to(new, old.shape))
            except ValueError:
                raise ValueError(f"{name} must broadcast to shape {old.shape}, "
                                 f"got shape {new.shape}") from None
        return type(self)(**arrays)


def check_weights(arch: Architecture, weights: Weights) -> int:
    """Check the weights' shapes against the architecture; return the batch size B."""
    batch = weights.batch
    shapes = weight_shapes(arch)
    for name in WEIGHT_NAMES:
        array = getattr(weights, name)
        expected = shapes.get(name)
        if expected is None:
            if array is not None:
                raise ValueError(f"{name} must be None for this architecture, got an array")
            continue
        if array is None or array.shape != (batch, *expected):
            got = None if array is None else array.shape
            raise ValueError(f"{name} must have shape {(batch, *expected)}, got {got}")
    return batch


def sample_weights(
    arch: Architecture, count: int, seed: int, start: int = 0, *, workers: int | None = None
) -> Weights:
    """Draw the weights of networks start, ..., start + count - 1 (float64).

    The arrays are views into one (count, P) buffer, P the number of weights
    per network, so each network's weights are contiguous.
    """
    shapes = weight_shapes(arch)
    sizes = {name: prod(shape) for name, shape in shapes.items()}
    segments = [(sizes[name], weight_std(arch, name)) for name in shapes]
    flat = normal_rows(seed, WEIGHT_STREAM, start, count, segments, workers=workers)
    arrays: dict[str, np.ndarray | None] = dict.fromkeys(WEIGHT_NAMES)
    offset = 0
    for name, shape in shapes.items():
        arrays[name] = flat[:, offset:offset + sizes[name]].reshape(count, *shape)
        offset += sizes[name]
    return Weights(**arrays)
