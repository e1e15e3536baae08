"""Simulating a :class:`architecture.model.Model`: draw the weights its sublayers
declare, run its blocks, and measure the Gram of every block's output.

Weights of network i come from its own generator (``numerics.rng``, stream
``"model-weights"``) in the order of the blocks and, within a block, of the
sublayers' ``weights(d)`` (so network i is the same in any batch), leaving out W^Q and
W^K of uniform attention when no measurement reads them (its forward pass does not).
A weight can instead be drawn lazily (``numerics.lazy``, stream
``"model-weights-lazy"``): only its image under the token matrix that multiplies it,
n rows, or the mean token alone for W^V of uniform attention over all tokens when no
Jacobian reads it (A U W^V = 1 ubar W^V: d_v normals instead of d d_v). The input is a
fixed token matrix X (n x d) or exchangeable Gaussian tokens drawn per network
(``GaussianTokens``: x_k = sqrt(s)(sqrt(rho) g + sqrt(1 - rho) h_k), so
E[X X^T] = s d ((1 - rho) I + rho J)).

Two exact shortcuts serve the output Gram. For a stack of uniform attention and linear
MLPs (``mean_commuting``), 1^T Y Y^T 1 needs the mean token alone: it runs through the
same model on one token. For a stack of residual sublayers whose branches end in a
weight (``telescoping``), the Gram less its martingale part (``_martingale_parts``) has
the Gram's mean at a fraction of its variance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from math import prod

import numpy as np

from architecture.model import Block, Model
from architecture.sublayers import MLP, Attention, Residual, Sublayer
from architecture.validate import check_correlation, check_positive
from numerics.cache import keyed
from numerics.inputs import as_tokens, exchangeable_tokens
from numerics.jacobians import jacobian_norms_from
from numerics.lazy import LazyGaussian, times_each
from numerics.montecarlo import Sampler, sized
from numerics.rng import normal_rows
from numerics.sublayers import LayerWeights, Record, run_block, walk

WEIGHT_STREAM = "model-weights"
LAZY_STREAM = "model-weights-lazy"


@dataclass(frozen=True)
class GaussianTokens:
    """Exchangeable Gaussian tokens with E[X X^T] = s d ((1 - rho) I + rho J)."""

    rho: float
    s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rho", check_correlation("rho", self.rho))
        object.__setattr__(self, "s", check_positive("s", self.s))


Tokens = np.ndarray | GaussianTokens


def _leaves(sublayers: Sequence[Sublayer]) -> Iterator[Sublayer]:
    """The sublayers of a block with residual branches opened, in order."""
    for spec in sublayers:
        if isinstance(spec, Residual):
            yield from _leaves(spec.branch)
        else:
            yield spec


def _block_plan(model: Model, block: Block, scores: bool
                ) -> dict[str, tuple[tuple[int, ...], float, int]]:
    """(shape, std, rows seen) of every weight the block's sublayers declare; without
    ``scores``, uniform attention's W^Q, W^K (which only Jacobians read) are left out.
    The rows seen are those of the token matrix that multiplies the weight in a forward
    pass: n, except for W^V of uniform attention over all tokens when no Jacobian reads
    it: A U W^V = 1 (ubar W^V), so the forward pass sees W^V through the mean token ubar
    alone (``numerics.attention``)."""
    out: dict[str, tuple[tuple[int, ...], float, int]] = {}
    for spec in _leaves(block):
        weights = spec.weights(model.d)
        averaged = (not scores and isinstance(spec, Attention) and spec.kind == "uniform")
        if averaged:
            weights = {k: v for k, v in weights.items() if k not in ("wq", "wk")}
        for name, (shape, std) in weights.items():
            seen = 1 if averaged and spec.mask == "none" and name == "wv" else model.n
            out[name] = (shape, std, seen)
    return out


def _lazily(shape: tuple[int, ...], seen: int, lazy: bool | None) -> bool:
    """Whether a weight of ``shape`` seen through ``seen`` token rows is drawn lazily:
    always (``lazy``), never (``lazy=False``), or where that pays (None): from
    rows >= 3 seen, or one seen row (no root). The lazy draw takes ``seen`` normals per
    output column instead of ``rows`` and adds a seen x seen Gram and its Cholesky
    factor per product, which the saved normals outweigh from there on: stacks of 16
    blocks with every weight lazy ran 1.26x (softmax, n = 4, d = 12) and 1.95x
    (softmax, n = 8, d = 24) as fast as full ones, but 0.92x for softmax at n = 4,
    d = 8."""
    return (seen == 1 < shape[-2] or 3 * seen <= shape[-2]) if lazy is None else lazy


def _drawn(shape: tuple[int, ...], seen: int, lazily: bool) -> tuple[int, ...]:
    """The normals a weight of ``shape`` takes: all of it, or (lazily) ``seen`` per output
    column."""
    return (*shape[:-2], seen, shape[-1]) if lazily else shape


def draws_per_network(model: Model, lazy: bool | None = False, scores: bool = True) -> int:
    """Gaussian draws for one network's weights (``lazy`` as in ``sample_model_weights``,
    ``scores`` as in ``_block_plan``)."""
    return sum(prod(_drawn(shape, seen, _lazily(shape, seen, lazy)))
               for block in model.blocks
               for shape, _, seen in _block_plan(model, block, scores).values())


def sample_model_weights(model: Model, count: int, seed: int, start: int = 0,
                         lazy: bool | None = False, scores: bool = True) -> list[LayerWeights]:
    """The weights of networks start .. start + count - 1, one LayerWeights per block: drawn
    in full (``lazy=False``), or as the normals of their images under the token matrices
    of a forward pass (``numerics.lazy``; equal to the full draw in law): every weight
    (``lazy=True``) or where that pays (None, ``_lazily``); networks with a lazy weight
    come from their own stream. ``scores`` as in ``_block_plan`` (left-out weights
    are None)."""
    plans = [_block_plan(model, block, scores) for block in model.blocks]
    chosen = [{name: (shape, std, seen, _lazily(shape, seen, lazy))
               for name, (shape, std, seen) in plan.items()} for plan in plans]
    segments = [(prod(_drawn(shape, seen, lazily)), 1.0 if lazily else std)
                for plan in chosen for shape, std, seen, lazily in plan.values()]
    if not segments:
        return [LayerWeights() for _ in plans]
    lazily_drawn = any(lazily for plan in chosen for *_, lazily in plan.values())
    flat = normal_rows(seed, LAZY_STREAM if lazily_drawn else WEIGHT_STREAM, start, count,
                       segments)
    out, offset = [], 0
    for plan in chosen:
        arrays = {}
        for name, (shape, std, seen, lazily) in plan.items():
            drawn = _drawn(shape, seen, lazily)
            size = prod(drawn)
            block = flat[:, offset:offset + size].reshape(count, *drawn)
            arrays[name] = LazyGaussian(std, block, shape[-2]) if lazily else block
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


Run = list[tuple[np.ndarray, list[Record]]]


def _network_sampler(model: Model, tokens: Tokens, lazy: bool | None,
                     measure: Callable[[Run, list[LayerWeights], int], np.ndarray],
                     scores: bool) -> Sampler:
    """A sampler of ``measure(run, weights, count)`` over networks of ``model`` on
    ``tokens`` (fixed X, or Gaussian tokens drawn per network). ``lazy``: weights drawn
    only as far as the forward pass sees them (numerics.lazy), every one (True), none
    (False) or where that pays (None). ``scores``: whether ``measure`` reads uniform
    attention's W^Q, W^K (and so its W^V through every token)."""
    tokens = tokens if isinstance(tokens, GaussianTokens) else as_tokens(tokens)

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        weights = sample_model_weights(model, count, seed, start, lazy, scores)
        if isinstance(tokens, GaussianTokens):
            x = exchangeable_tokens(model.n, model.d, tokens.rho, tokens.s, count, seed, start)
        else:
            x = tokens
        return measure(run_model(model, weights, x), weights, count)

    extra = model.n * model.d if isinstance(tokens, GaussianTokens) else 0
    return sized(sample, draws_per_network(model, lazy, scores) + extra)


