"""Throughput of per-layer Q/K/V gradient norms: the NumPy engine beside PyTorch autograd.

Run: python3 benchmarks/bench_numerics.py [--quick] [--sizes small,large]
         [--widths 64,128,256,512,1024] [--ladder-n 8] [--no-torch]

The computation (the Monte Carlo engine): B independent Post-LN
softmax transformers with a ReLU MLP (one head, d_k = d_v = d, float64,
fan-in initialisation: sigma_q = sigma_k = sigma_v = sigma_1 = 1/sqrt(d),
sigma_2 = 1/sqrt(d_ff)), all fed one fixed random X (n x d).  For each
network: sample its weights, run the stack, take the scalar loss <Y, C> for a
fixed random cotangent C, back-propagate through every layer and return the
Frobenius norms of dLoss/dW^Q, dW^K, dW^V of every layer, (B, L) each.
Weight sampling is COUNTED in every timing (fresh networks every repeat),
and each table also shows the share of the time it takes.

Backends, each (backend, environment, batch) cell in its own subprocess, so
thread settings and peak memory belong to that cell alone:
  engine          numerics.weights.sample_weights + model.forward/backward
                  (W^Q, W^K, W^V gradients only) + jacobians.gradient_norms;
  engine threads  the same, the batch split into one part per CPU, each part
                  sampled and run in its own thread (as numerics.montecarlo
                  runs chunks): the engine's way of using several cores;
  torch loop      PyTorch autograd, one network at a time (torch.randn weights);
  torch batched   PyTorch autograd over stacked weights (batched matmul, bmm).
Environments: "default" (library thread defaults), "1 thread"
(OPENBLAS/OMP/MKL_NUM_THREADS=1: tiny matrices pay for thread hand-offs, badly
so when the cores are busy) and "1 thread+malloc" (also glibc keeps freed
memory, so each batch reuses pages instead of faulting fresh ones in).  A
cell that takes longer than its budget (30 s; 10 s with --quick), or whose
estimated time does, is cut or skipped and says so.
Both PyTorch columns use one model definition (``torch_stack``) and are
checked once against the engine (small size, batch 4, same weights): the
gradient norms must agree to 1e-10 relative.

FLOPs per sample are counted from the shapes (matmuls only, 2 flops per
multiply-add) for the work the answer needs, which is also what autograd
does when only W^Q, W^K, W^V require gradients: attention forward per layer
F_att = 2nd(2d_k + d_v) + 2n^2(d_k + d_v), backward 2 F_att (input and
weight cotangents); MLP forward F_mlp = 4nd d_ff, backward F_mlp (input
cotangents only: dW^1, dW^2 are not asked for); the first layer needs no
input cotangent, 2nd(2d_k + d_v) less.  Both backends skip the same work.
Peak memory is the subprocess's peak resident set size (resource.getrusage
ru_maxrss), also shown as the growth over the RSS after imports and setup.
PyTorch is optional (never a package dependency): without it the NumPy
figures are still printed.

Width ladder (``--widths``; empty to skip): the small network's shape widened,
n = 8 tokens, d_ff = 4 d, one layer and six layers, d = 64 .. 1024. Three
backends in the same run: "full", today's engine (every weight drawn, dW formed,
its norm taken); "lazy", the engine on two-sided lazy weights
(``sample_weights(lazy=True)``: n (rows + cols) normals per weight, exact in law,
numerics.lazy) with the norms from n x n Grams (``model.squared_gradient_norms``,
no d x d gradient formed); "torch", PyTorch autograd over stacked weights. The
NumPy backends run in one subprocess with one BLAS thread, the batch split over
the CPUs in threads; PyTorch in another with its default threads. GFLOP/s is
the dense work of the answer (``flops_per_sample``) per second for every backend,
so for "lazy", which skips most of it (O(n^2 d) per weight instead of O(n d^2)),
it is a dense-equivalent rate and may exceed the machine's matmul rate. Targets,
at n = 8, d = 512: lazy >= 10x full for one layer, >= 2x for six layers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from architecture.spec import Architecture
from numerics.jacobians import gradient_norms
from numerics.model import backward, forward, squared_gradient_norms
from numerics.weights import draws_per_network, sample_weights, weight_shapes

SEED = 20240607
GRADIENTS = ("wq", "wk", "wv")
SIZES = {
    "small": {"n": 8, "d": 32, "d_ff": 128, "depth": 6, "batches": (1, 4, 16, 64, 256)},
    "large": {"n": 32, "d": 128, "d_ff": 512, "depth": 12, "batches": (1, 8, 32)},
}
FLOP_FORMULA = ("L (3 F_att + 2 F_mlp) - 2nd(2d_k+d_v), F_att = 2nd(2d_k+d_v) + 2n^2(d_k+d_v), "
                "F_mlp = 4nd d_ff")
TORCH_MISSING = ("PyTorch is not installed: the comparison columns and the verdicts that need "
                 "them are left out.  Install the CPU build with `pip install torch==2.13.0` "
                 "(benchmark only; not a dependency of sigprop).")
CROSS_CHECK_BATCH = 4
CROSS_CHECK_TOLERANCE = 1e-10


def architecture(n: int, d: int, d_ff: int, depth: int) -> Architecture:
    """The benchmarked model: Post-LN, softmax, ReLU, one head of width d, fan-in variances."""
    fan_in = 1.0 / math.sqrt(d)
    return Architecture(n=n, d=d, d_k=d, d_v=d, d_ff=d_ff, heads=1, depth=depth, norm="post",
                        activation="relu", attention="softmax", sigma_q=fan_in, sigma_k=fan_in,
                        sigma_v=fan_in, sigma_1=fan_in, sigma_2=1.0 / math.sqrt(d_ff))


def size_architecture(size: str) -> Architecture:
    """Architecture of a named benchmark size."""
    spec = SIZES[size]
    return architecture(spec["n"], spec["d"], spec["d_ff"], spec["depth"])


def flops_per_sample(arch: Architecture) -> int:
    """Matmul flops of forward + backward of one network for the Q/K/V gradients.

    Attention: forward F_att (Q, K, V projections, logits, A V), backward
    2 F_att (one input and one weight cotangent per forward matmul); MLP:
    forward F_mlp, backward F_mlp (input cotangents only); no input
    cotangent for the first layer.
    """
    n, d = arch.n, arch.d
    projections = 2 * n * d * (2 * arch.d_k + arch.d_v)
    attention = projections + 2 * n * n * (arch.d_k + arch.d_v)
    mlp = 4 * n * d * arch.d_ff if arch.mlp else 0
    return arch.depth * (3 * attention + 2 * mlp) - projections


def normals_per_sample(arch: Architecture, lazy: bool = False) -> int:
    """Gaussian draws that one network's weights take (drawn in full, or lazily)."""
    return draws_per_network(arch, lazy)


