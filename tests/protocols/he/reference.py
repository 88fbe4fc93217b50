"""Independent references: the pooled statistic evaluated row by row, and pairwise seeds for n nodes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from protocols.he import FeatureBounds, LinearModel, ScorePolynomial


def pooled_statistic(
    rows_per_node: Sequence[npt.NDArray[np.float64]],
    model: LinearModel,
    polynomial: ScorePolynomial,
    bounds: FeatureBounds,
    groups_per_node: Sequence[npt.NDArray[np.int64]] | None = None,
    n_groups: int = 1,
) -> npt.NDArray[np.float64]:
    """Σ over the pooled rows (per group) of f(w·clip(x) + b), straight from the definition."""
    x = np.vstack(rows_per_node)
    clipped = np.clip(x, bounds.lower, bounds.upper)
    z = clipped @ np.asarray(model.weights) + model.bias
    f = np.zeros_like(z)
    for k, coefficient in enumerate(polynomial.coefficients):
        f += coefficient * z**k
    groups = np.zeros(len(x), dtype=np.int64) if groups_per_node is None else np.concatenate(groups_per_node)
    return np.bincount(groups, weights=f, minlength=n_groups).astype(np.float64)


def pairwise_seeds(n: int, rng: np.random.Generator) -> list[dict[int, bytes]]:
    """For each node i, peer j -> the 32-byte seed node i shares with j (the same bytes at both ends)."""
    shared = {(i, j): rng.bytes(32) for i in range(n) for j in range(i + 1, n)}
    return [{j: shared[(min(i, j), max(i, j))] for j in range(n) if j != i} for i in range(n)]