def _grams(run: Run, count: int, n: int, martingale: bool = False) -> list[np.ndarray]:
    """The Gram of every block's output in ``run``, less its martingale part if asked."""
    grams = [np.broadcast_to(y @ np.swapaxes(y, -1, -2), (count, n, n)) for y, _ in run]
    if martingale:
        grams = [g - m for g, m in zip(grams, _martingale_parts(run, count, n), strict=True)]
    return grams


def telescoping(model: Model) -> bool:
    """Whether every sublayer of the model is a residual X + alpha f(X) whose branch f ends
    in a weight (an attention's W^V or W^O, an MLP's W^2), so that the branch's output has
    mean zero given its input (``_martingale_parts``)."""
    return all(isinstance(spec, Residual) and isinstance(spec.branch[-1], Attention | MLP)
               for block in model.blocks for spec in block)


def _martingale_parts(run: Run, count: int, n: int) -> list[np.ndarray]:
    """Per block l, M_l = the sum over the residual sublayers r of blocks 1..l of
    (X_r D_r^T + D_r X_r^T), with X_r the sublayer's input and D_r its output minus X_r:
    (count, n, n) each. Block l's output Gram telescopes, Y Y^T = X X^T + M_l + sum_r
    D_r D_r^T, and each term of M_l has mean zero given everything its branch's last
    weight multiplies (that weight is fresh and of mean zero): E M_l = 0, and
    Y Y^T - M_l has the Gram's mean without its martingale fluctuation."""
    parts, total = [], np.zeros((count, n, n))
    for _, records in run:
        for r in records:
            step = r.x @ np.swapaxes(r.y - r.x, -1, -2)
            total = total + step + np.swapaxes(step, -1, -2)
        parts.append(total)
    return parts


