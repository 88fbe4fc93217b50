"""The buyer's multinomial expansion against direct evaluation of f(w·x + b), as a property."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.he import (
    FeatureBounds,
    LinearModel,
    ScorePolynomial,
    expand,
    exponents,
    score_range,
    sensitivity,
)
from protocols.he.monomials import scale_features


@st.composite
def cases(draw: st.DrawFn) -> tuple[LinearModel, ScorePolynomial, FeatureBounds, np.ndarray]:
    d = draw(st.integers(1, 5))
    finite = st.floats(-3, 3, allow_nan=False)
    lower = np.array(draw(st.lists(st.floats(-100, 100), min_size=d, max_size=d)))
    width = np.array(draw(st.lists(st.floats(0.1, 50), min_size=d, max_size=d)))
    bounds = FeatureBounds(tuple(lower), tuple(lower + width))
    model = LinearModel(tuple(draw(st.lists(finite, min_size=d, max_size=d))), draw(finite))
    degree = draw(st.integers(0, 6 if d <= 3 else 3))
    coefficients = tuple(draw(st.lists(finite, min_size=degree + 1, max_size=degree + 1)))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).uniform(lower - width, lower + 2 * width, size=(20, d))
    return model, ScorePolynomial("drawn", coefficients), bounds, x


def _direct(
    model: LinearModel, polynomial: ScorePolynomial, bounds: FeatureBounds, x: np.ndarray
) -> np.ndarray:
    z = np.clip(x, bounds.lower, bounds.upper) @ np.asarray(model.weights) + model.bias
    return np.asarray(np.polynomial.polynomial.polyval(z, polynomial.coefficients))


@settings(max_examples=200, deadline=None)
@given(cases())
def test_expansion_equals_direct_evaluation(
    case: tuple[LinearModel, ScorePolynomial, FeatureBounds, np.ndarray],
) -> None:
    model, polynomial, bounds, x = case
    c = expand(model, polynomial, bounds)
    u = scale_features(x, bounds)
    exps = exponents(bounds.dimension, polynomial.degree)
    expanded = (u[:, None, :] ** exps[None, :, :]).prod(axis=2) @ c
    direct = _direct(model, polynomial, bounds, x)
    # Cancellation between terms is bounded by the sum of their magnitudes, Σ|c_α| at most.
    assert np.allclose(expanded, direct, rtol=1e-9, atol=1e-9 * (1 + sensitivity(c)))
    assert np.all(np.abs(direct) <= sensitivity(c) * (1 + 1e-9) + 1e-9)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_score_range_covers_every_clipped_row(
    case: tuple[LinearModel, ScorePolynomial, FeatureBounds, np.ndarray],
) -> None:
    model, _, bounds, x = case
    lo, hi = score_range(model, bounds)
    z = np.clip(x, bounds.lower, bounds.upper) @ np.asarray(model.weights) + model.bias
    slack = 1e-9 * (1 + abs(lo) + abs(hi))
    assert np.all(z >= lo - slack) and np.all(z <= hi + slack)


def test_known_expansion() -> None:
    # (2u₁ − u₂ + 1)² on bounds [-1, 1]: 1 + 4u₁ − 2u₂ + 4u₁² − 4u₁u₂ + u₂².
    bounds = FeatureBounds((-1.0, -1.0), (1.0, 1.0))
    c = expand(LinearModel((2.0, -1.0), 1.0), ScorePolynomial("sq", (0.0, 0.0, 1.0)), bounds)
    by_exponent = dict(zip(map(tuple, exponents(2, 2)), c, strict=True))
    assert by_exponent == pytest.approx({(0, 0): 1, (1, 0): 4, (0, 1): -2, (2, 0): 4, (1, 1): -4, (0, 2): 1})


def test_model_must_match_bounds() -> None:
    with pytest.raises(ValueError):
        expand(
            LinearModel((1.0,), 0.0), ScorePolynomial("id", (0.0, 1.0)), FeatureBounds((0.0, 0.0), (1.0, 1.0))
        )
