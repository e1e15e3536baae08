"""Logits drawn through Bartlett's decomposition (``numerics.attention_layer.Layer.logits``)
against logits of explicitly drawn weights.

For a fixed X the logits M = scale X W^Q (X W^K)^T are drawn from n^2 + n(n-1)/2 normals
and n chi-squares per sample instead of the weights. Equality in distribution with
M computed from full Gaussian W^Q, W^K (drawn here with NumPy, independently of the
engine's streams) is tested by two-sample Kolmogorov-Smirnov tests on every entry of M
and on fixed random projections of the flattened M (so the dependence between entries is
tested too), Bonferroni over the family at 1e-3; the same test must tell logits whose
Wishart factor has d_k + 2 degrees of freedom instead of d_k.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from numerics import attention_layer
from numerics.attention_layer import Layer
from numerics.rng import chisquare_rows

N = 20_000
FAMILY_ALPHA = 1e-3
PROJECTIONS = 4
RNG = np.random.default_rng(8)
X = RNG.standard_normal((3, 5))
TIED = X[[0, 0, 2]]  # rank two


def _layer(d_k: int) -> Layer:
    return Layer(n=3, d_v=5, d_k=d_k, sigma_q=0.7, sigma_k=1.3, sigma_v=1.0, scale=0.4)


def _brute(layer: Layer, x: np.ndarray, seed: int) -> np.ndarray:
    """M from full weights (N, n, n)."""
    rng = np.random.default_rng(seed)
    wq = layer.sigma_q * rng.standard_normal((N, layer.d_v, layer.d_k))
    wk = layer.sigma_k * rng.standard_normal((N, layer.d_v, layer.d_k))
    return layer.scale * (x @ wq) @ np.swapaxes(x @ wk, 1, 2)


def _family_p(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest KS p-value over the entries and projections, Bonferroni-corrected."""
    a, b = a.reshape(N, -1), b.reshape(N, -1)
    directions = np.random.default_rng(1).standard_normal((a.shape[1], PROJECTIONS))
    scale = a.std(axis=0) + 1e-300
    columns = [(a[:, k], b[:, k]) for k in range(a.shape[1])]
    columns += [((a / scale) @ v, (b / scale) @ v) for v in directions.T]
    return min(stats.ks_2samp(u, w).pvalue for u, w in columns) * len(columns)


@pytest.mark.parametrize(("d_k", "x", "bartlett"), [
    (3, X, True), (7, X, True), (7, TIED, True), (13, X, False), (2, X, False), (3, X, False)])
def test_logits_have_the_law_of_full_weights(d_k: int, x: np.ndarray, bartlett: bool,
                                             monkeypatch) -> None:
    """Bartlett's route (made to serve from d_k = n on) at d_k = n and d_k > n, for a
    rank-two X too; the projections' route (made to serve at every d_k) below and above
    d_k = n."""
    monkeypatch.setattr(attention_layer, "BARTLETT_FROM", 1 if bartlett else 10**6)
    layer = _layer(d_k)
    assert _family_p(layer.logits(x, 0, N, 5), _brute(layer, x, 6)) > FAMILY_ALPHA


def test_a_wrong_wishart_degree_is_told_apart(monkeypatch) -> None:
    """The test has the power it needs: d_k + 2 degrees of freedom in the Bartlett factor
    (a Wishart 5/3 too large at d_k = n = 3) fails it."""
    def inflated(seed, stream, start, count, dofs):
        return chisquare_rows(seed, stream, start, count, [d + 2 for d in dofs])

    monkeypatch.setattr(attention_layer, "chisquare_rows", inflated)
    monkeypatch.setattr(attention_layer, "BARTLETT_FROM", 1)
    layer = _layer(3)
    assert _family_p(layer.logits(X, 0, N, 5), _brute(layer, X, 6)) < FAMILY_ALPHA


def test_logits_do_not_depend_on_the_batch() -> None:
    layer = _layer(12)  # Bartlett's route from d_k = 4 n
    whole = layer.logits(X, 0, 3000, 9)
    pieces = np.concatenate([layer.logits(X, s, 700, 9) for s in range(0, 3000, 700)])
    np.testing.assert_array_equal(whole, pieces[:3000])
    assert layer.logit_draws() == 9 + 3 + 3 and _layer(11).logit_draws() == 2 * 3 * 11


def test_normals_and_chi_squares_come_from_distinct_streams(monkeypatch) -> None:
    """Two streams of one name would share their generators (the same seed and block
    keys): the normals and the chi-squares of a sample would then be built from the same
    bits."""
    streams = []

    def spy(draw):
        def wrapped(seed, stream, *args, **kwargs):
            streams.append(stream)
            return draw(seed, stream, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(attention_layer, "normal_rows", spy(attention_layer.normal_rows))
    monkeypatch.setattr(attention_layer, "chisquare_rows", spy(attention_layer.chisquare_rows))
    _layer(12).logits(X, 0, 10, 1)
    assert len(streams) == 2 and len(set(streams)) == 2
