"""A naive RFC 9162 Merkle tree (MTH and PATH, section 2.1), independent of protocols.tlog, for tests."""

from __future__ import annotations

import base64
import hashlib

from contracts.canonical import canonical
from contracts.peer_keys import REGISTRATION_KIND, PeerKey, registration_payload


def mth(leaves: list[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves``."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``m``."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def registration_entry(index: int, participant: str, key: bytes, kind: str = REGISTRATION_KIND) -> bytes:
    """The canonical bytes of a signing-key registration, as the coordinator's audit log writes it."""
    return canonical({"index": index, "time": "2026-11-30T00:00:00Z", "actor": participant, "kind": kind,
                      "subjects": {"participant": participant},
                      "payload": {"key_id": "00", **registration_payload(key)}})  # fmt: skip


def peer_key(leaves: list[bytes], index: int, key: bytes, size: int | None = None) -> PeerKey:
    """The proof that leaf ``index`` (registering ``key``) is in the tree of the first ``size`` leaves."""
    size = size or len(leaves)
    b64 = base64.b64encode
    proof = tuple(b64(h).decode() for h in path(index, leaves[:size]))
    entry = b64(leaves[index]).decode()
    return PeerKey(public_key=b64(key).decode(), entry=entry, index=index, tree_size=size, proof=proof)


def registry(keys: dict[str, bytes]) -> tuple[int, bytes, dict[str, PeerKey]]:
    """A log holding one registration per participant: its size, its root and every participant's proof."""
    leaves = [registration_entry(i, pid, key) for i, (pid, key) in enumerate(keys.items())]
    proofs = {pid: peer_key(leaves, i, key) for i, (pid, key) in enumerate(keys.items())}
    return len(leaves), mth(leaves), proofs
