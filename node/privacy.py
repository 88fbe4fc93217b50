"""A node's own output-privacy duties for one job: charge its ledger, gate thin cells, add its noise share.

The node does all three from the signed contract in the ticket, whatever the coordinator claims: a
coordinator that overspends a budget, or would keep the noise out of a sum, is refused or gets noise anyway.
"""

from __future__ import annotations

from contracts.agreement import Contract
from contracts.enforcement import number_limit
from contracts.jobspec import JobSpec, VectorLayout
from contracts.noise import NoisePlan, plan_noise
from contracts.privacy import NoiseMode
from contracts.tickets import JobTicket
from contracts.vocabulary import ConstraintName
from node.budget import BudgetLedger, Limits
from node.exceptions import JobRefused
from protocols.dp.samplers import RandomSource
from protocols.fixedpoint import RingArray


def plan_and_charge(
    ledger: BudgetLedger, ticket: JobTicket, spec: JobSpec, contract: Contract, layout: VectorLayout
) -> NoisePlan | None:
    """The job's noise, charged to the contract in this node's ledger; refused past the contract's limits."""
    privacy = contract.terms.privacy
    try:
        plan = plan_noise(spec, layout, privacy, ticket.threshold)
    except ValueError as exc:
        raise JobRefused("epsilon_budget", str(exc)) from exc
    limits = Limits(
        max_jobs=number_limit(contract, ConstraintName.QUERY_COUNT),
        epsilon_budget=number_limit(contract, ConstraintName.EPSILON_BUDGET),
        delta=privacy.delta,
    )
    ledger.charge(contract.contract_id, ticket.job_id, plan.rho if plan is not None else 0.0, limits)
    return plan


def add_noise_share(
    encoded: RingArray, plan: NoisePlan | None, layout: VectorLayout, rng: RandomSource
) -> RingArray:
    """In distributed mode, this node's share of the noise goes inside its masked vector."""
    if plan is None or plan.mode is not NoiseMode.DISTRIBUTED:
        return encoded
    return encoded + plan.sample(layout, rng)  # uint64 arithmetic wraps mod 2^64, as the ring does
