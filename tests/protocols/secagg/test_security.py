"""What any server can and cannot learn or provoke; attacks of a deviating server are in test_attacks."""

import dataclasses
import os

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import unpack
from protocols.secagg import client
from protocols.secagg.client import ClientStage
from protocols.secagg.envelope import open_shares
from protocols.secagg.keys import generate_keypair, share_key
from protocols.secagg.messages import RelayedShares, UnmaskRequest
from protocols.secagg.shamir import SHARE_BYTES
from tests.protocols.secagg.staging import Recording, det_randbytes, make_config, record_run


def test_client_never_reveals_both_shares_of_one_party(
    recording: Recording, semi_honest_recording: Recording
) -> None:
    for rec, stage in [
        (semi_honest_recording, ClientStage.MASKED_INPUT_SENT),
        (recording, ClientStage.CONSISTENCY_SIGNED),
    ]:
        state = rec.clients[stage]
        everyone = rec.config.participants
        both = UnmaskRequest(survivors=everyone, dropped=(everyone[-1],), signatures=rec.request.signatures)
        with pytest.raises(InvalidMessageError, match="survivor and dropped"):
            client.unmask(state, both)


def _tamper(envelope: bytes, index: int) -> bytes:
    return envelope[:index] + bytes([envelope[index] ^ 0x01]) + envelope[index + 1 :]


@pytest.mark.parametrize("where", ["nonce", "body", "tag", "truncated"])
def test_tampered_share_envelope_is_rejected(recording: Recording, where: str) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    sender, envelope = next(iter(recording.relayed.envelopes.items()))
    bad = {
        "nonce": _tamper(envelope, 0),
        "body": _tamper(envelope, 20),
        "tag": _tamper(envelope, len(envelope) - 1),
        "truncated": envelope[:20],
    }[where]
    relayed = RelayedShares(state.client_id, {**recording.relayed.envelopes, sender: bad})
    with pytest.raises(InvalidMessageError):
        client.masked_input(state, relayed, recording.inputs[state.client_id])


def test_envelopes_swapped_between_senders_are_rejected(recording: Recording) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    (a, env_a), (b, env_b), *rest = recording.relayed.envelopes.items()
    relayed = RelayedShares(state.client_id, {a: env_b, b: env_a, **dict(rest)})
    with pytest.raises(InvalidMessageError):
        client.masked_input(state, relayed, recording.inputs[state.client_id])


def test_envelopes_from_another_session_are_rejected(recording: Recording) -> None:
    other_config = dataclasses.replace(recording.config, session_id=b"another-session")
    state = dataclasses.replace(recording.clients[ClientStage.SHARES_SENT], config=other_config)
    with pytest.raises(InvalidMessageError, match="authentication"):
        client.masked_input(state, recording.relayed, recording.inputs[state.client_id])


def test_server_cannot_open_relayed_envelopes(recording: Recording) -> None:
    cfg = recording.config
    recipient = recording.relayed.recipient
    sender, envelope = next(iter(recording.relayed.envelopes.items()))
    ids = {"session_id": cfg.session_id, "sender": sender, "recipient": recipient}
    # The server knows every public key, but no secret key: its best attempts use a key pair of its own.
    own = generate_keypair()
    for guessed_peer in (
        recording.table.keys[sender].cipher_public,
        recording.table.keys[recipient].cipher_public,
    ):
        with pytest.raises(InvalidMessageError):
            open_shares(share_key(own.secret, guessed_peer, **ids), envelope, **ids)
    with pytest.raises(InvalidMessageError):
        open_shares(os.urandom(32), envelope, **ids)
    # The recipient, holding its secret key, can.
    secret = recording.clients[client.ClientStage.KEYS_ADVERTISED].cipher_keys
    assert secret is not None
    right_key = share_key(secret.secret, recording.table.keys[sender].cipher_public, **ids)
    assert len(open_shares(right_key, envelope, **ids).self_mask) == SHARE_BYTES


def test_masked_vector_is_unrelated_to_input() -> None:
    cfg = make_config(n=3, t=3, ring_bits=32, length=4096)
    rec = record_run(cfg, seed=5)
    me = cfg.participants[0]
    x = rec.inputs[me].astype(np.float64)
    y_ring = unpack(rec.masked.masked, 32, cfg.vector_length)
    assert not np.array_equal(y_ring, rec.inputs[me])
    y = y_ring.astype(np.float64)
    # Uniform on [0, 2^32): mean near 2^31 and no linear relation with the input.
    assert abs(y.mean() / 2**32 - 0.5) < 0.02
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.06
    # Top byte of y spread evenly over 256 values (chi-square with 255 degrees of freedom, far tail).
    counts = np.bincount((y_ring >> 24).astype(np.int64), minlength=256)
    expected = cfg.vector_length / 256
    assert ((counts - expected) ** 2 / expected).sum() < 350
    # About half of the bits of y agree with those of x.
    agree = np.unpackbits(~(y_ring ^ rec.inputs[me]).view(np.uint8)).mean()
    assert abs(agree - 0.5) < 0.01


def test_same_input_masked_twice_looks_different() -> None:
    cfg = make_config(n=3, t=3, length=64)
    first = record_run(cfg, seed=1, input_seed=0)
    second = record_run(cfg, seed=2, input_seed=0)
    assert np.array_equal(first.inputs["factory-0"], second.inputs["factory-0"])
    assert first.masked.masked != second.masked.masked


def test_deterministic_randomness_reproduces_masked_input() -> None:
    cfg = make_config(n=3, t=3, length=16)
    assert record_run(cfg, seed=3).masked == record_run(cfg, seed=3).masked
    assert det_randbytes(3)(8) == det_randbytes(3)(8)
