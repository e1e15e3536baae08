"""Where a sweep's tasks run: the ``--scheduler`` of ``sigprop calibrate`` and ``figures``.

- ``threads`` (default): a thread pool in this process;
- ``processes``: a pool of fresh (spawned) Python processes on this machine;
- ``dask``: a ``dask.distributed`` LocalCluster on loopback, one single-threaded
  worker process per CPU;
- ``tcp://HOST:PORT``: the workers of a running Dask scheduler (``dask scheduler``,
  ``dask worker tcp://HOST:PORT``), which must have sigprop installed.

Dask is an optional extra (``pip install -e '.[distributed]'``) and is imported only
when asked for. Every backend but ``threads`` pickles the task function and its items,
so they must be module-level functions and plain data; its workers use the caller's
Monte Carlo store (``--cache``) and report what they reused and kept.
:meth:`Scheduler.map` returns the results in the order of the items, whatever order
they complete in: a sweep whose tasks are keyed by their seeds gives the same numbers on
every backend.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent import futures
from types import TracebackType
from typing import Any, TypeVar

from numerics import cache, rng

T = TypeVar("T")
R = TypeVar("R")

LOCAL = ("threads", "processes", "dask")
INSTALL = "pip install -e '.[distributed]'"
#: seconds to wait for a remote Dask scheduler before giving up
CONNECT_TIMEOUT = 10.0


def _check_address(text: str) -> None:
    """``text`` is tcp://HOST:PORT with a non-empty host and a port in [1, 65535]."""
    host, colon, port = text.removeprefix("tcp://").rpartition(":")
    if not colon or not host or any(c.isspace() or c == "/" for c in host):
        raise ValueError(f"--scheduler address must be tcp://HOST:PORT, got {text!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--scheduler port must be an integer in [1, 65535], got {port!r}")


def parse_scheduler(text: str) -> str:
    """The validated ``--scheduler`` value; ValueError (one line naming the problem)
    for anything else, or for a Dask backend when dask.distributed is not installed."""
    if text not in LOCAL and not text.startswith("tcp://"):
        raise ValueError("--scheduler must be threads, processes, dask or tcp://HOST:PORT, "
                         f"got {text!r}")
    if text.startswith("tcp://"):
        _check_address(text)
    if text not in ("threads", "processes") and importlib.util.find_spec("distributed") is None:
        raise ValueError(f"--scheduler {text} needs dask.distributed; install it with {INSTALL}")
    return text


def workers() -> int:
    """Workers of the local backends: the CPU count."""
    return os.cpu_count() or 1


