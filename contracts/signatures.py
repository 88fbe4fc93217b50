"""Ed25519 party signatures over canonical (RFC 8785) JSON: keys, key ids, and raw sign and verify.

Knows nothing of contracts; ``contracts.signing`` decides which bytes of a contract are signed, and
``canonical`` (from ``contracts.canonical``, the one encoder) makes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import SafeId
from contracts.canonical import canonical as canonical
from contracts.exceptions import SignatureError, SignatureErrorCode

PublicKeyLike = Ed25519PublicKey | bytes

# Domain separation: a signature over one kind of document can never be replayed as another.
TERMS_TYPE: Final = "dataspace.contract.terms.v1"
COUNTERSIGNATURE_TYPE: Final = "dataspace.contract.countersignature.v1"
STATEMENT_TYPE: Final = "dataspace.contract.statement.v1"
_SIGNATURE_BYTES = 64


class PartySignature(BaseModel):
    """An Ed25519 signature (standard base64) and the id of the key that made it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    party: SafeId
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    # 64 bytes in standard base64; anything else in that alphabet is refused as malformed when verified.
    signature: str = Field(max_length=128, pattern=r"^[A-Za-z0-9+/=]*$")


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


def sign_payload(party: str, key: Ed25519PrivateKey, payload: bytes) -> PartySignature:
    signature = base64.b64encode(key.sign(payload)).decode("ascii")
    return PartySignature(party=party, key_id=key_id(key.public_key()), signature=signature)


def verify_payload(signature: PartySignature, party: str, key: PublicKeyLike, payload: bytes) -> None:
    """Raise ``SignatureError`` unless ``signature`` is ``party``'s valid signature of ``payload``."""
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
