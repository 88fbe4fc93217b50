"""Policy evaluation: each constraint driven to a violation, all violations reported together, node checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.agreement import Contract, advance
from contracts.enforcement import evaluate, node_check
from contracts.jobspec import JobSpec
from contracts.negotiation import Event
from contracts.policy import (
    Decision,
    JobRequest,
    NumberConstraint,
    Permission,
    Policy,
    SetConstraint,
    Usage,
    check,
    evaluate_policy,
)
from contracts.signing import sign_terms
from contracts.vocabulary import ConstraintName
from protocols.dp.accounting import rho_for
from tests.contracts.test_offers import (
    BUYER,
    NOW,
    OPERATOR,
    PRIVATE_KEYS,
    PROVIDERS,
    PUBLIC_KEYS,
    STRANGER,
    draft,
    finalize,
    make_offer,
    sign_all,
)

OFFERS = [
    make_offer(0),
    make_offer(1, epsilon_budget=2.0),
    make_offer(2, excluded_fields=["recipe", "operator_name", "shift", "throughput"], max_jobs=8),
]
CONTRACT = finalize(draft(OFFERS))
# The whole epsilon budget of 2.0 spent, in zCDP's rho at the default delta: any further job breaks it.
BUDGET_RHO = rho_for(2.0, 1e-6)


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "mean",
        "dataset": "plant",
        "field": "temp",
        "group_by": "line",
        "filters": [{"field": "ts", "op": "ge", "value": "2025-01-01T00:00:00"}],
    }
    return base | changes


def job(spec_changes: dict[str, Any] | None = None, **changes: Any) -> JobRequest:
    params: dict[str, Any] = {
        "spec": JobSpec.model_validate(spec(**(spec_changes or {}))),
        "buyer": BUYER,
        "purpose": "research",
        "region": "CN",
        "factories": 3,
        "epsilon": 0.5,
    }
    return JobRequest.model_validate(params | changes)


def names(decision: Decision) -> set[str]:
    assert decision.allowed is (not decision.reasons)
    return {reason.constraint for reason in decision.reasons}


def test_a_conforming_request_is_allowed() -> None:
    decision = evaluate(CONTRACT, job(), Usage(jobs_run=7, epsilon_spent=1.5), NOW)
    assert decision == Decision(allowed=True, reasons=())


NOTE_FILTER = {"field": "note", "op": "eq", "value": "x"}
CASES: list[Any] = [
    ("buyer", job(buyer=STRANGER), Usage(), NOW, {"buyer"}),
    ("purpose", job(purpose="energy_benchmarking"), Usage(), NOW, {"purpose"}),
    ("dataset", job({"dataset": "mill"}), Usage(), NOW, {"dataset"}),
    ("job_kind", job({"kind": "variance"}), Usage(), NOW, {"job_kind"}),
    ("fields", job({"field": "throughput"}), Usage(), NOW, {"fields"}),
    ("filter_fields", job({"filters": [NOTE_FILTER]}), Usage(), NOW, {"filter_fields"}),
    ("group_by", job({"group_by": "shift"}), Usage(), NOW, {"group_by"}),
    ("not_yet_valid", job(), Usage(), NOW - timedelta(days=11), {"validity_window"}),
    ("expired", job(), Usage(), NOW + timedelta(days=30), {"validity_window"}),
    ("query_count", job(), Usage(jobs_run=8), NOW, {"query_count"}),
    ("epsilon_budget", job(epsilon=0.6), Usage(rho_spent=BUDGET_RHO), NOW, {"epsilon_budget"}),
    ("epsilon_missing", job(epsilon=None), Usage(), NOW, {"epsilon_budget"}),
    ("min_cohort", job(factories=2), Usage(), NOW, {"min_cohort"}),
    ("region", job(region="US"), Usage(), NOW, {"region"}),
    ("cross_border", job({"field": "energy"}, region="DE"), Usage(), NOW, {"cross_border"}),
    ("grade", job({"field": "recipe"}), Usage(), NOW, {"grade", "fields"}),
    (
        "personal_information",
        job({"filters": [{"field": "operator_name", "op": "eq", "value": "王伟"}]}),
        Usage(),
        NOW,
        {"personal_information", "filter_fields"},
    ),
]


@pytest.mark.parametrize(("case", "request_", "usage", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_constraint_is_enforced(
    case: str, request_: JobRequest, usage: Usage, now: datetime, expected: set[str]
) -> None:
    decision = evaluate(CONTRACT, request_, usage, now)
    assert decision.allowed is False
    assert names(decision) == expected
    assert all(reason.message for reason in decision.reasons)


def test_reasons_carry_details_for_machines() -> None:
    decision = evaluate(CONTRACT, job({"field": "throughput"}, region="DE"), Usage(jobs_run=8), NOW)
    by_name = {r.constraint: r for r in decision.reasons}
    assert by_name["fields"].details["offending"] == ["throughput"]
    assert by_name["query_count"].details == {"value": 9.0, "lteq": 8.0}
    expired = evaluate(CONTRACT, job(), Usage(), NOW + timedelta(days=40)).reasons[0]
    assert "expired" in expired.message and expired.details["lt"] == (NOW + timedelta(days=30)).isoformat()


def test_a_domestic_buyer_may_use_important_fields() -> None:
    assert evaluate(CONTRACT, job({"field": "energy"}, region="CN"), Usage(), NOW).allowed


def test_the_cohort_counts_the_jobs_own_minimum_as_well() -> None:
    contract = finalize(draft([make_offer(0, min_cohort=4), make_offer(1), make_offer(2)]))
    assert names(evaluate(contract, job(factories=10), Usage(), NOW)) == {"min_cohort"}
    assert evaluate(contract, job({"min_participants": 4}, factories=10), Usage(), NOW).allowed


def test_without_a_budget_in_the_offers_no_epsilon_is_needed() -> None:
    contract = finalize(draft([make_offer(0), make_offer(1), make_offer(2)]))
    assert evaluate(contract, job(epsilon=None), Usage(jobs_run=9, epsilon_spent=100), NOW).allowed


def test_contract_state_is_checked() -> None:
    unfinished = sign_all(draft(OFFERS))
    decision = evaluate(unfinished, job(), Usage(), NOW)
    assert names(decision) == {"contract_state"}
    assert "VERIFIED" in decision.reasons[0].message
    revoked = advance(CONTRACT, Event.REVOKE, PROVIDERS[0], NOW)
    decision = evaluate(revoked, job(), Usage(), NOW)
    assert names(decision) == {"contract_state"}
    assert "revoked" in decision.reasons[0].message


def test_all_violations_are_reported_together() -> None:
    request = job(
        {"kind": "variance", "group_by": "shift", "filters": [NOTE_FILTER]},
        purpose="research_x",
        region="US",
        factories=2,
    )
    usage = Usage(jobs_run=8, rho_spent=BUDGET_RHO)
    decision = evaluate(CONTRACT, request, usage, NOW + timedelta(days=31))
    assert names(decision) == {
        "purpose",
        "job_kind",
        "group_by",
        "filter_fields",
        "region",
        "min_cohort",
        "query_count",
        "epsilon_budget",
        "validity_window",
    }


Change = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None]
BREAKS: dict[str, tuple[Change, set[str]]] = {
    "buyer": (lambda p, s, u: p.update(buyer=STRANGER), {"buyer"}),
    "purpose": (lambda p, s, u: p.update(purpose="research_x"), {"purpose"}),
    "kind": (lambda p, s, u: s.update(kind="variance"), {"job_kind"}),
    "field": (lambda p, s, u: s.update(field="throughput"), {"fields"}),
    "note": (lambda p, s, u: s["filters"].append(NOTE_FILTER), {"filter_fields"}),
    "recipe": (
        lambda p, s, u: s["filters"].append({"field": "recipe", "op": "gt", "value": 0.5}),
        {"grade", "filter_fields"},
    ),
    "name": (
        lambda p, s, u: s["filters"].append({"field": "operator_name", "op": "eq", "value": "x"}),
        {"personal_information", "filter_fields"},
    ),
    "group_by": (lambda p, s, u: s.update(group_by="shift"), {"group_by"}),
    "region": (lambda p, s, u: p.update(region="JP"), {"region"}),
    "cohort": (lambda p, s, u: p.update(factories=1), {"min_cohort"}),
    "jobs": (lambda p, s, u: u.update(jobs_run=12), {"query_count"}),
    "epsilon": (lambda p, s, u: u.update(rho_spent=BUDGET_RHO), {"epsilon_budget"}),
}


@settings(max_examples=80, deadline=None)
@given(breaks=st.sets(st.sampled_from(sorted(BREAKS))), late=st.booleans())
def test_the_decision_lists_exactly_the_union_of_the_broken_constraints(breaks: set[str], late: bool) -> None:
    params: dict[str, Any] = {
        "buyer": BUYER,
        "purpose": "research",
        "region": "CN",
        "factories": 3,
        "epsilon": 0.5,
    }
    spec_dict, usage = spec(), {"jobs_run": 0, "epsilon_spent": 0.0}
    spec_dict["filters"] = list(spec_dict["filters"])
    expected: set[str] = {"validity_window"} if late else set()
    for name in breaks:
        change, broken = BREAKS[name]
        change(params, spec_dict, usage)
        expected |= broken
    request = JobRequest(spec=JobSpec.model_validate(spec_dict), **params)
    now = NOW + timedelta(days=60) if late else NOW
    assert names(evaluate(CONTRACT, request, Usage(**usage), now)) == expected


def test_limits_cannot_be_nan() -> None:
    with pytest.raises(ValidationError):
        NumberConstraint(left_operand=ConstraintName.QUERY_COUNT, operator="lteq", right_operand=float("nan"))


def test_unknown_facts_fail_closed_and_an_empty_policy_permits_nothing() -> None:
    odd = SetConstraint(left_operand=ConstraintName.GRADE, operator="isAnyOf", right_operand=("general",))
    reason = check(odd, {})
    assert reason is not None and reason.constraint == "grade"
    policy = Policy(assigners=(), assignee=BUYER, permissions=(), prohibitions=(), duties=())
    assert [r.constraint for r in evaluate_policy(policy, job(), Usage(), NOW)] == ["permission"]
    narrow = Permission(target="plant", constraints=(odd,))
    wide = Permission(target="plant", constraints=())
    policy = policy.model_copy(update={"permissions": (narrow, wide)})
    assert evaluate_policy(policy, job(), Usage(), NOW) == []


# ------------------------------------------------------------------------------------------- node side


def test_node_check_allows_a_job_within_a_signed_live_contract() -> None:
    assert node_check(CONTRACT, PROVIDERS[1], job(), NOW, revoked=False, keys=PUBLIC_KEYS).allowed


def without_signature(contract: Contract, party: str) -> Contract:
    return contract.model_copy(
        update={"signatures": tuple(s for s in contract.signatures if s.party != party)}
    )


@pytest.mark.parametrize(
    ("contract", "participant", "revoked", "now", "expected"),
    [
        (without_signature(CONTRACT, PROVIDERS[1]), PROVIDERS[1], False, NOW, {"signature"}),
        (without_signature(CONTRACT, BUYER), PROVIDERS[1], False, NOW, {"signature"}),
        (CONTRACT, PROVIDERS[1], True, NOW, {"contract_state"}),
        (CONTRACT, PROVIDERS[1], False, NOW + timedelta(days=30), {"validity_window"}),
        (CONTRACT, STRANGER, False, NOW, {"participant", "signature"}),
    ],
    ids=["own-signature", "buyer-signature", "revoked", "expired", "not-a-provider"],
)
def test_node_check_refusals(
    contract: Contract, participant: str, revoked: bool, now: datetime, expected: set[str]
) -> None:
    assert names(node_check(contract, participant, job(), now, revoked)) == expected


def test_node_check_verifies_signatures_when_given_keys() -> None:
    forged = sign_terms(CONTRACT, BUYER, PRIVATE_KEYS[STRANGER])
    assert node_check(forged, PROVIDERS[0], job(), NOW, revoked=False).allowed  # presence only
    decision = node_check(forged, PROVIDERS[0], job(), NOW, revoked=False, keys=PUBLIC_KEYS)
    assert names(decision) == {"signature"}
    assert decision.reasons[0].details["party"] == BUYER
    unknown = {p: k for p, k in PUBLIC_KEYS.items() if p != BUYER}
    assert names(node_check(CONTRACT, PROVIDERS[0], job(), NOW, revoked=False, keys=unknown)) == {"signature"}


def test_node_check_enforces_budgets_only_with_usage() -> None:
    request = job(epsilon=None)
    assert node_check(CONTRACT, PROVIDERS[0], request, NOW, revoked=False).allowed
    decision = node_check(CONTRACT, PROVIDERS[0], request, NOW, revoked=False, usage=Usage(jobs_run=8))
    assert names(decision) == {"query_count", "epsilon_budget"}


def test_node_check_reports_revocation_once() -> None:
    revoked = advance(CONTRACT, Event.REVOKE, OPERATOR, NOW)
    assert [r.constraint for r in node_check(revoked, PROVIDERS[0], job(), NOW, revoked=True).reasons] == [
        "contract_state"
    ]
