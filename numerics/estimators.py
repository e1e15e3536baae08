"""Monte Carlo estimators: streaming moments, standard errors, batch means, ratios.

Every estimator hands the harness an :class:`Estimate` (mean, standard error,
sample count and, when the standard error comes from a sample variance of a few
independent values, the degrees of freedom for Student's t).

Math used here:
- Streaming moments keep ``count``, ``mean`` and the co-moment matrix
  ``M2 = sum_i (x_i - mean)(x_i - mean)^T``. Two sets ``a``, ``b`` merge by
  Chan et al.'s parallel update: with ``delta = mean_b - mean_a`` and
  ``n = n_a + n_b``, ``mean = mean_a + delta * n_b / n`` and
  ``M2 = M2_a + M2_b + delta delta^T * n_a * n_b / n``. A batch is folded in as
  a set whose moments are computed by the two-pass formula, so no sum of
  squares of raw values is ever formed. Means are kept relative to a fixed
  reference point (the first batch's mean), so ``delta`` keeps its digits even
  when the data sit on a large offset.
- Unbiased covariance ``M2 / (n - 1)``; standard error of the mean
  ``sqrt(variance / n)``.
- Delta method: for a smooth ``f`` of estimated means ``m`` with covariance
  ``C`` (of the estimated means), ``se(f(m)) ~= sqrt(g^T C g)`` with
  ``g = grad f(m)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from architecture.validate import check_finite, check_nonnegative, check_positive_int

__all__ = [
    "Estimate",
    "RunningMoments",
    "batch_means",
    "delta_method",
    "estimate_from_samples",
    "mean_correlation_from_moments",
    "ratio_estimate",
    "ratio_from_moments",
]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate of one number.

    ``mean`` is the point estimate, ``se`` its standard error, ``n`` the number
    of samples behind it. ``dof`` is the degrees of freedom of the standard
    error when it comes from the sample variance of few independent values
    (confidence intervals and tests then use Student's t); ``None`` means the
    large-sample normal approximation.
    """

    mean: float
    se: float
    n: int
    dof: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", check_finite("mean", self.mean))
        object.__setattr__(self, "se", check_nonnegative("se", self.se))
        object.__setattr__(self, "n", check_positive_int("n", self.n))
        if self.dof is not None:
            dof = check_finite("dof", self.dof)
            if dof <= 0:
                raise ValueError(f"dof must be > 0 or None, got {self.dof!r}")
            object.__setattr__(self, "dof", int(dof) if dof.is_integer() else dof)


