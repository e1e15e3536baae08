"""Stacked random weights of B independent transformers at initialization.

Shapes (B networks, L layers, H heads):

    wq (B, L, H, d, d_k)   wk (B, L, H, d, d_k)   wv (B, L, H, d, d_v)
    wo (B, L, H*d_v, d)    only when arch.uses_output_projection, else None
    w1 (B, L, d, d_ff)     w2 (B, L, d_ff, d)     only when arch.mlp, else None

Entries are iid N(0, sigma^2) with the sigma of the weight's name.  The draws
of network i come from its own generator (``numerics.rng``), in the order
wq, wk, wv, wo, w1, w2, each layer after layer, so network i is the same
whatever the batch it is drawn in.  ``lazy=True`` draws, from a stream of its
own, every weight (rows x cols) for which it takes fewer normals as a two-sided
lazy weight (numerics.lazy: n cols + n rows normals, exact in law for a forward
and a backward pass), the others in full.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from math import prod

import numpy as np

from architecture.spec import Architecture
from numerics.lazy import TwoSidedGaussian, Weight
from numerics.rng import normal_rows

WEIGHT_STREAM = "weights"
LAZY_STREAM = "weights-lazy"
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


def draws_lazily(n: int, shape: tuple[int, ...]) -> bool:
    """Whether a weight of ``shape`` (..., rows, cols) seen by n tokens takes fewer normals
    two-sided lazy, n (rows + cols), than in full, rows cols."""
    rows, cols = shape[-2:]
    return n * (rows + cols) < rows * cols


def drawn_shapes(arch: Architecture, shape: tuple[int, ...], lazy: bool
                 ) -> tuple[tuple[int, ...], ...]:
    """The standard normals a weight of ``shape`` takes: the weight itself, or (``lazy``,
    where it pays) z (..., n, cols) and g (..., n, rows) of a TwoSidedGaussian."""
    if not (lazy and draws_lazily(arch.n, shape)):
        return (shape,)
    *lead, rows, cols = shape
    return (*lead, arch.n, cols), (*lead, arch.n, rows)


def draws_per_network(arch: Architecture, lazy: bool = False) -> int:
    """Number of Gaussian draws for the weights of one network (``lazy`` as in
    ``sample_weights``)."""
    return sum(prod(drawn) for shape in weight_shapes(arch).values()
               for drawn in drawn_shapes(arch, shape, lazy))


def weight_std(arch: Architecture, name: str) -> float:
    """Standard deviation of the entries of weight ``name``."""
    sigma = {"wq": arch.sigma_q, "wk": arch.sigma_k, "wv": arch.sigma_v,
             "wo": arch.sigma_o, "w1": arch.sigma_1, "w2": arch.sigma_2}
    return sigma[name]


@dataclass(frozen=True)
class Weights:
    """Weights of a batch of networks, dense or two-sided lazy; absent weights are None
    (see module doc)."""

    wq: Weight
    wk: Weight
    wv: Weight
    wo: Weight | None
    w1: Weight | None
    w2: Weight | None

    @property
    def batch(self) -> int:
        """Number of networks B."""
        return self.wq.shape[0]

    def replace(self, **values: object) -> Weights:
        """A copy with some weights replaced by arrays (or scalars) broadcast to their shape.

        ``weights.replace(wq=0.0)`` gives every network W^Q = 0 (exactly uniform
        attention).  Only weights the architecture uses can be replaced; the
        replacement is dense.
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
    arch: Architecture, count: int, seed: int, start: int = 0, *, workers: int | None = None,
    lazy: bool = False,
) -> Weights:
    """Draw the weights of networks start, ..., start + count - 1 (float64): in full, or
    (``lazy``) two-sided lazy where that takes fewer normals (``draws_lazily``; stream
    ``LAZY_STREAM``, equal in law to the full draw for a forward and backward pass).

    The arrays are views into one (count, P) buffer, P the number of draws per network,
    so each network's draws are contiguous.
    """
    shapes = weight_shapes(arch)
    drawn = {name: drawn_shapes(arch, shape, lazy) for name, shape in shapes.items()}
    segments = [(prod(part), 1.0 if len(parts) > 1 else weight_std(arch, name))
                for name, parts in drawn.items() for part in parts]
    flat = normal_rows(seed, LAZY_STREAM if lazy else WEIGHT_STREAM, start, count, segments,
                       workers=workers)
    arrays: dict[str, Weight | None] = dict.fromkeys(WEIGHT_NAMES)
    offset = 0
    for name, parts in drawn.items():
        blocks = []
        for part in parts:
            blocks.append(flat[:, offset:offset + prod(part)].reshape(count, *part))
            offset += prod(part)
        arrays[name] = (TwoSidedGaussian(weight_std(arch, name), *blocks) if len(blocks) > 1
                        else blocks[0])
    return Weights(**arrays)
