"""``sympy.factor`` that takes the same path in every process.

SymPy factors a multivariate polynomial by Wang's algorithm, which draws its evaluation
points from SymPy's process-wide generator, seeded by the operating system when SymPy is
imported. The same polynomial then factors in milliseconds under most generator states
and runs for minutes under a few: the statistics of E||dS/dX||^2 took 14.6 s from the
state of seed 39 (the only one of 300 seeds past 5 s), and over ten minutes from the state
one worker process had reached. Seeding the generator before
every call makes each factorization, and its time, the same in every process whatever
ran there before.
"""

from __future__ import annotations

import threading

import sympy as sp
from sympy.core import random as sympy_random

#: the generator's seed before every factorization (fast for every polynomial the
#: engine factors: the test suite derives them all)
SEED = 0
_LOCK = threading.Lock()


def factor(expr: sp.Expr) -> sp.Expr:
    """``sympy.factor(expr)`` from the generator state SEED."""
    with _LOCK:
        sympy_random.seed(SEED)
        return sp.factor(expr)
