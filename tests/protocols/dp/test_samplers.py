"""Exact samplers against their exact distributions (see reference.py for the tolerances), plus properties."""

from __future__ import annotations

import math
import random
import secrets
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dp.samplers import (
    RandomSource,
    bernoulli_exp,
    discrete_gaussian,
    discrete_gaussian_vector,
    discrete_laplace,
    discrete_laplace_vector,
    system_random,
)
from tests.protocols.dp import reference

N = 50_000  # per distribution: a 6-SE band on P[|X| >= 1] is then about ±0.013 at σ² = 1


class IntegerDrawsOnly:
    """A RandomSource with nothing but integer draws, checking that callers pass integers."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.draws = 0

    def randrange(self, stop: int, /) -> int:
        assert type(stop) is int and stop >= 1
        self.draws += 1
        return self._rng.randrange(stop)

    def getrandbits(self, k: int, /) -> int:
        assert type(k) is int and k >= 1
        self.draws += 1
        return self._rng.getrandbits(k)


@pytest.mark.parametrize("sigma2", [Fraction(1, 4), Fraction(1), Fraction(9), Fraction(5, 2)])
def test_discrete_gaussian_matches_its_exact_distribution(sigma2: Fraction) -> None:
    rng = IntegerDrawsOnly(seed=int(sigma2 * 1000))
    samples = [discrete_gaussian(sigma2, rng) for _ in range(N)]
    assert reference.check_samples(samples, reference.discrete_gaussian(sigma2), tails=(1, 2, 3, 5)) == []


@pytest.mark.parametrize("scale", [Fraction(1, 3), Fraction(1), Fraction(7, 2)])
def test_discrete_laplace_matches_its_exact_distribution(scale: Fraction) -> None:
    rng = IntegerDrawsOnly(seed=int(scale * 100) + 7)
    samples = [discrete_laplace(scale, rng) for _ in range(N)]
    assert reference.check_samples(samples, reference.discrete_laplace(scale), tails=(1, 2, 4, 8)) == []


def test_the_check_rejects_a_sampler_of_the_wrong_variance() -> None:
    """The same check, fed N_Z(0, 1) draws but told to expect N_Z(0, 1.2), must report a failure."""
    rng = random.Random(11)
    samples = [discrete_gaussian(1, rng) for _ in range(N)]
    assert reference.check_samples(samples, reference.discrete_gaussian(Fraction(1))) == []
    assert reference.check_samples(samples, reference.discrete_gaussian(Fraction(6, 5))) != []


def test_the_check_rejects_a_rounded_continuous_gaussian() -> None:
    """The naive float sampler round(N(0, σ²)) is not N_Z(0, σ²): at σ² = 1/4 it puts 0.68 on 0, not 0.79."""
    rng = random.Random(12)
    samples = [round(rng.gauss(0.0, 0.5)) for _ in range(N)]
    assert reference.check_samples(samples, reference.discrete_gaussian(Fraction(1, 4))) != []


def test_the_check_rejects_a_laplace_that_counts_zero_twice() -> None:
    """Drop CKS Algorithm 2's rejection of (negative sign, 0) and 0 gets (1-q) instead of (1-q)/(1+q)."""
    rng = random.Random(13)
    scale = Fraction(1)

    def buggy() -> int:
        magnitude = 0
        while bernoulli_exp(1 / scale, rng):
            magnitude += 1
        return -magnitude if rng.getrandbits(1) else magnitude

    assert reference.check_samples([buggy() for _ in range(N)], reference.discrete_laplace(scale)) != []


@pytest.mark.parametrize(
    "gamma", [Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(7, 3), 5]
)
def test_bernoulli_exp_frequency_is_exp_minus_gamma(gamma: Fraction | int) -> None:
    rng = IntegerDrawsOnly(seed=int(Fraction(gamma) * 30) + 1)
    hits = sum(bernoulli_exp(gamma, rng) for _ in range(N))
    p = math.exp(-float(gamma))
    if gamma == 0:
        assert hits == N
    else:
        assert abs(hits / N - p) <= reference.Z_TOLERANCE * math.sqrt(p * (1 - p) / N), (hits / N, p)


