"""Composable sublayers: the pieces every model here is built from.

A block is a sequence of sublayers applied to the token stream X (n x d):

    Attention   S(U) = concat_h(A_h U W^V_h) W^O   (W^O only with several heads or
                d_v != d); A = softmax_rows(scale Q K^T + mask) or, for ``uniform``, the
                average over the visible tokens (J/n, or the causal running mean)
    MLP         phi(U W^1) W^2
    LayerNorm   (x - mean x) / sqrt(var x + eps), over features
    Residual    X + alpha * branch(X), the branch a sequence of sublayers (a Pre-LN
                branch starts with a LayerNorm)

Every spec knows its weights (``weights(d)``: name -> shape and standard
deviation) and its output width. Each kind has one theory map (``theory.blocks``)
and one numerics apply (``numerics.sublayers``), dispatched on the spec's type,
so a new kind is one spec here, one map and one apply. Specs hold numbers only (standard library).
"""

from __future__ import annotations

from dataclasses import dataclass

from architecture.validate import check_nonnegative, check_positive_int

MASKS = ("none", "causal")
KINDS = ("softmax", "uniform")
ACTIVATIONS = ("linear", "relu", "gelu", "tanh")

#: a sublayer's weights: name -> (shape, standard deviation of the iid Gaussian entries)
WeightSpec = dict[str, tuple[tuple[int, ...], float]]


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _check_fields(spec: object, ints: tuple[str, ...], sigmas: tuple[str, ...]) -> None:
    for name in ints:
        object.__setattr__(spec, name, check_positive_int(name, getattr(spec, name)))
    for name in sigmas:
        object.__setattr__(spec, name, check_nonnegative(name, getattr(spec, name)))


@dataclass(frozen=True)
class Attention:
    """Multi-head self-attention. Weights: W^Q, W^K (d x d_k), W^V (d x d_v) per head,
    W^O (heads d_v x d) when ``output_projection``; entries iid N(0, sigma^2)."""

    heads: int
    d_k: int
    d_v: int
    scale: float
    kind: str = "softmax"
    mask: str = "none"
    output_projection: bool = False
    sigma_q: float = 1.0
    sigma_k: float = 1.0
    sigma_v: float = 1.0
    sigma_o: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("attention", self.kind, KINDS)
        _check_choice("mask", self.mask, MASKS)
        _check_fields(self, ("heads", "d_k", "d_v"), ("sigma_q", "sigma_k", "sigma_v", "sigma_o"))
        object.__setattr__(self, "scale", check_nonnegative("scale", self.scale))
        if not isinstance(self.output_projection, bool):
            raise ValueError(f"output_projection must be true or false, got "
                             f"{self.output_projection!r}")

    def weights(self, d: int) -> WeightSpec:
        """W^Q, W^K (heads, d, d_k), W^V (heads, d, d_v), W^O (heads d_v, d) if used."""
        h = self.heads
        out = {"wq": ((h, d, self.d_k), self.sigma_q), "wk": ((h, d, self.d_k), self.sigma_k),
               "wv": ((h, d, self.d_v), self.sigma_v)}
        if self.output_projection:
            out["wo"] = ((h * self.d_v, d), self.sigma_o)
        return out

    def output_width(self, d: int) -> int:
        return d if self.output_projection else self.heads * self.d_v


@dataclass(frozen=True)
class MLP:
    """phi(U W^1) W^2 with W^1 (d x d_ff), W^2 (d_ff x d)."""

    activation: str
    d_ff: int
    sigma_1: float = 1.0
    sigma_2: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("mlp", self.activation, ACTIVATIONS)
        _check_fields(self, ("d_ff",), ("sigma_1", "sigma_2"))

    def weights(self, d: int) -> WeightSpec:
        return {"w1": ((d, self.d_ff), self.sigma_1), "w2": ((self.d_ff, d), self.sigma_2)}

    def output_width(self, d: int) -> int:
        return d


@dataclass(frozen=True)
class LayerNorm:
    eps: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_nonnegative("eps", self.eps))

    def weights(self, d: int) -> WeightSpec:
        return {}

    def output_width(self, d: int) -> int:
        return d


@dataclass(frozen=True)
class Residual:
    """X + alpha * branch(X). The branch ends in a weight of mean zero (attention or MLP),
    so it is uncorrelated with X: the theory's residual map relies on it."""

    branch: tuple[Attention | MLP | LayerNorm, ...]
    alpha: float

    def __post_init__(self) -> None:
        branch = tuple(self.branch)
        if not branch or not isinstance(branch[-1], Attention | MLP):
            raise ValueError("a residual branch must end in an attention or MLP sublayer")
        if any(isinstance(part, Residual) for part in branch):
            raise ValueError("a residual branch cannot hold another residual")
        object.__setattr__(self, "branch", branch)
        object.__setattr__(self, "alpha", check_nonnegative("alpha", self.alpha))

    def weights(self, d: int) -> WeightSpec:
        out: WeightSpec = {}
        for part in self.branch:
            out.update(part.weights(d))
        return out

    def output_width(self, d: int) -> int:
        return d


Sublayer = Attention | MLP | LayerNorm | Residual

#: the kinds a block may hold directly or in a residual branch; a new kind is added here
KINDS_OF_SUBLAYER: tuple[type, ...] = (Attention, MLP, LayerNorm)
#: the allowed values of every string field of a spec, by field name
CHOICES: dict[str, tuple[str, ...]] = {"kind": KINDS, "mask": MASKS, "activation": ACTIVATIONS}
