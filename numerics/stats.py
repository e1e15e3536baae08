"""Statistical tests and sample-size rules for checking a theory against Monte Carlo.

Distributions come from ``scipy.stats``; the normal and Student-t tails and quantiles
of the per-check tests call the ``scipy.special`` functions behind them directly (the same
numbers, without scipy.stats' per-call argument handling, which cost about a millisecond
per check). An :class:`~numerics.estimators.Estimate`
with ``dof`` is treated as Student-t with that many degrees of freedom, one
without as normal. Notation: ``m`` estimate, ``s`` its standard error,
``z_p`` / ``t_p`` the p-quantile of the standard normal / Student t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from architecture.validate import check_finite, check_positive, check_positive_int
from numerics.estimators import Estimate, as_sample_array

__all__ = [
    "PowerLawFit",
    "binomial_ci",
    "confidence_interval",
    "extrapolate_to_zero",
    "fit_power_law",
    "holm",
    "holm_adjusted",
    "normal_quantile",
    "samples_for_relative_precision",
    "samples_to_detect",
    "tost",
    "tost_relative",
    "z_test",
]


def _check_open_unit(name: str, value: object) -> float:
    out = check_finite(name, value)
    if not 0.0 < out < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return out


def _check_estimate(est: object) -> Estimate:
    if not isinstance(est, Estimate):
        raise ValueError(f"est must be an Estimate, got {type(est).__name__}")
    return est


def normal_quantile(q: float) -> float:
    """``z_q``, the q-quantile of the standard normal."""
    return float(special.ndtri(q))


def _sf(est: Estimate, x: float) -> float:
    """Upper tail ``P(T >= x)`` of t with ``est.dof`` or of the standard normal."""
    return float(special.ndtr(-x) if est.dof is None else special.stdtr(est.dof, -x))


def _upper_tail(est: Estimate, excess: float) -> float:
    """One-sided p-value ``P(T >= excess / s)`` for H0 ``mu <= m - excess``; exact sign if s = 0."""
    if est.se == 0.0:
        return 0.0 if excess > 0 else 1.0
    return _sf(est, excess / est.se)


def confidence_interval(est: Estimate, level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval ``m -/+ q s``, ``q`` the ``(1 + level) / 2`` quantile (t or normal)."""
    est = _check_estimate(est)
    level = _check_open_unit("level", level)
    q = 0.5 + level / 2
    half = float(special.ndtri(q) if est.dof is None else special.stdtrit(est.dof, q)) * est.se
    return est.mean - half, est.mean + half


def z_test(est: Estimate, value: float) -> float:
    """Two-sided p-value for H0 ``mu = value``: ``2 P(T >= |m - value| / s)`` (t if est.dof)."""
    est = _check_estimate(est)
    value = check_finite("value", value)
    if est.se == 0.0:
        return 1.0 if est.mean == value else 0.0
    return min(1.0, 2.0 * _upper_tail(est, abs(est.mean - value)))


def tost(est: Estimate, lower: float, upper: float) -> float:
    """Two one-sided tests p-value for H1 ``lower < mu < upper`` (equivalence).

    H0 is ``mu <= lower`` or ``mu >= upper``. The p-value is the larger of the
    one-sided p-values ``P(T >= (m - lower)/s)`` and ``P(T <= (m - upper)/s)``;
    rejecting at level alpha is the same as the ``1 - 2 alpha`` confidence
    interval lying inside ``(lower, upper)``.
    """
    est = _check_estimate(est)
    lower = check_finite("lower", lower)
    upper = check_finite("upper", upper)
    if not lower < upper:
        raise ValueError(f"upper must be > lower={lower!r}, got {upper!r}")
    return max(_upper_tail(est, est.mean - lower), _upper_tail(est, upper - est.mean))


def tost_relative(est: Estimate, value: float, margin: float) -> float:
    """Equivalence p-value for H1 ``|mu - value| < margin |value|`` (see :func:`tost`).

    H0 is ``|mu - value| >= margin |value|``. ``value`` must be nonzero (a
    relative margin around 0 is empty); use :func:`tost` with absolute bounds
    for a zero theory value.
    """
    value = check_finite("value", value)
    margin = check_positive("margin", margin)
    if value == 0.0:
        raise ValueError("value must be nonzero for a relative margin, got 0 (use tost instead)")
    half = margin * abs(value)
    return tost(est, value - half, value + half)


def holm_adjusted(pvalues: ArrayLike) -> list[float]:
    """Holm step-down adjusted p-values, in the input order.

    With the p-values sorted ascending ``p_(1) <= ... <= p_(m)``,
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` (monotone, capped at 1).
    Rejecting every hypothesis with ``adj <= alpha`` is Holm's procedure, which
    keeps the family-wise error rate <= alpha under any dependence.
    """
    p = _check_pvalues(pvalues)
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()


