"""Frozen, validated description of a transformer at initialization.

Notation: tokens are the rows of X (n x d).

    attention  S(X) = A X W^V,  A = softmax_rows(tau * X W^Q (X W^K)^T + mask)
               tau = 1/sqrt(d_k) ("inv_sqrt_dk") or 1/d_k ("inv_dk");
               "uniform" attention replaces A by the average over the visible tokens
               (J/n, or with a causal mask the running mean of tokens 1..i).
    multi-head H heads of widths d_k, d_v, concatenated, then W^O (H d_v x d).
    MLP        phi(Z W^1) W^2,  W^1: d x d_ff,  W^2: d_ff x d.
    LayerNorm  LN(x) = (x - mean(x)) / sqrt(var(x) + eps), over features.
    blocks     none: Z = X + a1 S(X),         Y = Z + a2 MLP(Z)
               post: Z = LN(X + a1 S(X)),     Y = LN(Z + a2 MLP(Z))
               pre:  Z = X + a1 S(LN(X)),     Y = Z + a2 MLP(LN(Z))
    residual   a_i = alpha_i ("constant") or alpha_i / sqrt(depth)
               ("inv_sqrt_depth").

A block is a sequence of composable sublayers (``sublayers()``, see
architecture.sublayers), the same for every block; the weights differ.
All weights have iid N(0, sigma^2) entries with the sigma of their name.
W^O (heads*d_v x d) is used whenever heads > 1 or d_v != d; with one head
of width d_v = d the block adds S itself (``uses_output_projection``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from architecture.model import Model, transformer_block
from architecture.sublayers import ACTIVATIONS, MASKS, MLP, Attention, Sublayer
from architecture.validate import (
    check_nonnegative,
    check_positive,
    check_positive_int,
)

NORMS = ("none", "pre", "post")
ATTENTIONS = ("softmax", "uniform")
TEMPERATURES = ("inv_sqrt_dk", "inv_dk")
RESIDUAL_SCALINGS = ("constant", "inv_sqrt_depth")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


@dataclass(frozen=True)
class Architecture:
    """A transformer stack at initialization; every field is validated.

    Dimensions: ``n`` tokens of width ``d``; per head ``d_k`` (queries/keys)
    and ``d_v`` (values); ``d_ff`` hidden MLP width; ``heads`` heads;
    ``depth`` blocks.  ``mlp=False`` drops the MLP sub-block (attention-only
    stacks, as in the rank-collapse claims).
    """

    n: int = 8
    d: int = 32
    d_k: int = 32
    d_v: int = 32
    d_ff: int = 128
    heads: int = 1
    depth: int = 1
    norm: str = "none"
    activation: str = "relu"
    attention: str = "softmax"
    mask: str = "none"
    temperature: str = "inv_sqrt_dk"
    mlp: bool = True
    alpha_1: float = 1.0
    alpha_2: float = 1.0
    residual_scaling: str = "constant"
    sigma_q: float = 1.0
    sigma_k: float = 1.0
    sigma_v: float = 1.0
    sigma_o: float = 1.0
    sigma_1: float = 1.0
    sigma_2: float = 1.0
    ln_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("n", "d", "d_k", "d_v", "d_ff", "heads", "depth"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("attention", self.attention, ATTENTIONS)
        _check_choice("mask", self.mask, MASKS)
        _check_choice("temperature", self.temperature, TEMPERATURES)
        _check_choice("residual_scaling", self.residual_scaling, RESIDUAL_SCALINGS)
        if not isinstance(self.mlp, bool):
            raise ValueError(f"mlp must be true or false, got {self.mlp!r}")
        for name in ("alpha_1", "alpha_2", "sigma_q", "sigma_k", "sigma_v",
                     "sigma_o", "sigma_1", "sigma_2"):
            object.__setattr__(self, name, check_nonnegative(name, getattr(self, name)))
        object.__setattr__(self, "ln_eps", check_positive("ln_eps", self.ln_eps))

    @property
    def uses_output_projection(self) -> bool:
        """True when heads are mixed by W^O (heads > 1 or d_v != d)."""
        return self.heads > 1 or self.d_v != self.d

    @property
    def tau(self) -> float:
        """Logit temperature: 1/sqrt(d_k) or 1/d_k."""
        return 1.0 / math.sqrt(self.d_k) if self.temperature == "inv_sqrt_dk" else 1.0 / self.d_k

    @property
    def residual_1(self) -> float:
        """Effective attention-branch scaling a_1 (alpha_1 or alpha_1/sqrt(L))."""
        return self._scaled(self.alpha_1)

    @property
    def residual_2(self) -> float:
        """Effective MLP-branch scaling a_2 (alpha_2 or alpha_2/sqrt(L))."""
        return self._scaled(self.alpha_2)

    def _scaled(self, alpha: float) -> float:
        if self.residual_scaling == "inv_sqrt_depth":
            return alpha / math.sqrt(self.depth)
        return alpha

    def sublayers(self) -> tuple[Sublayer, ...]:
        """One block as composable sublayers (the same for every block)."""
        attention = Attention(heads=self.heads, d_k=self.d_k, d_v=self.d_v, scale=self.tau,
                              kind=self.attention, mask=self.mask,
                              output_projection=self.uses_output_projection,
                              sigma_q=self.sigma_q, sigma_k=self.sigma_k,
                              sigma_v=self.sigma_v, sigma_o=self.sigma_o)
        mlp = MLP(self.activation, self.d_ff, self.sigma_1, self.sigma_2) if self.mlp else None
        return transformer_block(attention, mlp, self.norm, self.residual_1, self.residual_2,
                                 self.ln_eps)

    def model(self) -> Model:
        """The stack as a :class:`Model`: ``depth`` copies of ``sublayers()``."""
        return Model(self.n, self.d, (self.sublayers(),) * self.depth)

    def replace(self, **changes: Any) -> Architecture:
        """A validated copy with some fields changed."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for reports)."""
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
