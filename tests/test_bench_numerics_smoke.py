"""Smoke test of benchmarks/bench_numerics.py, so the script cannot rot.

Runs the benchmark's core timing function once on a tiny Post-LN network with
PyTorch made unimportable, and checks that the figures are positive and
finite and that the gradient norms it times are the right ones: each network
is recomputed alone (batch of one) and its Q/K/V gradient norms are taken
layer by layer with numpy.linalg.norm.  No wall-clock assertion.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from numerics.model import backward, forward
from numerics.weights import sample_weights

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_numerics.py"


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The benchmark module, loaded from its file with ``import torch`` failing."""
    monkeypatch.setitem(sys.modules, "torch", None)
    spec = importlib.util.spec_from_file_location("bench_numerics", BENCH)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_numerics", module)
    spec.loader.exec_module(module)
    return module


def test_engine_timing_runs_without_torch_and_times_the_right_norms(bench: ModuleType) -> None:
    arch = bench.architecture(n=3, d=4, d_ff=5, depth=2)
    batch, seed = 3, 11
    timing = bench.time_engine(arch, batch, repeats=1, seed=seed)

    figures = [*timing.seconds, *timing.sampling, timing.best_rate, timing.median_rate]
    assert len(timing.seconds) == 1
    assert all(math.isfinite(f) and f > 0 for f in figures)
    assert 0 < timing.sampling_share < 1

    x, cotangent = bench.fixed_problem(arch, seed)
    for b in range(batch):
        weights = sample_weights(arch, 1, seed, timing.start + b)
        _, cache = forward(arch, weights, x)
        grads = backward(arch, weights, cache, cotangent)
        for name in bench.GRADIENTS:
            reference = [np.linalg.norm(getattr(grads, name)[0, layer])
                         for layer in range(arch.depth)]
            np.testing.assert_allclose(timing.norms[name][b], reference, rtol=1e-12)


def test_flop_count_matches_the_cost_model(bench: ModuleType) -> None:
    # Oracle: DESIGN.md's per-layer forward cost 6nd^2 + 4n^2 d + 4nd d_ff (d_k = d_v = d),
    # backward twice the forward.
    n, d, d_ff, depth = 5, 7, 11, 3
    arch = bench.architecture(n=n, d=d, d_ff=d_ff, depth=depth)
    per_layer = 6 * n * d**2 + 4 * n**2 * d + 4 * n * d * d_ff
    assert bench.flops_per_sample(arch) == 3 * depth * per_layer
    assert bench.normals_per_sample(arch) == depth * (3 * d * d + 2 * d * d_ff)