def holm(pvalues: ArrayLike, alpha: float) -> list[bool]:
    """Holm step-down rejections at family-wise level ``alpha``, in the input order.

    Sorted ascending, reject ``H_(1), ..., H_(k)`` where ``k`` is the largest
    index with ``p_(j) <= alpha / (m - j + 1)`` for every ``j <= k``.
    """
    alpha = _check_open_unit("alpha", alpha)
    return [adj <= alpha for adj in holm_adjusted(pvalues)]


def _check_pvalues(pvalues: ArrayLike) -> NDArray[np.float64]:
    p = as_sample_array("pvalues", pvalues)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"pvalues must be in [0, 1], got min {p.min()!r} and max {p.max()!r}")
    return p


def samples_for_relative_precision(cv: float, margin: float, alpha: float, power: float) -> int:
    """Samples for a relative TOST (:func:`tost_relative`) to pass with probability ``power``.

    Assumes the truth equals the theory value and one sample has coefficient
    of variation ``cv = sd / |mean|``. With ``beta = 1 - power``, the TOST at
    level ``alpha`` passes when ``|m - value| < margin |value| - z_{1-alpha} s``,
    which has probability ``1 - beta`` when ``s = sd / sqrt(n)`` gives
    ``n = ((z_{1-alpha} + z_{1-beta/2}) * cv / margin)^2``, rounded up (and at
    least 2, the fewest samples with a standard error). Normal quantiles: for
    small n the t quantile and the noise in the estimated se cost a little power.
    """
    cv = check_positive("cv", cv)
    margin = check_positive("margin", margin)
    alpha = _check_open_unit("alpha", alpha)
    power = _check_open_unit("power", power)
    z = normal_quantile(1 - alpha) + normal_quantile(1 - (1 - power) / 2)
    return max(2, math.ceil((z * cv / margin) ** 2))


def samples_to_detect(cv: float, rel_error: float, alpha: float, power: float) -> int:
    """Samples for a two-sided :func:`z_test` at level ``alpha`` to detect a relative error.

    If the truth is ``value * (1 + rel_error)`` and one sample has coefficient
    of variation ``cv = sd / |value|``, the test rejects ``mu = value`` with
    probability >= ``power`` once
    ``n = ((z_{1-alpha/2} + z_{power}) * cv / |rel_error|)^2``, rounded up (and at
    least 2). Normal quantiles, as in :func:`samples_for_relative_precision`.
    """
    cv = check_positive("cv", cv)
    rel_error = check_finite("rel_error", rel_error)
    if rel_error == 0.0:
        raise ValueError("rel_error must be nonzero, got 0")
    alpha = _check_open_unit("alpha", alpha)
    power = _check_open_unit("power", power)
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    return max(2, math.ceil((z * cv / abs(rel_error)) ** 2))


def binomial_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval for a binomial proportion with ``k`` of ``n`` successes.

    ``lo`` solves ``P(Bin(n, lo) >= k) = (1 - level) / 2`` (0 when k = 0) and
    ``hi`` solves ``P(Bin(n, hi) <= k) = (1 - level) / 2`` (1 when k = n).
    """
    n = check_positive_int("n", n)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= n:
        raise ValueError(f"k must be an integer in [0, n={n}], got {k!r}")
    level = _check_open_unit("level", level)
    ci = stats.binomtest(int(k), n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class _ExpansionFit:
    """Weighted fit ``y = c_0 + c_1 u + ... + c_k u^k`` with known sd of each y."""

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    chi2: float
    dof: int


def _fit_expansion(u: NDArray[np.float64], y: NDArray[np.float64], sd: NDArray[np.float64],
                   terms: int) -> _ExpansionFit:
    """Least squares with weights ``1 / sd^2``; coefficient covariance ``(A^T W A)^-1``."""
    design = np.vander(u, terms + 1, increasing=True) / sd[:, None]
    target = y / sd
    q, r = np.linalg.qr(design)
    coef = np.linalg.solve(r, q.T @ target)
    r_inv = np.linalg.inv(r)
    chi2 = float(np.sum((target - design @ coef) ** 2))
    return _ExpansionFit(coef, r_inv @ r_inv.T, chi2, u.size - terms - 1)


def _check_series(
    x_name: str, widths: ArrayLike, values: ArrayLike, ses: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Validate paired series: >= 3 points, >= 2 distinct positive widths, positive ses."""
    w = as_sample_array(x_name, widths)
    v = as_sample_array("values", values)
    s = as_sample_array("ses", ses)
    if not v.shape == s.shape == w.shape:
        raise ValueError(
            f"values and ses must have the shape of {x_name} {w.shape}, got {v.shape} and {s.shape}"
        )
    if w.shape[0] < 3:
        raise ValueError(f"{x_name} must hold at least 3 points, got {w.shape[0]}")
    if np.any(w <= 0):
        raise ValueError(f"{x_name} must be > 0, got min {w.min()!r}")
    if np.ptp(w) == 0:
        raise ValueError(f"{x_name} must hold at least 2 distinct values, got all equal")
    if np.any(s <= 0):
        raise ValueError(f"ses must be > 0, got min {s.min()!r}")
    return w, v, s


