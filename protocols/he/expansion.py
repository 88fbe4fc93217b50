"""The buyer's side of scoring: f(w·x + b) expanded into coefficients c_α on the monomials of scaled features.

With x = mid + half∘u (``monomials.scale_features``), the score is z = w'·u + b' where w' = w∘half and
b' = b + w·mid. For f(z) = Σ_k p_k z^k the multinomial theorem gives

    f(z) = Σ_α c_α u^α,   c_α = (|α|! / Π_j α_j!) · Π_j w'_j^α_j · Σ_{k>=|α|} p_k · C(k, |α|) · b'^(k−|α|),

a polynomial of total degree K = deg f in u. Then Σ_rows f(z) = Σ_α c_α S_α = <c, S>: the node needs only its
plaintext monomial sums S and never sees w or b.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols.he.monomials import FeatureBounds, exponents
from protocols.he.polynomials import ScorePolynomial

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LinearModel:
    """z = weights · x + bias on raw (unscaled) features."""

    weights: tuple[float, ...]
    bias: float

    def __post_init__(self) -> None:
        if not self.weights or not all(math.isfinite(v) for v in (*self.weights, self.bias)):
            raise ValueError("a model needs finite weights (at least one) and a finite bias")


def scaled_model(model: LinearModel, bounds: FeatureBounds) -> LinearModel:
    """The same scores as a model on u in [-1, 1]: w' = w∘half, b' = b + w·mid."""
    if len(model.weights) != bounds.dimension:
        raise ValueError(f"{len(model.weights)} weights for {bounds.dimension} features")
    w = np.asarray(model.weights)
    return LinearModel(
        tuple(float(v) for v in w * bounds.half_width), float(model.bias + w @ bounds.midpoint)
    )


def score_range(model: LinearModel, bounds: FeatureBounds) -> tuple[float, float]:
    """Every score of a row clipped to the bounds lies in b' ± ||w'||₁; fit threshold polynomials on it."""
    scaled = scaled_model(model, bounds)
    reach = float(np.abs(np.asarray(scaled.weights)).sum())
    return scaled.bias - reach, scaled.bias + reach


def expand(model: LinearModel, polynomial: ScorePolynomial, bounds: FeatureBounds) -> FloatArray:
    """The coefficients c_α, in the order of ``monomials.exponents(d, deg f)``."""
    scaled = scaled_model(model, bounds)
    w, b = np.asarray(scaled.weights), scaled.bias
    degree = polynomial.degree
    exps = exponents(bounds.dimension, degree)
    order = exps.sum(axis=1)
    # |α|!/Π α_j!, exactly in integers, then as floats.
    multinomial = np.array(
        [
            math.factorial(int(a)) // math.prod(math.factorial(int(e)) for e in row)
            for a, row in zip(order, exps, strict=True)
        ],
        dtype=np.float64,
    )
    weight_powers = np.prod(w[None, :] ** exps, axis=1)
    p = polynomial.coefficients
    # For each total degree a: Σ_{k>=a} p_k C(k, a) b^(k−a).
    bias_terms = np.array(
        [sum(p[k] * math.comb(k, a) * b ** (k - a) for k in range(a, degree + 1)) for a in range(degree + 1)]
    )
    return np.asarray(multinomial * weight_powers * bias_terms[order], dtype=np.float64)


def sensitivity(coefficients: FloatArray) -> float:
    """Σ|c_α| bounds one row's |f(z)| (as |u^α| <= 1): the per-row sensitivity to calibrate DP noise on."""
    return float(np.abs(coefficients).sum())
