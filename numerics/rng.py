"""Reproducible Gaussian draws: sample i depends only on (seed, stream, i).

Samples are grouped in blocks of ``block_size(row)`` consecutive samples, a
number fixed by the per-sample draw count alone (never by the batch a caller
asks for), and every block of every named stream owns its generator,

    SFC64(SeedSequence(seed, spawn_key=(key(stream), block))),

the child the chain ``SeedSequence(seed).spawn`` would hand out, built
directly in O(1).  A block's samples take consecutive rows of its
generator's output, so a batch [start, start + count) is the same whether it
is drawn at once or in pieces of any size, and whatever the number of threads
(each thread fills whole blocks).  Large samples (the weights of a network)
get a block each; small ones (a token matrix) share one generator per block,
so seeding costs stay negligible.  ``key(stream)`` is the integer whose
little-endian bytes spell the stream name, so distinct names give
independent streams.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise
from numbers import Integral

import numpy as np
from numpy.random import SFC64, Generator, SeedSequence

from architecture.validate import check_nonnegative, check_positive_int

# Below this many draws per call the thread hand-off costs more than it saves.
_THREADING_THRESHOLD = 200_000
# Samples smaller than this share a generator with their block neighbours.
_BLOCK_DRAWS = 65_536
# The same for chi-square rows, whose blocks are redrawn from their first row on every
# call (rejection sampling consumes a variable number of bits, so rows cannot be skipped).
_CHI_BLOCK_DRAWS = 4_096


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int, requiring an integer >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def check_index(name: str, value: object) -> int:
    """Return ``value`` as an int, requiring an integer >= 0 (a sample index)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def stream_key(stream: str) -> int:
    """Integer spawn key of a named stream (its UTF-8 bytes, little-endian)."""
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"stream must be a non-empty string, got {stream!r}")
    return int.from_bytes(stream.encode("utf-8"), "little")


def block_size(row: int) -> int:
    """Samples per generator for samples of ``row`` draws each (>= 1)."""
    return max(1, _BLOCK_DRAWS // row)


def block_generator(seed: int, stream: str, block: int) -> Generator:
    """The generator that owns block ``block`` of ``stream`` under ``seed``."""
    sequence = SeedSequence(check_seed(seed), spawn_key=(stream_key(stream),
                                                         check_index("block", block)))
    return Generator(SFC64(sequence))


@cache
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigprop-rng")


#: this process's thread count for draws and Monte Carlo chunks (``set_threads``)
_threads: int | None = None


def set_threads(count: int | None) -> None:
    """Use ``count`` threads (None: the default) for this process's draws and Monte Carlo
    chunks from now on. A worker of a process pool takes one: the pool already keeps every
    CPU busy, and more threads per worker only contend for them. No number depends on it."""
    global _threads
    _threads = None if count is None else check_positive_int("threads", count)


def default_workers() -> int:
    """Threads used to fill large draws and run chunks: ``set_threads``'s count, else the
    CPU count, at most 8."""
    return _threads if _threads is not None else max(1, min(8, os.cpu_count() or 1))


def normal_rows(
    seed: int,
    stream: str,
    start: int,
    count: int,
    segments: Sequence[tuple[int, float]],
    *,
    workers: int | None = None,
) -> np.ndarray:
    """Draw rows of independent Gaussians, one row per sample.

    Row r (sample ``start + r``) is the concatenation of the segments
    ``(length, std)``: ``length`` draws of N(0, std^2).  Sample i is row
    i mod b of the standard normals of block i // b, b = block_size(row
    length), each scaled by its segment's std (std = 0 gives zeros but the
    draws are still consumed, so other segments do not move).
    Returns a float64 array of shape (count, sum of lengths).
    """
    seed = check_seed(seed)
    key = stream_key(stream)
    start = check_index("start", start)
    count = check_positive_int("count", count)
    spans = []
    row = 0
    for length, std in segments:
        length = check_positive_int("segment length", length)
        spans.append((row, row + length, check_nonnegative("segment std", std)))
        row += length
    if not spans:
        raise ValueError("segments must name at least one (length, std) pair, got none")
    per_block = block_size(row)
    out = np.empty((count, row))

    def fill(blocks: range) -> None:
        for block in blocks:
            first = block * per_block
            lo, hi = max(start, first), min(start + count, first + per_block)
            gen = Generator(SFC64(SeedSequence(seed, spawn_key=(key, block))))
            if lo > first:
                gen.standard_normal((lo - first) * row)  # rows before the batch
            rows = out[lo - start:hi - start]
            gen.standard_normal(out=rows)
            for a, b, std in spans:
                if std != 1.0:
                    rows[:, a:b] *= std

    blocks = range(start // per_block, (start + count - 1) // per_block + 1)
    workers = default_workers() if workers is None else check_positive_int("workers", workers)
    workers = min(workers, len(blocks))
    if workers == 1 or out.size < _THREADING_THRESHOLD:
        fill(blocks)
    else:
        bounds = np.linspace(blocks.start, blocks.stop, workers + 1).astype(int)
        chunks = [range(lo, hi) for lo, hi in pairwise(bounds) if hi > lo]
        for future in [_executor(workers).submit(fill, chunk) for chunk in chunks]:
            future.result()
    return out


def chisquare_rows(seed: int, stream: str, start: int, count: int,
                   dofs: Sequence[float]) -> np.ndarray:
    """Independent chi-square draws, one row per sample: row r (sample ``start + r``) holds
    one draw for each of the degrees of freedom ``dofs`` (each > 0). Sample i is row
    i mod b of block i // b of the stream's generators (b = 4096 // len(dofs), at least
    1), whose rows are drawn in order from the block's first, so a batch is the same
    whether drawn at once or in pieces. Returns a float64 array of shape
    (count, len(dofs))."""
    seed = check_seed(seed)
    key = stream_key(stream)
    start = check_index("start", start)
    count = check_positive_int("count", count)
    df = np.asarray(dofs, dtype=np.float64)
    if df.ndim != 1 or df.size == 0 or not np.all(np.isfinite(df)) or np.any(df <= 0):
        raise ValueError(f"dofs must be a non-empty list of finite numbers > 0, got {dofs!r}")
    per_block = max(1, _CHI_BLOCK_DRAWS // df.size)
    out = np.empty((count, df.size))
    for block in range(start // per_block, (start + count - 1) // per_block + 1):
        first = block * per_block
        lo, hi = max(start, first), min(start + count, first + per_block)
        gen = Generator(SFC64(SeedSequence(seed, spawn_key=(key, block))))
        out[lo - start:hi - start] = gen.chisquare(df, size=(hi - first, df.size))[lo - first:]
    return out
