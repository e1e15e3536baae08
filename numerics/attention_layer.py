"""Samplers of one self-attention layer at initialization, in a paper's notation.

Tokens X (n x d_v); W^Q, W^K (d_v x d_k) and W^V (d_v x d_v) with iid
N(0, sigma^2) entries of their names; logits M = scale * X W^Q (X W^K)^T
(scale = tau / sqrt(d_k) for an inverse temperature tau); A = softmax_rows(M),
or, under the uniform-attention assumption, A = J/n with the softmax Jacobian
taken at uniform attention. Each sampler returns per-sample values of the
quantity itself, computed from the draws (``numerics.jacobians`` for the
Jacobian norms); sample i depends only on (seed, i).

Tokens are a fixed X, or the exchangeable Gaussian tokens of
``numerics.inputs.exchangeable_tokens`` drawn per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics.cache import keyed
from numerics.inputs import as_tokens, exchangeable_tokens
from numerics.jacobians import attention_jacobian_norms, attention_matrix, input_jacobian_norm
from numerics.layers import softmax_rows, softmax_rows_backward
from numerics.montecarlo import Sampler, sized
from numerics.rng import chisquare_rows, normal_rows

WHICH = ("value", "query", "key", "input")
LAYER_STREAM = "attention-layer"
PROJECTION_STREAM = "attention-projections"
WISHART_STREAM = "attention-logits-wishart"  # the normals of G and of T below its diagonal
CHI2_STREAM = "attention-logits-wishart-chi2"  # T's diagonal
#: fixed-X logits are drawn through Bartlett's decomposition from d_k = BARTLETT_FROM n on
#: (``Layer.logits``; exact in law for any d_k >= n)
BARTLETT_FROM = 4


@dataclass(frozen=True)
class Layer:
    """One attention layer: widths, weight standard deviations, logit scale, and whether
    the uniform-attention assumption replaces the softmax."""

    n: int
    d_v: int
    d_k: int
    sigma_q: float
    sigma_k: float
    sigma_v: float
    scale: float
    uniform: bool = False

    def draws(self) -> int:
        return 2 * self.d_v * self.d_k + self.d_v * self.d_v

    def weights(self, start: int, count: int, seed: int) -> tuple[np.ndarray, ...]:
        """(W^Q, W^K, W^V) of samples start .. start + count - 1."""
        dv, dk = self.d_v, self.d_k
        flat = normal_rows(seed, LAYER_STREAM, start, count,
                           [(dv * dk, self.sigma_q), (dv * dk, self.sigma_k),
                            (dv * dv, self.sigma_v)])
        wq = flat[:, :dv * dk].reshape(count, dv, dk)
        wk = flat[:, dv * dk:2 * dv * dk].reshape(count, dv, dk)
        wv = flat[:, 2 * dv * dk:].reshape(count, dv, dv)
        return wq, wk, wv


    def logits(self, x: np.ndarray, start: int, count: int, seed: int) -> np.ndarray:
        """M = scale X W^Q (X W^K)^T of samples start .. start + count - 1, (count, n, n),
        for a fixed X, drawn without the weights.

        The columns of X W^Q are iid N(0, sigma_q^2 X X^T), so X W^Q = sigma_q F Z_q with
        F F^T = X X^T (F from the eigendecomposition, valid for a singular X X^T too) and
        Z_q (n x d_k) standard normal; likewise X W^K = sigma_k F Z_k independently, and
        M = scale sigma_q sigma_k F (Z_q Z_k^T) F^T. Given Z_k the rows of Z_q Z_k^T are
        iid N(0, Z_k Z_k^T), and Z_k Z_k^T is Wishart_n(d_k, I): the law of T T^T for T
        lower triangular with T_ii = sqrt(chi^2_{d_k - i}) (i = 0 .. n - 1) and standard
        normals below the diagonal (Bartlett's decomposition, d_k >= n). So Z_q Z_k^T has
        the law of G T^T, G (n x n) standard normal: n^2 + n (n - 1) / 2 normals and n
        chi-squares per sample instead of 2 n d_k normals, and exactly the law of
        everything the logits determine. That pays from d_k = BARTLETT_FROM n on (at
        n = 4: 2.7 against 5.3 us per sample at d_k = 16, 7 against 1560 us at
        d_k = 6400); below, Z_q and Z_k themselves are drawn."""
        gram = x @ x.T
        eigenvalues, vectors = np.linalg.eigh(gram)
        factor = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
        n, dk = self.n, self.d_k
        if dk >= BARTLETT_FROM * n:
            product = _bartlett_product(n, dk, start, count, seed)
        else:
            flat = normal_rows(seed, PROJECTION_STREAM, start, count,
                               [(n * dk, 1.0), (n * dk, 1.0)])
            zq, zk = flat[:, :n * dk].reshape(count, n, dk), flat[:, n * dk:].reshape(count, n, dk)
            product = zq @ np.swapaxes(zk, 1, 2)
        return self.scale * self.sigma_q * self.sigma_k * (factor @ product @ factor.T)

    def logit_draws(self) -> int:
        """Random numbers per sample of ``logits``."""
        n = self.n
        return (n * n + n * (n - 1) // 2 + n if self.d_k >= BARTLETT_FROM * n
                else 2 * n * self.d_k)


def _bartlett_product(n: int, dk: int, start: int, count: int, seed: int) -> np.ndarray:
    """G T^T (count, n, n): G standard normal, T the Bartlett factor of Wishart_n(dk, I)
    (``Layer.logits``)."""
    lower = np.tril_indices(n, -1)
    segments = [(n * n, 1.0)] + ([(len(lower[0]), 1.0)] if n > 1 else [])
    flat = normal_rows(seed, WISHART_STREAM, start, count, segments)
    t = np.zeros((count, n, n))
    diagonal = np.arange(n)
    t[:, diagonal, diagonal] = np.sqrt(chisquare_rows(seed, CHI2_STREAM, start, count,
                                                      [dk - i for i in range(n)]))
    t[:, lower[0], lower[1]] = flat[:, n * n:]
    return flat[:, :n * n].reshape(count, n, n) @ np.swapaxes(t, 1, 2)


@dataclass(frozen=True)
class Tokens:
    """A fixed X (n x d_v), or exchangeable Gaussian tokens (rho, sigma_x) per sample."""

    x: np.ndarray | None = None
    rho: float = 0.0
    sigma_x: float = 1.0

    def draw(self, layer: Layer, start: int, count: int, seed: int) -> np.ndarray:
        if self.x is not None:
            return self.x
        return exchangeable_tokens(layer.n, layer.d_v, self.rho, self.sigma_x**2, count,
                                   seed, start)

    def draws(self, layer: Layer) -> int:
        return 0 if self.x is not None else layer.n * layer.d_v + layer.d_v


def fixed(x: object, layer: Layer) -> Tokens:
    """Fixed tokens, checked against the layer's shape."""
    tokens = as_tokens(x)
    if tokens.shape != (layer.n, layer.d_v):
        raise ValueError(f"X must have shape ({layer.n}, {layer.d_v}), got {tokens.shape}")
    return Tokens(x=tokens)


@keyed
def jacobian_norm_sampler(layer: Layer, tokens: Tokens, which: str) -> Sampler:
    """||dS/dW||_F^2 for W = W^V, W^Q, W^K (``which`` value, query, key) or the input X."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {', '.join(WHICH)}, got {which!r}")

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        wq, wk, wv = layer.weights(start, count, seed)
        x = tokens.draw(layer, start, count, seed)
        if which == "input":
            return input_jacobian_norm(x, wq, wk, wv, layer.scale, layer.uniform)
        norms = attention_jacobian_norms(x, wq, wk, wv, layer.scale, layer.uniform)
        return getattr(norms, which)

    return sized(sample, layer.draws() + tokens.draws(layer))


def _logits(layer: Layer, tokens: Tokens, start: int, count: int, seed: int) -> np.ndarray:
    """M = scale X W^Q (X W^K)^T of samples start .. start + count - 1: without the weights
    for a fixed X (``Layer.logits``), from the full weights for tokens drawn per sample."""
    if tokens.x is not None:
        return layer.logits(tokens.x, start, count, seed)
    wq, wk, _ = layer.weights(start, count, seed)
    x = tokens.draw(layer, start, count, seed)
    return layer.scale * (x @ wq) @ np.swapaxes(x @ wk, 1, 2)


def _logit_draws(layer: Layer, tokens: Tokens) -> int:
    return layer.logit_draws() if tokens.x is not None else (
        layer.draws() + tokens.draws(layer))


@keyed
def logit_sampler(layer: Layer, tokens: Tokens, i: int, j: int, power: int) -> Sampler:
    """M_ij ** power (tokens i, j counted from 0), M = scale X W^Q (X W^K)^T."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        return _logits(layer, tokens, start, count, seed)[:, i, j] ** power

    return sized(sample, _logit_draws(layer, tokens))


@keyed
def uniform_deviation_sampler(layer: Layer, tokens: Tokens) -> Sampler:
    """(1/n^2) ||A - J/n||_F^2 of the softmax attention matrix."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        gap = softmax_rows(_logits(layer, tokens, start, count, seed)) - 1.0 / layer.n
        return np.einsum("bij,bij->b", gap, gap) / layer.n**2

    return sized(sample, _logit_draws(layer, tokens))


@keyed
def centered_gram_sampler(layer: Layer, tokens: Tokens) -> Sampler:
    """||X^T X - n xbar xbar^T||_F^2 of the tokens (no weights)."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        x = np.broadcast_to(tokens.draw(layer, start, count, seed), (count, layer.n, layer.d_v))
        centred = x - x.mean(axis=1, keepdims=True)
        g = centred @ np.swapaxes(centred, 1, 2)
        return np.einsum("bij,bij->b", g, g)

    return sized(sample, tokens.draws(layer) + 1)


def _attention_output(layer: Layer, x: np.ndarray, start: int, count: int, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(S = A X W^V, X W^V) of samples start .. start + count - 1."""
    wq, wk, wv = layer.weights(start, count, seed)
    a = attention_matrix(x @ wq, x @ wk, layer.scale, layer.uniform)
    values = x @ wv
    return a @ values, values


@keyed
def gram_entry_sampler(layer: Layer, tokens: Tokens, i: int, j: int, which: str,
                       alpha: float = 1.0) -> Sampler:
    """(D D^T)_ij / d_v of one layer's output D, tokens i, j counted from 0:
    ``linear`` D = X W^V; ``attention`` D = S = A X W^V; ``skip-cross`` the cross terms
    alpha ((S X^T)_ij + (X S^T)_ij) of D = X + alpha S."""
    if which not in ("linear", "attention", "skip-cross"):
        raise ValueError(f"which must be linear, attention or skip-cross, got {which!r}")

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        x = np.broadcast_to(tokens.draw(layer, start, count, seed), (count, layer.n, layer.d_v))
        s, values = _attention_output(layer, x, start, count, seed)
        if which == "linear":
            out = np.einsum("bc,bc->b", values[:, i], values[:, j])
        elif which == "attention":
            out = np.einsum("bc,bc->b", s[:, i], s[:, j])
        else:
            out = alpha * (np.einsum("bc,bc->b", s[:, i], x[:, j])
                           + np.einsum("bc,bc->b", x[:, i], s[:, j]))
        return out / layer.d_v

    return sized(sample, layer.draws() + tokens.draws(layer))


def jacobian_matrices(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray,
                      scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The Jacobians of vec(S) with respect to vec(W^V) and vec(W^Q) (row-major
    vectorization, numerator layout) of one softmax head, by the chain rule entry by
    entry: dS_ic/dW^V_ab = (A X)_ia delta_bc and dS_ic/dW^Q_ab = scale X_ia (V^T J_i K)_cb
    with J_i the softmax Jacobian of row i. Shapes (..., n d_v, d_v d_v), (..., n d_v, d_v d_k).
    """
    q, k, v = x @ wq, x @ wk, x @ wv
    a = attention_matrix(q, k, scale, uniform=False)
    n, d_v, d_k = x.shape[-2], wv.shape[-1], wq.shape[-1]
    jac = a[..., :, :, None] * np.eye(n) - a[..., :, :, None] * a[..., :, None, :]
    ax = a @ x
    values = np.einsum("...ia,bc->...icab", ax, np.eye(d_v))
    vjk = np.einsum("...jc,...ijl,...lb->...icb", v, jac, k)
    queries = scale * np.einsum("...ia,...icb->...icab", x, vjk)
    lead = values.shape[:-4]
    return (values.reshape(*lead, n * d_v, x.shape[-1] * d_v),
            queries.reshape(*lead, n * d_v, x.shape[-1] * d_k))


def softmax_jacobian_at_zero(n: int) -> np.ndarray:
    """d vec(A) / d vec(M) of row-wise softmax at M = 0 (uniform attention), (n^2, n^2),
    from the softmax backward applied to every basis cotangent."""
    a = np.full((n * n, n, n), 1.0 / n)
    basis = np.eye(n * n).reshape(n * n, n, n)
    return softmax_rows_backward(a, basis).reshape(n * n, n * n).T
