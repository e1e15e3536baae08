"""Wall time of the Gaussian expectation engine on three reference problems.

Run: python3 benchmarks/bench_wick.py [--repeats R]

Each problem is timed R times with SymPy's cache cleared before every run
(so no run reuses another's results); the best and the first run are printed
next to the target. Problems:
  1. E[y_1 ... y_8], 8 distinct variables, fully symbolic 8x8 covariance
     (105 pairings in the result)                                 target < 0.1 s
  2. E[y_1 ... y_12], 12 distinct variables, fully symbolic 12x12 covariance
     (10395 pairings in the result)                               target < 2 s
  3. E ||X||_F^2 ||X^T P X||_F^2, X n x d with rows ~ (1-rho)I + rho J and
     columns ~ s I_d, P = I - J/n (matrix level, symbolic n, d)   target < 5 s
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import sympy
from sympy import Identity, MatrixSymbol, OneMatrix
from sympy.core.cache import clear_cache

from theory.gaussian import expect
from theory.wick import GaussianMatrix, expect_matrix, frob2


def distinct_moment(order: int) -> Callable[[], sympy.Expr]:
    variables = sympy.symbols(f"y1:{order + 1}")
    cov = sympy.Matrix(
        order, order, lambda i, j: sympy.Symbol(f"c_{min(i, j) + 1}_{max(i, j) + 1}")
    )
    monomial = sympy.Mul(*variables)
    return lambda: expect(monomial, variables, cov)


def token_sixth_order() -> sympy.Expr:
    n, d = sympy.symbols("n d", positive=True, integer=True)
    s, rho = sympy.symbols("s rho", positive=True)
    x = MatrixSymbol("X", n, d)
    ones = OneMatrix(n, n)
    centring = Identity(n) - ones / n
    sigma = (1 - rho) * Identity(n) + rho * ones
    spec = GaussianMatrix.kronecker(sigma, s * Identity(d))
    return expect_matrix(frob2(x) * frob2(x.T * centring * x), {x: spec}).value


def timed(problem: Callable[[], sympy.Expr], repeats: int) -> tuple[list[float], sympy.Expr]:
    times, result = [], None
    for _ in range(repeats):
        clear_cache()
        start = time.perf_counter()
        result = problem()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    problems = [
        ("8th-order moment, 8 distinct vars, symbolic 8x8 cov", distinct_moment(8), 0.1),
        ("12th-order moment, 12 distinct vars, symbolic 12x12 cov", distinct_moment(12), 2.0),
        ("E ||X||^2 ||X^T P X||^2, token Kronecker cov", token_sixth_order, 5.0),
    ]
    print(f"{'problem':58s} {'best [s]':>9s} {'first [s]':>9s} {'target':>9s}  result")
    for name, problem, target in problems:
        times, result = timed(problem, args.repeats)
        size = len(sympy.Add.make_args(result))
        verdict = "ok" if min(times) < target else "MISSED"
        print(
            f"{name:58s} {min(times):9.4f} {times[0]:9.4f} {'< ' + str(target):>9s}  "
            f"{verdict}, {size} terms"
        )


if __name__ == "__main__":
    main()
