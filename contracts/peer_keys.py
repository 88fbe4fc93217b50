"""Key transparency for peers' signing keys: a key counts only with proof that the audit log holds it.

A participant's Ed25519 signing key is written into the audit log when it enrolls (an entry of kind
``signing_key.registered`` naming the participant and carrying the raw key). A node accepts a peer's key
only together with that entry and an RFC 9162 inclusion proof into a checkpoint the node itself has
witnessed. So a coordinator that mints a participant of its own, or swaps a key, must write that into the
log that every witness cosigns and every auditor reads: it can no longer do it quietly.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import CanonicalError, parse_canonical
from protocols.tlog.exceptions import AuditError
from protocols.tlog.merkle import leaf_hash, verify_inclusion

REGISTRATION_KIND = "signing_key.registered"
KEY_BYTES = 32


class PeerKeyError(Exception):
    """A peer's key comes without a valid proof of its registration in a witnessed checkpoint."""

    def __init__(self, participant: str, message: str) -> None:
        super().__init__(f"{participant}: {message}")
        self.participant = participant


class PeerKey(BaseModel):
    """One participant's signing key with the proof that the witnessed log registered it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    public_key: str  # base64 of the raw Ed25519 key
    entry: str  # base64 of the audit entry's canonical bytes (the Merkle leaf)
    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    proof: tuple[str, ...] = ()  # base64 hashes of the inclusion proof


def registration_payload(public_key: bytes) -> dict[str, str]:
    """What the enrollment entry says about the key; the node reads back exactly this field."""
    return {"public_key": base64.b64encode(public_key).decode()}


def verify_peer_key(participant: str, peer_key: PeerKey, witnessed: Mapping[int, bytes]) -> bytes:
    """The raw key of ``participant``, proven by its registration entry; ``witnessed`` maps size -> root.

    Raises PeerKeyError when the tree size is not one this node witnessed, the entry is not the
    participant's key registration, names another key, or is not in the witnessed tree.
    """
    root = witnessed.get(peer_key.tree_size)
    if root is None:
        raise PeerKeyError(participant, f"the proof is for a log of size {peer_key.tree_size}, "
                           "which this node has not witnessed")  # fmt: skip
    try:
        leaf = base64.b64decode(peer_key.entry, validate=True)
        key = base64.b64decode(peer_key.public_key, validate=True)
        proof = [base64.b64decode(h, validate=True) for h in peer_key.proof]
    except binascii.Error as exc:
        raise PeerKeyError(participant, f"the key proof is not base64: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise PeerKeyError(participant, "the key is not a raw Ed25519 public key")
    _check_entry(participant, leaf, key, peer_key.index)
    try:
        verify_inclusion(leaf_hash(leaf), peer_key.index, peer_key.tree_size, proof, root)
    except AuditError as exc:
        raise PeerKeyError(participant, f"the key's registration is not in the witnessed log: {exc}") from exc
    return key


def verify_peer_keys(
    participants: tuple[str, ...], peer_keys: Mapping[str, PeerKey], witnessed: Mapping[int, bytes]
) -> dict[str, bytes]:
    """Every participant's proven key; PeerKeyError for the first one missing or unproven."""
    keys: dict[str, bytes] = {}
    for participant in participants:
        proof = peer_keys.get(participant)
        if proof is None:
            raise PeerKeyError(participant, "no proof of its signing key came with the ticket")
        keys[participant] = verify_peer_key(participant, proof, witnessed)
    if len(set(keys.values())) != len(keys):
        raise PeerKeyError(",".join(participants), "two participants share one signing key")
    return keys


def _check_entry(participant: str, leaf: bytes, key: bytes, index: int) -> None:
    try:
        entry: Any = parse_canonical(leaf)
    except (CanonicalError, ValueError) as exc:
        raise PeerKeyError(participant, f"the registration entry is not canonical JSON: {exc}") from exc
    if not isinstance(entry, dict):
        raise PeerKeyError(participant, "the registration entry is not an object")
    subjects, payload = entry.get("subjects"), entry.get("payload")
    if (
        entry.get("kind") != REGISTRATION_KIND
        or not isinstance(subjects, dict)
        or not isinstance(payload, dict)
    ):
        raise PeerKeyError(participant, "the entry is not a signing key registration")
    if subjects.get("participant") != participant:
        raise PeerKeyError(participant, "the registration entry is about another participant")
    if entry.get("index") != index:
        raise PeerKeyError(participant, "the registration entry sits at another index than claimed")
    if payload.get("public_key") != registration_payload(key)["public_key"]:
        raise PeerKeyError(participant, "the registration entry names another key")
