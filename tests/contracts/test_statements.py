"""Signed revocations and terminations: who may make one, and what a forged or replayed one runs into."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from contracts.agreement import Contract
from contracts.exceptions import SignatureError, SignatureErrorCode
from contracts.signatures import canonical, raw_public_key, sign_payload
from contracts.signing import sign_statement, verify_contract, verify_statement
from contracts.statements import ContractStatement, SignedStatement, StatementAction, statement_payload
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
)

REVOKE = StatementAction.REVOKE
CONTRACT = finalize(draft())
OTHER = finalize(draft(purpose="energy_benchmarking"))


def revocation(party: str, contract: Contract = CONTRACT) -> SignedStatement:
    return sign_statement(contract, REVOKE, party, PRIVATE_KEYS[party], NOW)


def refused(signed: SignedStatement, contract: Contract = CONTRACT) -> SignatureErrorCode:
    with pytest.raises(SignatureError) as caught:
        verify_statement(contract, signed, PUBLIC_KEYS[OPERATOR])
    return caught.value.signature_code


@pytest.mark.parametrize("party", [BUYER, *PROVIDERS, OPERATOR])
def test_every_party_and_the_operator_make_a_statement_a_node_can_verify(party: str) -> None:
    signed = SignedStatement.model_validate_json(revocation(party).model_dump_json())
    verify_statement(
        CONTRACT, signed, PUBLIC_KEYS[OPERATOR]
    )  # the buyer's key vouched by the countersignature
    verify_statement(CONTRACT, signed, PUBLIC_KEYS[OPERATOR], {party: PUBLIC_KEYS[party]})


def test_the_payload_is_canonical_json_with_its_own_type() -> None:
    statement = revocation(BUYER).statement
    payload = statement_payload(statement)
    assert payload == canonical(
        {"type": "dataspace.contract.statement.v1", **statement.model_dump(mode="json")}
    )


def test_a_statement_is_not_covered_by_the_terms_signatures() -> None:
    verify_contract(CONTRACT.with_statement(revocation(BUYER)), PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])


def test_a_bad_signature_is_refused() -> None:
    signed = revocation(BUYER)
    later = signed.statement.model_copy(update={"issued_at": NOW + timedelta(seconds=1)})
    assert refused(signed.model_copy(update={"statement": later})) is SignatureErrorCode.BAD_SIGNATURE


def test_a_statement_about_another_contract_is_refused() -> None:
    assert refused(revocation(BUYER, OTHER)) is SignatureErrorCode.WRONG_CONTRACT
    other_id = revocation(BUYER).statement.model_copy(update={"contract_id": "contract-2"})
    assert (
        refused(revocation(BUYER).model_copy(update={"statement": other_id}))
        is SignatureErrorCode.WRONG_CONTRACT
    )


def test_a_stranger_cannot_make_or_forge_a_statement() -> None:
    with pytest.raises(SignatureError):
        sign_statement(CONTRACT, REVOKE, STRANGER, PRIVATE_KEYS[STRANGER], NOW)
    statement = revocation(BUYER).statement.model_copy(update={"party": STRANGER})
    forged = SignedStatement(
        statement=statement,
        public_key=base64.b64encode(raw_public_key(PUBLIC_KEYS[STRANGER])).decode(),
        signature=sign_payload(STRANGER, PRIVATE_KEYS[STRANGER], statement_payload(statement)),
    )
    assert refused(forged) is SignatureErrorCode.NOT_A_PARTY


def test_a_key_other_than_the_countersigned_one_is_refused() -> None:
    """A rogue coordinator signs the buyer's revocation with a key of its own making."""
    statement = ContractStatement.model_validate(revocation(BUYER).statement.model_dump())
    forged = SignedStatement(
        statement=statement,
        public_key=base64.b64encode(raw_public_key(PUBLIC_KEYS[STRANGER])).decode(),
        signature=sign_payload(BUYER, PRIVATE_KEYS[STRANGER], statement_payload(statement)),
    )
    assert refused(forged) is SignatureErrorCode.KEY_MISMATCH


def test_a_carried_key_needs_the_operator_countersignature() -> None:
    unsigned = CONTRACT.model_copy(update={"countersignature": None})
    assert refused(revocation(BUYER, unsigned), unsigned) is SignatureErrorCode.MISSING_SIGNATURE
