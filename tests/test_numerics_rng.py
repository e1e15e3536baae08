"""Random draws are a function of (seed, stream, sample index) only."""

from __future__ import annotations

import os

import numpy as np
import pytest

from architecture import Architecture
from numerics.inputs import exchangeable_tokens
from numerics.rng import block_generator, block_size, chisquare_rows, normal_rows
from numerics.weights import WEIGHT_NAMES, sample_weights

SEGMENTS = [(5, 1.0), (7, 0.5), (3, 2.0)]


def in_pieces(draw, total: int, piece: int) -> np.ndarray:
    """Concatenate draw(start, count) over consecutive pieces of ``piece`` samples."""
    parts = [draw(start, min(piece, total - start)) for start in range(0, total, piece)]
    return np.concatenate(parts)


@pytest.mark.parametrize("piece", [1, 7, 64])
def test_normal_rows_do_not_depend_on_the_batch_size(piece: int) -> None:
    whole = normal_rows(11, "test", 0, 64, SEGMENTS)
    pieces = in_pieces(lambda s, c: normal_rows(11, "test", s, c, SEGMENTS), 64, piece)
    np.testing.assert_array_equal(whole, pieces)


def test_normal_rows_do_not_depend_on_the_thread_count() -> None:
    for segments, count in (([(40_000, 1.0)], 9), ([(10, 1.0)], 30_000)):  # threaded paths
        one = normal_rows(3, "test", 5, count, segments, workers=1)
        many = normal_rows(3, "test", 5, count, segments, workers=4)
        np.testing.assert_array_equal(one, many)


def test_rows_are_their_blocks_generator_output_scaled_per_segment() -> None:
    per_block = block_size(15)
    assert per_block > 1  # small samples share a generator
    rows = normal_rows(2, "s", per_block + 1, 3, SEGMENTS)
    raw = block_generator(2, "s", 1).standard_normal((4, 15))[1:]
    stds = np.repeat([1.0, 0.5, 2.0], [5, 7, 3])
    np.testing.assert_array_equal(rows, raw * stds)


@pytest.mark.parametrize("before_boundary", [None, 69, 5, 1])
def test_batches_straddling_block_boundaries_agree(before_boundary: int | None) -> None:
    per_block = block_size(15)
    start = 3 if before_boundary is None else per_block - before_boundary
    whole = normal_rows(8, "s", 0, 2 * per_block + 10, SEGMENTS)
    part = normal_rows(8, "s", start, 70, SEGMENTS, workers=2)
    np.testing.assert_array_equal(part, whole[start:start + 70])


def test_large_samples_get_a_generator_each() -> None:
    assert block_size(70_000) == 1
    rows = normal_rows(2, "s", 5, 2, [(70_000, 1.0)])
    np.testing.assert_array_equal(rows[1], block_generator(2, "s", 6).standard_normal(70_000))


def test_zero_std_segment_keeps_the_other_segments_in_place() -> None:
    base = normal_rows(4, "s", 0, 2, SEGMENTS)
    zeroed = normal_rows(4, "s", 0, 2, [(5, 1.0), (7, 0.0), (3, 2.0)])
    assert np.all(zeroed[:, 5:12] == 0.0)
    np.testing.assert_array_equal(zeroed[:, :5], base[:, :5])
    np.testing.assert_array_equal(zeroed[:, 12:], base[:, 12:])


def test_seeds_streams_and_samples_are_distinct() -> None:
    reference = normal_rows(1, "a", 0, 2, [(50, 1.0)])
    assert not np.array_equal(reference[0], reference[1])
    assert not np.array_equal(reference, normal_rows(2, "a", 0, 2, [(50, 1.0)]))
    assert not np.array_equal(reference, normal_rows(1, "b", 0, 2, [(50, 1.0)]))


def test_draws_are_standard_normal() -> None:
    # 1e6 draws: mean has sd 1e-3, sample variance sd sqrt(2e-6), fourth moment
    # sd sqrt(96e-6); 6 sd bounds fail a correct sampler with p < 1e-8 each.
    z = normal_rows(123, "moments", 0, 100, [(10_000, 1.0)]).ravel()
    n = z.size
    assert abs(z.mean()) < 6 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 6 * np.sqrt(2 / n)
    assert abs(np.mean(z**4) - 3.0) < 6 * np.sqrt(96 / n)


