"""Time limits on the symbolic steps that a user's input drives.

SymPy can spin for a very long time on a pathological formula (nested
exponentials, huge integer powers), and much of that time is spent inside C
arithmetic that no signal can interrupt. ``run_limited`` therefore runs the
step in a child process (forked where the platform allows) and kills it when
the limit passes; the caller gets the step's return value, or a one-line
``ValueError`` that says which step ran out of time.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: seconds a symbolic step driven by user input may take (``--timeout``)
DEFAULT_TIMEOUT = 20.0
#: the environment setting that lets a Dask worker start the processes of run_limited
NO_DAEMON = "DASK_DISTRIBUTED__WORKER__DAEMON"
#: the largest limit a user may set, so that every run still ends
MAX_TIMEOUT = 3600.0


class StepTimeout(ValueError):
    """A symbolic step ran past its time limit (a ValueError: the CLI exits 2)."""


def check_timeout(value: object) -> float:
    """A time limit in seconds: a finite number in (0, MAX_TIMEOUT]."""
    message = f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise ValueError(message)
    return seconds


def _context() -> mp.context.BaseContext:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _child(conn, fn: Callable[..., Any], args: tuple) -> None:
    try:
        payload = ("ok", fn(*args))
    except ValueError as exc:
        payload = ("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # report, never hang the parent on an unexpected failure
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        payload = ("error", f"failed ({last})")
    try:
        conn.send(payload)
    except Exception as exc:
        conn.send(("error", f"could not return its result ({type(exc).__name__})"))
    finally:
        conn.close()


def run_limited(step: str, fn: Callable[..., T], *args: Any,
                timeout: float = DEFAULT_TIMEOUT) -> T:
    """``fn(*args)`` computed in a child process that is killed after ``timeout`` s.

    ``step`` names the step in messages ("symbolic comparison of your formula").
    A ValueError raised by ``fn`` comes back as a ValueError with its first
    line; a timeout raises :class:`StepTimeout`.
    """
    seconds = check_timeout(timeout)
    if mp.current_process().daemon:
        raise ValueError(f"{step} needs a child process, which a daemonic worker cannot "
                         f"start: run Dask workers with {NO_DAEMON}=False")
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, fn, args), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise StepTimeout(f"{step} ran out of time after {seconds:g} s "
                              "(a larger --timeout allows more)")
        try:
            status, payload = receiver.recv()
        except (EOFError, OSError):
            raise ValueError(f"{step} failed: its worker process ended without a "
                             "result (out of memory?)") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    if status == "error":
        raise ValueError(f"{step}: {payload}" if not payload.startswith(step) else payload)
    return payload