def as_sample_array(name: str, x: ArrayLike, ndim: tuple[int, ...] = (1,)) -> NDArray[np.float64]:
    """Return ``x`` as a float64 array of an allowed rank with >= 1 row and no NaN/inf."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        kind = type(x).__name__
        raise ValueError(f"{name} must be an array of real numbers, got {kind}") from None
    if arr.ndim not in ndim:
        ranks = " or ".join(f"{k}-D" for k in ndim)
        raise ValueError(f"{name} must be a {ranks} array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} must hold at least 1 sample, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} must be finite (no NaN or inf), got {np.sum(~np.isfinite(arr))} "
            "non-finite entries"
        )
    return arr


class RunningMoments:
    """Streaming, mergeable mean / variance / covariance of vector-valued samples.

    Feed batches with :meth:`update`: shape ``(m,)`` for a scalar quantity or
    ``(m, k)`` for a ``k``-vector (the first batch fixes which). Two streams
    combine with :meth:`merge`, so independent workers can each keep one.
    With ``full_covariance=False`` only the diagonal of ``M2`` is kept (memory
    ``O(k)`` instead of ``O(k^2)``) and :attr:`covariance` is unavailable.
    """

    def __init__(self, full_covariance: bool = True) -> None:
        self.full_covariance = bool(full_covariance)
        self._count = 0
        self._scalar: bool | None = None
        self._shift: NDArray[np.float64] | None = None  # reference point, fixed by the first set
        self._mean: NDArray[np.float64] | None = None  # mean of (x - shift)
        self._m2: NDArray[np.float64] | None = None  # (k, k) or (k,) when diagonal only

    def _check_layout(self, other_scalar: bool, k: int, full_covariance: bool, what: str) -> None:
        if self._mean is None:
            return
        if other_scalar != self._scalar or k != self._mean.shape[0]:
            mine = "scalar" if self._scalar else f"{self._mean.shape[0]}-vector"
            theirs = "scalar" if other_scalar else f"{k}-vector"
            raise ValueError(f"{what} must hold {mine} samples like this stream, got {theirs}")
        if full_covariance != self.full_covariance:
            raise ValueError(f"{what} must use full_covariance={self.full_covariance}")

    def update(self, batch: ArrayLike) -> RunningMoments:
        """Fold a batch of samples (rows) into the running moments; returns ``self``."""
        arr = as_sample_array("batch", batch, ndim=(1, 2))
        scalar = arr.ndim == 1
        rows = arr[:, None] if scalar else arr
        self._check_layout(scalar, rows.shape[1], self.full_covariance, "batch")
        shift = rows.mean(axis=0) if self._shift is None else self._shift
        shifted = rows - shift
        mean_b = shifted.mean(axis=0)
        centered = shifted - mean_b
        if self.full_covariance:
            m2_b = centered.T @ centered
        else:
            m2_b = np.einsum("ij,ij->j", centered, centered)
        self._combine(rows.shape[0], shift, mean_b, m2_b)
        self._scalar = scalar
        return self

    def merge(self, other: RunningMoments) -> RunningMoments:
        """Return a new stream holding the samples of ``self`` and ``other``."""
        if not isinstance(other, RunningMoments):
            raise ValueError(f"other must be a RunningMoments, got {type(other).__name__}")
        out = RunningMoments(self.full_covariance)
        for part in (self, other):
            if part._mean is None:
                continue
            out._check_layout(part._scalar, part._mean.shape[0], part.full_covariance, "other")
            out._combine(part._count, part._shift, part._mean, part._m2)
            out._scalar = part._scalar
        return out

    def _combine(
        self,
        n_b: int,
        shift_b: NDArray[np.float64],
        mean_b: NDArray[np.float64],
        m2_b: NDArray[np.float64],
    ) -> None:
        """Chan et al. parallel update with ``n_b`` samples of mean ``shift_b + mean_b``."""
        if self._mean is None:
            self._count, self._m2 = n_b, m2_b.copy()
            self._shift, self._mean = shift_b.copy(), mean_b.copy()
            return
        n_a = self._count
        n = n_a + n_b
        delta = (shift_b - self._shift) + mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        cross = np.outer(delta, delta) if self.full_covariance else delta * delta
        self._m2 = self._m2 + m2_b + cross * (n_a * n_b / n)
        self._count = n

    def state(self) -> dict[str, NDArray]:
        """The stream as arrays (count, layout, shift, mean, M2), for :meth:`from_state`."""
        self._need(1, "a state")
        return {"count": np.array(self._count), "scalar": np.array(bool(self._scalar)),
                "full_covariance": np.array(self.full_covariance), "shift": self._shift,
                "mean": self._mean, "m2": self._m2}

    @classmethod
    def from_state(cls, state: Mapping[str, ArrayLike]) -> RunningMoments:
        """The stream whose :meth:`state` is ``state`` (ValueError if it is not one)."""
        try:
            out = cls(bool(np.asarray(state["full_covariance"])))
            count = int(np.asarray(state["count"]))
            shift, mean, m2 = (np.asarray(state[k], dtype=np.float64)
                               for k in ("shift", "mean", "m2"))
            scalar = bool(np.asarray(state["scalar"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a RunningMoments state: {exc}") from None
        k = mean.shape[0] if mean.ndim == 1 else -1
        want = (k, k) if out.full_covariance else (k,)
        if count < 1 or k < 1 or shift.shape != (k,) or m2.shape != want or (scalar and k != 1):
            raise ValueError("not a RunningMoments state: inconsistent shapes")
        out._count, out._scalar, out._shift, out._mean, out._m2 = count, scalar, shift, mean, m2
        return out

    def _need(self, count: int, what: str) -> None:
        if self._count < count:
            raise ValueError(f"count must be >= {count} for {what}, got {self._count}")

    def _shape(self, values: NDArray[np.float64]) -> NDArray[np.float64] | float:
        return float(values[0]) if self._scalar else values

    @property
    def count(self) -> int:
        """Number of samples folded in."""
        return self._count

    @property
    def mean(self) -> NDArray[np.float64] | float:
        """Sample mean (float for a scalar stream, shape ``(k,)`` otherwise)."""
        self._need(1, "a mean")
        return self._shape(self._shift + self._mean)

    @property
    def variance(self) -> NDArray[np.float64] | float:
        """Unbiased sample variance ``M2_ii / (n - 1)`` of each component."""
        self._need(2, "a variance")
        diag = np.diagonal(self._m2) if self.full_covariance else self._m2
        return self._shape(diag / (self._count - 1))

    @property
    def covariance(self) -> NDArray[np.float64]:
        """Unbiased sample covariance ``M2 / (n - 1)``, shape ``(k, k)`` (``(1, 1)`` if scalar)."""
        if not self.full_covariance:
            raise ValueError("covariance needs full_covariance=True, got full_covariance=False")
        self._need(2, "a covariance")
        return self._m2 / (self._count - 1)

    @property
    def standard_error(self) -> NDArray[np.float64] | float:
        """Standard error of the mean, ``sqrt(variance / n)`` per component."""
        return np.sqrt(self.variance / self._count)

    def estimate(self, component: int | None = None) -> Estimate:
        """The :class:`Estimate` (dof ``n - 1``) of the mean of a scalar stream or one component."""
        if self._scalar is False and component is None:
            raise ValueError("component must be given for a vector stream, got None")
        self._need(2, "an estimate")
        k = self._mean.shape[0]
        index = 0 if component is None else component
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < k:
            raise ValueError(f"component must be an integer in [0, {k - 1}], got {component!r}")
        mean = np.atleast_1d(self.mean)[index]
        se = np.atleast_1d(self.standard_error)[index]
        return Estimate(float(mean), float(se), self._count, dof=self._count - 1)


def estimate_from_samples(x: ArrayLike) -> Estimate:
    """Mean of independent samples ``x`` (1-D, >= 2 values), se = s / sqrt(n), dof = n - 1."""
    arr = as_sample_array("x", x)
    if arr.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 samples, got {arr.shape[0]}")
    n = arr.shape[0]
    return Estimate(float(arr.mean()), float(arr.std(ddof=1)) / math.sqrt(n), n, dof=n - 1)


def batch_means(x: ArrayLike, n_batches: int) -> Estimate:
    """Mean of a dependent (e.g. autocorrelated) sequence with a batch-means standard error.

    The sequence is cut into ``n_batches`` consecutive batches of
    ``b = len(x) // n_batches`` values (the last ``len(x) mod n_batches``
    values are dropped). If batches are much longer than the correlation
    time, the batch means are nearly independent, so
    ``se = sd(batch means) / sqrt(n_batches)`` with ``n_batches - 1`` degrees
    of freedom.
    """
    arr = as_sample_array("x", x)
    n_batches = check_positive_int("n_batches", n_batches)
    if not 2 <= n_batches <= arr.shape[0]:
        raise ValueError(f"n_batches must be in [2, len(x)={arr.shape[0]}], got {n_batches}")
    size = arr.shape[0] // n_batches
    means = arr[: size * n_batches].reshape(n_batches, size).mean(axis=1)
    est = estimate_from_samples(means)
    return Estimate(est.mean, est.se, size * n_batches, dof=n_batches - 1)


def delta_method(
    means: ArrayLike, cov: ArrayLike, grad: Callable[[NDArray[np.float64]], ArrayLike]
) -> float:
    """Standard error of ``f(means)`` by the delta method: ``sqrt(g^T cov g)``, ``g = grad(means)``.

    ``cov`` is the covariance of the *estimated means* (for a sample mean of
    ``n`` iid vectors: the sample covariance divided by ``n``), not of one sample.
    """
    m = as_sample_array("means", means)
    c = as_sample_array("cov", cov, ndim=(2,))
    k = m.shape[0]
    if c.shape != (k, k):
        raise ValueError(f"cov must have shape ({k}, {k}) to match means, got {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=0.0):
        raise ValueError("cov must be a symmetric matrix, got an asymmetric one")
    g = np.asarray(grad(m.copy()), dtype=np.float64)
    if g.shape != (k,) or not np.all(np.isfinite(g)):
        raise ValueError(f"grad must return a finite array of shape ({k},), got shape {g.shape}")
    var = float(g @ c @ g)
    if var < 0 and -var <= 1e-12 * float(np.abs(g) @ np.abs(c) @ np.abs(g)):
        var = 0.0  # cancellation in a (near-)degenerate covariance, not a real negative
    if var < 0:
        raise ValueError(f"cov must be positive semi-definite, got g^T cov g = {var:.3g} < 0")
    return math.sqrt(var)


def ratio_from_moments(
    moments: RunningMoments, numerator: int = 0, denominator: int = 1
) -> Estimate:
    """Estimate ``E[num] / E[den]`` from the streaming moments of paired ``(num, den)`` samples.

    Point estimate ``R = mean_num / mean_den``; by the delta method with
    gradient ``(1 / mean_den, -R / mean_den)``,
    ``se^2 = (var_num - 2 R cov_num_den + R^2 var_den) / (n mean_den^2)``.
    The ratio of means is biased: ``E[R] - E[num]/E[den]
    ~= (R var_den - cov_num_den) / (n mean_den^2)``, which is O(1/n) and so
    shrinks faster than the standard error O(1/sqrt(n)). ``dof`` is ``None``
    (asymptotic normal approximation).
    """
    means, cov = _paired_means(moments, numerator=numerator, denominator=denominator)
    if numerator == denominator:
        raise ValueError(f"denominator must differ from numerator, got both {numerator}")
    num, den = means
    if den == 0:
        raise ValueError("denominator samples must have a nonzero mean, got mean 0")
    ratio = num / den
    se = delta_method(means, cov, lambda m: np.array([1.0, -ratio]) / den)
    return Estimate(float(ratio), se, moments.count)


def difference_from_moments(moments: RunningMoments, first: int, second: int) -> Estimate:
    """Estimate ``E[x_first] - E[x_second]`` from the streaming moments of paired samples:
    se^2 = (var_first - 2 cov + var_second) / n, small when the pair moves together
    (common random numbers); dof ``n - 1``."""
    means, cov = _paired_means(moments, first=first, second=second)
    se = delta_method(means, cov, lambda _m: np.array([1.0, -1.0]))
    return Estimate(float(means[0] - means[1]), se, moments.count, dof=moments.count - 1)


def _paired_means(moments: RunningMoments, **indices: int
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The means of two components (named by keyword, for the messages) of paired samples
    and the covariance of those means (the samples' covariance / n)."""
    if not isinstance(moments, RunningMoments):
        raise ValueError(f"moments must be a RunningMoments, got {type(moments).__name__}")
    cov = moments.covariance  # checks full covariance and count >= 2
    k = cov.shape[0]
    for name, index in indices.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < k:
            raise ValueError(f"{name} must be an integer in [0, {k - 1}], got {index!r}")
    pair = list(indices.values())
    return np.atleast_1d(moments.mean)[pair], cov[np.ix_(pair, pair)] / moments.count


