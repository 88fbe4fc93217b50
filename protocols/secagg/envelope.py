"""AES-256-GCM envelopes that carry one client's Shamir shares to another through the untrusted server."""

import os
from collections.abc import Callable
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocols.exceptions import InvalidMessageError
from protocols.secagg.framing import frame, unframe

NONCE_BYTES = 12
_TAG_BYTES = 16
_AD_LABEL = b"industrial-dataspace/secagg/v1/shares"


class SharePair(NamedTuple):
    """What party u gives party v: a share of u's self-mask seed b_u and a share of u's mask secret key."""

    self_mask: bytes
    mask_key: bytes


def seal_shares(
    key: bytes,
    shares: SharePair,
    *,
    session_id: bytes,
    sender: str,
    recipient: str,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """Encrypt (sender, recipient, shares) as nonce || ciphertext || tag."""
    nonce = randbytes(NONCE_BYTES)
    plaintext = frame(sender.encode(), recipient.encode(), shares.self_mask, shares.mask_key)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, _associated_data(session_id, sender, recipient))


def open_shares(key: bytes, envelope: bytes, *, session_id: bytes, sender: str, recipient: str) -> SharePair:
    """Decrypt and authenticate an envelope from ``sender`` to ``recipient``, else InvalidMessageError."""
    if len(envelope) < NONCE_BYTES + _TAG_BYTES:
        raise InvalidMessageError(f"share envelope from {sender!r} is too short")
    nonce, body = envelope[:NONCE_BYTES], envelope[NONCE_BYTES:]
    try:
        plaintext = AESGCM(key).decrypt(nonce, body, _associated_data(session_id, sender, recipient))
    except InvalidTag:
        raise InvalidMessageError(f"share envelope from {sender!r} failed authentication") from None
    named_sender, named_recipient, self_mask, mask_key = unframe(plaintext, 4)
    # The associated data already binds both ids; checking the plaintext too keeps the paper's explicit check.
    if named_sender != sender.encode() or named_recipient != recipient.encode():
        raise InvalidMessageError(f"share envelope from {sender!r} names other parties")
    return SharePair(self_mask, mask_key)


def _associated_data(session_id: bytes, sender: str, recipient: str) -> bytes:
    return frame(_AD_LABEL, session_id, sender.encode(), recipient.encode())
