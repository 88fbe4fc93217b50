"""zCDP accounting against hand-computed values, OpenDP as an independent reference, and properties."""

from __future__ import annotations

import math
from fractions import Fraction

import opendp.prelude as dp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dp.accounting import (
    Budget,
    distributed_gaussian_rho,
    epsilon_for,
    epsilon_for_simple,
    expected_abs_error,
    gaussian_rho,
    laplace_rho,
    remaining_epsilon,
    remaining_rho,
    rho_for,
    sigma_for,
    spend,
    std_of_discrete_gaussian,
)
from protocols.dp.exceptions import BudgetExceededError
from tests.protocols.dp import reference

rhos = st.floats(min_value=1e-6, max_value=50.0)
deltas = st.floats(min_value=1e-15, max_value=0.5)


def test_bun_steinke_prop_1_3_by_hand() -> None:
    # ρ = 1/8, δ = e^-8: ln(1/δ) = 8, ρ·ln(1/δ) = 1, so ε = 1/8 + 2·√1 = 2.125.
    assert epsilon_for_simple(1 / 8, math.exp(-8)) == pytest.approx(2.125, rel=1e-11)
    # ρ = 0.02, δ = 1e-6: ln(1e6) = 6·ln 10 = 13.815510557964275, ρ·ln(1/δ) = 0.2763102111592855,
    # √ = 0.5256521769756932, ε = 0.02 + 2 × 0.5256521769756932 = 1.0713043539513865.
    assert epsilon_for_simple(0.02, 1e-6) == pytest.approx(1.0713043539513865, rel=1e-11)
    assert epsilon_for_simple(0.0, 1e-6) == 0.0


def test_tight_conversion_published_value() -> None:
    """OpenDP's own test (zCDP_to_approxDP/test.rs): Gaussian scale 4, Δ = 1, ρ = 1/32, δ = 1e-3."""
    assert gaussian_rho(1.0, 4.0) == 1 / 32
    assert epsilon_for(1 / 32, 1e-3) == pytest.approx(0.6880024554878086, rel=1e-9)
    assert epsilon_for_simple(1 / 32, 1e-3) == pytest.approx(
        1 / 32 + 2 * math.sqrt(math.log(1e3) / 32), rel=1e-11
    )