def fixed_problem(arch: Architecture, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fixed input X (n, d) and cotangent C (n, d) shared by every network and backend."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((arch.n, arch.d)), rng.standard_normal((arch.n, arch.d))


def engine_gradient_norms(
    arch: Architecture, weights: Any, x: np.ndarray, cotangent: np.ndarray,
    lazy: bool = False,
) -> dict[str, np.ndarray]:
    """Engine: forward, backward of <Y, C>, and the (B, L) norms of the Q/K/V gradients:
    formed and measured, or (``lazy``) from n x n Grams without forming them."""
    _, cache = forward(arch, weights, x)
    if lazy:
        squared = squared_gradient_norms(arch, weights, cache, cotangent, wrt=GRADIENTS)
        return {name: np.sqrt(squared[name]) for name in GRADIENTS}
    norms = gradient_norms(backward(arch, weights, cache, cotangent, wrt=GRADIENTS))
    return {name: norms[name] for name in GRADIENTS}


@dataclass
class Timing:
    """Per-repeat wall times of one (backend, size, batch) cell.

    ``seconds`` is the total per repeat and ``sampling`` the part of it spent
    drawing weights.  ``norms`` holds the (B, L) gradient norms of the last
    repeat, whose networks are ``start``, ..., ``start + batch - 1``.
    """

    batch: int
    seconds: list[float]
    sampling: list[float]
    norms: dict[str, np.ndarray]
    start: int

    @property
    def best_rate(self) -> float:
        """Samples per second of the fastest repeat."""
        return self.batch / min(self.seconds)

    @property
    def median_rate(self) -> float:
        """Samples per second of the median repeat."""
        return self.batch / statistics.median(self.seconds)

    @property
    def sampling_share(self) -> float:
        """Fraction of the total time spent sampling weights."""
        return sum(self.sampling) / sum(self.seconds)


def repeat_timed(
    step: Callable[[int], tuple[float, dict[str, np.ndarray]]],
    batch: int,
    repeats: int,
    min_seconds: float,
    max_seconds: float = math.inf,
) -> Timing:
    """Run ``step(start)`` once to warm up, then time it ``repeats`` times or more.

    Repeats go on until both ``repeats`` runs and ``min_seconds`` are done,
    but stop after ``max_seconds`` once one run is timed.  ``step``
    processes networks start, ..., start + batch - 1 and returns (seconds
    spent sampling, norms); every call gets fresh networks.
    """
    step(0)
    seconds, sampling = [], []
    start, norms = batch, {}
    begin = time.perf_counter()
    while not seconds or (
        (len(seconds) < repeats or time.perf_counter() - begin < min_seconds)
        and time.perf_counter() - begin < max_seconds
    ):
        t0 = time.perf_counter()
        sample_time, norms = step(start)
        seconds.append(time.perf_counter() - t0)
        sampling.append(sample_time)
        start += batch
    return Timing(batch, seconds, sampling, norms, start - batch)


def time_engine(
    arch: Architecture,
    batch: int,
    repeats: int = 3,
    min_seconds: float = 0.0,
    max_seconds: float = math.inf,
    seed: int = SEED,
    workers: int = 1,
    lazy: bool = False,
) -> Timing:
    """Time the engine on fresh networks of ``arch`` (weights drawn from ``seed``, in full
    or ``lazy``: two-sided lazy weights and gradient norms from Grams).

    With ``workers`` > 1 the batch is split into that many consecutive parts,
    each sampled and run in its own thread (as ``numerics.montecarlo`` runs
    chunks); the networks, and so the norms, are the same as with one worker.
    The sampling time is then the thread-seconds spent sampling divided by
    the number of parts, so its share stays a share of the wall time.
    """
    x, cotangent = fixed_problem(arch, seed)
    parts = max(1, min(workers, batch))
    pool = ThreadPoolExecutor(max_workers=parts) if parts > 1 else None

    def part(start: int, count: int) -> tuple[float, dict[str, np.ndarray]]:
        t0 = time.perf_counter()
        weights = sample_weights(arch, count, seed, start, workers=1 if pool else None,
                                 lazy=lazy)
        t1 = time.perf_counter()
        return t1 - t0, engine_gradient_norms(arch, weights, x, cotangent, lazy)

    def step(start: int) -> tuple[float, dict[str, np.ndarray]]:
        if pool is None:
            return part(start, batch)
        bounds = np.linspace(start, start + batch, parts + 1).astype(int)
        done = list(pool.map(part, bounds[:-1], np.diff(bounds)))
        norms = {name: np.concatenate([d[1][name] for d in done]) for name in GRADIENTS}
        return sum(d[0] for d in done) / parts, norms

    try:
        return repeat_timed(step, batch, repeats, min_seconds, max_seconds)
    finally:
        if pool is not None:
            pool.shutdown()


# ----------------------------------------------------------------------------- PyTorch side


def torch_stack(torch: Any, arch: Architecture, x: Any, weights: dict[str, Any]) -> Any:
    """The same Post-LN block stack in PyTorch; weights (L, ...) or stacked (B, L, ...).

    Z = LN(X + a1 softmax(tau X W^Q (X W^K)^T) X W^V),  Y = LN(Z + a2 relu(Z W^1) W^2).
    """
    layer_norm = torch.nn.functional.layer_norm
    for layer in range(arch.depth):
        wq, wk, wv, w1, w2 = (weights[name][..., layer, :, :]
                              for name in ("wq", "wk", "wv", "w1", "w2"))
        q, k, v = x @ wq, x @ wk, x @ wv
        a = torch.softmax(arch.tau * (q @ k.transpose(-1, -2)), dim=-1)
        z = layer_norm(x + arch.residual_1 * (a @ v), (arch.d,), eps=arch.ln_eps)
        y = z + arch.residual_2 * (torch.relu(z @ w1) @ w2)
        x = layer_norm(y, (arch.d,), eps=arch.ln_eps)
    return x


def torch_weight_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Per-network shapes (L, rows, cols), the engine's shapes without the head axis."""
    return {name: (shape[0], *shape[-2:]) for name, shape in weight_shapes(arch).items()}


def torch_norms(torch: Any, arch: Architecture, x: Any, c: Any,
                weights: dict[str, Any]) -> dict[str, Any]:
    """Norms of d<Y, C>/dW^Q, dW^K, dW^V per layer ((L,) or (B, L)) by autograd."""
    loss = (torch_stack(torch, arch, x, weights) * c).sum()
    grads = torch.autograd.grad(loss, [weights[name] for name in GRADIENTS])
    return {name: g.flatten(-2).norm(dim=-1) for name, g in zip(GRADIENTS, grads, strict=True)}


def torch_sample(torch: Any, arch: Architecture, generator: Any,
                 batch: tuple[int, ...]) -> dict[str, Any]:
    """Fresh leaf weights (batch + (L, rows, cols)) with the architecture's std devs."""
    std = {"wq": arch.sigma_q, "wk": arch.sigma_k, "wv": arch.sigma_v,
           "w1": arch.sigma_1, "w2": arch.sigma_2}
    weights = {}
    for name, shape in torch_weight_shapes(arch).items():
        draw = torch.randn(*batch, *shape, dtype=torch.float64, generator=generator)
        weights[name] = draw.mul_(std[name]).requires_grad_(name in GRADIENTS)
    return weights


def time_torch(torch: Any, arch: Architecture, batch: int, batched: bool, repeats: int,
               min_seconds: float, max_seconds: float, seed: int = SEED) -> Timing:
    """Time PyTorch autograd, batched over stacked weights or one network at a time."""
    x_np, c_np = fixed_problem(arch, seed)
    x, c = torch.from_numpy(x_np), torch.from_numpy(c_np)
    generator = torch.Generator().manual_seed(seed)

    def step(start: int) -> tuple[float, dict[str, np.ndarray]]:
        if batched:
            t0 = time.perf_counter()
            weights = torch_sample(torch, arch, generator, (batch,))
            sampled = time.perf_counter() - t0
            norms = torch_norms(torch, arch, x, c, weights)
            return sampled, {k: v.numpy() for k, v in norms.items()}
        sampled, rows = 0.0, []
        for _ in range(batch):
            t0 = time.perf_counter()
            weights = torch_sample(torch, arch, generator, ())
            sampled += time.perf_counter() - t0
            rows.append(torch_norms(torch, arch, x, c, weights))
        return sampled, {k: torch.stack([r[k] for r in rows]).numpy() for k in GRADIENTS}

    return repeat_timed(step, batch, repeats, min_seconds, max_seconds)


def cross_check(torch: Any, arch: Architecture, batch: int = CROSS_CHECK_BATCH) -> float:
    """Largest relative difference of the engine's and PyTorch's norms on the same weights.

    Both PyTorch paths (per network and stacked) are compared with the engine.
    """
    x, c = fixed_problem(arch)
    weights = sample_weights(arch, batch, SEED)
    engine = engine_gradient_norms(arch, weights, x, c)
    stacked = {name: torch.from_numpy(np.ascontiguousarray(getattr(weights, name).reshape(
        batch, *shape))).requires_grad_(name in GRADIENTS)
        for name, shape in torch_weight_shapes(arch).items()}
    tx, tc = torch.from_numpy(x), torch.from_numpy(c)
    batched = torch_norms(torch, arch, tx, tc, stacked)
    single = [torch_norms(torch, arch, tx, tc,
                          {k: v[b].detach().requires_grad_(k in GRADIENTS)
                           for k, v in stacked.items()}) for b in range(batch)]
    worst = 0.0
    for name in GRADIENTS:
        for theirs in (batched[name].numpy(),
                       torch.stack([s[name] for s in single]).numpy()):
            worst = max(worst, float(np.max(np.abs(theirs - engine[name]) / engine[name])))
    return worst


# ----------------------------------------------------------------------------- workers


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_rate(size: int, repeats: int) -> float:
    """Best float64 GFLOP/s of a size x size NumPy matmul over ``repeats`` runs."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this (fresh) process and return its figures as plain data."""
    kind = job["kind"]
    if kind == "matmul":
        return {"gflops": matmul_rate(job["size"], job["repeats"])}
    if kind == "ladder":
        return {"rows": ladder_cells(job["backend"], job["n"], job["widths"], job["quick"])}
    arch = size_architecture(job["size"])
    torch = None
    if not kind.startswith("engine"):
        import torch
    if kind == "crosscheck":
        return {"worst": cross_check(torch, arch), "threads": torch.get_num_threads(),
                "version": torch.__version__}
    baseline = peak_rss_mib()
    if kind.startswith("engine"):
        timing = time_engine(arch, job["batch"], job["repeats"], job["min_seconds"],
                             job["max_seconds"], workers=os.cpu_count() if kind ==
                             "engine-threads" else 1)
    else:
        timing = time_torch(torch, arch, job["batch"], kind == "torch-batched",
                            job["repeats"], job["min_seconds"], job["max_seconds"])
    figures = asdict(timing)
    del figures["norms"]
    figures.update(best_rate=timing.best_rate, median_rate=timing.median_rate,
                   sampling_share=timing.sampling_share, baseline_mib=baseline,
                   peak_mib=peak_rss_mib())
    return figures


def run_job(job: dict[str, Any], env: dict[str, str] | None = None,
            timeout: float | None = None) -> dict[str, Any]:
    """Run ``job`` in a fresh interpreter whose environment is updated with ``env``.

    Raises subprocess.TimeoutExpired (the worker killed) after ``timeout`` seconds.
    """
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          check=False, timeout=timeout)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no message)"]
        raise RuntimeError(f"worker {job} failed: {lines[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# glibc keeps freed memory instead of returning it to the kernel, so repeated
# batches reuse pages rather than fault fresh zeroed ones in (about 4.5 ns per
# float64 here, half the cost of drawing it).
KEEP_MEMORY = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36),
               "MALLOC_TOP_PAD_": str(1 << 28)}
