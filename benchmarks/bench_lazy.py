"""Lazy against full weight draws: samples per second of a layer's Q/K/V Jacobian norms.

Run: python3 benchmarks/bench_lazy.py [--quick] [--n 8] [--widths 64,128,256,512,1024]

The work: one softmax attention layer (one head, d_k = d_v = d, Xavier variances) on a
fixed X (n x d); per network, draw the weights, run the layer, and compute
||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2 at X (numerics.stack's
block_attention_norms_sampler). "full" draws every weight (3 d^2 normals);
"lazy" draws X W for each weight as root(X X^T) Z (3 n d normals, numerics.lazy),
equal in law (tests/test_lazy_weights.py). Times include drawing the weights; each
cell is the best of three runs of one batch.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from architecture.model import Model, transformer_block
from architecture.sublayers import Attention
from numerics.stack import block_attention_norms_sampler, draws_per_network


def layer(n: int, d: int) -> Model:
    sigma = 1 / math.sqrt(d)
    attention = Attention(heads=1, d_k=d, d_v=d, scale=sigma, sigma_q=sigma, sigma_k=sigma,
                          sigma_v=sigma)
    return Model(n, d, (transformer_block(attention, None),))


def rate(model: Model, x: np.ndarray, lazy: bool, batch: int) -> float:
    sampler = block_attention_norms_sampler(model, x, "query", block=0, lazy=lazy)
    best = math.inf
    for repeat in range(3):
        start = time.perf_counter()
        sampler(repeat * batch, batch, 0)
        best = min(best, time.perf_counter() - start)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches")
    parser.add_argument("--n", type=int, default=8, help="tokens (default 8)")
    parser.add_argument("--widths", default="64,128,256,512,1024", help="widths d")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    print(f"n = {args.n}; one softmax attention layer, d_k = d_v = d; samples/s of the "
          f"three Jacobian norms, weights drawn in every run")
    print(f"{'d':>6} {'full/s':>10} {'lazy/s':>10} {'speed-up':>9} "
          f"{'normals full':>13} {'normals lazy':>13}")
    for d in widths:
        model = layer(args.n, d)
        x = np.random.default_rng(d).standard_normal((args.n, d))
        batch = max(8, (2_000_000 if not args.quick else 200_000) // (3 * d * d))
        full, lazy = rate(model, x, False, batch), rate(model, x, True, batch)
        print(f"{d:>6} {full:>10.0f} {lazy:>10.0f} {lazy / full:>8.1f}x "
              f"{draws_per_network(model):>13} {draws_per_network(model, lazy=True):>13}")


if __name__ == "__main__":
    main()
