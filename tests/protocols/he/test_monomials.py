"""The monomial basis and a node's monomial sums, against a row-by-row loop."""

import math

import numpy as np
import pytest

from protocols.he import FeatureBounds, exponents, monomial_count, monomial_sums
from protocols.he.monomials import scale_features

BOUNDS = FeatureBounds((-5.0, 0.0, 100.0), (10.0, 1.0, 300.0))


@pytest.mark.parametrize(("d", "k"), [(1, 0), (1, 6), (3, 2), (8, 6), (16, 3)])
def test_basis_is_every_exponent_of_degree_at_most_k_once(d: int, k: int) -> None:
    exps = exponents(d, k)
    assert exps.shape == (math.comb(d + k, k), d) == (monomial_count(d, k), d)
    assert len({tuple(row) for row in exps}) == len(exps)
    assert (exps >= 0).all() and (exps.sum(axis=1) <= k).all()
    assert not exps[0].any() and np.all(np.diff(exps.sum(axis=1)) >= 0)  # constant first, then by degree


def test_basis_limits() -> None:
    with pytest.raises(ValueError):
        exponents(17, 1)
    with pytest.raises(ValueError):
        exponents(2, 7)


def test_scaling_maps_bounds_to_unit_interval_and_clips() -> None:
    x = np.array([[-5.0, 0.0, 100.0], [10.0, 1.0, 300.0], [2.5, 0.5, 200.0], [-1e9, 7.0, np.inf]])
    u = scale_features(x, BOUNDS)
    assert np.allclose(u, [[-1, -1, -1], [1, 1, 1], [0, 0, 0], [-1, 1, 1]])
    with pytest.raises(ValueError, match="NaN"):
        scale_features([[np.nan, 0.0, 0.0]], BOUNDS)
    with pytest.raises(ValueError):
        FeatureBounds((1.0,), (1.0,))


def _naive(x: np.ndarray, groups: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    u = scale_features(x, BOUNDS)
    exps = exponents(3, k)
    out = np.zeros((n_groups, len(exps)))
    for row, group in zip(u, groups, strict=True):
        for i, alpha in enumerate(exps):
            out[group, i] += math.prod(float(v) ** int(a) for v, a in zip(row, alpha, strict=True))
    return out


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_sums_match_a_row_by_row_loop(k: int) -> None:
    rng = np.random.default_rng(k)
    x = rng.uniform([-8, -0.5, 50], [12, 1.5, 350], size=(200, 3))
    groups = rng.integers(0, 4, 200)
    assert np.allclose(monomial_sums(x, BOUNDS, k, groups=groups, n_groups=4), _naive(x, groups, 4, k))
    ungrouped = monomial_sums(x, BOUNDS, k)
    assert ungrouped.shape == (1, monomial_count(3, k))
    assert np.allclose(ungrouped[0], _naive(x, np.zeros(200, dtype=int), 1, k)[0])


def test_sums_stay_within_row_count() -> None:
    x = np.random.default_rng(9).uniform(-1e3, 1e3, size=(1000, 3))
    assert np.abs(monomial_sums(x, BOUNDS, 6)).max() <= 1000


def test_bad_groups_are_refused() -> None:
    x = np.zeros((3, 3))
    with pytest.raises(ValueError):
        monomial_sums(x, BOUNDS, 2, groups=[0, 1, 2], n_groups=2)
    with pytest.raises(ValueError):
        monomial_sums(x, BOUNDS, 2, groups=[0, 1], n_groups=2)