class Scheduler:
    """``map(fn, items)`` on one backend. A context manager: the workers start on entry
    (a LocalCluster, a connection to a remote scheduler, a pool) and stop on exit."""

    def __init__(self, spec: str = "threads") -> None:
        self.spec = parse_scheduler(spec)
        self._executor: futures.Executor | None = None
        self._client: Any = None  # a distributed.Client
        self._cluster: Any = None  # a distributed.LocalCluster

    @property
    def in_process(self) -> bool:
        """Whether tasks run in this process (nothing is pickled)."""
        return self.spec == "threads"

    def __enter__(self) -> Scheduler:
        if self.spec == "threads":
            self._executor = futures.ThreadPoolExecutor(max_workers=workers(),
                                                        thread_name_prefix="sigprop-sweep")
        elif self.spec == "processes":
            # spawn, not fork: the progress bar's thread makes forking unsafe
            self._executor = futures.ProcessPoolExecutor(
                max_workers=workers(), mp_context=multiprocessing.get_context("spawn"))
        else:
            self._connect()
        return self

    def _connect(self) -> None:
        from distributed import Client, LocalCluster

        if self.spec == "dask":
            import dask

            # not daemonic, so that a worker can time-limit a symbolic step in a child
            with dask.config.set({"distributed.worker.daemon": False}):
                self._cluster = LocalCluster(n_workers=workers(), threads_per_worker=1,
                                             processes=True, host="127.0.0.1",
                                             dashboard_address=None,
                                             silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
            return
        try:
            self._client = Client(self.spec, timeout=CONNECT_TIMEOUT)
        except OSError as exc:  # refused or timed out
            raise ValueError(f"cannot reach the Dask scheduler at {self.spec}: {exc}") from None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and isinstance(self._executor, futures.ProcessPoolExecutor):
            # leaving on an error, an interrupt or SIGTERM (``sigprop.cli``): stop the
            # workers now rather than let them finish their tasks for nobody (the pool has
            # no public handle on its processes before Python 3.14's terminate_workers)
            for process in list(getattr(self._executor, "_processes", {}).values()):
                process.terminate()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=exc is not None)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._executor = self._client = self._cluster = None

    def map(self, fn: Callable[[T], R], items: Sequence[T],
            done: Callable[[T], None] | None = None,
            cost: Callable[[T], float] | None = None) -> list[R]:
        """``[fn(item) for item in items]``, computed by the workers; ``done(item)`` is
        called here as each task completes. The first failure is raised as soon as it
        arrives. ``cost(item)``, a rough guess of an item's work, orders the submission,
        largest first, so that no long task starts last (the results keep the items'
        order)."""
        order = submission_order(items, cost)
        if self.in_process:
            calls = [(fn, items[i]) for i in order]
        else:
            store = cache.directory()
            calls = [(_in_store, fn, items[i], None if store is None else str(store))
                     for i in order]
        if self._client is not None:
            from distributed import as_completed

            pending = [self._client.submit(*call, pure=False) for call in calls]
        elif self._executor is not None:
            as_completed = futures.as_completed
            pending = [self._executor.submit(*call) for call in calls]
        else:
            raise RuntimeError("Scheduler.map outside its with-block")
        item_of = {id(future): items[i] for future, i in zip(pending, order, strict=True)}
        for future in as_completed(pending):
            result = future.result()
            if not self.in_process:
                cache.COUNTS.absorb(*result[1:])
            if done is not None:
                done(item_of[id(future)])
        at = dict(zip(order, pending, strict=True))
        results = [at[i].result() for i in range(len(items))]
        return results if self.in_process else [result for result, *_ in results]


def submission_order(items: Sequence[T], cost: Callable[[T], float] | None) -> list[int]:
    """The items' indices, largest ``cost`` first (ties, or no cost: in order)."""
    indices = range(len(items))
    return list(indices) if cost is None else sorted(indices, key=lambda i: -cost(items[i]))


def _in_store(fn: Callable[[T], R], item: T, store: str | None) -> tuple[R, int, int]:
    """``fn(item)`` in a worker, in the caller's Monte Carlo store (``numerics.cache``),
    with the runs it took from the store and the runs it computed and kept there. The
    worker's own Monte Carlo runs on one thread: its pool already fills the CPUs."""
    rng.set_threads(1)
    hits, stored = cache.COUNTS.hits, cache.COUNTS.stored
    with cache.use(store):
        result = fn(item)
    return result, cache.COUNTS.hits - hits, cache.COUNTS.stored - stored


def run_each(spec: str, fn: Callable[[T], R], items: Sequence[T], names: Sequence[str],
             progress: Callable[[int, str], None] | None = None,
             cost: Callable[[T], float] | None = None) -> list[R]:
    """``[fn(item) for item in items]``: one after another here for ``threads`` (each
    item's own work may use threads), as the tasks of the backend ``spec`` otherwise,
    submitted largest ``cost`` first (``Scheduler.map``). ``progress(done, what)``: items
    finished, and what runs (``names[i]`` names item i)."""
    say = progress or (lambda _done, _what: None)
    if spec == "threads":
        out = []
        for done, (item, name) in enumerate(zip(items, names, strict=True)):
            say(done, name)
            out.append(fn(item))
        return out
    name_of = {id(item): name for item, name in zip(items, names, strict=True)}
    finished = iter(range(1, len(items) + 1))
    say(0, f"{len(items)} tasks on {spec}")
    with Scheduler(spec) as pool:
        return pool.map(fn, items, done=lambda item: say(next(finished),
                                                          f"{name_of[id(item)]} done"),
                        cost=cost)
