"""The Monte Carlo store (numerics.cache): a stored run is the run, bit for bit; anything
that changes the numbers (the sampler's arguments, the run, the simulating code) changes
the key; a changed theory reuses the runs and still gets its own verdict."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from numerics import cache
from numerics.estimators import RunningMoments
from numerics.montecarlo import run_moments
from numerics.stack import output_sampler
from sigprop import registry
from sigprop.cli import main
from sigprop.harness import verify_claim

CALLS: list[int] = []


@cache.keyed
def _counting_sampler(scale: float, x: np.ndarray, shift: float = 0.0):
    def sample(start: int, count: int, seed: int) -> np.ndarray:
        CALLS.append(count)
        rng = np.random.default_rng([seed, start])
        return scale * rng.standard_normal(count) + shift + x.sum()

    return sample


@cache.keyed
def _with_function(f):
    return lambda start, count, seed: f(np.arange(start, start + count, dtype=float))


def _same(a: RunningMoments, b: RunningMoments) -> bool:
    return all(np.array_equal(a.state()[k], b.state()[k]) for k in a.state())


def test_a_stored_run_is_the_run_bit_for_bit(tmp_path):
    sampler = _counting_sampler(2.0, np.ones((2, 3)))
    fresh = run_moments(sampler, 5000, seed=3, chunk=512)
    with cache.use(tmp_path):
        first = run_moments(sampler, 5000, seed=3, chunk=512)
        CALLS.clear()
        cache.COUNTS.reset()
        second = run_moments(sampler, 5000, seed=3, chunk=512)
    assert CALLS == [] and cache.COUNTS.hits == 1
    assert _same(fresh, first) and _same(first, second)
    assert second.estimate() == fresh.estimate()


def test_what_changes_the_numbers_changes_the_key(tmp_path, monkeypatch):
    x = np.ones((2, 3))
    nudged = x.copy()
    nudged[1, 2] = math.nextafter(1.0, 2.0)
    keys = {_counting_sampler(2.0, x).key, _counting_sampler(2.0, nudged).key,
            _counting_sampler(math.nextafter(2.0, 3.0), x).key,
            _counting_sampler(2.0, x, shift=1e-300).key}
    assert len(keys) == 4
    # defaults applied: the same call spelled two ways is one key
    assert _counting_sampler(2.0, x).key == _counting_sampler(2.0, x, 0.0).key
    with cache.use(tmp_path):
        sampler = _counting_sampler(2.0, x)
        run_moments(sampler, 1000, seed=1, chunk=100)
        for change in ({"samples": 1001}, {"seed": 2}, {"chunk": 101}, {"first": 1}):
            CALLS.clear()
            run = {"samples": 1000, "seed": 1, "chunk": 100, **change}
            run_moments(sampler, run["samples"], run["seed"], run["chunk"],
                        first=run.get("first", 0))
            assert CALLS, change
        monkeypatch.setattr(cache, "code_digest", lambda: "another version of numerics")
        CALLS.clear()
        run_moments(sampler, 1000, seed=1, chunk=100)
        assert CALLS


def test_a_model_and_its_tokens_are_in_the_key():
    from architecture.spec import Architecture

    arch = Architecture(n=3, d=8, depth=2, norm="none", attention="uniform")
    x = np.random.default_rng(0).standard_normal((3, 8))
    deeper = dataclasses.replace(arch, depth=3)
    keys = {output_sampler(arch.model(), x, "squared-norm").key,
            output_sampler(deeper.model(), x, "squared-norm").key,
            output_sampler(arch.model(), x + 1e-12, "squared-norm").key,
            output_sampler(arch.model(), x, "inner-product-sum").key}
    assert len(keys) == 4


def test_a_sampler_without_a_canonical_form_always_runs(tmp_path):
    sampler = _with_function(np.sin)
    assert not hasattr(sampler, "key")
    with cache.use(tmp_path):
        cache.COUNTS.reset()
        run_moments(sampler, 100, seed=0, chunk=10)
    assert cache.COUNTS.hits == cache.COUNTS.stored == 0
    assert not any(tmp_path.iterdir())


def test_a_damaged_entry_is_a_miss_and_is_rewritten(tmp_path):
    sampler = _counting_sampler(1.0, np.zeros(2))
    with cache.use(tmp_path):
        good = run_moments(sampler, 300, seed=5, chunk=64)
        (entry,) = tmp_path.rglob("*.npz")
        entry.write_bytes(b"not an npz file")
        CALLS.clear()
        again = run_moments(sampler, 300, seed=5, chunk=64)
        assert CALLS and _same(good, again)
        CALLS.clear()
        run_moments(sampler, 300, seed=5, chunk=64)
        assert CALLS == []


def test_a_state_round_trips_and_a_malformed_one_is_refused():
    moments = RunningMoments().update(np.random.default_rng(1).standard_normal((50, 3)))
    assert _same(RunningMoments.from_state(moments.state()), moments)
    broken = {**moments.state(), "m2": np.zeros((2, 2))}
    with pytest.raises(ValueError, match="inconsistent shapes"):
        RunningMoments.from_state(broken)
    with pytest.raises(ValueError, match="not a RunningMoments state"):
        RunningMoments.from_state({"count": np.array(3)})


def test_a_changed_theory_reuses_the_runs_and_gets_its_own_verdict(tmp_path):
    claim = registry.get("forward.attention-gram-update")
    wrong = claim.with_derived(dataclasses.replace(
        claim.derived, evaluator=lambda _e, p: 1.2 * claim.theory(p)))
    plain = verify_claim(claim, budget="quick", seed=4)
    with cache.use(tmp_path):
        first = verify_claim(claim, budget="quick", seed=4)
        cache.COUNTS.reset()
        again = verify_claim(claim, budget="quick", seed=4)
        assert cache.COUNTS.hits > 0 and cache.COUNTS.stored == 0
        mistaken = verify_claim(wrong, budget="quick", seed=4)
        assert cache.COUNTS.stored == 0
    for result in (first, again):
        assert (result.estimate, result.se, result.verdict) == (
            plain.estimate, plain.se, plain.verdict)
    assert plain.verdict == "pass"
    # the mistake is decided on (at most) the looks the correct theory took, all reused
    assert mistaken.verdict == "fail" and mistaken.samples <= plain.samples


def test_the_cli_refuses_an_empty_store_name(capsys):
    assert main(["verify", "--claim", "engine.isserlis-fourth", "--cache", " "]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sigprop: error: --cache needs a directory, got an empty name"]


def test_the_cli_refuses_a_store_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("")
    assert main(["verify", "--claim", "engine.isserlis-fourth", "--cache", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sigprop: error: cannot use {target} as the Monte Carlo store: "
                   "not a directory"]


def test_a_shared_block_computes_a_run_asked_for_twice_once() -> None:
    sampler = _counting_sampler(2.0, np.ones((2, 3)))
    fresh = run_moments(sampler, 3000, seed=5, chunk=512)
    CALLS.clear()
    with cache.shared():
        first = run_moments(sampler, 3000, seed=5, chunk=512)
        computed = len(CALLS)
        with cache.shared():  # nested blocks share one memory
            second = run_moments(sampler, 3000, seed=5, chunk=512)
        first.update(np.zeros(10))  # a caller's copy is its own
        third = run_moments(sampler, 3000, seed=5, chunk=512)
        assert len(CALLS) == computed > 0
        run_moments(sampler, 3000, seed=6, chunk=512)  # another run is computed
        assert len(CALLS) > computed
    assert _same(fresh, second) and _same(fresh, third)
    CALLS.clear()
    run_moments(sampler, 3000, seed=5, chunk=512)  # the memory ends with the block
    assert CALLS and not cache.sharing()
