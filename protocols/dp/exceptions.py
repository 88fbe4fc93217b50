"""Errors of the differential-privacy package; the edges map them to HTTP or gRPC statuses.

ProtocolError                     (protocols.exceptions)
└── DPError                       base of every error raised under ``protocols.dp``
    └── BudgetExceededError       a charge would take a budget's (ε, δ) past its ε

Bad arguments (a negative variance, δ outside (0, 1), ...) are programming errors and raise ValueError.
"""

from __future__ import annotations

from protocols.exceptions import ProtocolError


class DPError(ProtocolError):
    """Base class of every error raised under ``protocols.dp``."""


class BudgetExceededError(DPError):
    """Charging ``requested_rho`` on top of ``spent_rho`` would give an ε above the budget's."""

    def __init__(
        self,
        *,
        budget_epsilon: float,
        delta: float,
        spent_rho: float,
        requested_rho: float,
        epsilon_after: float,
    ) -> None:
        super().__init__(
            f"charging ρ={requested_rho:.6g} on top of ρ={spent_rho:.6g} gives ε={epsilon_after:.6g} at "
            f"δ={delta:.3g}, above the budget's ε={budget_epsilon:.6g}"
        )
        self.budget_epsilon = budget_epsilon
        self.delta = delta
        self.spent_rho = spent_rho
        self.requested_rho = requested_rho
        self.epsilon_after = epsilon_after
