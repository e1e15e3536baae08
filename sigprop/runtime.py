"""Process settings of sigprop's commands and workers, chosen before NumPy is imported.

BLAS threading. The claims multiply many small matrices; on a small shared machine a
multithreaded BLAS is several times slower for them than one thread
(benchmarks/README.md). One thread also makes a reduction's rounding the same in every
process, so a sweep gives the same numbers bit for bit whether its tasks run here or in
worker processes (which inherit the setting).

The allocator. A Monte Carlo chunk allocates and frees arrays of megabytes many times a
second. glibc's malloc serves such sizes by mmap and gives each one back to the kernel
when it is freed, so every chunk faults its pages in afresh: nearly a third of the CPU
time of a wide ladder went to the kernel. Raising the mmap and trim thresholds keeps
freed memory in the heap for the next chunk (the process holds its peak heap until it
exits); it changes no number. This process gets the thresholds through ``mallopt``,
processes it spawns (``--scheduler processes`` or ``dask``) through glibc's environment
variables. Elsewhere than glibc it does nothing.

An explicit setting of any of these variables is respected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: glibc's variable, its mallopt parameter, and the value (bytes) sigprop asks for
ALLOCATOR = (("MALLOC_MMAP_THRESHOLD_", -3, 1 << 30), ("MALLOC_TRIM_THRESHOLD_", -1, 1 << 30))


def configure() -> None:
    """One BLAS thread (effective only before NumPy is imported) and the allocator's
    thresholds, for this process and the ones it starts, unless set already."""
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")
    mallopt = _glibc_mallopt()
    for name, parameter, value in ALLOCATOR:
        if name in os.environ:
            continue
        os.environ[name] = str(value)
        if mallopt is not None:
            mallopt(parameter, value)


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt(int, int)``, or None where the C library is not glibc."""
    path = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(path)
        mallopt = library.mallopt
        library.gnu_get_libc_version  # noqa: B018  (present only in glibc)
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