ENVIRONMENTS = {  # every backend runs under each of these process environments
    "default": {},
    "1 thread": ONE_THREAD,
    "1 thread+malloc": {**ONE_THREAD, **KEEP_MEMORY},
}
CELL_BUDGET, CELL_BUDGET_QUICK = 30.0, 10.0  # seconds one (backend, batch) cell may take
KINDS = {"engine": "engine", "engine threads": "engine-threads", "torch loop": "torch-loop",
         "torch batched": "torch-batched"}


def print_size(size: str, kinds: dict[str, str], quick: bool) -> list[dict]:
    """Time every backend under every environment at every batch size; print and return rows."""
    arch = size_architecture(size)
    flops = flops_per_sample(arch)
    print(f"\n== {size}: n={arch.n} d={arch.d} d_k={arch.d_k} d_v={arch.d_v} d_ff={arch.d_ff} "
          f"L={arch.depth}, Post-LN, softmax, ReLU MLP, float64")
    print(f"FLOPs/sample = {FLOP_FORMULA} = {flops / 1e6:.2f} MFLOP; "
          f"weights = {normals_per_sample(arch):,} normals per network (sampling counted)")
    print(f"{'backend':14s} {'environment':16s} {'batch':>5s} {'samples/s best':>15s} "
          f"{'median':>9s} {'GFLOP/s':>8s} {'sampling':>9s} {'peak RSS MiB':>13s} "
          f"{'(+growth)':>10s}")
    rows = []
    budget = CELL_BUDGET_QUICK if quick else CELL_BUDGET
    for label, kind in kinds.items():
        for env_name, env in ENVIRONMENTS.items():
            rate = math.inf
            for batch in SIZES[size]["batches"]:
                lead = f"{label:14s} {env_name:16s} {batch:5d}"
                if 2 * batch / rate > budget:  # warm-up plus one repeat at the last rate
                    print(f"{lead}  skipped: about {2 * batch / rate:.0f} s at the rate above "
                          f"(cell budget {budget:.0f} s)")
                    continue
                job = {"kind": kind, "size": size, "batch": batch,
                       "repeats": 1 if quick else 3, "min_seconds": 0.2 if quick else 0.8,
                       "max_seconds": budget / 3}
                try:
                    row = {**run_job(job, env, timeout=budget), "label": label, "env": env_name}
                except subprocess.TimeoutExpired:
                    print(f"{lead}  timed out: warm-up and one repeat took over {budget:.0f} s")
                    rate = batch / budget
                    continue
                rows.append(row)
                rate = row["best_rate"]
                print(f"{lead} {rate:15.1f} {row['median_rate']:9.1f} "
                      f"{rate * flops / 1e9:8.2f} {row['sampling_share']:9.0%} "
                      f"{row['peak_mib']:13.0f} {row['peak_mib'] - row['baseline_mib']:+10.0f}")
    return rows


