"""Fitted statistics: the reported max error holds on the interval, and the exact ones are exact."""

import numpy as np
import pytest

from protocols.he import ScorePolynomial, identity, logistic, smooth_step, square
from protocols.he.polynomials import fit


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-z)))


@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize(
    ("threshold", "interval"), [(0.0, (-4.0, 4.0)), (2.5, (-1.0, 7.0)), (-30.0, (-80.0, 10.0))]
)
def test_threshold_polynomial_error_bound_holds_on_its_interval(
    degree: int, threshold: float, interval: tuple[float, float]
) -> None:
    step = smooth_step(threshold, interval, degree=degree)
    a, b = interval
    width = (b - a) / 8
    z = np.random.default_rng(degree).uniform(a, b, 100_000)
    error = np.abs(step(z) - _sigmoid((z - threshold) / width))
    assert step.degree == degree and step.interval == interval
    assert error.max() <= step.max_error * (1 + 1e-6) + 1e-12
    assert step.max_error >= 0.5 * error.max()  # the reported figure is a measurement, not a loose bound
    # A count over n rows is then within n·max_error of the smooth count.
    rows = z[:1000]
    assert abs(step(rows).sum() - _sigmoid((rows - threshold) / width).sum()) <= 1000 * step.max_error


def test_cubic_step_error_is_what_we_report() -> None:
    # Recorded so that a change in the fit shows up: a cubic follows σ(z/w), w = interval/8, to within ~0.1.
    step = smooth_step(0.0, (-4.0, 4.0))
    assert 0.01 < step.max_error < 0.15


def test_logistic_fit_is_close_on_a_narrow_interval() -> None:
    fitted = logistic((-2.0, 2.0))
    z = np.linspace(-2, 2, 1001)
    assert np.abs(fitted(z) - _sigmoid(z)).max() <= fitted.max_error * (1 + 1e-6) and fitted.max_error < 0.01


def test_exact_statistics() -> None:
    z = np.linspace(-10, 10, 11)
    assert np.allclose(identity()(z), z) and np.allclose(square()(z), z**2)
    assert identity().max_error == square().max_error == 0.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        smooth_step(0.0, (1.0, -1.0))
    with pytest.raises(ValueError):
        fit("x", np.sin, (-1.0, 1.0), 4)
    with pytest.raises(ValueError):
        ScorePolynomial("too high", (0.0,) * 8)
    with pytest.raises(ValueError):
        ScorePolynomial("nan", (float("nan"),))
