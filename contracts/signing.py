"""Contract signatures: parties sign the RFC 8785 JSON of the terms with Ed25519; the operator countersigns.

The countersignature covers the terms digest and the parties' signatures. Negotiation state and signatures
are never signed, so a contract can become FINALIZED or REVOKED without invalidating them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from contracts.exceptions import SignatureError, SignatureErrorCode

if TYPE_CHECKING:  # contracts.agreement builds on PartySignature defined here
    from contracts.agreement import Contract

PublicKeyLike = Ed25519PublicKey | bytes

# Domain separation: a signature over one kind of document can never be replayed as another.
TERMS_TYPE: Final = "dataspace.contract.terms.v1"
COUNTERSIGNATURE_TYPE: Final = "dataspace.contract.countersignature.v1"
_SIGNATURE_BYTES = 64


class PartySignature(BaseModel):
    """An Ed25519 signature (standard base64) and the id of the key that made it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    party: str
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str


def public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """Accept a raw 32-byte key or an ``Ed25519PublicKey``."""
    if isinstance(key, Ed25519PublicKey):
        return key
    return Ed25519PublicKey.from_public_bytes(key)


def raw_public_key(key: PublicKeyLike) -> bytes:
    return public_key(key).public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: PublicKeyLike) -> str:
    """First 8 bytes of SHA-256 of the raw public key, in hex."""
    return hashlib.sha256(raw_public_key(key)).digest()[:8].hex()


def canonical(document: Any) -> bytes:
    return bytes(rfc8785.dumps(document))


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


def _sign(party: str, key: Ed25519PrivateKey, payload: bytes) -> PartySignature:
    signature = base64.b64encode(key.sign(payload)).decode("ascii")
    return PartySignature(party=party, key_id=key_id(key.public_key()), signature=signature)


def sign_terms(contract: Contract, party: str, key: Ed25519PrivateKey) -> Contract:
    """Return ``contract`` with ``party``'s signature over the terms (replacing an earlier one)."""
    if party not in contract.parties:
        raise SignatureError(SignatureErrorCode.NOT_A_PARTY, party, f"{party} is not a party to the contract")
    signature = _sign(party, key, terms_payload(contract))
    others = tuple(s for s in contract.signatures if s.party != party)
    return contract.model_copy(update={"signatures": (*others, signature)})


def countersign(
    contract: Contract, operator_key: Ed25519PrivateKey, keys: Mapping[str, PublicKeyLike]
) -> Contract:
    """Verify every party's signature with ``keys``, then add the operator's countersignature."""
    verify_signatures(contract, keys)
    signature = _sign(contract.operator, operator_key, countersignature_payload(contract))
    return contract.model_copy(update={"countersignature": signature})


def verify_signature(contract: Contract, party: str, key: PublicKeyLike) -> None:
    """Raise ``SignatureError`` unless ``party`` has validly signed the terms with ``key``."""
    signature = contract.signature_of(party)
    if signature is None:
        raise SignatureError(SignatureErrorCode.MISSING_SIGNATURE, party, f"{party} has not signed the terms")
    _verify(signature, party, key, terms_payload(contract))


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
    _verify(countersignature, contract.operator, operator_key, countersignature_payload(contract))


def _verify(signature: PartySignature, party: str, key: PublicKeyLike, payload: bytes) -> None:
    try:
        verifier = public_key(key)
    except ValueError as exc:
        raise SignatureError(
            SignatureErrorCode.UNKNOWN_KEY, party, f"the key of {party} is malformed"
        ) from exc
    expected = key_id(verifier)
    if signature.key_id != expected:
        raise SignatureError(
            SignatureErrorCode.KEY_MISMATCH,
            party,
            f"{party} signed with key {signature.key_id}, not the registered key {expected}",
            key_id=signature.key_id,
            expected_key_id=expected,
        )
    try:
        raw = base64.b64decode(signature.signature, validate=True)
    except binascii.Error as exc:
        raise SignatureError(
            SignatureErrorCode.MALFORMED_SIGNATURE, party, f"the signature of {party} is not base64"
        ) from exc
    if len(raw) != _SIGNATURE_BYTES:
        raise SignatureError(
            SignatureErrorCode.MALFORMED_SIGNATURE, party, f"the signature of {party} is not 64 bytes"
        )
    try:
        verifier.verify(raw, payload)
    except InvalidSignature as exc:
        raise SignatureError(
            SignatureErrorCode.BAD_SIGNATURE, party, f"the signature of {party} does not verify"
        ) from exc
