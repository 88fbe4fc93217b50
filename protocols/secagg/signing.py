"""What malicious mode signs and commits to: one domain-separated encoding per purpose, and Ed25519 over it.

Each encoding starts with its own label and the session id and frames every field, so a signature made for
one purpose, run or party can never be presented as one for another.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocols.exceptions import InvalidMessageError
from protocols.secagg.framing import frame
from protocols.secagg.messages import PublicKeys

COMMITMENT_BYTES = 32
SIGNATURE_BYTES = 64
_LABEL = b"industrial-dataspace/secagg/v1/"


def seed_commitment(session_id: bytes, owner: str, seed: bytes) -> bytes:
    """SHA-256 commitment to the self-mask seed b_owner.

    b_u is 32 uniformly random bytes, so the hash alone hides it; binding the session and owner stops a
    client from reusing, or claiming, another party's commitment.
    """
    return hashlib.sha256(frame(_LABEL + b"seed-commitment", session_id, owner.encode(), seed)).digest()


def advertisement_message(session_id: bytes, owner: str, keys: PublicKeys) -> bytes:
    """The bytes an owner signs to vouch for its key advertisement."""
    return frame(
        _LABEL + b"advertisement",
        session_id,
        owner.encode(),
        keys.cipher_public,
        keys.mask_public,
        keys.seed_commitment,
    )


def consistency_message(session_id: bytes, survivors: Iterable[str]) -> bytes:
    """The bytes a survivor signs to state which survivor set U3 it was shown (in participant order)."""
    ids = [s.encode() for s in survivors]
    return frame(_LABEL + b"consistency", session_id, len(ids).to_bytes(4, "big"), *ids)


def signed_advertisement(
    signing_key: Ed25519PrivateKey, session_id: bytes, owner: str, keys: PublicKeys, seed: bytes
) -> PublicKeys:
    """``keys`` with the commitment to ``seed`` added, signed by ``owner``."""
    committed = replace(keys, seed_commitment=seed_commitment(session_id, owner, seed))
    return replace(
        committed, signature=sign(signing_key, advertisement_message(session_id, owner, committed))
    )


def sign(signing_key: Ed25519PrivateKey, message: bytes) -> bytes:
    return signing_key.sign(message)


def verify(verify_key: Ed25519PublicKey, signature: bytes, message: bytes, *, what: str) -> None:
    """Raise InvalidMessageError naming ``what`` unless ``signature`` is valid on ``message``."""
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidMessageError(f"{what} carries a signature of {len(signature)} bytes")
    try:
        verify_key.verify(signature, message)
    except InvalidSignature:
        raise InvalidMessageError(f"{what} carries an invalid signature") from None


def public_bytes(signing_key: Ed25519PrivateKey) -> bytes:
    """Raw public key of ``signing_key``, to compare with the verify key the run expects."""
    return signing_key.public_key().public_bytes_raw()
