"""Samplers of the quantities the claims are about, computed directly in NumPy.

Each ``*_sampler`` returns a :data:`numerics.montecarlo.Sampler`: values of
samples ``start .. start+count-1`` for a seed, sample i depending only on
(seed, i). Nothing here knows a formula from the theory: every value is the
quantity itself (a moment's integrand, a Jacobian norm, a Gram entry),
computed from random draws.
"""

from __future__ import annotations

import numpy as np

from architecture.spec import Architecture
from numerics.attention import attention_weights
from numerics.cache import keyed
from numerics.inputs import exchangeable_tokens
from numerics.jacobians import layer_jacobian_norms
from numerics.model import backward, forward
from numerics.montecarlo import Sampler, sized
from numerics.rng import normal_rows
from numerics.stack import GaussianTokens, block_attention_norms_sampler
from numerics.weights import draws_per_network, sample_weights


def equicorrelated(size: int, rho: float) -> np.ndarray:
    """(1 - rho) I + rho J of order ``size``."""
    return (1.0 - rho) * np.eye(size) + rho * np.ones((size, size))


def centering(size: int) -> np.ndarray:
    """P = I - J/size."""
    return np.eye(size) - np.ones((size, size)) / size


@keyed
def bivariate_fourth_moment_sampler(sigma_x: float, sigma_y: float, r: float) -> Sampler:
    """x^2 y^2 for (x, y) centred Gaussian, sd sigma_x, sigma_y, correlation r."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        z = normal_rows(seed, "bivariate", start, count, [(2, 1.0)])
        x = sigma_x * z[:, 0]
        y = sigma_y * (r * z[:, 0] + np.sqrt(1.0 - r * r) * z[:, 1])
        return x * x * y * y

    return sample


@keyed
def trace_quadratic_sampler(d: int, d_k: int, sigma: float, rho: float) -> Sampler:
    """tr(A W B W^T), W (d x d_k) iid N(0, sigma^2), A = (1-rho)I + rho J (d), B = P (d_k)."""
    a, b = equicorrelated(d, rho), centering(d_k)

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        w = normal_rows(seed, "trace-quadratic", start, count, [(d * d_k, sigma)])
        w = w.reshape(count, d, d_k)
        return np.einsum("bij,bij->b", a @ w, w @ b)

    return sample


@keyed
def frobenius_two_gaussians_sampler(d: int, d_k: int, d_v: int, sigma_w: float,
                                    sigma_v: float, rho: float) -> Sampler:
    """||W^T C V||_F^2, W (d x d_k), V (d x d_v) independent iid, C = (1-rho)I + rho J."""
    c = equicorrelated(d, rho)

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        draws = normal_rows(seed, "frobenius-two", start, count,
                            [(d * d_k, sigma_w), (d * d_v, sigma_v)])
        w = draws[:, : d * d_k].reshape(count, d, d_k)
        v = draws[:, d * d_k:].reshape(count, d, d_v)
        m = np.swapaxes(w, 1, 2) @ (c @ v)
        return np.einsum("bij,bij->b", m, m)

    return sample


@keyed
def token_sixth_moment_sampler(n: int, d: int, rho: float, s: float) -> Sampler:
    """||X||_F^2 ||X^T P X||_F^2 for exchangeable Gaussian tokens X (n x d)."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        x = exchangeable_tokens(n, d, rho, s, count, seed, start)
        xc = x - x.mean(axis=1, keepdims=True)  # P X
        g = xc @ np.swapaxes(xc, 1, 2)  # ||X^T P X||_F = ||P X X^T P||_F
        return np.einsum("bij,bij->b", x, x) * np.einsum("bij,bij->b", g, g)

    return sample


def single_head(n: int, d: int, d_k: int, d_v: int, sigma_q: float, sigma_k: float,
                sigma_v: float, temperature: str = "inv_sqrt_dk") -> Architecture:
    """One softmax head, no residual, no MLP: the setting of the gradient claims."""
    return Architecture(n=n, d=d, d_k=d_k, d_v=d_v, depth=1, mlp=False, sigma_q=sigma_q,
                        sigma_k=sigma_k, sigma_v=sigma_v, temperature=temperature)


