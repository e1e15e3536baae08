"""A model: n tokens of width d through a stack of blocks of sublayers.

``Model(n, d, blocks)`` is the description both engines read: the theory maps
the expected Gram block after block (``theory.blocks``), the numerics draws
the weights each sublayer declares and runs it (``numerics.stack``). Blocks
need not repeat. Constructors give the paper's block (Sec. 2: attention and
feed-forward branches, no LayerNorm), the Pre-LN and the Post-LN block.

Default variances are the paper's Xavier/He values (``xavier``):
sigma_q^2 = sigma_k^2 = 1/d_k, sigma_v^2 = 1/d, sigma_o^2 = 1/(heads d_v),
sigma_1^2 = 1/d (2/d before a ReLU), sigma_2^2 = 1/d_ff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from architecture.sublayers import MLP, Attention, LayerNorm, Residual, Sublayer
from architecture.validate import check_positive_int

Block = tuple[Sublayer, ...]


def _widths(spec: Sublayer, d: int) -> None:
    if isinstance(spec, Residual):
        for part in spec.branch:
            _widths(part, d)
    elif spec.output_width(d) != d:
        raise ValueError(f"without W^O an attention sublayer needs heads * d_v = d = {d}, got "
                         f"{spec.heads} * {spec.d_v}")


def _parts(spec: Sublayer) -> tuple[Sublayer, ...]:
    return spec.branch if isinstance(spec, Residual) else (spec,)


@dataclass(frozen=True)
class Model:
    """n tokens of width d; ``blocks[l]`` is the sublayer sequence of block l + 1. A block
    has at most one attention and one MLP sublayer (its weights are one layer's)."""

    n: int
    d: int
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_positive_int("n", self.n))
        object.__setattr__(self, "d", check_positive_int("d", self.d))
        blocks = tuple(tuple(block) for block in self.blocks)
        if not blocks or any(not block for block in blocks):
            raise ValueError("a model needs at least one block, each with a sublayer")
        for block in blocks:
            flat = [part for spec in block for part in _parts(spec)]
            for kind in (Attention, MLP):
                if sum(isinstance(p, kind) for p in flat) > 1:
                    raise ValueError(f"a block holds at most one {kind.__name__} sublayer")
            for spec in block:
                if not isinstance(spec, Attention | MLP | LayerNorm | Residual):
                    raise ValueError(f"unknown sublayer {spec!r}")
                _widths(spec, self.d)
        object.__setattr__(self, "blocks", blocks)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def widen(self, factor: int) -> Model:
        """Every width times ``factor`` (d, d_k, d_v, d_ff) with every variance over its
        fan-in scaled by 1/factor, so the per-layer maps of the large-width limit stay
        fixed: the ladder of an asymptotic check."""
        factor = check_positive_int("factor", factor)
        root = math.sqrt(factor)

        def wide(spec: Sublayer) -> Sublayer:
            if isinstance(spec, Attention):
                return replace(spec, d_k=spec.d_k * factor, d_v=spec.d_v * factor,
                               sigma_q=spec.sigma_q / root, sigma_k=spec.sigma_k / root,
                               sigma_v=spec.sigma_v / root, sigma_o=spec.sigma_o / root,
                               scale=spec.scale / root)  # the 1/sqrt(d_k) temperature
            if isinstance(spec, MLP):
                return replace(spec, d_ff=spec.d_ff * factor, sigma_1=spec.sigma_1 / root,
                               sigma_2=spec.sigma_2 / root)
            if isinstance(spec, Residual):
                return replace(spec, branch=tuple(wide(p) for p in spec.branch))
            return spec

        return Model(self.n, self.d * factor, tuple(tuple(wide(s) for s in block)
                                                    for block in self.blocks))


def xavier_attention(d: int, d_k: int | None = None, d_v: int | None = None, heads: int = 1,
                     kind: str = "softmax", mask: str = "none",
                     temperature: str = "inv_sqrt_dk") -> Attention:
    """Attention with the paper's Xavier variances; W^O whenever heads > 1 or d_v != d."""
    d_k = d if d_k is None else d_k
    d_v = d if d_v is None else d_v
    scale = 1 / math.sqrt(d_k) if temperature == "inv_sqrt_dk" else 1 / d_k
    return Attention(heads=heads, d_k=d_k, d_v=d_v, scale=scale, kind=kind, mask=mask,
                     output_projection=heads > 1 or d_v != d, sigma_q=1 / math.sqrt(d_k),
                     sigma_k=1 / math.sqrt(d_k), sigma_v=1 / math.sqrt(d),
                     sigma_o=1 / math.sqrt(heads * d_v))


def xavier_mlp(d: int, activation: str = "relu", d_ff: int | None = None) -> MLP:
    """phi(U W^1) W^2 with sigma_1^2 = 1/d (2/d before a ReLU) and sigma_2^2 = 1/d_ff."""
    d_ff = d if d_ff is None else d_ff
    gain = 2.0 if activation == "relu" else 1.0
    return MLP(activation, d_ff, sigma_1=math.sqrt(gain / d), sigma_2=1 / math.sqrt(d_ff))


def transformer_block(attention: Attention, mlp: MLP | None, norm: str = "none",
                      alpha_1: float = 1.0, alpha_2: float = 1.0, eps: float = 1e-5) -> Block:
    """X -> X + alpha_1 S(X) -> Z + alpha_2 MLP(Z), with LayerNorm ``none``, ``pre`` (at the
    start of each branch) or ``post`` (after each residual sum); the paper's block is
    ``norm="none"``."""
    if norm not in ("none", "pre", "post"):
        raise ValueError(f"norm must be one of none, pre, post, got {norm!r}")
    ln = LayerNorm(eps)
    pre = (ln,) if norm == "pre" else ()
    post = (ln,) if norm == "post" else ()
    block: Block = (Residual((*pre, attention), alpha_1), *post)
    if mlp is not None:
        block += (Residual((*pre, mlp), alpha_2), *post)
    return block


def paper_block(d: int, activation: str = "relu", alpha_1: float = 1.0,
                alpha_2: float = 1.0, attention: str = "softmax") -> Block:
    """Sec. 2's block at Xavier: no LayerNorm, one head with d_k = d_v = d, W^{F1}, W^{F2}."""
    return transformer_block(xavier_attention(d, kind=attention), xavier_mlp(d, activation),
                             "none", alpha_1, alpha_2)


def pre_ln_block(d: int, activation: str = "relu", alpha: float = 1.0) -> Block:
    return transformer_block(xavier_attention(d), xavier_mlp(d, activation), "pre", alpha, alpha)


def post_ln_block(d: int, activation: str = "relu", alpha: float = 1.0) -> Block:
    return transformer_block(xavier_attention(d), xavier_mlp(d, activation), "post", alpha,
                             alpha)
