"""Whether a job may run under a contract: its state, its signatures and its policy, with every reason.

``evaluate`` is the coordinator's decision; ``node_check`` adds what a factory's node must check for itself
before it computes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from contracts.agreement import Contract
from contracts.exceptions import SignatureError
from contracts.extracts.exceptions import ExtractSpecError
from contracts.extracts.grant import check_extract_spec
from contracts.jobspec import JobKind, JobSpec
from contracts.negotiation import Stage
from contracts.policy import (
    Decision,
    JobRequest,
    NumberConstraint,
    Reason,
    Usage,
    evaluate_policy,
    make_reason,
)
from contracts.privacy import ReleaseRules
from contracts.signatures import PublicKeyLike
from contracts.signing import verify_signature
from contracts.vocabulary import ConstraintName


def evaluate(contract: Contract, job_request: JobRequest, usage_so_far: Usage, now: datetime) -> Decision:
    """Decide whether ``job_request`` may run under ``contract``; every violated constraint is listed."""
    reasons = _state_reasons(contract)
    reasons += evaluate_policy(contract.terms.policy, job_request, usage_so_far, now)
    reasons += _extract_reasons(contract, job_request.spec)
    return Decision.from_reasons(reasons)


def node_check(
    contract: Contract,
    own_participant_id: str,
    job_request: JobRequest,
    now: datetime,
    revoked: bool,
    *,
    usage: Usage | None = None,
    keys: Mapping[str, PublicKeyLike] | None = None,
) -> Decision:
    """What a node checks before computing: membership, signatures, revocation, validity, the terms.

    With ``keys`` the node's own and the buyer's signatures are verified, not only looked for. Budgets are
    checked only when the node passes the ``usage`` it knows of; the coordinator enforces them in any case.
    """
    reasons: list[Reason] = []
    if own_participant_id not in contract.provider_ids:
        message = f"{own_participant_id} is not a provider of this contract"
        reasons.append(make_reason(ConstraintName.PARTICIPANT, message, participant=own_participant_id))
    for party in dict.fromkeys((own_participant_id, contract.buyer)):
        reasons += _signature_reasons(contract, party, keys)
    if revoked and contract.state is not Stage.REVOKED:
        reasons.append(
            make_reason(ConstraintName.CONTRACT_STATE, "the contract was revoked", state="REVOKED")
        )
    reasons += _state_reasons(contract)
    reasons += evaluate_policy(contract.terms.policy, job_request, usage, now)
    reasons += _extract_reasons(contract, job_request.spec)
    return Decision.from_reasons(reasons)


def _state_reasons(contract: Contract) -> list[Reason]:
    state = contract.state
    if state is Stage.FINALIZED:
        return []
    message = (
        "the contract was revoked" if state is Stage.REVOKED else f"the contract is {state}, not FINALIZED"
    )
    return [make_reason(ConstraintName.CONTRACT_STATE, message, state=str(state))]


def _extract_reasons(contract: Contract, spec: JobSpec) -> list[Reason]:
    """An extract's columns against the contract's extract terms (the policy checks the kind and fields)."""
    if spec.kind is not JobKind.EXTRACT:
        return []
    try:
        check_extract_spec(spec, contract.terms.extract)
    except ExtractSpecError as exc:
        return [make_reason("extract", exc.message, code=exc.code, **exc.details)]
    return []


def _signature_reasons(
    contract: Contract, party: str, keys: Mapping[str, PublicKeyLike] | None
) -> list[Reason]:
    if contract.signature_of(party) is None:
        return [make_reason(ConstraintName.SIGNATURE, f"{party} has not signed the terms", party=party)]
    if keys is None:
        return []
    if party not in keys:
        return [
            make_reason(ConstraintName.SIGNATURE, f"no key to verify the signature of {party}", party=party)
        ]
    try:
        verify_signature(contract, party, keys[party])
    except SignatureError as exc:
        return [make_reason(ConstraintName.SIGNATURE, exc.message, **exc.details)]
    return []


def number_limit(contract: Contract, name: ConstraintName) -> float | None:
    """The strictest limit the contract sets on ``name`` (query count, epsilon budget, min cohort), if any."""
    found = [
        constraint
        for permission in contract.terms.policy.permissions
        for constraint in permission.constraints
        if isinstance(constraint, NumberConstraint) and constraint.left_operand is name
    ]
    if not found:
        return None
    values = [c.right_operand for c in found]
    return min(values) if found[0].operator == "lteq" else max(values)


def release_rules(contract: Contract, spec: JobSpec) -> ReleaseRules:
    """The cell minimums a result of ``spec`` is released under: the contract's, or the job's if stricter."""
    cohort = number_limit(contract, ConstraintName.MIN_COHORT) or 0
    privacy = contract.terms.privacy
    return ReleaseRules(
        min_cohort=max(int(cohort), spec.min_participants),
        min_cell_rows=privacy.min_cell_rows,
        min_rows_per_factory=privacy.min_rows_per_factory,
    )
