"""Contract signatures: parties sign the RFC 8785 JSON of the terms with Ed25519; the operator countersigns.

The countersignature covers the terms digest and the parties' signatures. Negotiation state, signatures and
statements are never signed with the terms, so a contract can become FINALIZED or REVOKED without
invalidating them; a revocation or termination is a statement its party signs on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.agreement import Contract
from contracts.exceptions import SignatureError, SignatureErrorCode
from contracts.signatures import (
    COUNTERSIGNATURE_TYPE,
    TERMS_TYPE,
    PublicKeyLike,
    canonical,
    raw_public_key,
    sign_payload,
    verify_payload,
)
from contracts.statements import ContractStatement, SignedStatement, StatementAction, statement_payload


def terms_payload(contract: Contract) -> bytes:
    """The exact bytes each party signs: contract id, parties, declared purpose and region, terms."""
    return canonical(
        {
            "type": TERMS_TYPE,
            "contract_id": contract.contract_id,
            "buyer": contract.buyer,
            "providers": [part.model_dump(mode="json") for part in contract.providers],
            "operator": contract.operator,
            "purpose": contract.purpose,
            "region": contract.region,
            "terms": contract.terms.model_dump(mode="json"),
        }
    )


def terms_digest(contract: Contract) -> str:
    return hashlib.sha256(terms_payload(contract)).hexdigest()


def countersignature_payload(contract: Contract) -> bytes:
    """The bytes the operator signs: the terms digest and every party signature, ordered by party."""
    signatures = sorted(contract.signatures, key=lambda s: s.party)
    return canonical(
        {
            "type": COUNTERSIGNATURE_TYPE,
            "contract_id": contract.contract_id,
            "terms_digest": terms_digest(contract),
            "signatures": [s.model_dump(mode="json") for s in signatures],
        }
    )


def sign_terms(contract: Contract, party: str, key: Ed25519PrivateKey) -> Contract:
    """Return ``contract`` with ``party``'s signature over the terms (replacing an earlier one)."""
    if party not in contract.parties:
        raise SignatureError(SignatureErrorCode.NOT_A_PARTY, party, f"{party} is not a party to the contract")
    signature = sign_payload(party, key, terms_payload(contract))
    others = tuple(s for s in contract.signatures if s.party != party)
    return contract.model_copy(update={"signatures": (*others, signature)})


def countersign(
    contract: Contract, operator_key: Ed25519PrivateKey, keys: Mapping[str, PublicKeyLike]
) -> Contract:
    """Verify every party's signature with ``keys``, then add the operator's countersignature."""
    verify_signatures(contract, keys)
    signature = sign_payload(contract.operator, operator_key, countersignature_payload(contract))
    return contract.model_copy(update={"countersignature": signature})


def verify_signature(contract: Contract, party: str, key: PublicKeyLike) -> None:
    """Raise ``SignatureError`` unless ``party`` has validly signed the terms with ``key``."""
    signature = contract.signature_of(party)
    if signature is None:
        raise SignatureError(SignatureErrorCode.MISSING_SIGNATURE, party, f"{party} has not signed the terms")
    verify_payload(signature, party, key, terms_payload(contract))


def verify_signatures(contract: Contract, keys: Mapping[str, PublicKeyLike]) -> None:
    """Raise ``SignatureError`` unless every party, and nobody else, has validly signed the terms."""
    parties = contract.parties
    for signature in contract.signatures:
        if signature.party not in parties:
            raise SignatureError(
                SignatureErrorCode.UNEXPECTED_SIGNATURE,
                signature.party,
                "a signature from outside the contract",
            )
    seen = [s.party for s in contract.signatures]
    for party in parties:
        if seen.count(party) > 1:
            raise SignatureError(
                SignatureErrorCode.UNEXPECTED_SIGNATURE, party, f"{party} signed more than once"
            )
        if party not in keys:
            raise SignatureError(SignatureErrorCode.UNKNOWN_KEY, party, f"no public key for {party}")
        verify_signature(contract, party, keys[party])


