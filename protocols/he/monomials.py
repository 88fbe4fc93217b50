"""Monomials of scaled features: the shared basis, and a node's plaintext sums S_α = Σ_rows u^α per group.

Features are first clipped to the public bounds [lo, hi] of the offer and mapped to u = (x − mid)/half in
[-1, 1]. That is what keeps the monomials in range: |u^α| <= 1 for every α, so |S_α| <= rows, whereas raw
values (a pressure of 250 bar, a degree-6 monomial: 2.4e14) would overflow CKKS' headroom and lose precision.
The buyer's expansion (``expansion``) rewrites its model for u, so nothing about the scaling is secret.

The basis: all exponent vectors α in N^d with |α| <= K, constant first, then by degree, within a degree in
``itertools.combinations_with_replacement`` order. There are C(d + K, K) of them, which must fit the
ciphertext's slots less one (``scoring.max_monomials``): in the 4095 of CKKS_8192, d = 16 allows K <= 3
(969 monomials; K = 4 would need 4845), and K = 6 allows d <= 8 (3003).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

MAX_DIMENSION: Final = 16
MAX_DEGREE: Final = 6
# Rows per block: bounds the (rows × monomials) work array to ~32 MB.
_BLOCK_ELEMENTS: Final = 1 << 22

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FeatureBounds:
    """Public per-feature bounds from the offer; values are clipped to them before anything else."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not 1 <= len(self.lower) <= MAX_DIMENSION:
            raise ValueError(f"need 1 to {MAX_DIMENSION} features with a lower and an upper bound each")
        for lo, hi in zip(self.lower, self.upper, strict=True):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"bounds must be finite with lower < upper, got [{lo}, {hi}]")

    @property
    def dimension(self) -> int:
        return len(self.lower)

    @property
    def midpoint(self) -> FloatArray:
        return np.asarray(self.lower, dtype=np.float64) / 2 + np.asarray(self.upper, dtype=np.float64) / 2

    @property
    def half_width(self) -> FloatArray:
        return np.asarray(self.upper, dtype=np.float64) / 2 - np.asarray(self.lower, dtype=np.float64) / 2


def monomial_count(dimension: int, degree: int) -> int:
    return math.comb(dimension + degree, degree)


@functools.cache
def _basis(
    dimension: int, degree: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[int, ...]]:
    combos = [
        c for k in range(degree + 1) for c in itertools.combinations_with_replacement(range(dimension), k)
    ]
    position = {c: i for i, c in enumerate(combos)}
    exps = tuple(tuple(c.count(j) for j in range(dimension)) for c in combos)
    # Each monomial but the constant is its prefix monomial times its last variable.
    parents = tuple(position[c[:-1]] if c else -1 for c in combos)
    variables = tuple(c[-1] if c else -1 for c in combos)
    return exps, parents, variables


def exponents(dimension: int, degree: int) -> npt.NDArray[np.int64]:
    """The basis as an (M, d) array of exponents, M = C(d + K, K)."""
    if not 1 <= dimension <= MAX_DIMENSION or not 0 <= degree <= MAX_DEGREE:
        raise ValueError(
            f"need 1 <= d <= {MAX_DIMENSION} and 0 <= K <= {MAX_DEGREE}, got d={dimension} K={degree}"
        )
    return np.array(_basis(dimension, degree)[0], dtype=np.int64).reshape(-1, dimension)


def scale_features(x: npt.ArrayLike, bounds: FeatureBounds) -> FloatArray:
    """Clip rows to the bounds and map them to [-1, 1]; NaN is refused (a missing value is the caller's)."""
    rows = np.asarray(x, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != bounds.dimension:
        raise ValueError(f"expected rows of {bounds.dimension} features, got shape {rows.shape}")
    if np.isnan(rows).any():
        raise ValueError("features contain NaN")
    clipped = np.clip(rows, np.asarray(bounds.lower), np.asarray(bounds.upper))
    return np.asarray((clipped - bounds.midpoint) / bounds.half_width, dtype=np.float64)


def monomial_sums(
    x: npt.ArrayLike,
    bounds: FeatureBounds,
    degree: int,
    *,
    groups: npt.ArrayLike | None = None,
    n_groups: int = 1,
) -> FloatArray:
    """S[g, α] = Σ over rows of group g of u^α, u the scaled features; shape (n_groups, M).

    ``groups`` holds each row's group index in [0, n_groups); without it every row is in group 0.
    """
    u = scale_features(x, bounds)
    exps = exponents(bounds.dimension, degree)
    _, parents, variables = _basis(bounds.dimension, degree)
    labels = np.zeros(len(u), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    if labels.shape != (len(u),) or (labels.size and (labels.min() < 0 or labels.max() >= n_groups)):
        raise ValueError(f"groups must give each row an index in [0, {n_groups})")
    sums = np.zeros((n_groups, len(exps)), dtype=np.float64)
    block = max(1, _BLOCK_ELEMENTS // len(exps))
    for start in range(0, len(u), block):
        rows = u[start : start + block]
        columns = np.empty((len(rows), len(exps)), dtype=np.float64)
        columns[:, 0] = 1.0
        for i in range(1, len(exps)):
            np.multiply(columns[:, parents[i]], rows[:, variables[i]], out=columns[:, i])
        one_hot = np.zeros((len(rows), n_groups), dtype=np.float64)
        one_hot[np.arange(len(rows)), labels[start : start + block]] = 1.0
        sums += one_hot.T @ columns
    return sums
