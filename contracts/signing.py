"""Contract signatures: parties sign the RFC 8785 JSON of the terms with Ed25519; the operator countersigns.

The countersignature covers the terms digest and the parties' signatures. Negotiation state and signatures
are never signed, so a contract can become FINALIZED or REVOKED without invalidating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.agreement import Contract
from contracts.exceptions import SignatureError, SignatureErrorCode
from contracts.signatures import (
    COUNTERSIGNATURE_TYPE,
    TERMS_TYPE,
    PublicKeyLike,
    canonical,
    sign_payload,
    verify_payload,
)


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