def best_row(rows: list[dict], label: str) -> dict | None:
    """The fastest row of backend ``label`` (over batch sizes and environments), if any."""
    return max((row for row in rows if row["label"] == label), key=lambda row: row["best_rate"],
               default=None)


def engine_diagnosis(arch: Architecture, row: dict) -> str:
    """Where the engine's time goes in ``row``: sampling bound and compute-only rate."""
    i = row["seconds"].index(min(row["seconds"]))
    sample_s, total_s = row["sampling"][i], row["seconds"][i]
    batch = row["batch"]
    per_normal_ns = sample_s / (batch * normals_per_sample(arch)) * 1e9
    return (f"engine at batch {batch}: sampling takes {sample_s / total_s:.0%} of the time "
            f"({per_normal_ns:.1f} ns per normal, alone a bound of {batch / sample_s:.0f} "
            f"samples/s); forward+backward alone run at {batch / (total_s - sample_s):.0f} "
            f"samples/s = {batch / (total_s - sample_s) * flops_per_sample(arch) / 1e9:.1f} "
            f"GFLOP/s")


def verdicts(all_rows: dict[str, list[dict]], matmul_gflops: float, have_torch: bool) -> None:
    """Print PASS/MISS for the targets of every measured size, with the numbers and reasons.

    Each side is represented by its best row over batch sizes and environments.
    """
    print("\n== verdicts (each backend at its best batch size and environment)")
    for size, rows in all_rows.items():
        arch = size_architecture(size)
        engine = max((r for label in ("engine", "engine threads")
                      if (r := best_row(rows, label)) is not None),
                     key=lambda r: r["best_rate"], default=None)
        loop, bat = best_row(rows, "torch loop"), best_row(rows, "torch batched")
        if engine is None or (have_torch and (loop is None or bat is None)):
            print(f"{size}: no verdict, a backend finished no cell within its budget")
            continue
        rate = engine["best_rate"]
        checks: list[tuple[str, float, float]] = []  # description, achieved, required
        if size == "small" and have_torch:
            checks.append((f"small >= 20x torch per-sample loop ({loop['best_rate']:.0f} "
                           f"samples/s, {loop['env']}, batch {loop['batch']}), samples/s",
                           rate, 20 * loop["best_rate"]))
        if size == "large":
            if have_torch:
                checks.append((f"large >= 3x torch batched ({bat['best_rate']:.1f} samples/s, "
                               f"{bat['env']}, batch {bat['batch']}), samples/s",
                               rate, 3 * bat["best_rate"]))
            checks.append((f"large >= 50% of the matmul rate ({matmul_gflops:.1f} GFLOP/s), "
                           "GFLOP/s", rate * flops_per_sample(arch) / 1e9, 0.5 * matmul_gflops))
        if not checks:
            print(f"{size}: its target needs PyTorch")
        for text, achieved, required in checks:
            verdict = "PASS" if achieved >= required else "MISS"
            print(f"{verdict} {text}: {engine['label']} ({engine['env']}, batch {engine['batch']}) "
                  f"{achieved:.1f} vs required {required:.1f}")
            if verdict == "MISS":
                print(f"     why: {engine_diagnosis(arch, engine)}")