def _attention_norms(records: list[Record], w: LayerWeights) -> np.ndarray:
    """(||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2) of a block's first attention, head 0,
    at its own input, Jacobians as in numerics.jacobians with J_i from the layer's own A
    (uniform attention: the softmax at zero logits): (B, 3). A lazy weight gives the same
    Q, K, V as the forward pass did for the same input."""
    record = first_attention(records)
    if record is None:
        raise ValueError("a block has no attention sublayer")
    x, spec, cache = record.x, record.spec, record.cache[0]
    if cache.q is not None:  # the forward pass's own Q, K, V of head 0
        q, k, v = cache.q[:, 0], cache.k[:, 0], cache.v[:, 0]
    else:  # uniform attention's forward needs no Q, K (nor, for the mean token, V)
        q, k, v = times_each(x, [getattr(w, name)[:, 0] for name in ("wq", "wk", "wv")])
    a = cache.a[:, 0]  # uniform: softmax at zero logits (J/n, or the causal mean)
    norms = jacobian_norms_from(x @ np.swapaxes(x, -1, -2), q, k, v, a, spec.scale)
    return np.stack([norms.query, norms.key, norms.value], axis=1)


@keyed
def layer_gram_sampler(model: Model, tokens: Tokens, jacobians: bool = False,
                       summary: str = "gram", lazy: bool | None = None) -> Sampler:
    """Per sample, ``gram_summary`` of the Gram X^l (X^l)^T of every block output, block
    after block: (count, L n^2) for ``gram`` (row-major), (count, 2 L) for ``entries``;
    with ``jacobians``, then ||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2 of the first
    block's first attention head at its own input (3 more columns). ``lazy`` as in
    ``_network_sampler``."""
    _check_summary(summary)

    def measure(run: Run, weights: list[LayerWeights], count: int) -> np.ndarray:
        columns = [gram_summary(g, summary).reshape(count, -1)
                   for g in _grams(run, count, model.n)]
        if jacobians:
            columns.append(_attention_norms(run[0][1], weights[0]))
        return np.concatenate(columns, axis=1)

    return _network_sampler(model, tokens, lazy, measure, scores=jacobians)


