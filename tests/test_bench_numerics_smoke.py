"""Smoke test of benchmarks/bench_numerics.py, so the script cannot rot.

Runs the benchmark's core timing function once on a tiny Post-LN network with
PyTorch made unimportable, weights drawn in full and two-sided lazy, and checks
that the figures are positive and finite and that the gradient norms it times
are the right ones: each network is recomputed alone (batch of one), its
gradients formed, and its Q/K/V gradient norms taken layer by layer with
numpy.linalg.norm.  The width ladder and bench_lazy.py run on tiny widths,
bench_looks.py on three cheap claims.  No wall-clock assertion.
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


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_engine_timing_runs_without_torch_and_times_the_right_norms(
    bench: ModuleType, workers: int, lazy: bool
) -> None:
    arch = bench.architecture(n=3, d=8, d_ff=12, depth=2)  # lazy: every weight two-sided
    batch, seed = 3, 11
    timing = bench.time_engine(arch, batch, repeats=1, seed=seed, workers=workers, lazy=lazy)

    figures = [*timing.seconds, *timing.sampling, timing.best_rate, timing.median_rate]
    assert len(timing.seconds) == 1
    assert all(math.isfinite(f) and f > 0 for f in figures)
    assert 0 < timing.sampling_share < 1

    x, cotangent = bench.fixed_problem(arch, seed)
    for b in range(batch):
        weights = sample_weights(arch, 1, seed, timing.start + b, lazy=lazy)
        _, cache = forward(arch, weights, x)
        grads = backward(arch, weights, cache, cotangent)  # every gradient: same norms
        for name in bench.GRADIENTS:
            reference = [np.linalg.norm(getattr(grads, name)[0, layer])
                         for layer in range(arch.depth)]
            np.testing.assert_allclose(timing.norms[name][b], reference, rtol=1e-12)


def test_flop_count_matches_the_cost_model(bench: ModuleType) -> None:
    # Oracle: every matmul the Q/K/V gradients need, listed as (rows, inner, cols),
    # 2 flops per multiply-add (d_k = d_v = d).
    n, d, d_ff, depth = 5, 7, 11, 3
    arch = bench.architecture(n=n, d=d, d_ff=d_ff, depth=depth)
    forward = [(n, d, d)] * 3 + [(n, d, n), (n, n, d), (n, d, d_ff), (n, d_ff, d)]
    backward = [(n, n, d), (n, d, n), (n, n, d), (n, n, d)]  # dV, dA, dQ, dK
    backward += [(d, n, d)] * 3 + [(n, d, d_ff), (n, d_ff, d)]  # dW^Q,K,V; MLP inputs
    input_cotangent = [(n, d, d)] * 3  # dU from dQ, dK, dV: not needed in layer 1
    count = sum(2 * a * b * c for a, b, c in forward + backward + input_cotangent)
    first = sum(2 * a * b * c for a, b, c in input_cotangent)
    assert bench.flops_per_sample(arch) == depth * count - first
    assert bench.normals_per_sample(arch) == depth * (3 * d * d + 2 * d * d_ff)


def test_lazy_benchmark_runs() -> None:
    """benchmarks/bench_lazy.py on tiny widths: a row per width in both tables, rates
    positive, fewer normals drawn lazily."""
    import subprocess

    script = BENCH.parent / "bench_lazy.py"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--n", "2",
                           "--widths", "8,16", "--stack-widths", "8,12"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    layer, stack = proc.stdout.split("\n\n")
    for table, widths in ((layer, ["8", "16"]), (stack, ["8", "12"])):
        rows = [line.split() for line in table.splitlines()[2:]]
        assert [row[0] for row in rows] == widths
        assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows)
        assert all(int(row[5]) < int(row[4]) for row in rows)  # lazy draws fewer normals


def test_looks_benchmark_runs() -> None:
    """benchmarks/bench_looks.py on three cheap claims (two exact, a ladder), one seed: a
    row per claim and a total, with positive counts and their ratio."""
    import subprocess

    script = BENCH.parent / "bench_looks.py"
    claims = ["engine.wick-trace", "forward.attention-gram-update-diagonal",
              "forward.scaled-residual-limit"]
    proc = subprocess.run([sys.executable, str(script), "--seeds", "1", "--budget", "quick",
                           *(arg for c in claims for arg in ("--claim", c))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in proc.stdout.splitlines()[2:]]
    assert [row[0] for row in rows] == [*claims, "all"]
    for _, looked, single, ratio, *_ in rows:
        assert int(looked) > 0 and int(single) > 0
        assert float(ratio) == pytest.approx(int(looked) / int(single), abs=0.006)


def test_width_ladder_runs_without_torch() -> None:
    """The ladder of bench_numerics.py on two tiny widths: a row per depth and width with
    positive full and lazy rates, PyTorch absent, the n = 8, d = 512 verdicts not measured."""
    import subprocess

    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--sizes", "", "--widths",
                           "8,16", "--ladder-n", "2", "--no-torch"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layers")) + 1
    rows = [line.replace("|", " ").split() for line in lines[start:start + 4]]
    assert [(row[0], row[1]) for row in rows] == [("1", "8"), ("1", "16"), ("6", "8"),
                                                   ("6", "16")]
    assert all(float(row[2]) > 0 and float(row[6]) > 0 and row[10] == "absent" for row in rows)
    assert sum("not measured" in line for line in lines) == 2