@pytest.mark.parametrize("piece", [1, 7, 64])
def test_weights_and_tokens_do_not_depend_on_the_batch_size(piece: int) -> None:
    arch = Architecture(n=3, d=4, d_k=2, d_v=3, d_ff=5, heads=2, depth=2)
    whole = sample_weights(arch, 64, seed=9)
    parts = [sample_weights(arch, min(piece, 64 - s), seed=9, start=s) for s in range(0, 64, piece)]
    for name in WEIGHT_NAMES:
        np.testing.assert_array_equal(getattr(whole, name),
                                      np.concatenate([getattr(p, name) for p in parts]))
    tokens = exchangeable_tokens(3, 4, 0.3, 2.0, 64, seed=9)
    pieces = in_pieces(lambda s, c: exchangeable_tokens(3, 4, 0.3, 2.0, c, seed=9, start=s),
                       64, piece)
    np.testing.assert_array_equal(tokens, pieces)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"start": -2}, "start must be an integer >= 0"),
        ({"count": 0}, "count must be an integer >= 1"),
        ({"segments": [(0, 1.0)]}, "segment length must be an integer >= 1"),
        ({"segments": [(3, -1.0)]}, "segment std must be >= 0"),
        ({"segments": []}, "segments must name at least one"),
        ({"stream": ""}, "stream must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    args = {"seed": 0, "stream": "s", "start": 0, "count": 2, "segments": [(3, 1.0)]} | kwargs
    with pytest.raises(ValueError, match=message):
        normal_rows(**args)


@pytest.mark.parametrize("piece", [1, 333, 2000])
def test_chisquare_rows_do_not_depend_on_the_batch_size(piece: int) -> None:
    """Across the blocks' boundaries too (1365 rows per block for three dofs)."""
    whole = chisquare_rows(4, "c", 100, 3000, [5, 2.5, 1])
    parts = in_pieces(lambda s, c: chisquare_rows(4, "c", 100 + s, c, [5, 2.5, 1]), 3000, piece)
    np.testing.assert_array_equal(whole, parts)


def test_chisquare_rows_have_their_degrees_of_freedom() -> None:
    """KS test of each column against its chi-square law (Bonferroni over 3 at 1e-4)."""
    from scipy import stats

    dofs = [7, 2.5, 1]
    rows = chisquare_rows(0, "c", 0, 20000, dofs)
    assert min(stats.kstest(rows[:, k], "chi2", args=(df,)).pvalue
               for k, df in enumerate(dofs)) * 3 > 1e-4
    assert not np.array_equal(rows, chisquare_rows(1, "c", 0, 20000, dofs))


@pytest.mark.parametrize("dofs", [[], [0.0], [-1.0], [np.inf], [[1.0, 2.0]]])
def test_bad_chisquare_degrees_are_refused(dofs) -> None:
    with pytest.raises(ValueError, match="dofs must be a non-empty list of finite numbers > 0"):
        chisquare_rows(0, "c", 0, 2, dofs)


def test_monte_carlo_runs_do_not_depend_on_the_worker_count() -> None:
    from numerics.montecarlo import run_moments
    from numerics.stack import output_sampler

    arch = Architecture(n=3, d=8, d_k=4, d_v=8, depth=2, norm="post", mlp=False)
    x = np.random.default_rng(0).standard_normal((3, 8))
    sampler = output_sampler(arch.model(), x, "spread")
    runs = [run_moments(sampler, 1000, 5, chunk=64, workers=w).estimate(1) for w in (1, 2, 3)]
    means = [r.mean for r in runs]
    ses = [r.se for r in runs]
    for mean, se in zip(means[1:], ses[1:], strict=True):
        np.testing.assert_array_equal(mean, means[0])
        np.testing.assert_array_equal(se, ses[0])


def test_a_process_may_set_its_thread_count() -> None:
    from numerics.rng import default_workers, set_threads

    default = default_workers()
    try:
        set_threads(3)
        assert default_workers() == 3
        with pytest.raises(ValueError, match="threads must be"):
            set_threads(0)
    finally:
        set_threads(None)
    assert default_workers() == default == min(8, os.cpu_count() or 1)
