"""Chunked Monte Carlo runs: stream per-sample values into mergeable moments.

A *sampler* is a function ``sampler(start, count, seed) -> ndarray`` that
returns the values of samples ``start .. start + count - 1`` (shape
``(count,)`` or ``(count, k)``); sample ``i`` must depend only on
``(seed, i)`` (see :mod:`numerics.rng`). Chunking then changes memory use,
never the numbers. A sampler may carry the number of values it draws per
sample (:func:`sized`); every chunk is then capped at about ``CHUNK_DRAWS``
draws, so the memory of a run stays bounded at any width.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from architecture.validate import check_positive_int
from numerics import cache
from numerics.estimators import Estimate, RunningMoments, ratio_from_moments
from numerics.rng import check_index, check_seed, default_workers

Sampler = Callable[[int, int, int], np.ndarray]

#: at most about this many float64 draws per chunk (64 MiB), whatever chunk is asked for
CHUNK_DRAWS = 1 << 23


def sized(sampler: Sampler, draws_per_sample: int) -> Sampler:
    """``sampler``, marked with the number of values it draws per sample."""
    sampler.draws_per_sample = int(draws_per_sample)  # type: ignore[attr-defined]
    return sampler


def chunk_for(sampler: Sampler, chunk: int) -> int:
    """``chunk``, capped so that one chunk draws at most about CHUNK_DRAWS values."""
    draws = getattr(sampler, "draws_per_sample", 0)
    return max(1, min(chunk, CHUNK_DRAWS // draws)) if draws > 0 else chunk


def run_moments(sampler: Sampler, samples: int, seed: int, chunk: int,
                workers: int | None = None, first: int = 0) -> RunningMoments:
    """Moments of ``samples`` draws (samples first .. first + samples - 1), computed
    ``chunk`` samples at a time.

    Up to ``workers`` chunks (default: the CPU count, at most 8) are computed
    at once in threads (NumPy's generators, BLAS and ufuncs release the GIL),
    and merged in chunk order, so the result is bit-for-bit the same for any
    number of workers. A keyed sampler's run is taken from memory within a
    ``numerics.cache.shared`` block or from the store of :mod:`numerics.cache` when
    either holds it, and kept in both otherwise.
    """
    samples = check_positive_int("samples", samples)
    chunk = chunk_for(sampler, check_positive_int("chunk", chunk))
    seed = check_seed(seed)
    workers = default_workers() if workers is None else check_positive_int("workers", workers)
    first = check_index("first", first)
    sampler_key = getattr(sampler, "key", None)
    if sampler_key is None or (cache.directory() is None and not cache.sharing()):
        return _compute(sampler, samples, seed, chunk, workers, first)
    run = cache.run_key(sampler_key, samples, seed, chunk, first)
    moments = cache.recall(run)
    if moments is None:
        moments = cache.load(run)
    if moments is None:
        moments = _compute(sampler, samples, seed, chunk, workers, first)
        cache.store(run, moments)
    cache.remember(run, moments)
    return moments


def _compute(sampler: Sampler, samples: int, seed: int, chunk: int, workers: int,
             first: int) -> RunningMoments:
    starts = range(first, first + samples, chunk)
    moments = RunningMoments()

    def run(start: int) -> np.ndarray:
        return np.asarray(sampler(start, min(chunk, first + samples - start), seed))

    if workers == 1 or len(starts) == 1:
        for start in starts:
            moments.update(run(start))
        return moments
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigprop-mc") as pool:
        pending: deque[Future[np.ndarray]] = deque()
        for start in starts:
            pending.append(pool.submit(run, start))
            if len(pending) == workers:
                moments.update(pending.popleft().result())
        while pending:
            moments.update(pending.popleft().result())
    return moments


def mean_estimate(sampler: Sampler, samples: int, seed: int, chunk: int = 4096) -> Estimate:
    """Estimate of E[value] from ``samples`` independent draws (se = sd/sqrt(N))."""
    return run_moments(sampler, max(2, samples), seed, chunk).estimate()


def ratio_estimate(sampler: Sampler, samples: int, seed: int, chunk: int = 4096) -> Estimate:
    """Estimate of E[num]/E[den] from paired draws ``(count, 2)`` (delta-method se)."""
    return ratio_from_moments(run_moments(sampler, max(2, samples), seed, chunk), 0, 1)
