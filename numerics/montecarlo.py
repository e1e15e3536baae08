"""Chunked Monte Carlo runs: stream per-sample values into mergeable moments.

A *sampler* is a function ``sampler(start, count, seed) -> ndarray`` that
returns the values of samples ``start .. start + count - 1`` (shape
``(count,)`` or ``(count, k)``); sample ``i`` must depend only on
``(seed, i)`` (see :mod:`numerics.rng`). Chunking then changes memory use,
never the numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from architecture.validate import check_positive_int
from numerics.estimators import Estimate, RunningMoments, ratio_from_moments
from numerics.rng import check_seed

Sampler = Callable[[int, int, int], np.ndarray]


def run_moments(sampler: Sampler, samples: int, seed: int, chunk: int) -> RunningMoments:
    """Moments of ``samples`` draws, computed ``chunk`` samples at a time."""
    samples = check_positive_int("samples", samples)
    chunk = check_positive_int("chunk", chunk)
    seed = check_seed(seed)
    moments = RunningMoments()
    for start in range(0, samples, chunk):
        moments.update(np.asarray(sampler(start, min(chunk, samples - start), seed)))
    return moments


def mean_estimate(sampler: Sampler, samples: int, seed: int, chunk: int = 4096) -> Estimate:
    """Estimate of E[value] from ``samples`` independent draws (se = sd/sqrt(N))."""
    return run_moments(sampler, max(2, samples), seed, chunk).estimate()


def ratio_estimate(sampler: Sampler, samples: int, seed: int, chunk: int = 4096) -> Estimate:
    """Estimate of E[num]/E[den] from paired draws ``(count, 2)`` (delta-method se)."""
    return ratio_from_moments(run_moments(sampler, max(2, samples), seed, chunk), 0, 1)