def mean_correlation_from_moments(moments: RunningMoments, n: int, offset: int = 0
                                  ) -> Estimate:
    """The average token correlation of a random Gram matrix G (n x n), from the moments
    of its n^2 entries (row-major, columns ``offset`` .. ``offset + n^2 - 1``): rho = mean
    over k != k' of
    E[G_kk'] / sqrt(E[G_kk] E[G_k'k']), each correlation a ratio of expectations.

    The se is the delta method's, with d rho / d m_kk' = 1 / (n(n-1) sqrt(m_kk m_k'k'))
    and d rho / d m_kk = -sum_{k' != k} m_kk' / (n(n-1) sqrt(m_kk m_k'k') m_kk).
    """
    if not isinstance(moments, RunningMoments):
        raise ValueError(f"moments must be a RunningMoments, got {type(moments).__name__}")
    n = check_positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    columns = slice(offset, offset + n * n)
    mean = np.atleast_1d(moments.mean)[columns]
    if mean.shape != (n * n,):
        raise ValueError(f"moments must hold {n * n} Gram entries from column {offset}, got "
                         f"{mean.shape[0]}")
    diag_index = np.arange(n) * (n + 1)
    if np.any(mean[diag_index] <= 0):
        raise ValueError("the Gram diagonal must have a positive mean")

    def parts(m: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        g = m.reshape(n, n)
        norm = np.sqrt(np.outer(np.diag(g), np.diag(g)))
        off = ~np.eye(n, dtype=bool)
        return g, np.where(off, 1.0 / norm, 0.0) / (n * (n - 1))

    def rho(m: NDArray[np.float64]) -> float:
        g, w = parts(m)
        return float(np.sum(g * w))

    def grad(m: NDArray[np.float64]) -> NDArray[np.float64]:
        g, w = parts(m)
        out = w.copy()
        through_norm = (g * w).sum(axis=1) / np.diag(g)  # pairs (k, k') and (k', k) both
        out[np.diag_indices(n)] = -through_norm
        return out.ravel()

    cov = moments.covariance[columns, columns] / moments.count
    se = delta_method(mean, cov, grad)
    return Estimate(rho(mean), se, moments.count)


def ratio_estimate(num: ArrayLike, den: ArrayLike) -> Estimate:
    """Estimate ``E[num] / E[den]`` from paired 1-D samples (see :func:`ratio_from_moments`)."""
    a = as_sample_array("num", num)
    b = as_sample_array("den", den)
    if a.shape != b.shape:
        raise ValueError(f"den must have the same shape as num {a.shape}, got {b.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"num must hold at least 2 paired samples, got {a.shape[0]}")
    return ratio_from_moments(RunningMoments().update(np.column_stack([a, b])))
