"""The BLAS threading of sigprop's processes, chosen before NumPy is imported.

The claims multiply many small matrices; on a small shared machine a multithreaded BLAS
is several times slower for them than one thread (benchmarks/README.md). One thread
also makes a reduction's rounding the same in every process, so a sweep gives the same
numbers bit for bit whether its tasks run here or in worker processes (which inherit
the setting). An explicit setting is respected.
"""

from __future__ import annotations

import os

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def prefer_one_thread() -> None:
    """Default every BLAS threading variable to one thread (effective only before NumPy
    is imported)."""
    for name in VARIABLES:
        os.environ.setdefault(name, "1")
