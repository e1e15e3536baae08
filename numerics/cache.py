"""A content-addressed store of Monte Carlo runs, for re-verifying after a change.

A run of :func:`numerics.montecarlo.run_moments` is a deterministic function of

- the sampler: what it simulates, which :func:`keyed` records as the factory that built
  it and the factory's arguments (numbers, strings, token matrices, frozen
  dataclasses such as a :class:`architecture.model.Model`);
- the run: seed, first sample, number of samples and chunk (chunks are merged in
  order, so the chunk fixes the rounding);
- the code: every source file of ``numerics`` and ``architecture`` and the NumPy
  version (``code_digest``).

The store keys a run by the SHA-256 of all three and keeps its moments (count, shift,
mean, M2) in an ``.npz`` file, so a stored run gives bit for bit the moments a fresh
run would. Nothing about the theory a run is compared with enters the key (the
sample sizes are planned blind to it): after a change to a derivation or to a printed
formula, the Monte Carlo runs come back from the store and only the comparison is redone
(plus any run the new comparison asks for that the old one did not, such as a second
look).

The store is off unless the environment variable ``SIGPROP_CACHE`` names a directory
(``use`` sets it, so worker processes started afterwards share the store). Independently
of it, within a ``shared`` block a run asked for twice is computed once and kept in
memory: checks that measure one quantity at one point on one random stream (two
formulas compared with the same networks) then cost one run. A sampler
whose factory takes something without a canonical form (a function, say) is not
keyed and always runs. An unreadable or malformed entry is a miss and is rewritten.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from numerics.estimators import RunningMoments

ENVIRONMENT = "SIGPROP_CACHE"
_SOURCES = ("numerics", "architecture")

F = TypeVar("F", bound=Callable[..., Any])


class _NoCanonicalForm(Exception):
    pass


def _canonical(value: Any) -> Any:
    """A nested tuple of strings that is equal for equal arguments (floats exactly, arrays
    by dtype, shape and a digest of their bytes)."""
    if value is None or isinstance(value, bool | str):
        return (type(value).__name__, repr(value))
    if isinstance(value, int | np.integer):
        return ("int", str(int(value)))
    if isinstance(value, float | np.floating):
        return ("float", float(value).hex())
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        digest = hashlib.sha256(data.tobytes()).hexdigest()
        return ("array", data.dtype.str, str(data.shape), digest)
    if isinstance(value, tuple | list):
        return ("seq", *(_canonical(v) for v in value))
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: repr(item[0]))
        return ("map", *((repr(k), _canonical(v)) for k, v in items))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        return (f"{kind.__module__}.{kind.__qualname__}",
                *((f.name, _canonical(getattr(value, f.name))) for f in dataclasses.fields(value)))
    raise _NoCanonicalForm(type(value).__name__)


def keyed(factory: F) -> F:
    """Decorate a sampler factory: the samplers it returns carry ``key``, the factory's
    name and its arguments (defaults applied) in canonical form, or no key when an
    argument has none."""
    signature = inspect.signature(factory)

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> Any:
        sampler = factory(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        try:
            arguments = _canonical(dict(bound.arguments))
        except _NoCanonicalForm:
            return sampler
        sampler.key = repr((factory.__module__, factory.__qualname__, arguments))
        return sampler

    return build  # type: ignore[return-value]


@functools.cache
def code_digest() -> str:
    """SHA-256 of the NumPy version and every source file of the simulating packages."""
    digest = hashlib.sha256(np.__version__.encode())
    root = Path(__file__).resolve().parent.parent
    for package in _SOURCES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def directory() -> Path | None:
    """The store's directory (``SIGPROP_CACHE``), or None when the store is off."""
    value = os.environ.get(ENVIRONMENT, "")
    return Path(value) if value else None


@contextmanager
def use(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, keep runs in ``path`` (None: the store is off)."""
    before = os.environ.get(ENVIRONMENT)
    if path is None:
        os.environ.pop(ENVIRONMENT, None)
    else:
        target = Path(path)
        if target.exists() and not target.is_dir():
            raise ValueError(f"the cache must be a directory, got the file {target}")
        os.environ[ENVIRONMENT] = str(target)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENVIRONMENT, None)
        else:
            os.environ[ENVIRONMENT] = before


@dataclasses.dataclass
class Counts:
    """Runs served from the store and runs computed and stored, since the last reset."""

    hits: int = 0
    stored: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def add(self, hit: bool) -> None:
        with self.lock:
            if hit:
                self.hits += 1
            else:
                self.stored += 1

    def absorb(self, hits: int, stored: int) -> None:
        """Add what a worker elsewhere reused and stored."""
        with self.lock:
            self.hits += hits
            self.stored += stored

    def reset(self) -> None:
        with self.lock:
            self.hits = self.stored = 0


COUNTS = Counts()


class _Shared:
    """The runs kept in memory while a ``shared`` block is open (state arrays by key)."""

    def __init__(self) -> None:
        self.depth = 0
        self.runs: dict[str, dict[str, np.ndarray]] = {}
        self.lock = threading.Lock()


_SHARED = _Shared()


@contextmanager
def shared() -> Iterator[None]:
    """Within the block, a keyed run asked for again (same sampler, seed, first sample,
    count and chunk) comes back from memory, bit for bit; the runs are dropped when the
    outermost block ends."""
    with _SHARED.lock:
        _SHARED.depth += 1
    try:
        yield
    finally:
        with _SHARED.lock:
            _SHARED.depth -= 1
            if _SHARED.depth == 0:
                _SHARED.runs.clear()


def sharing() -> bool:
    """Whether a ``shared`` block is open."""
    return _SHARED.depth > 0


def recall(key: str) -> RunningMoments | None:
    """The moments of run ``key`` kept by an open ``shared`` block (a fresh copy), or None."""
    with _SHARED.lock:
        state = _SHARED.runs.get(key)
    return None if state is None else RunningMoments.from_state(state)


def remember(key: str, moments: RunningMoments) -> None:
    """Keep the moments of run ``key`` while a ``shared`` block is open."""
    with _SHARED.lock:
        if _SHARED.depth > 0:
            _SHARED.runs[key] = moments.state()


def run_key(sampler_key: str, samples: int, seed: int, chunk: int, first: int) -> str:
    """The store's key of one run."""
    text = repr((code_digest(), sampler_key, samples, seed, chunk, first))
    return hashlib.sha256(text.encode()).hexdigest()


def _path(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.npz"


def load(key: str) -> RunningMoments | None:
    """The stored moments of run ``key`` (None: off, absent or unreadable)."""
    root = directory()
    if root is None:
        return None
    try:
        with np.load(_path(root, key), allow_pickle=False) as data:
            moments = RunningMoments.from_state({name: data[name] for name in data.files})
    except (OSError, ValueError, KeyError):
        return None
    COUNTS.add(hit=True)
    return moments


def store(key: str, moments: RunningMoments) -> None:
    """Keep the moments of run ``key`` (nothing when the store is off); a write that
    fails (a full disk, a read-only directory) is skipped, the run stands."""
    root = directory()
    if root is None:
        return
    path = _path(root, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
        np.savez(temporary, **moments.state())
        os.replace(temporary, path)
    except OSError:
        return
    COUNTS.add(hit=False)
