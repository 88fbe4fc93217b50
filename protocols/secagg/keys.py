"""X25519 key pairs and the HKDF-SHA256 derivations of share-encryption keys and pairwise mask seeds."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocols.exceptions import InvalidMessageError
from protocols.secagg.framing import frame

KEY_BYTES = 32
_LABEL = b"industrial-dataspace/secagg/v1/"


@dataclass(frozen=True)
class KeyPair:
    """Raw X25519 key pair; the secret is kept as bytes because it is Shamir-shared."""

    secret: bytes = field(repr=False)
    public: bytes


def generate_keypair(randbytes: Callable[[int], bytes] = os.urandom) -> KeyPair:
    secret = randbytes(KEY_BYTES)
    if len(secret) != KEY_BYTES:
        raise ValueError("randbytes returned the wrong number of bytes")
    return KeyPair(secret=secret, public=public_key_of(secret))


def public_key_of(secret: bytes) -> bytes:
    """Raw public key of a raw secret key; InvalidMessageError if the secret is not 32 bytes."""
    try:
        return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    except ValueError as exc:
        raise InvalidMessageError("not a valid X25519 secret key") from exc


def share_key(
    own_secret: bytes, peer_public: bytes, *, session_id: bytes, sender: str, recipient: str
) -> bytes:
    """AES-256-GCM key for the shares ``sender`` encrypts to ``recipient``; each direction has its own key."""
    shared = agree_all(own_secret, {"peer": peer_public})["peer"]
    return derive_share_key(shared, session_id=session_id, sender=sender, recipient=recipient)


def mask_seed(own_secret: bytes, peer_public: bytes, *, session_id: bytes, first: str, second: str) -> bytes:
    """Pairwise mask seed s_uv; ``first`` precedes ``second`` in the participant order on both sides."""
    shared = agree_all(own_secret, {"peer": peer_public})["peer"]
    return derive_mask_seed(shared, session_id=session_id, first=first, second=second)


def agree_all(own_secret: bytes, peer_publics: Mapping[str, bytes]) -> dict[str, bytes]:
    """Raw X25519 shared secret with each peer, keyed like ``peer_publics``.

    Loading a raw secret key costs as much as one exchange (it derives the public key), so it is loaded
    once for all peers.
    """
    try:
        own = X25519PrivateKey.from_private_bytes(own_secret)
        return {
            peer: own.exchange(X25519PublicKey.from_public_bytes(public))
            for peer, public in peer_publics.items()
        }
    except ValueError as exc:
        # Wrong lengths and low-order points (all-zero shared secret) both end up here.
        raise InvalidMessageError("X25519 key agreement failed") from exc


def derive_share_key(shared: bytes, *, session_id: bytes, sender: str, recipient: str) -> bytes:
    return _derive(shared, b"share-key", session_id, sender, recipient)


def derive_mask_seed(shared: bytes, *, session_id: bytes, first: str, second: str) -> bytes:
    return _derive(shared, b"mask-seed", session_id, first, second)


def _derive(shared: bytes, purpose: bytes, session_id: bytes, a: str, b: str) -> bytes:
    info = frame(_LABEL + purpose, session_id, a.encode(), b.encode())
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)
