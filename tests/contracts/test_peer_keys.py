"""Peer keys count only with proof that the witnessed audit log registered them (key transparency).

The tree and its proofs come from a naive RFC 9162 implementation (tests/merkle_reference.py),
independent of protocols.tlog.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from contracts.canonical import canonical
from contracts.peer_keys import PeerKey, PeerKeyError, verify_peer_key, verify_peer_keys
from tests.merkle_reference import mth, path, peer_key, registration_entry

PARTIES = ("91350100M000100Y43", "91350100M000200Y2X", "91350100M000300Y0K")


def _log() -> tuple[list[bytes], dict[str, bytes]]:
    """A log of seven entries: noise, then each party's registration, then more noise."""
    keys = {p: hashlib.sha256(p.encode()).digest() for p in PARTIES}
    leaves = [canonical({"index": 0, "noise": True})]
    for party in PARTIES:
        leaves.append(registration_entry(len(leaves), party, keys[party]))
    leaves += [canonical({"index": i, "noise": True}) for i in range(len(leaves), 7)]
    return leaves, keys


def _proof(leaves: list[bytes], party: str, key: bytes, size: int | None = None) -> PeerKey:
    return peer_key(leaves, 1 + PARTIES.index(party), key, size)


def test_every_registered_key_is_accepted_against_the_witnessed_root() -> None:
    leaves, keys = _log()
    witnessed = {7: mth(leaves), 5: mth(leaves[:5])}
    proofs = {p: _proof(leaves, p, keys[p]) for p in PARTIES}
    assert verify_peer_keys(PARTIES, proofs, witnessed) == keys
    # A proof against an older checkpoint the node also witnessed is as good.
    assert (
        verify_peer_key(PARTIES[0], _proof(leaves, PARTIES[0], keys[PARTIES[0]], 5), witnessed)
        == keys[PARTIES[0]]
    )


def test_a_tree_size_the_node_never_witnessed_is_refused() -> None:
    leaves, keys = _log()
    with pytest.raises(PeerKeyError, match="has not witnessed"):
        verify_peer_key(PARTIES[0], _proof(leaves, PARTIES[0], keys[PARTIES[0]]), {5: mth(leaves[:5])})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("substituted key", "names another key"),
        ("other participant's entry", "about another participant"),
        ("entry outside the log", "not in the witnessed log"),
        ("wrong kind", "not a signing key registration"),
        ("wrong index", "another index"),
        ("tampered proof", "not in the witnessed log"),
    ],
)
def test_a_key_without_its_own_registration_in_the_log_is_refused(change: str, message: str) -> None:
    leaves, keys = _log()
    party = PARTIES[0]
    witnessed = {7: mth(leaves)}
    proof = _proof(leaves, party, keys[party])
    stranger = hashlib.sha256(b"coordinator's own key").digest()
    b64 = base64.b64encode
    update: dict[str, object] = {
        "substituted key": {"public_key": b64(stranger).decode()},
        "other participant's entry": {"entry": b64(leaves[2]).decode()},
        "entry outside the log": {
            "entry": b64(registration_entry(1, party, stranger)).decode(),
            "public_key": b64(stranger).decode(),
        },
        "wrong kind": {
            "entry": b64(registration_entry(1, party, keys[party], "participant.enrolled")).decode()
        },
        "wrong index": {"index": 2, "entry": b64(leaves[1]).decode()},
        "tampered proof": {"proof": (b64(bytes(32)).decode(), *proof.proof[1:])},
    }[change]  # type: ignore[assignment]
    with pytest.raises(PeerKeyError, match=message):
        verify_peer_key(party, proof.model_copy(update=update), witnessed)


def test_a_participant_without_a_proof_is_refused() -> None:
    leaves, keys = _log()
    proofs = {p: _proof(leaves, p, keys[p]) for p in PARTIES[:2]}
    with pytest.raises(PeerKeyError, match="no proof"):
        verify_peer_keys(PARTIES, proofs, {7: mth(leaves)})


def test_two_participants_registered_with_one_key_are_refused() -> None:
    """Both registrations are in the log, but one key for two parties would let one speak for the other."""
    key = hashlib.sha256(b"one key").digest()
    leaves = [registration_entry(0, PARTIES[0], key), registration_entry(1, PARTIES[1], key)]
    b64 = base64.b64encode
    proofs = {p: PeerKey(public_key=b64(key).decode(), entry=b64(leaves[i]).decode(), index=i, tree_size=2,
                         proof=tuple(b64(h).decode() for h in path(i, leaves)))
              for i, p in enumerate(PARTIES[:2])}  # fmt: skip
    with pytest.raises(PeerKeyError, match="share one signing key"):
        verify_peer_keys(PARTIES[:2], proofs, {2: mth(leaves)})
