"""Zero-concentrated DP accounting (Bun & Steinke 2016): ρ of each mechanism, ρ → (ε, δ), and a small ledger.

ρ-zCDP composes by adding ρ. Every ρ returned here is rounded UP to the next float and every ε is rounded
up by a margin far above float error, so floating point never makes the accounting optimistic; every σ is
rounded up for the same reason. Units: sensitivities and σ are in the integer units the noise is added in
(e.g. fixed-point units 2^-f), the same units the samplers take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from protocols.dp.exceptions import BudgetExceededError
from protocols.dp.samplers import RationalLike, as_fraction

_SLACK = 1e-12  # relative margin added to ε, ~10^4 times the float error of the few operations behind it
_BISECTION_STEPS = 2000  # never reached: each bisection stops when the midpoint stops moving


def gaussian_rho(l2_sensitivity: float, sigma: float) -> float:
    """Δ²/(2σ²): the zCDP of adding N(0, σ²) or N_Z(0, σ²) per coordinate (BS16 Prop 1.6, CKS20 Thm 4).

    For the discrete Gaussian this needs an integer-valued query: Δ bounds the l2 norm of integer differences.
    """
    delta2 = _exact(l2_sensitivity, "l2_sensitivity") ** 2
    return _float_up(delta2 / (2 * _positive(sigma, "sigma") ** 2))


def laplace_rho(epsilon: float) -> float:
    """ε²/2: pure ε-DP (e.g. the discrete Laplace with scale Δ₁/ε) implies ε²/2-zCDP (BS16 Prop 1.4)."""
    return _float_up(_exact(epsilon, "epsilon") ** 2 / 2)


def distributed_gaussian_rho(
    l2_sensitivity: float, sigma2_each: RationalLike, n: int, *, dimension: int = 1
) -> float:
    """The zCDP of a sum of ``n`` independent N_Z(0, σ²)^d shares, σ² = ``sigma2_each``, d = ``dimension``.

    Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism for Federated Learning with Secure
    Aggregation" (ICML 2021), Theorem 1: with τ = 10·Σ_{k=1}^{n-1} exp(-2π²σ²·k/(k+1)) the sum gives
    ½ε²-zCDP for ε = min{ √(Δ²/(nσ²) + 2τd), Δ/(√n·σ) + τ√d }, Δ the l2 norm of the integer difference.
    The result is also capped by Δ²/(2σ²), which holds for any n because the other n - 1 shares are
    independent post-processing of one share (CKS20 Thm 4). Below σ² = 1/4 only that cap is used: we could
    not confirm from the paper's text whether Theorem 1 assumes σ ≥ 1/2, so we do not rely on it there.

    ``n`` must count only the shares actually in the released sum (survivors of dropouts) and, if some
    parties may collude with the observer, only the honest ones: colluders can subtract their own noise.
    """
    if n < 1 or dimension < 1:
        raise ValueError(f"n and dimension must be at least 1, got n={n}, dimension={dimension}")
    sigma2 = as_fraction(sigma2_each, "sigma2_each")
    if sigma2 == 0:
        raise ValueError("sigma2_each must be positive")
    delta2 = _exact(l2_sensitivity, "l2_sensitivity") ** 2
    single = _float_up(delta2 / (2 * sigma2))
    if n == 1 or sigma2 < Fraction(1, 4):
        return single
    s2 = float(sigma2)
    # The terms decrease with k, and the first is at most exp(-π²σ²): once that underflows, τ is 0.
    tau = 10.0 * math.fsum(math.exp(-2.0 * math.pi**2 * s2 * k / (k + 1)) for k in range(1, n))
    base = _float_up(delta2 / (n * sigma2))
    spread = min(base + 2.0 * tau * dimension, (math.sqrt(base) + tau * math.sqrt(dimension)) ** 2)
    return min(single, _float_up(Fraction(spread) / 2) * (1.0 + _SLACK))


def epsilon_for_simple(rho: float, delta: float) -> float:
    """Bun & Steinke 2016, Prop 1.3: ρ-zCDP implies (ρ + 2√(ρ·ln(1/δ)), δ)-DP."""
    _check_rho(rho)
    log_inv_delta = -math.log(_check_delta(delta))
    return (rho + 2.0 * math.sqrt(rho * log_inv_delta)) * (1.0 + _SLACK)


def epsilon_for(rho: float, delta: float) -> float:
    """The tight conversion of ρ-zCDP to (ε, δ)-DP: Canonne, Kamath, Steinke 2020, §2.3 (Prop 12, Cor 13).

    ε = inf over α > 1 of αρ + (ln(1/δ) + (α-1)·ln(1-1/α) - ln α)/(α-1), the same bound as
    δ = exp((α-1)(αρ-ε))/(α-1)·(1-1/α)^α solved for ε. Its derivative in α is ρ - ln(1/(αδ))/(α-1)², which
    changes sign once, in (1, 1 + √(ln(1/δ)/ρ)], so a bisection on it finds the minimiser. Any α gives a valid
    bound, so an inexact α only loosens the result. Never larger than ``epsilon_for_simple``.
    """
    simple = epsilon_for_simple(rho, delta)
    if rho == 0:
        return 0.0
    log_inv_delta = -math.log(delta)
    lo, hi = 1.0, 1.0 + math.sqrt(log_inv_delta / rho)
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if rho * (mid - 1.0) ** 2 - log_inv_delta + math.log(mid) > 0:
            hi = mid
        else:
            lo = mid
    alpha = hi  # > 1, where the derivative is >= 0
    correction = (alpha - 1.0) * math.log1p(-1.0 / alpha) - math.log(alpha)  # <= 0: the gain over BS16
    epsilon = alpha * rho + (log_inv_delta + correction) / (alpha - 1.0)
    magnitude = alpha * rho + (log_inv_delta - correction) / (alpha - 1.0)
    return min(simple, max(0.0, epsilon) + _SLACK * magnitude)


def rho_for(epsilon: float, delta: float) -> float:
    """The largest ρ (to float precision) with ``epsilon_for(ρ, delta) <= epsilon``; it never overshoots."""
    target = _nonnegative(epsilon, "epsilon")
    _check_delta(delta)
    lo, hi = 0.0, max(target, 1e-300)
    while epsilon_for(hi, delta) <= target:
        lo, hi = hi, hi * 2.0
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if epsilon_for(mid, delta) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def sigma_for(rho: float, l2_sensitivity: float) -> float:
    """The smallest float σ (up to one step) with ``gaussian_rho(l2_sensitivity, σ) <= rho``, for ρ > 0."""
    _positive(rho, "rho")
    _positive(l2_sensitivity, "l2_sensitivity")
    sigma = l2_sensitivity / math.sqrt(2.0 * rho)
    while gaussian_rho(l2_sensitivity, sigma) > rho:
        sigma = math.nextafter(sigma, math.inf)
    return sigma


@dataclass(frozen=True)
class Budget:
    """A contract's (ε, δ) budget; spending is tracked as a total ρ and checked through ``epsilon_for``."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _nonnegative(self.epsilon, "epsilon")
        _check_delta(self.delta)


