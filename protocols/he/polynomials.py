"""The per-row statistic f(z) of a score z, as a polynomial: exact (z, z²) or fitted on a stated interval.

A threshold count Σ [z > t] and a logistic score Σ σ(z) are not polynomials; we replace them by a
least-squares Chebyshev fit of degree <= 3 on an interval [a, b] the buyer states — for the count, of the
smooth step σ((z − t)/w) rather than the hard step, since a low-degree polynomial cannot follow a jump.
``max_error`` is the largest |q(z) − target(z)| measured on a dense grid of [a, b]; a released sum over n
rows whose scores lie in [a, b] is then within n·max_error of the sum of the target. Rows outside [a, b] are
not covered: take the interval from ``expansion.score_range``, which bounds every score of a clipped row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.polynomial import Chebyshev, Polynomial

MAX_DEGREE: Final = 6
MAX_FIT_DEGREE: Final = 3
_GRID: Final = 20_001

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ScorePolynomial:
    """f(z) = Σ_k coefficients[k]·z^k, an approximation within ``max_error`` of its target on ``interval``."""

    name: str
    coefficients: tuple[float, ...]
    interval: tuple[float, float] | None = None
    max_error: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= len(self.coefficients) <= MAX_DEGREE + 1:
            raise ValueError(f"need 1 to {MAX_DEGREE + 1} coefficients (degree <= {MAX_DEGREE})")
        if not all(math.isfinite(c) for c in self.coefficients):
            raise ValueError("coefficients must be finite")

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    def __call__(self, z: npt.ArrayLike) -> FloatArray:
        return np.asarray(
            np.polynomial.polynomial.polyval(np.asarray(z, dtype=np.float64), self.coefficients)
        )


def identity() -> ScorePolynomial:
    """f(z) = z: the sum of scores."""
    return ScorePolynomial("sum", (0.0, 1.0))


def square() -> ScorePolynomial:
    """f(z) = z²: the sum of squared scores."""
    return ScorePolynomial("sum_of_squares", (0.0, 0.0, 1.0))


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(z / 2.0)))  # σ without overflow warnings for large |z|


def fit(
    name: str, target: Callable[[FloatArray], FloatArray], interval: tuple[float, float], degree: int
) -> ScorePolynomial:
    """Least-squares Chebyshev fit of ``target`` on ``interval``, its max error measured on a dense grid."""
    a, b = interval
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ValueError(f"interval must be finite with a < b, got {interval}")
    if not 1 <= degree <= MAX_FIT_DEGREE:
        raise ValueError(f"fitted degree must be 1 to {MAX_FIT_DEGREE}, got {degree}")
    # Chebyshev nodes keep the least-squares fit close to the minimax one (no Runge bulge at the ends).
    nodes = (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (np.arange(256) + 0.5) / 256)
    series = Chebyshev.fit(nodes, target(nodes), degree, domain=[a, b])
    power = series.convert(kind=Polynomial, domain=[-1, 1], window=[-1, 1])
    coefficients = np.zeros(degree + 1)
    coefficients[: len(power.coef)] = power.coef
    grid = np.linspace(a, b, _GRID)
    error = float(np.max(np.abs(np.polynomial.polynomial.polyval(grid, coefficients) - target(grid))))
    return ScorePolynomial(name, tuple(float(c) for c in coefficients), (a, b), error)


def smooth_step(
    threshold: float, interval: tuple[float, float], *, width: float | None = None, degree: int = 3
) -> ScorePolynomial:
    """Approximates [z > threshold] by σ((z − threshold)/width), width (b − a)/8 unless given."""
    a, b = interval
    w = (b - a) / 8 if width is None else width
    if not w > 0:
        raise ValueError("the step width must be positive")
    return fit(f"count_above_{threshold:g}", lambda z: _sigmoid((z - threshold) / w), interval, degree)


def logistic(interval: tuple[float, float], *, degree: int = 3) -> ScorePolynomial:
    """Approximates the logistic score σ(z) = 1/(1 + e^−z)."""
    return fit("logistic", _sigmoid, interval, degree)
