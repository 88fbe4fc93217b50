"""A node acts on signed statements only: the coordinator plays the attacker who hides or forges a revocation.

Tickets are checked in-process against a contract every party really signed, with this node one of its
providers and the operator key the node pinned at enrollment.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from datetime import timedelta
from typing import Any

import pytest

from contracts.agreement import Contract, advance
from contracts.jobspec import JobSpec
from contracts.negotiation import Event
from contracts.signatures import raw_public_key, sign_payload
from contracts.signing import sign_statement
from contracts.statements import SignedStatement, StatementAction, statement_payload
from contracts.tickets import JobTicket
from node.contract_book import ContractBook
from node.exceptions import JobRefused
from node.job_runner import NodeContext, check_contract
from tests.contracts.test_offers import (
    BUYER,
    OPERATOR,
    PRIVATE_KEYS,
    PROVIDERS,
    PUBLIC_KEYS,
    STRANGER,
    draft,
    finalize,
)
from tests.contracts.test_offers import NOW as SIGNED_AT

from .conftest import NOW, ContextFactory

ME = PROVIDERS[0]
REVOKE = StatementAction.REVOKE
SPEC = JobSpec.model_validate({"kind": "mean", "dataset": "plant", "field": "temp"})


def signed_contract(contract_id: str) -> Contract:
    return finalize(draft().model_copy(update={"contract_id": contract_id}))


CONTRACT = signed_contract("ctr_1")
OTHER = signed_contract("ctr_2")


@pytest.fixture
def ctx(make_context: ContextFactory) -> NodeContext:
    """The node of provider ``ME``, which pinned the operator's key."""
    context = make_context(())
    identity = dataclasses.replace(
        context.identity, participant_id=ME, signing_key=PRIVATE_KEYS[ME], operator_key=PUBLIC_KEYS[OPERATOR]
    )
    return dataclasses.replace(context, identity=identity)


def ticket(contract: Contract) -> JobTicket:
    return JobTicket(
        job_id="job_1", run_id="run_1", buyer=BUYER, spec=SPEC.model_dump(mode="json"),
        contract=contract.model_dump(mode="json"), participants=PROVIDERS, threshold=2, ring_bits=64,
        scale_bits=16, vector_length=3, session_id=base64.b64encode(b"s" * 16).decode(),
        nonce=secrets.token_urlsafe(16), issued_at=NOW, expires_at=NOW + timedelta(minutes=10),
    )  # fmt: skip


def revoked(contract: Contract, party: str = BUYER) -> Contract:
    """What the coordinator forwards once ``party`` revoked: REVOKED, carrying the signed statement."""
    signed = sign_statement(contract, REVOKE, party, PRIVATE_KEYS[party], SIGNED_AT)
    return advance(contract, Event.REVOKE, party, SIGNED_AT).with_statement(signed)


def carrying(contract: Contract, signed: SignedStatement) -> Contract:
    """A FINALIZED contract carrying ``signed``: a coordinator claiming a revocation that is not one."""
    return contract.with_statement(signed)


def events(ctx: NodeContext, event: str) -> list[dict[str, Any]]:
    return [e for e in ctx.journal.entries() if e["event"] == event]


def refusal(ctx: NodeContext, contract: Contract) -> JobRefused:
    with pytest.raises(JobRefused) as caught:
        check_contract(ctx, ticket(contract), SPEC)
    return caught.value


def test_a_valid_contract_passes(ctx: NodeContext) -> None:
    assert check_contract(ctx, ticket(CONTRACT), SPEC).contract_id == "ctr_1"


@pytest.mark.parametrize("party", [BUYER, PROVIDERS[1], ME, OPERATOR])
def test_a_contract_rewritten_from_revoked_to_finalized_is_refused_by_a_node_that_saw_it(
    ctx: NodeContext, party: str
) -> None:
    assert refusal(ctx, revoked(CONTRACT, party)).code == "contract_state"
    assert [e["party"] for e in events(ctx, "contract_statement_kept")] == [party]
    # The coordinator now sends the contract as it was before, FINALIZED and without the statement.
    assert refusal(ctx, CONTRACT).code == "contract_state"
    # The book still holds the statement after a restart of the node.
    assert ContractBook(ctx.contracts.directory).ended("ctr_1")


def test_a_revocation_seen_in_a_contract_notice_is_kept_too(ctx: NodeContext) -> None:
    from node.job_runner import note_statements

    note_statements(ctx, revoked(CONTRACT))
    assert refusal(ctx, CONTRACT).code == "contract_state"


def test_a_revocation_with_a_bad_signature_does_not_stop_a_valid_contract(ctx: NodeContext) -> None:
    signed = sign_statement(CONTRACT, REVOKE, BUYER, PRIVATE_KEYS[BUYER], SIGNED_AT)
    later = signed.statement.model_copy(update={"issued_at": SIGNED_AT + timedelta(seconds=1)})
    check_contract(ctx, ticket(carrying(CONTRACT, signed.model_copy(update={"statement": later}))), SPEC)
    [entry] = events(ctx, "contract_statement_refused")
    assert entry["party"] == BUYER and "does not verify" in entry["reason"]
    assert not ctx.contracts.ended("ctr_1")


def test_a_revocation_of_another_contract_is_not_replayed_onto_this_one(ctx: NodeContext) -> None:
    other = sign_statement(OTHER, REVOKE, BUYER, PRIVATE_KEYS[BUYER], SIGNED_AT)
    check_contract(ctx, ticket(carrying(CONTRACT, other)), SPEC)
    [entry] = events(ctx, "contract_statement_refused")
    assert entry["about"] == "ctr_2"
    assert not ctx.contracts.ended("ctr_1") and not ctx.contracts.ended("ctr_2")


def test_a_revocation_by_a_non_party_is_ignored(ctx: NodeContext) -> None:
    statement = sign_statement(CONTRACT, REVOKE, BUYER, PRIVATE_KEYS[BUYER], SIGNED_AT).statement
    statement = statement.model_copy(update={"party": STRANGER})
    forged = SignedStatement(
        statement=statement,
        public_key=base64.b64encode(raw_public_key(PUBLIC_KEYS[STRANGER])).decode(),
        signature=sign_payload(STRANGER, PRIVATE_KEYS[STRANGER], statement_payload(statement)),
    )
    check_contract(ctx, ticket(carrying(CONTRACT, forged)), SPEC)
    [entry] = events(ctx, "contract_statement_refused")
    assert entry["party"] == STRANGER
    assert not ctx.contracts.ended("ctr_1")


def test_a_buyer_revocation_under_a_key_of_the_coordinators_making_is_ignored(ctx: NodeContext) -> None:
    statement = sign_statement(CONTRACT, REVOKE, BUYER, PRIVATE_KEYS[BUYER], SIGNED_AT).statement
    forged = SignedStatement(
        statement=statement,
        public_key=base64.b64encode(raw_public_key(PUBLIC_KEYS[OPERATOR])).decode(),
        signature=sign_payload(BUYER, PRIVATE_KEYS[OPERATOR], statement_payload(statement)),
    )
    check_contract(ctx, ticket(carrying(CONTRACT, forged)), SPEC)
    assert len(events(ctx, "contract_statement_refused")) == 1