def gram_summary(g: np.ndarray, summary: str) -> np.ndarray:
    """A summary of Gram matrices G (B, n, n), per network:

    - ``diagonal``, ``off-diagonal``: the mean diagonal / off-diagonal entry, (B,);
    - ``entries``: (mean diagonal, mean off-diagonal), (B, 2);
    - ``spread``: (mean diagonal - mean off-diagonal, mean diagonal), (B, 2), whose ratio
      of means estimates 1 - rho = E[q - c] / E[q];
    - ``cosine-distance``: 1 - the mean over k != k' of G_kk' / sqrt(G_kk G_k'k'), (B,);
    - ``inner-product-sum``: 1^T G 1, (B,); ``squared-norm``: tr G, (B,);
    - ``gram``: G row-major, (B, n^2).
    """
    n = g.shape[-1]
    diag = np.einsum("...ii->...i", g)
    if summary == "gram":
        return g.reshape(g.shape[0], -1)
    if summary == "cosine-distance":
        cos = g / np.sqrt(diag[..., :, None] * diag[..., None, :])
        return 1.0 - (cos.sum(axis=(-1, -2)) - n) / (n * (n - 1))
    trace, total = diag.sum(axis=-1), g.sum(axis=(-1, -2))
    mean_diag, mean_off = trace / n, (total - trace) / (n * (n - 1))
    values = {"diagonal": mean_diag, "off-diagonal": mean_off,
              "entries": np.stack([mean_diag, mean_off], axis=-1),
              "spread": np.stack([mean_diag - mean_off, mean_diag], axis=-1),
              "inner-product-sum": total, "squared-norm": trace}
    _check_summary(summary)
    return values[summary]


def _check_summary(summary: str) -> None:
    if summary not in GRAM_SUMMARIES:
        raise ValueError(f"summary must be one of {', '.join(GRAM_SUMMARIES)}, got {summary!r}")


GRAM_SUMMARIES = ("diagonal", "off-diagonal", "entries", "spread", "cosine-distance",
                  "inner-product-sum", "squared-norm", "gram")


def mean_commuting(model: Model) -> bool:
    """Whether every sublayer maps the mean token alone, mean_k f(X)_k = f(xbar) for
    every X: uniform attention over all tokens (A U W^V = 1 ubar W^V, head by head, then
    W^O), a linear MLP (U W^1 W^2), and residual branches of them. The mean token of the
    output is then the output of the same model, with the same weights, on the one token
    xbar."""
    def commutes(spec: Sublayer) -> bool:
        if isinstance(spec, Residual):
            return all(commutes(part) for part in spec.branch)
        if isinstance(spec, Attention):
            return spec.kind == "uniform" and spec.mask == "none"
        return isinstance(spec, MLP) and spec.activation == "linear"

    return all(commutes(spec) for block in model.blocks for spec in block)


def _output_gram(run: Run, count: int, n: int, martingale: bool) -> np.ndarray:
    """The Gram of the last block's output, less its martingale part if asked."""
    return _grams(run, count, n, True)[-1] if martingale else _grams(run[-1:], count, n)[0]


def _mean_token_sampler(model: Model, x: np.ndarray, lazy: bool | None,
                        martingale: bool) -> Sampler:
    """1^T Y Y^T 1 = n^2 ||ybar||^2 of the last block's output Y from a fixed X, for a
    ``mean_commuting`` model: the one-token model on xbar gives ybar, and a weight seen
    through one row is drawn lazily as d normals (``_lazily``) instead of d^2."""
    if x.shape[-2:] != (model.n, model.d):
        raise ValueError(f"X must have shape ({model.n}, {model.d}), got {x.shape[-2:]}")
    single = replace(model, n=1)
    n = model.n

    def measure(run: Run, weights: list[LayerWeights], count: int) -> np.ndarray:
        return n * n * _output_gram(run, count, 1, martingale)[:, 0, 0]

    return _network_sampler(single, x.mean(axis=-2, keepdims=True), lazy, measure, False)