@pytest.mark.parametrize("scale", [0.25, 1.0, 3.0, 10.0, 40.0, 200.0])
@pytest.mark.parametrize("delta", [1e-12, 1e-9, 1e-6, 1e-3])
def test_tight_conversion_matches_opendp(scale: float, delta: float) -> None:
    """OpenDP 0.16's make_zCDP_to_approxDP on its Gaussian, fed the very ρ OpenDP computes for it."""
    dp.enable_features("contrib")
    gaussian = dp.m.make_gaussian(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=scale
    )
    rho = gaussian.map(1.0)
    theirs = dp.c.make_zCDP_to_approxDP(gaussian).map(1.0).epsilon(delta)
    assert theirs > 0
    assert epsilon_for(rho, delta) == pytest.approx(theirs, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(rho=rhos, delta=deltas)
def test_tight_never_exceeds_simple_and_beats_it_where_it_matters(rho: float, delta: float) -> None:
    tight, simple = epsilon_for(rho, delta), epsilon_for_simple(rho, delta)
    assert 0.0 <= tight <= simple
    if rho <= 10 and delta <= 1e-3:
        assert tight < simple * 0.99  # the CKS20 bound is a real improvement there, not the min() fallback


@settings(max_examples=100, deadline=None)
@given(rho=rhos, factor=st.floats(1.001, 10.0), delta=deltas)
def test_epsilon_grows_with_rho_and_shrinks_with_delta(rho: float, factor: float, delta: float) -> None:
    # up to the safety margin (~1e-12 relative to the terms), which need not be monotone where ε is ~0
    assert epsilon_for(rho, delta) <= epsilon_for(rho * factor, delta) + 1e-10
    assert epsilon_for(rho, delta) >= epsilon_for(rho, min(0.9, delta * factor)) - 1e-10


@settings(max_examples=60, deadline=None)
@given(epsilon=st.floats(0.01, 20.0), delta=deltas)
def test_rho_for_is_the_largest_rho_within_epsilon(epsilon: float, delta: float) -> None:
    rho = rho_for(epsilon, delta)
    assert rho > 0
    assert epsilon_for(rho, delta) <= epsilon
    assert epsilon_for(rho * (1 + 1e-9), delta) > epsilon


def test_rho_for_zero_epsilon_is_zero() -> None:
    assert rho_for(0.0, 1e-6) == 0.0


def test_composition_adds_rho() -> None:
    # k Gaussian releases with σ each cost what one release with σ/√k costs.
    assert 4 * gaussian_rho(2.0, 10.0) == pytest.approx(gaussian_rho(2.0, 5.0), rel=1e-15)
    budget = Budget(epsilon=100.0, delta=1e-6)
    charges = [gaussian_rho(1.0, 7.0), laplace_rho(0.3), distributed_gaussian_rho(3.0, 100, 5)]
    total = 0.0
    for rho in charges:
        total = spend(budget, total, rho)
    assert Fraction(total) >= sum(map(Fraction, charges))
    assert total == pytest.approx(math.fsum(charges), rel=1e-15)


def test_spend_stops_at_the_budget() -> None:
    budget = Budget(epsilon=1.0, delta=1e-6)
    rho = gaussian_rho(1.0, 10.0)  # 0.005; the cap rho_for(1, 1e-6) is about 0.0244
    total = 0.0
    for _ in range(4):
        total = spend(budget, total, rho)
    with pytest.raises(BudgetExceededError) as caught:
        spend(budget, total, rho)
    assert caught.value.epsilon_after > 1.0 and caught.value.requested_rho == rho
    assert caught.value.spent_rho == total and "δ=1e-06" in str(caught.value)
    assert remaining_epsilon(budget, total) == pytest.approx(1.0 - epsilon_for(total, 1e-6))


@settings(max_examples=60, deadline=None)
@given(epsilon=st.floats(0.05, 10.0), delta=deltas, used=st.floats(0.0, 1.0))
def test_remaining_rho_is_exactly_what_spend_accepts(epsilon: float, delta: float, used: float) -> None:
    budget = Budget(epsilon, delta)
    spent = rho_for(epsilon, delta) * used
    left = remaining_rho(budget, spent)
    spend(budget, spent, left)
    with pytest.raises(BudgetExceededError):
        spend(budget, spent, left * (1 + 1e-9) + 1e-12)


def test_exhausted_budget_has_nothing_left() -> None:
    budget = Budget(0.5, 1e-9)
    assert remaining_rho(budget, 10.0) == 0.0 and remaining_epsilon(budget, 10.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(l2=st.floats(1e-3, 1e6), sigma=st.floats(1e-3, 1e9))
def test_rho_and_sigma_are_rounded_to_the_safe_side(l2: float, sigma: float) -> None:
    rho = gaussian_rho(l2, sigma)
    assert Fraction(rho) >= Fraction(l2) ** 2 / (2 * Fraction(sigma) ** 2)
    back = sigma_for(rho, l2)
    assert gaussian_rho(l2, back) <= rho
    assert gaussian_rho(l2, back * (1 - 1e-12)) > rho


def test_laplace_rho() -> None:
    assert laplace_rho(1.0) == 0.5 and laplace_rho(0.2) >= 0.02


def naive_ddg_rho(l2: float, sigma2: float, n: int, d: int) -> float:
    """KLS21 Theorem 1 transcribed naively: ½·min{Δ²/(nσ²) + 2τd, (Δ/(√n·σ) + τ√d)²}."""
    tau = 10 * sum(math.exp(-2 * math.pi**2 * sigma2 * k / (k + 1)) for k in range(1, n))
    return 0.5 * min(
        l2**2 / (n * sigma2) + 2 * tau * d, (l2 / math.sqrt(n * sigma2) + tau * math.sqrt(d)) ** 2
    )


def test_distributed_gaussian_by_hand() -> None:
    # n = 2, σ² = 1/2, Δ = 1, d = 1: τ = 10·exp(-2π²·½·½) = 10·exp(-π²/2) = 0.07191883355826368,
    # Δ²/(nσ²) = 1, so ρ = ½·min{1 + 2τ, (1 + τ)²} = ½ + τ = 0.5719188335582637.
    assert distributed_gaussian_rho(1.0, Fraction(1, 2), 2) == pytest.approx(0.5719188335582637, rel=1e-11)


@pytest.mark.parametrize(
    ("sigma2", "n", "d"), [(1, 10, 1), (Fraction(1, 2), 5, 3), (2, 100, 16), (0.3, 3, 1)]
)
def test_distributed_gaussian_matches_the_theorem_transcribed(sigma2: float, n: int, d: int) -> None:
    expected = min(naive_ddg_rho(2.0, float(sigma2), n, d), 2.0**2 / (2 * float(sigma2)))
    assert distributed_gaussian_rho(2.0, sigma2, n, dimension=d) == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_distributed_gaussian_is_the_central_bound_when_sigma_is_large(n: int) -> None:
    sigma2 = (2**16 * 50_000) ** 2  # τ underflows to 0
    central = 7.0**2 / (2 * n * sigma2)
    assert distributed_gaussian_rho(7.0, sigma2, n) == pytest.approx(central, rel=1e-11)
    assert distributed_gaussian_rho(7.0, 10.0, n) == pytest.approx(7.0**2 / (2 * n * 10.0), rel=1e-11)


@pytest.mark.parametrize("sigma2", [Fraction(1, 4), Fraction(1, 2), 1, 2])
def test_distributed_gaussian_costs_more_than_central_when_sigma_is_small(sigma2: float) -> None:
    central = 1.0 / (2 * 10 * sigma2)
    assert distributed_gaussian_rho(1.0, sigma2, 10) > central * (1 + 1e-10)  # well above the 1e-12 slack


@settings(max_examples=100, deadline=None)
@given(l2=st.floats(0.1, 100.0), sigma2=st.floats(0.01, 100.0), n=st.integers(1, 50), d=st.integers(1, 1000))
def test_distributed_gaussian_lies_between_central_and_one_share(
    l2: float, sigma2: float, n: int, d: int
) -> None:
    rho = distributed_gaussian_rho(l2, sigma2, n, dimension=d)
    assert l2**2 / (2 * n * sigma2) * (1 - 1e-12) <= rho <= gaussian_rho(l2, math.sqrt(sigma2)) * (1 + 1e-12)


def test_distributed_gaussian_below_a_quarter_and_for_one_party_is_one_share() -> None:
    assert distributed_gaussian_rho(1.0, Fraction(1, 5), 50) == 2.5  # Δ²/(2σ²), exactly
    from_float = distributed_gaussian_rho(1.0, 0.2, 50)  # 0.2 as a float is a hair above 1/5
    assert from_float == pytest.approx(2.5, rel=1e-15) and Fraction(from_float) >= 1 / (2 * Fraction(0.2))
    assert distributed_gaussian_rho(3.0, 4, 1) == gaussian_rho(3.0, 2.0)
    # below σ² = 1/4 Theorem 1 is not used even where it would give less: Δ = 10, n = 2, σ² = 0.24 would be
    # ½·(100/0.48 + 2τ) ≈ 105.1 with τ = 10·exp(-0.24π²) ≈ 0.936, against the one-share 100/0.48 ≈ 208.3
    assert distributed_gaussian_rho(10.0, Fraction(6, 25), 2) == pytest.approx(100 / 0.48, rel=1e-15)
    assert distributed_gaussian_rho(10.0, Fraction(1, 4), 2) == pytest.approx(naive_ddg_rho(10.0, 0.25, 2, 1))
    # many dimensions make τ·d dominate, and the one-share cap takes over
    assert distributed_gaussian_rho(1.0, Fraction(1, 2), 2, dimension=10**6) == 1.0  # Δ²/(2σ²)


@pytest.mark.parametrize("sigma", [0.25, 0.5, 1.0, 2.5, 7.9, 8.0, 12.0, 20.0])
def test_error_bars_match_the_pmf(sigma: float) -> None:
    pmf = reference.discrete_gaussian(Fraction(sigma) ** 2)
    assert std_of_discrete_gaussian(sigma) == pytest.approx(math.sqrt(pmf.moment(2)), rel=1e-8)
    assert std_of_discrete_gaussian(sigma) <= sigma
    assert expected_abs_error(sigma) == pytest.approx(pmf.moment_abs(), rel=1e-8)
    assert expected_abs_error(sigma) <= sigma * math.sqrt(2 / math.pi)


def test_error_bars_for_huge_sigma() -> None:
    assert std_of_discrete_gaussian(1e12) == 1e12
    assert expected_abs_error(1e12) == pytest.approx(1e12 * math.sqrt(2 / math.pi), rel=1e-15)
    assert std_of_discrete_gaussian(0.0) == 0.0 == expected_abs_error(0.0)


@pytest.mark.parametrize("delta", [0.0, 1.0, -1e-3, math.nan, 2.0])
def test_delta_outside_the_open_unit_interval_is_refused(delta: float) -> None:
    with pytest.raises(ValueError):
        epsilon_for(0.1, delta)
    with pytest.raises(ValueError):
        Budget(1.0, delta)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_numbers_are_refused(bad: float) -> None:
    calls = [
        lambda: epsilon_for(bad, 1e-6),
        lambda: rho_for(bad, 1e-6),
        lambda: gaussian_rho(bad, 1.0),
        lambda: gaussian_rho(1.0, bad),
        lambda: sigma_for(bad, 1.0),
        lambda: distributed_gaussian_rho(1.0, bad, 3),
        lambda: spend(Budget(1.0, 1e-6), 0.0, bad),
        lambda: Budget(bad, 1e-6),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        gaussian_rho(1.0, 0.0)
    with pytest.raises(ValueError):
        distributed_gaussian_rho(1.0, 1.0, 0)