# ----------------------------------------------------------------------------- width ladder

LADDER_DEPTHS = {"one layer": 1, "six layers": 6}
LADDER_TARGETS = {1: 10.0, 6: 2.0}  # lazy / full samples/s at n = 8, d = 512
LADDER_TARGET_N, LADDER_TARGET_D = 8, 512
LADDER_DRAWS, LADDER_DRAWS_QUICK = 1 << 25, 1 << 20  # normals per timed batch, about
LADDER_BUDGET, LADDER_BUDGET_QUICK = 20.0, 2.0  # seconds of repeats per cell


def ladder_architecture(n: int, d: int, depth: int) -> Architecture:
    """The small network's shape at width d: d_ff = 4 d."""
    return architecture(n, d, 4 * d, depth)


def ladder_cells(backend: str, n: int, widths: list[int], quick: bool) -> list[dict]:
    """Time every (depth, width) of the ladder in this process: ``backend`` "engine" (full
    and lazy, the batch split over the CPUs in threads) or "torch" (batched autograd).
    The batch holds about LADDER_DRAWS normals (2 to 256 networks)."""
    torch = None
    if backend == "torch":
        import torch
    rows = []
    for depth in LADDER_DEPTHS.values():
        for d in widths:
            arch = ladder_architecture(n, d, depth)
            for label in ("full", "lazy") if torch is None else ("torch",):
                lazy = label == "lazy"
                draws = LADDER_DRAWS_QUICK if quick else LADDER_DRAWS
                batch = max(2, min(256, draws // normals_per_sample(arch, lazy)))
                budget = LADDER_BUDGET_QUICK if quick else LADDER_BUDGET
                repeats = 1 if quick else 3
                if torch is None:
                    timing = time_engine(arch, batch, repeats, 0.0, budget,
                                         workers=os.cpu_count() or 1, lazy=lazy)
                else:
                    timing = time_torch(torch, arch, batch, True, repeats, 0.0, budget)
                rows.append({"label": label, "depth": depth, "d": d, "batch": batch,
                             "best_rate": timing.best_rate,
                             "sampling_share": timing.sampling_share,
                             "normals": normals_per_sample(arch, lazy)})
    return rows


def print_ladder(n: int, widths: list[int], quick: bool, have_torch: bool) -> list[dict]:
    """Run the ladder (NumPy in one subprocess, PyTorch in another) and print its table."""
    job = {"kind": "ladder", "n": n, "widths": widths, "quick": quick}
    rows = run_job({**job, "backend": "engine"}, {**ONE_THREAD, **KEEP_MEMORY})["rows"]
    if have_torch:
        rows += run_job({**job, "backend": "torch"})["rows"]
    print(f"\n== width ladder: n={n}, d_ff=4d, Post-LN, softmax, ReLU MLP, float64; Q/K/V "
          f"gradient norms of every layer, fresh weights every run")
    print("samples/s (best repeat); GFLOP/s = dense work of the answer per second (for lazy "
          "a dense-equivalent rate); sampling = share of the time drawing normals")
    print(f"{'layers':>6} {'d':>5} | {'full/s':>9} {'GFLOP/s':>7} {'normals':>10} "
          f"{'sampling':>8} | {'lazy/s':>9} {'GFLOP/s':>7} {'normals':>8} {'sampling':>8} | "
          f"{'torch/s':>9} {'GFLOP/s':>7} | {'lazy/full':>9}")
    for depth in LADDER_DEPTHS.values():
        for d in widths:
            cell = {r["label"]: r for r in rows if r["depth"] == depth and r["d"] == d}
            flops = flops_per_sample(ladder_architecture(n, d, depth)) / 1e9
            full, lazy, torch = cell["full"], cell["lazy"], cell.get("torch")
            torch_text = (f"{torch['best_rate']:9.1f} {torch['best_rate'] * flops:7.2f}"
                          if torch else f"{'absent':>9} {'':7}")
            print(f"{depth:>6} {d:>5} | {full['best_rate']:9.1f} {full['best_rate'] * flops:7.2f} "
                  f"{full['normals']:>10,} {full['sampling_share']:8.0%} | "
                  f"{lazy['best_rate']:9.1f} {lazy['best_rate'] * flops:7.2f} "
                  f"{lazy['normals']:>8,} {lazy['sampling_share']:8.0%} | {torch_text} | "
                  f"{lazy['best_rate'] / full['best_rate']:8.1f}x")
    return rows


def ladder_verdicts(rows: list[dict], n: int) -> None:
    """PASS/MISS of lazy against full at n = 8, d = 512, with the reason for a miss."""
    for name, depth in LADDER_DEPTHS.items():
        target = LADDER_TARGETS[depth]
        cell = {r["label"]: r for r in rows if r["depth"] == depth and r["d"] == LADDER_TARGET_D}
        if n != LADDER_TARGET_N or not cell:
            print(f"{name}: lazy >= {target:g}x full at n={LADDER_TARGET_N}, "
                  f"d={LADDER_TARGET_D}: not measured in this run")
            continue
        full, lazy = cell["full"], cell["lazy"]
        ratio = lazy["best_rate"] / full["best_rate"]
        verdict = "PASS" if ratio >= target else "MISS"
        print(f"{verdict} {name}, n={n}, d={LADDER_TARGET_D}: lazy >= {target:g}x full engine, "
              f"samples/s: {lazy['best_rate']:.1f} vs {full['best_rate']:.1f} ({ratio:.1f}x)")
        if verdict == "MISS":
            print(f"     why: the lazy engine spends {lazy['sampling_share']:.0%} of its time "
                  f"drawing {lazy['normals']:,} normals per network (full: {full['normals']:,}, "
                  f"{full['sampling_share']:.0%}); without drawing it would run at "
                  f"{lazy['best_rate'] / (1 - lazy['sampling_share']):.1f} samples/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    parser.add_argument("--sizes", default="small,large",
                        help="comma list of small, large (empty: none)")
    parser.add_argument("--widths", default="64,128,256,512,1024",
                        help="widths d of the ladder (empty: no ladder)")
    parser.add_argument("--ladder-n", type=int, default=8, help="tokens of the ladder")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if any(s not in SIZES for s in sizes):
        parser.error(f"--sizes must be a comma list of {', '.join(SIZES)}, got {args.sizes!r}")
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    have_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    print(f"NumPy {np.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} before the run (other work on the machine slows every row)")
    matmul_size, matmul_repeats = (1024, 3) if args.quick else (2048, 5)
    rates = {name: run_job({"kind": "matmul", "size": matmul_size, "repeats": matmul_repeats},
                           ENVIRONMENTS[name])["gflops"] for name in ("default", "1 thread")}
    matmul_gflops = max(rates.values())
    print(f"NumPy float64 matmul {matmul_size}^2, best of {matmul_repeats}: "
          f"{rates['default']:.1f} GFLOP/s (default threads), {rates['1 thread']:.1f} GFLOP/s "
          f"(1 thread); the rate used for the sizes' verdicts is {matmul_gflops:.1f}")
    kinds = dict(KINDS)
    if have_torch:
        check = run_job({"kind": "crosscheck", "size": "small"})
        status = "OK" if check["worst"] <= CROSS_CHECK_TOLERANCE else "FAILED"
        print(f"PyTorch {check['version']}, {check['threads']} intra-op threads by default")
        print(f"cross-check (small, batch {CROSS_CHECK_BATCH}, same weights): PyTorch (loop and "
              f"batched) vs engine Q/K/V gradient norms, max relative difference "
              f"{check['worst']:.2e} (tolerance {CROSS_CHECK_TOLERANCE:g}): {status}")
    else:
        print("PyTorch left out (--no-torch)." if args.no_torch else TORCH_MISSING)
        kinds = {k: v for k, v in KINDS.items() if v.startswith("engine")}
    print("environments: default = library thread defaults; 1 thread = OPENBLAS/OMP/MKL_NUM_"
          "THREADS=1; +malloc = glibc keeps freed memory (" +
          " ".join(f"{k}={v}" for k, v in KEEP_MEMORY.items()) + ")")
    all_rows = {size: print_size(size, kinds, args.quick) for size in sizes}
    ladder = print_ladder(args.ladder_n, widths, args.quick, have_torch) if widths else []
    if sizes:
        verdicts(all_rows, matmul_gflops, have_torch)
    if widths:
        ladder_verdicts(ladder, args.ladder_n)


if __name__ == "__main__":
    main()