@keyed
def output_sampler(model: Model, tokens: Tokens, summary: str, lazy: bool | None = None,
                   martingale: bool = False) -> Sampler:
    """``gram_summary`` of the Gram Y Y^T of the last block's output Y, per network
    (``lazy`` as in ``_network_sampler``). The inner-product sum of a ``mean_commuting``
    model on a fixed X is measured through the mean token alone unless ``lazy`` is
    False: the same law, at d normals per weight. With ``martingale`` (a ``telescoping``
    model and a summary linear in the Gram), of Y Y^T less its martingale part
    (``_martingale_parts``): the same mean, a smaller variance."""
    _check_summary(summary)
    if martingale:
        _check_martingale((model,), summary)
    if (summary == "inner-product-sum" and lazy is not False and mean_commuting(model)
            and not isinstance(tokens, GaussianTokens)):
        return _mean_token_sampler(model, as_tokens(tokens), lazy, martingale)
    return _network_sampler(model, tokens, lazy, lambda run, weights, count: gram_summary(
        _output_gram(run, count, model.n, martingale), summary), scores=False)


def _check_martingale(models: tuple[Model, ...], summary: str) -> None:
    if summary == "cosine-distance" or not all(telescoping(m) for m in models):
        raise ValueError("the martingale part needs a summary linear in the Gram and a model "
                         "of residual sublayers whose branches end in a weight")


@keyed
def common_gram_sampler(models: tuple[Model, ...], tokens: Tokens, summary: str,
                        last: bool = False, martingale: bool = False) -> Sampler:
    """``gram_summary`` of the Gram of every block's output (or the last one's, ``last``)
    under each of ``models`` in turn, on the same networks and inputs (common random
    numbers): (count, M L k), or (count, M k) with ``last``, for M models and a summary
    of k columns. Every model takes every weight in full, W^Q and W^K included
    (``scores``), so the models must declare the same weights (shapes and scales):
    models that differ only in attention kind or in where their LayerNorms sit do. A
    difference or a ratio across models then varies only as much as the models
    disagree on one network. With ``martingale``, each model's Grams less their own
    martingale parts (as in ``output_sampler``)."""
    _check_summary(summary)
    if not isinstance(models, tuple) or not models:
        raise ValueError("models must be a non-empty tuple of models")
    if martingale:
        _check_martingale(models, summary)
    first = models[0]
    plan = [_block_plan(first, block, True) for block in first.blocks]
    for other in models[1:]:
        if ((other.n, other.d) != (first.n, first.d)
                or [_block_plan(other, block, True) for block in other.blocks] != plan):
            raise ValueError("models on common networks must declare the same weights")

    def grams(run: Run, count: int) -> list[np.ndarray]:
        chosen = ([_output_gram(run, count, first.n, martingale)] if last
                  else _grams(run, count, first.n, martingale))
        return [gram_summary(g, summary).reshape(count, -1) for g in chosen]

    def measure(run: Run, weights: list[LayerWeights], count: int) -> np.ndarray:
        x0 = run[0][1][0].x  # the input X^0, as the first sublayer received it
        runs = [run] + [run_model(other, weights, x0) for other in models[1:]]
        return np.concatenate([g for r in runs for g in grams(r, count)], axis=1)

    return _network_sampler(first, tokens, False, measure, scores=True)


NORMS = {"query": lambda t: t[:, 0], "key": lambda t: t[:, 1], "value": lambda t: t[:, 2],
         "query/value": lambda t: t[:, 0] / t[:, 2]}


@keyed
def block_attention_norms_sampler(model: Model, tokens: Tokens, which: str,
                                  block: int | None = None, lazy: bool | None = None
                                  ) -> Sampler:
    """||dS_l/dW^which_l||_F^2 (which: query, key, value, or the ratio query/value) of block
    l's first attention, head 0, at its own input: every block, (count, L), or only
    ``block`` (an index), (count,); ``lazy`` as in ``_network_sampler``."""
    pick = NORMS.get(which)
    if pick is None:
        raise ValueError(f"which must be one of {', '.join(NORMS)}, got {which!r}")
    chosen = range(model.depth) if block is None else [range(model.depth)[block]]

    def measure(run: Run, weights: list[LayerWeights], count: int) -> np.ndarray:
        norms = np.stack([pick(_attention_norms(run[i][1], weights[i])) for i in chosen],
                         axis=1)
        return norms if block is None else norms[:, 0]

    return _network_sampler(model, tokens, lazy, measure, scores=True)