@keyed
def attention_norms_sampler(arch: Architecture, x: np.ndarray | None, which: str,
                            rho: float = 0.0, s: float = 1.0) -> Sampler:
    """||dS/dW^which||_F^2 of the first layer's head at random weights (``which`` in query,
    key, value, query/value), from the model's own forward pass (numerics.stack). ``x``
    is a fixed X, or None for exchangeable Gaussian tokens with correlation ``rho`` and
    scale ``s`` drawn per sample."""
    tokens = x if x is not None else GaussianTokens(rho, s)
    return block_attention_norms_sampler(arch.model(), tokens, which, block=0)


def stack_norm_ratios(arch: Architecture, x: np.ndarray, count: int, seed: int,
                      start: int = 0) -> np.ndarray:
    """Per layer, max over heads of sqrt(||dS/dW^Q||^2 / ||dS/dW^V||^2) and the same for
    W^K: (count, L, 2). Zero for every layer when X has rank one."""
    w = sample_weights(arch, count, seed, start)
    _, cache = forward(arch, w, x)
    norms = layer_jacobian_norms(arch, w, cache)
    ratios = np.stack([norms.query / norms.value, norms.key / norms.value], axis=-1)
    return np.sqrt(ratios.max(axis=2))


def value_jacobian_by_directions(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, d_v: int,
                                 tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(||dS/dW^V||_F^2, A) of one head, the norm from the definition: S is linear in
    W^V, so the Jacobian applied to the basis matrix E_ab is S(W^V = E_ab); the
    squared norm is the sum of squares over all d*d_v directions."""
    d = x.shape[-1]
    a = attention_weights(x @ wq, x @ wk, tau)
    total = np.zeros(a.shape[:-2])
    for i in range(d):
        for j in range(d_v):
            basis = np.zeros((d, d_v))
            basis[i, j] = 1.0
            out = a @ x @ basis
            total += np.einsum("...ij,...ij->...", out, out)
    return total, a


@keyed
def loss_gradient_sampler(arch: Architecture, x: np.ndarray, names: tuple[str, ...]) -> Sampler:
    """sum over layers and the weights ``names`` of ||dL/dW||_F^2, for the loss
    L = <Y, dY> with a fresh standard Gaussian cotangent dY per network."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        weights = sample_weights(arch, count, seed, start)
        dy = normal_rows(seed, "cotangent", start, count, [(arch.n * arch.d, 1.0)])
        _, cache = forward(arch, weights, x)
        grads = backward(arch, weights, cache, dy.reshape(count, arch.n, arch.d), wrt=names)
        total = np.zeros(count)
        for name in names:
            g = getattr(grads, name).reshape(count, -1)
            total += np.einsum("bk,bk->b", g, g)
        return total

    return sized(sample, draws_per_network(arch) + arch.n * arch.d)


@keyed
def layer_gradient_sampler(arch: Architecture, rho: float, s: float,
                           names: tuple[str, ...] = ("wq", "wk", "wv")) -> Sampler:
    """Per weight of ``names`` and layer, ||dL/dW||_F^2 for the loss L = <Y, D> with a
    Gaussian cotangent D, exchangeable Gaussian tokens drawn per sample:
    (count, len(names) * L), weight-major."""

    def sample(start: int, count: int, seed: int) -> np.ndarray:
        x = exchangeable_tokens(arch.n, arch.d, rho, s, count, seed, start)
        weights = sample_weights(arch, count, seed, start)
        dy = normal_rows(seed, "cotangent", start, count, [(arch.n * arch.d, 1.0)])
        _, cache = forward(arch, weights, x)
        grads = backward(arch, weights, cache, dy.reshape(count, arch.n, arch.d), wrt=names)
        return np.concatenate([gradient_norms_squared(getattr(grads, name))
                               for name in names], axis=1)

    return sized(sample, draws_per_network(arch) + 2 * arch.n * arch.d)


def gradient_norms_squared(grad: np.ndarray) -> np.ndarray:
    """||dW_l||_F^2 per network and layer (heads together): (B, L)."""
    flat = grad.reshape(*grad.shape[:2], -1)
    return np.einsum("blk,blk->bl", flat, flat)