@dataclass(frozen=True)
class PowerLawFit:
    """Fit of ``|value| ~= exp(intercept) * width^exponent``.

    ``chi2`` is the weighted residual sum of squares with ``dof = points - 2``
    degrees of freedom; ``gof_pvalue = P(chi2_dof >= chi2)`` is small when the
    power law (or the given ses) does not describe the data.
    """

    exponent: float
    exponent_se: float
    intercept: float
    intercept_se: float
    chi2: float
    dof: int
    gof_pvalue: float
    n: int

    @property
    def exponent_estimate(self) -> Estimate:
        """The exponent as an :class:`Estimate` (normal: the ses are taken as known)."""
        return Estimate(self.exponent, self.exponent_se, self.n)


def fit_power_law(widths: ArrayLike, values: ArrayLike, ses: ArrayLike) -> PowerLawFit:
    """Weighted least squares of ``log|value|`` on ``log width``.

    The sd of ``log|value|`` is taken as ``se / |value|`` (delta method; good
    while the relative se is small, the bias of ``log|m|`` being
    ``-(se/m)^2 / 2``). The ses are treated as known, so the coefficient ses
    are ``sqrt(diag((A^T W A)^-1))``. Values must be nonzero; a discrepancy
    that changes sign across widths is not a power law.
    """
    w, v, s = _check_series("widths", widths, values, ses)
    if np.any(v == 0):
        raise ValueError("values must be nonzero for a power-law fit, got a 0")
    fit = _fit_expansion(np.log(w), np.log(np.abs(v)), s / np.abs(v), terms=1)
    gof = float(stats.chi2.sf(fit.chi2, fit.dof))
    se = np.sqrt(np.diag(fit.cov))
    return PowerLawFit(float(fit.coef[1]), float(se[1]), float(fit.coef[0]), float(se[0]),
                       fit.chi2, fit.dof, gof, w.size)


def _expansion_series(xs: ArrayLike, values: ArrayLike, ses: ArrayLike, rate: float,
                      terms: int) -> _ExpansionFit:
    rate = check_positive("rate", rate)
    terms = check_positive_int("terms", terms)
    w, v, s = _check_series("xs", xs, values, ses)
    if np.unique(w).size <= terms:
        raise ValueError(f"xs must hold at least terms + 1 = {terms + 1} distinct widths, "
                         f"got {np.unique(w).size}")
    return _fit_expansion(w ** (-rate), v, s, terms)


def extrapolate_to_zero(xs: ArrayLike, values: ArrayLike, ses: ArrayLike, rate: float,
                        terms: int = 1) -> Estimate:
    """Infinite-width limit of ``values`` by the weighted fit of the expansion

        value = a + b_1 x^(-rate) + b_2 x^(-2 rate) + ... + b_terms x^(-terms rate).

    Returns ``a`` as an :class:`Estimate` with ``n`` = number of widths and
    ``dof = None``: the ses are taken as known, so ``se(a)`` comes from
    ``(A^T W A)^-1`` (normal). ``rate`` > 0 is the predicted rate at which the
    discrepancy shrinks; ``terms`` is how many orders of the expansion the
    ladder must resolve (a one-term fit to data with a large second-order
    part gives a biased intercept).
    """
    fit = _expansion_series(xs, values, ses, rate, terms)
    return Estimate(float(fit.coef[0]), math.sqrt(fit.cov[0, 0]), len(fit.coef) + fit.dof)


def extrapolation_gof(xs: ArrayLike, values: ArrayLike, ses: ArrayLike, rate: float,
                      terms: int = 1) -> float:
    """Chi-square goodness-of-fit p-value of the fit behind
    :func:`extrapolate_to_zero` (dof = number of widths - terms - 1; 1.0 when
    there are no degrees of freedom left). A small p-value says the discrepancy
    does not shrink like the expansion in x^(-rate) says."""
    fit = _expansion_series(xs, values, ses, rate, terms)
    return float(stats.chi2.sf(fit.chi2, fit.dof)) if fit.dof > 0 else 1.0


def extrapolation_weights(xs: ArrayLike, rate: float, terms: int = 1) -> NDArray[np.float64]:
    """The weights w with a = sum_i w_i value_i for the fit behind
    :func:`extrapolate_to_zero` when every point has the same se (the first row
    of (A^T A)^-1 A^T): a point of unit se contributes w_i^2 to Var(a)."""
    xs = as_sample_array("xs", xs)
    fit = _expansion_series(xs, np.zeros(xs.size), np.ones(xs.size), rate, terms)
    design = np.vander(xs ** (-rate), terms + 1, increasing=True)
    return fit.cov[0] @ design.T


def extrapolation_se_factor(xs: ArrayLike, rate: float, terms: int = 1) -> float:
    """se of the extrapolated limit per unit se of each point, when every
    point has the same se: sqrt(sum_i w_i^2) with the weights of
    :func:`extrapolation_weights`. A ladder planned for a limit of se sigma
    needs each point at se sigma / factor."""
    return float(np.sqrt(np.sum(extrapolation_weights(xs, rate, terms) ** 2)))
