"""Simulating a :class:`architecture.model.Model`: draw the weights its sublayers
declare, run its blocks, and measure the Gram of every block's output.

Weights of network i come from its own generator (``numerics.rng``, stream
``"model-weights"``) in the order of the blocks and, within a block, of the
sublayers' ``weights(d)`` (so network i is the same in any batch). The input is a
fixed token matrix X (n x d) or exchangeable Gaussian tokens drawn per network
(``GaussianTokens``: x_k = sqrt(s)(sqrt(rho) g + sqrt(1 - rho) h_k), so
E[X X^T] = s d ((1 - rho) I + rho J)).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from architecture.model import Block, Model
from architecture.sublayers import Attention
from architecture.validate import check_correlation, check_positive
from numerics.inputs import as_tokens, exchangeable_tokens
from numerics.jacobians import attention_jacobian_norms
from numerics.montecarlo import Sampler, sized
from numerics.rng import normal_rows
from numerics.sublayers import LayerWeights, Record, run_block, walk

WEIGHT_STREAM = "model-weights"


@dataclass(frozen=True)
class GaussianTokens:
    """Exchangeable Gaussian tokens with E[X X^T] = s d ((1 - rho) I + rho J)."""

    rho: float
    s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rho", check_correlation("rho", self.rho))
        object.__setattr__(self, "s", check_positive("s", self.s))


Tokens = np.ndarray | GaussianTokens


def block_weight_specs(model: Model, block: Block) -> dict[str, tuple[tuple[int, ...], float]]:
    out: dict[str, tuple[tuple[int, ...], float]] = {}
    for spec in block:
        out.update(spec.weights(model.d))
    return out


def draws_per_network(model: Model) -> int:
    """Gaussian draws for one network's weights."""
    return sum(prod(shape) for block in model.blocks
               for shape, _ in block_weight_specs(model, block).values())


def sample_model_weights(model: Model, count: int, seed: int, start: int = 0
                         ) -> list[LayerWeights]:
    """The weights of networks start .. start + count - 1, one LayerWeights per block."""
    specs = [block_weight_specs(model, block) for block in model.blocks]
    segments = [(prod(shape), std) for spec in specs for shape, std in spec.values()]
    if not segments:
        return [LayerWeights() for _ in specs]
    flat = normal_rows(seed, WEIGHT_STREAM, start, count, segments)
    out, offset = [], 0
    for spec in specs:
        arrays = {}
        for name, (shape, _) in spec.items():
            size = prod(shape)
            arrays[name] = flat[:, offset:offset + size].reshape(count, *shape)
            offset += size
        out.append(LayerWeights(**arrays))
    return out


def run_model(model: Model, weights: list[LayerWeights], x: np.ndarray
              ) -> list[tuple[np.ndarray, list[Record]]]:
    """(X^l, the records of block l) for l = 1..L, B networks, from X^0 = x ((n, d) shared or
    (B, n, d))."""
    batch = next((getattr(w, f).shape[0] for w in weights for f in w.__dataclass_fields__
                  if getattr(w, f) is not None), None)
    tokens = as_tokens(x)
    if tokens.shape[-2:] != (model.n, model.d):
        raise ValueError(f"X must have shape ({model.n}, {model.d}), got {tokens.shape[-2:]}")
    if batch is None:
        batch = tokens.shape[0] if tokens.ndim == 3 else 1
    current = np.broadcast_to(tokens, (batch, model.n, model.d))
    out = []
    for block, w in zip(model.blocks, weights, strict=True):
        current, records = run_block(block, w, current)
        out.append((current, records))
    return out


def first_attention(records: list[Record]) -> Record | None:
    """The record of the first attention sublayer of a block (None if it has none)."""
    return next((r for top in records for r in walk(top) if isinstance(r.spec, Attention)),
                None)


def _inputs(model: Model, tokens: Tokens, count: int, seed: int, start: int) -> np.ndarray:
    if isinstance(tokens, GaussianTokens):
        return exchangeable_tokens(model.n, model.d, tokens.rho, tokens.s, count, seed, start)
    return tokens


def layer_gram_sampler(model: Model, tokens: Tokens, jacobians: bool = False) -> Sampler:
    """Per sample, the Gram X^l (X^l)^T of every block output, row-major: (count, L n^2);
    with ``jacobians``, then ||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2 of the first
    block's first attention head at its own input (3 more columns)."""
    tokens = tokens if isinstance(tokens, GaussianTokens) else as_tokens(tokens)

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        weights = sample_model_weights(model, count, seed, start)
        x = _inputs(model, tokens, count, seed, start)
        run = run_model(model, weights, x)
        grams = [y @ np.swapaxes(y, -1, -2) for y, _ in run]
        columns = [np.stack([np.broadcast_to(g, (count, model.n, model.n)) for g in grams],
                            axis=1).reshape(count, -1)]
        if jacobians:
            record, w = first_attention(run[0][1]), weights[0]
            if record is None:
                raise ValueError("the first block has no attention sublayer")
            spec = record.spec
            norms = attention_jacobian_norms(record.x, w.wq[:, 0], w.wk[:, 0], w.wv[:, 0],
                                             spec.scale, uniform=spec.kind == "uniform")
            columns.append(np.stack([norms.query, norms.key, norms.value], axis=1))
        return np.concatenate(columns, axis=1)

    extra = model.n * model.d if isinstance(tokens, GaussianTokens) else 0
    return sized(sample, draws_per_network(model) + extra)