def verify_contract(
    contract: Contract, keys: Mapping[str, PublicKeyLike], operator_key: PublicKeyLike
) -> None:
    """Raise ``SignatureError`` unless every buyer and provider signature and the countersignature verify."""
    verify_signatures(contract, keys)
    verify_countersignature(contract, operator_key)


def verify_countersignature(contract: Contract, operator_key: PublicKeyLike) -> None:
    """The operator's countersignature over the terms and every party's signature, alone.

    A node holds the operator's key but not the buyer's: a valid countersignature tells it the operator
    checked each party's signature against its registered key.
    """
    countersignature = contract.countersignature
    if countersignature is None:
        raise SignatureError(
            SignatureErrorCode.MISSING_SIGNATURE, contract.operator, "the operator has not countersigned"
        )
    if countersignature.party != contract.operator:
        raise SignatureError(
            SignatureErrorCode.UNEXPECTED_SIGNATURE,
            countersignature.party,
            f"the countersignature is by {countersignature.party}, not the operator {contract.operator}",
        )
    verify_payload(countersignature, contract.operator, operator_key, countersignature_payload(contract))


# ------------------------------------------------------------------------------------------ statements


def sign_statement(
    contract: Contract, action: StatementAction, party: str, key: Ed25519PrivateKey, now: datetime
) -> SignedStatement:
    """``party``'s signed statement that it revokes or terminates ``contract``."""
    if party not in (*contract.parties, contract.operator):
        raise SignatureError(SignatureErrorCode.NOT_A_PARTY, party, f"{party} is not a party to the contract")
    statement = ContractStatement(
        contract_id=contract.contract_id,
        terms_digest=terms_digest(contract),
        action=action,
        party=party,
        issued_at=now,
    )
    return SignedStatement(
        statement=statement,
        public_key=base64.b64encode(raw_public_key(key.public_key())).decode("ascii"),
        signature=sign_payload(party, key, statement_payload(statement)),
    )


def verify_statement(
    contract: Contract,
    signed: SignedStatement,
    operator_key: PublicKeyLike,
    keys: Mapping[str, PublicKeyLike] | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``signed`` is a valid statement about ``contract`` by its party.

    The operator's statement is checked with ``operator_key``, a party's with its key in ``keys`` when the
    verifier holds it (a node holds its own). Otherwise the key carried in the statement is trusted only if
    it also verifies the party's signature over the terms, which the operator's countersignature vouches for.
    """
    statement = signed.statement
    party = statement.party
    if statement.contract_id != contract.contract_id or statement.terms_digest != terms_digest(contract):
        raise SignatureError(
            SignatureErrorCode.WRONG_CONTRACT,
            party,
            f"the statement is about another contract than {contract.contract_id}",
            contract_id=statement.contract_id,
        )
    if signed.signature.party != party:
        raise SignatureError(
            SignatureErrorCode.UNEXPECTED_SIGNATURE, party, f"the statement of {party} is signed by another"
        )
    payload = statement_payload(statement)
    if party == contract.operator:
        verify_payload(signed.signature, party, operator_key, payload)
        return
    if party not in contract.parties:
        raise SignatureError(SignatureErrorCode.NOT_A_PARTY, party, f"{party} is not a party to the contract")
    if keys is not None and party in keys:
        verify_payload(signed.signature, party, keys[party], payload)
        return
    carried = _carried_key(signed)
    verify_countersignature(contract, operator_key)
    verify_signature(contract, party, carried)  # the countersigned key: same key id, same signature
    verify_payload(signed.signature, party, carried, payload)


def _carried_key(signed: SignedStatement) -> bytes:
    party = signed.statement.party
    try:
        raw = base64.b64decode(signed.public_key, validate=True)
    except binascii.Error as exc:
        message = f"the key of {party} is not base64"
        raise SignatureError(SignatureErrorCode.UNKNOWN_KEY, party, message) from exc
    return raw
