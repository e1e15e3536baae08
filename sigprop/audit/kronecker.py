"""The paper's matrix-valued formulas (Kronecker forms), written once for two backends.

The formula parser reads scalar formulas; the Jacobian formulas of the paper's
helper lemmas are matrices, so their transcription lives here, each written
once against a small set of operations that NumPy arrays and SymPy matrices
both provide (``NUMPY``, ``SYMPY``):

- ``uniform_softmax_jacobian``: dA/dM at uniform attention, (1/n) I_n (x) (I_n - J/n)
  (the paper's eq. grad_soft);
- ``value_jacobian``: dS/dW^V = A X (x) I_{d_v};
- ``query_jacobian``: dS/dW^Q = (I_n (x) W^V^T X^T) dA/dM (X (x) X W^K) s with dA/dM the
  block diagonal of diag(a_i) - a_i a_i^T and s the logit scale (Lemma A.1).

The statements compare them with the Jacobians the engines compute
independently: by differentiation (theory) and by the chain rule entry by
entry (numerics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp


@dataclass(frozen=True)
class Ops:
    kron: Any
    eye: Any
    ones: Any
    blockdiag: Any
    row_jacobian: Any  # diag(a) - a a^T of one row a


NUMPY = Ops(kron=np.kron, eye=np.eye, ones=lambda n: np.ones((n, n)),
            blockdiag=lambda blocks: np.block([[b if i == j else np.zeros_like(b)
                                                for j in range(len(blocks))]
                                               for i, b in enumerate(blocks)]),
            row_jacobian=lambda a: np.diag(a) - np.outer(a, a))
SYMPY = Ops(kron=sp.kronecker_product, eye=sp.eye, ones=lambda n: sp.ones(n, n),
            blockdiag=lambda blocks: sp.diag(*blocks),
            row_jacobian=lambda a: sp.diag(*a) - sp.Matrix(a) * sp.Matrix(a).T)


def uniform_softmax_jacobian(ops: Ops, n: int) -> Any:
    return ops.kron(ops.eye(n), ops.eye(n) - ops.ones(n) / n) / n


def value_jacobian(ops: Ops, x: Any, a: Any, d_v: int) -> Any:
    return ops.kron(a @ x, ops.eye(d_v))


def query_jacobian(ops: Ops, x: Any, wk: Any, wv: Any, a: Any, scale: Any) -> Any:
    n = x.shape[0]
    d_a_d_m = ops.blockdiag([ops.row_jacobian([a[i, j] for j in range(n)])
                             for i in range(n)])
    return ops.kron(ops.eye(n), wv.T @ x.T) @ d_a_d_m @ ops.kron(x, x @ wk) * scale
