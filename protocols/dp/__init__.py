"""Differential privacy over the integers: exact discrete Laplace/Gaussian samplers and zCDP accounting."""

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
from protocols.dp.exceptions import BudgetExceededError, DPError
from protocols.dp.samplers import (
    RandomSource,
    bernoulli_exp,
    discrete_gaussian,
    discrete_gaussian_vector,
    discrete_laplace,
    discrete_laplace_vector,
    system_random,
)

__all__ = [
    "Budget",
    "BudgetExceededError",
    "DPError",
    "RandomSource",
    "bernoulli_exp",
    "discrete_gaussian",
    "discrete_gaussian_vector",
    "discrete_laplace",
    "discrete_laplace_vector",
    "distributed_gaussian_rho",
    "epsilon_for",
    "epsilon_for_simple",
    "expected_abs_error",
    "gaussian_rho",
    "laplace_rho",
    "remaining_epsilon",
    "remaining_rho",
    "rho_for",
    "sigma_for",
    "spend",
    "std_of_discrete_gaussian",
    "system_random",
]
