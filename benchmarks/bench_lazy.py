"""Lazy against full weight draws: samples per second of the numerics samplers.

Run: python3 benchmarks/bench_lazy.py [--quick] [--n 8] [--widths 64,128,256,512,1024]
                                     [--stack-widths 8,16,64,256]

First table: one softmax attention layer (one head, d_k = d_v = d, Xavier variances)
on a fixed X (n x d); per network, draw the weights, run the layer, and compute
||dS/dW^Q||^2, ||dS/dW^K||^2, ||dS/dW^V||^2 at X (numerics.stack's
block_attention_norms_sampler). "full" draws every weight (3 d^2 normals);
"lazy" draws X W for each weight as root(X X^T) Z (3 n d normals, numerics.lazy).

Second table: the paper's block under uniform attention (linear feed-forward, Xavier,
16 blocks, n = 4: the stacks of the audit's Lemmas 3.2 and 3.3), 1^T Y Y^T 1 of the
output Y (numerics.stack's output_sampler). "full" draws every weight (3 d^2 normals per
block); "where it pays" (the samplers' default) draws W^V through the mean token alone
(d normals, since A U W^V = 1 ubar W^V) and W^1, W^2 lazily from d >= 3 n.

Both are equal in law to the full draws (tests/test_lazy_weights.py). Times include
drawing the weights; each cell is the best of three runs of one batch.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from architecture.model import Model, transformer_block, xavier_attention, xavier_mlp
from architecture.sublayers import Attention
from numerics.montecarlo import Sampler
from numerics.stack import block_attention_norms_sampler, draws_per_network, output_sampler

STACK_TOKENS, STACK_DEPTH = 4, 16


def layer(n: int, d: int) -> Model:
    sigma = 1 / math.sqrt(d)
    attention = Attention(heads=1, d_k=d, d_v=d, scale=sigma, sigma_q=sigma, sigma_k=sigma,
                          sigma_v=sigma)
    return Model(n, d, (transformer_block(attention, None),))


def uniform_stack(d: int) -> Model:
    block = transformer_block(xavier_attention(d, kind="uniform"), xavier_mlp(d, "linear"))
    return Model(STACK_TOKENS, d, (block,) * STACK_DEPTH)


def rate(sampler: Sampler, batch: int) -> float:
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
    parser.add_argument("--stack-widths", default="8,16,64,256",
                        help="widths d of the uniform-attention stack")
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
        full, lazy = (rate(block_attention_norms_sampler(model, x, "query", block=0,
                                                          lazy=lazy), batch)
                      for lazy in (False, True))
        print(f"{d:>6} {full:>10.0f} {lazy:>10.0f} {lazy / full:>8.1f}x "
              f"{draws_per_network(model):>13} {draws_per_network(model, lazy=True):>13}")
    print(f"\nn = {STACK_TOKENS}; {STACK_DEPTH} of the paper's blocks under uniform "
          f"attention, linear feed-forward; samples/s of 1^T Y Y^T 1")
    print(f"{'d':>6} {'full/s':>10} {'pays/s':>10} {'speed-up':>9} "
          f"{'normals full':>13} {'normals pays':>13}")
    for d in (int(w) for w in args.stack_widths.split(",")):
        model = uniform_stack(d)
        x = np.random.default_rng(d).standard_normal((STACK_TOKENS, d))
        batch = max(8, (2_000_000 if not args.quick else 200_000) // (3 * d * d))
        full, pays = (rate(output_sampler(model, x, "inner-product-sum", lazy=lazy), batch)
                      for lazy in (False, None))
        print(f"{d:>6} {full:>10.0f} {pays:>10.0f} {pays / full:>8.1f}x "
              f"{draws_per_network(model, scores=False):>13} "
              f"{draws_per_network(model, lazy=None, scores=False):>13}")


if __name__ == "__main__":
    main()