def spend(budget: Budget, spent_rho: float, rho: float) -> float:
    """Return the new total ρ; raise BudgetExceededError if its ε at the budget's δ is above the budget's."""
    total = _float_up(_exact(spent_rho, "spent_rho") + _exact(rho, "rho"))
    epsilon_after = epsilon_for(total, budget.delta)
    if epsilon_after > budget.epsilon:
        raise BudgetExceededError(
            budget_epsilon=budget.epsilon,
            delta=budget.delta,
            spent_rho=spent_rho,
            requested_rho=rho,
            epsilon_after=epsilon_after,
        )
    return total


def remaining_epsilon(budget: Budget, spent_rho: float) -> float:
    """ε headroom: the budget's ε minus the ε already used at its δ (for display; ε does not add up)."""
    return max(0.0, budget.epsilon - epsilon_for(_nonnegative(spent_rho, "spent_rho"), budget.delta))


def remaining_rho(budget: Budget, spent_rho: float) -> float:
    """The largest further ρ that ``spend`` accepts after ``spent_rho`` (0 when the budget is used up)."""
    spent = _nonnegative(spent_rho, "spent_rho")
    left = max(0.0, rho_for(budget.epsilon, budget.delta) - spent)
    while (
        left > 0 and epsilon_for(_float_up(Fraction(spent) + Fraction(left)), budget.delta) > budget.epsilon
    ):
        left = math.nextafter(left, 0.0)
    return left


def std_of_discrete_gaussian(sigma: float) -> float:
    """The standard deviation of N_Z(0, σ²): summed from the pmf below σ = 8, else σ.

    It is at most σ (CKS20) and, from σ = 8 on, equal to σ to float precision: by Poisson summation the
    relative gap is about 8π²σ²·exp(-2π²σ²). For a sum of n shares use √n times it.
    """
    s = _nonnegative(sigma, "sigma")
    if s >= 8.0:
        return s
    _, second = _moments(s)
    return min(s, math.sqrt(second))  # the true value is below σ; do not let float rounding say otherwise


def expected_abs_error(sigma: float) -> float:
    """E|X| for X ~ N_Z(0, σ²): summed from the pmf below σ = 8, else σ√(2/π)·(1 - 1/(12σ²) - 1/(240σ⁴)).

    The large-σ form is the Euler–Maclaurin expansion of the pmf sum (relative error < 1e-8 at σ >= 8); it
    is slightly below the continuous Gaussian's σ√(2/π). For a sum of n shares use σ·√n.
    """
    s = _nonnegative(sigma, "sigma")
    if s >= 8.0:
        return s * math.sqrt(2.0 / math.pi) * (1.0 - 1.0 / (12.0 * s * s) - 1.0 / (240.0 * s**4))
    first, _ = _moments(s)
    return first


def _moments(sigma: float) -> tuple[float, float]:
    """E|X| and E[X²] of N_Z(0, σ²) for σ < 8, over |x| <= 40σ + 2 (the rest weighs < exp(-800) ≈ 0)."""
    if sigma == 0:
        return 0.0, 0.0
    support = range(1, math.ceil(40.0 * sigma) + 3)
    weights = [math.exp(-(x * x) / (2.0 * sigma * sigma)) for x in support]
    total = 1.0 + 2.0 * math.fsum(weights)
    first = 2.0 * math.fsum(x * w for x, w in zip(support, weights, strict=True)) / total
    second = 2.0 * math.fsum(x * x * w for x, w in zip(support, weights, strict=True)) / total
    return first, second


def _float_up(value: Fraction) -> float:
    """The smallest float >= value."""
    rounded = float(value)
    return math.nextafter(rounded, math.inf) if Fraction(rounded) < value else rounded


def _exact(value: float, name: str) -> Fraction:
    _nonnegative(value, name)
    return as_fraction(value, name)  # exact even for an int above 2^53


def _nonnegative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _positive(value: float, name: str) -> Fraction:
    exact = _exact(value, name)
    if exact == 0:
        raise ValueError(f"{name} must be positive")
    return exact


def _check_rho(rho: float) -> float:
    return _nonnegative(rho, "rho")


def _check_delta(delta: float) -> float:
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    return float(delta)