@pytest.mark.parametrize("sigma", [10**3, 10**9, 2**16 * 50_000, 10**12])
def test_large_sigma_moments_and_low_bits(sigma: int) -> None:
    """Mean, variance and parity at σ up to 1e12, where Var N_Z(0, σ²) = σ² to float precision."""
    n = 4_000
    samples = discrete_gaussian_vector([Fraction(sigma) ** 2] * n, random.Random(sigma % 1000))
    mean = math.fsum(samples) / n
    second = math.fsum(float(x) ** 2 for x in samples) / n
    odd = sum(x & 1 for x in samples) / n
    assert abs(mean) <= reference.Z_TOLERANCE * sigma / math.sqrt(n)
    assert abs(second / sigma**2 - 1) <= reference.Z_TOLERANCE * math.sqrt(2 / n)  # E[X⁴] = 3σ⁴
    assert abs(odd - 0.5) <= reference.Z_TOLERANCE * math.sqrt(0.25 / n)


@settings(max_examples=40, deadline=None)
@given(
    sigma2s=st.lists(st.fractions(min_value=0, max_value=50, max_denominator=1000), max_size=8),
    seed=st.integers(0, 2**32),
)
def test_vector_helpers_equal_scalar_draws_in_order(sigma2s: list[Fraction], seed: int) -> None:
    rng = random.Random(seed)
    assert discrete_gaussian_vector(sigma2s, random.Random(seed)) == [
        discrete_gaussian(s, rng) for s in sigma2s
    ]
    rng = random.Random(seed)
    assert discrete_laplace_vector(sigma2s, random.Random(seed)) == [
        discrete_laplace(s, rng) for s in sigma2s
    ]


@settings(max_examples=40, deadline=None)
@given(value=st.floats(min_value=0, max_value=1e6, allow_subnormal=False), seed=st.integers(0, 2**32))
def test_floats_are_taken_exactly(value: float, seed: int) -> None:
    exact = Fraction(value)
    assert discrete_gaussian(value, random.Random(seed)) == discrete_gaussian(exact, random.Random(seed))
    assert discrete_laplace(value, random.Random(seed)) == discrete_laplace(exact, random.Random(seed))
    assert bernoulli_exp(value, random.Random(seed)) == bernoulli_exp(exact, random.Random(seed))


def test_zero_parameters_give_point_masses() -> None:
    rng = IntegerDrawsOnly(seed=1)
    assert [discrete_gaussian(0, rng), discrete_laplace(0.0, rng)] == [0, 0]
    assert rng.draws == 0


@pytest.mark.parametrize("bad", [-1, Fraction(-1, 3), -0.5, math.nan, math.inf])
def test_invalid_parameters_are_refused(bad: float) -> None:
    rng = random.Random(0)
    for sampler in (bernoulli_exp, discrete_laplace, discrete_gaussian):
        with pytest.raises(ValueError):
            sampler(bad, rng)
    with pytest.raises(ValueError):
        discrete_gaussian_vector([1, bad], rng)


def test_non_numbers_are_refused() -> None:
    with pytest.raises(TypeError):
        discrete_gaussian(True, random.Random(0))
    with pytest.raises(TypeError):
        discrete_laplace("1", random.Random(0))  # type: ignore[arg-type]


def test_seeded_and_system_sources_both_satisfy_the_protocol() -> None:
    sources: list[RandomSource] = [random.Random(5), system_random()]
    assert isinstance(sources[1], secrets.SystemRandom)
    for source in sources:
        assert isinstance(discrete_gaussian(Fraction(10**24), source), int)
    assert discrete_gaussian_vector([4] * 5, random.Random(5)) == discrete_gaussian_vector(
        [4] * 5, random.Random(5)
    )
