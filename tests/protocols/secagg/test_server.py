"""Server round functions: message validation, round closing, and reconstruction after dropouts."""

import dataclasses

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg import client, server, signing
from protocols.secagg.config import SecurityMode
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    MaskedInput,
    PublicKeys,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.server import ServerStage, ServerState
from tests.protocols.secagg.staging import (
    SIGNING_KEYS,
    Recording,
    det_randbytes,
    make_config,
    plain_sum,
    random_inputs,
)

S = ServerStage


def test_receive_keys_rejects_unknown_duplicate_and_malformed(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_KEYS]
    message = recording.advertise
    once = server.receive_keys(start, message)
    bad_states_and_messages = [
        (start, dataclasses.replace(message, sender="outsider")),
        (once, message),
        (start, AdvertiseKeys(message.sender, PublicKeys(b"short", message.keys.mask_public))),
        (
            start,
            AdvertiseKeys(message.sender, PublicKeys(message.keys.mask_public, message.keys.mask_public)),
        ),
        (once, AdvertiseKeys("factory-1", message.keys)),
    ]
    for state, bad in bad_states_and_messages:
        with pytest.raises(InvalidMessageError):
            server.receive_keys(state, bad)


def test_close_keys_sends_one_table_to_each_member(recording: Recording) -> None:
    _, tables = server.close_keys(recording.server_full[S.COLLECTING_KEYS])
    assert set(tables) == set(recording.config.participants)
    assert all(table == recording.table for table in tables.values())
    assert list(recording.table.keys) == list(recording.config.participants)  # participant order


def test_close_keys_below_threshold() -> None:
    cfg = make_config(4, 3)
    srv = server.new_server(cfg)
    for u in cfg.participants[:2]:
        _, message = client.advertise_keys(client.new_client(cfg, u), signing_key=SIGNING_KEYS[u])
        srv = server.receive_keys(srv, message)
    with pytest.raises(ThresholdError):
        server.close_keys(srv)


def test_receive_shares_rejects_wrong_recipients_and_strangers(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_SHARES]
    message = recording.shares
    missing_one = dict(list(message.envelopes.items())[1:])
    bad_states_and_messages = [
        (start, ShareKeys(message.sender, missing_one)),
        (start, ShareKeys(message.sender, {**message.envelopes, message.sender: b"x" * 40})),
        (start, dataclasses.replace(message, sender="outsider")),
        (server.receive_shares(start, message), message),
    ]
    for state, bad in bad_states_and_messages:
        with pytest.raises(InvalidMessageError):
            server.receive_shares(state, bad)


def test_close_shares_relays_each_envelope_to_its_recipient(recording: Recording) -> None:
    full = recording.server_full[S.COLLECTING_SHARES]
    sent = dict(full.envelopes)
    state, relayed = server.close_shares(full)
    assert state.u2 == recording.config.participants and not state.envelopes
    for v, message in relayed.items():
        assert message.recipient == v
        assert message.envelopes == {u: sent[u][v] for u in sent if u != v}


def test_receive_masked_input_checks_length_and_sender(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_MASKED_INPUTS]
    message = recording.masked
    bad_states_and_messages = [
        (start, MaskedInput(message.sender, message.masked[:-1])),
        (start, MaskedInput(message.sender, message.masked + b"\x00" * 4)),
        (start, dataclasses.replace(message, sender="outsider")),
        (server.receive_masked_input(start, message), message),
    ]
    for state, bad in bad_states_and_messages:
        with pytest.raises(InvalidMessageError):
            server.receive_masked_input(state, bad)


def test_receive_unmasking_checks_share_sets_and_lengths(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_UNMASKING]
    message = recording.response
    b_shares = dict(message.self_mask_shares)
    first = next(iter(b_shares))
    bad_states_and_messages = [
        (start, dataclasses.replace(message, self_mask_shares=dict(list(b_shares.items())[1:]))),
        (start, dataclasses.replace(message, mask_key_shares={first: b_shares[first]})),
        (start, dataclasses.replace(message, self_mask_shares={**b_shares, first: b"\x00" * 16})),
        (start, dataclasses.replace(message, sender="outsider")),
        (server.receive_unmasking(start, message), message),
    ]
    for state, bad in bad_states_and_messages:
        with pytest.raises(InvalidMessageError):
            server.receive_unmasking(state, bad)


def test_close_unmasking_below_threshold(recording: Recording) -> None:
    state = server.receive_unmasking(recording.server_start[S.COLLECTING_UNMASKING], recording.response)
    with pytest.raises(ThresholdError):
        server.close_unmasking(state)


def test_close_unmasking_forgets_masked_inputs(recording: Recording) -> None:
    done, aggregate = server.close_unmasking(recording.server_full[S.COLLECTING_UNMASKING])
    assert done.stage is S.DONE and not done.masked and not done.responses
    assert np.array_equal(aggregate, recording.aggregate)


def _run_until_unmasking(
    dropped: str, mode: SecurityMode = SecurityMode.MALICIOUS
) -> tuple[ServerState, dict[str, UnmaskResponse]]:
    """Full run in which ``dropped`` stops before sending its masked input; returns the unmask responses."""
    # Malicious mode: t = 5 of 7, so one dropped party and one liar still leave t honest responders.
    cfg = make_config(7, 5, mode=mode) if mode is SecurityMode.MALICIOUS else make_config(5, 3, mode=mode)
    rb = det_randbytes(11)
    inputs = random_inputs(cfg, 11)
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    for u in cfg.participants:
        states[u], keys = client.advertise_keys(states[u], signing_key=SIGNING_KEYS[u], randbytes=rb)
        srv = server.receive_keys(srv, keys)
    srv, tables = server.close_keys(srv)
    for u in cfg.participants:
        states[u], shares = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    for u in cfg.participants:
        if u != dropped:
            states[u], masked = client.masked_input(states[u], relayed[u], inputs[u])
            srv = server.receive_masked_input(srv, masked)
    srv, requests = server.close_masked_inputs(srv)
    assert srv.dropped == (dropped,)
    if cfg.malicious:
        for u, request in requests.items():
            assert isinstance(request, ConsistencyRequest)
            states[u], signature = client.consistency(states[u], request, signing_key=SIGNING_KEYS[u])
            srv = server.receive_consistency(srv, signature)
        srv, requests = server.close_consistency(srv)
    responses = {}
    for u in srv.u4:
        request = requests[u]
        assert isinstance(request, UnmaskRequest)
        states[u], responses[u] = client.unmask(states[u], request)
    return srv, responses


def _shift(share: bytes) -> bytes:
    return share[:-1] + bytes([share[-1] ^ 1])


def test_semi_honest_reconstructed_key_is_checked_against_advertised_key() -> None:
    srv, responses = _run_until_unmasking("factory-2", SecurityMode.SEMI_HONEST)
    first = next(iter(responses))
    share = responses[first].mask_key_shares["factory-2"]
    responses[first] = dataclasses.replace(responses[first], mask_key_shares={"factory-2": _shift(share)})
    for response in responses.values():
        srv = server.receive_unmasking(srv, response)
    with pytest.raises(InvalidMessageError, match="does not match"):
        server.close_unmasking(srv)


@pytest.mark.parametrize("which", ["self_mask_shares", "mask_key_shares"])
def test_malicious_server_names_a_responder_with_a_wrong_share(which: str) -> None:
    """One wrong share, of a survivor's seed or of a dropped party's key: exact sum, liar named."""
    srv, responses = _run_until_unmasking("factory-2")
    liar = "factory-1"  # among the first t responders, so its share is used
    shares = dict(getattr(responses[liar], which))
    owner = next(iter(shares))
    shares[owner] = _shift(shares[owner])
    responses[liar] = dataclasses.replace(responses[liar], **{which: shares})
    for response in responses.values():
        srv = server.receive_unmasking(srv, response)
    done, aggregate = server.close_unmasking(srv)
    assert set(done.excluded) == {liar}
    assert owner in done.excluded[liar]
    inputs = random_inputs(srv.config, 11)
    assert aggregate.tolist() == plain_sum(srv.config, inputs, srv.u3)


def test_receive_keys_rejects_a_bad_advertisement_signature(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_KEYS]
    message, keys = recording.advertise, recording.advertise.keys
    other = recording.table.keys["factory-1"]
    forged = [
        dataclasses.replace(keys, signature=keys.signature[:-1] + bytes([keys.signature[-1] ^ 1])),
        dataclasses.replace(keys, signature=b""),
        dataclasses.replace(keys, seed_commitment=other.seed_commitment),
        dataclasses.replace(keys, seed_commitment=keys.seed_commitment[:31]),
        dataclasses.replace(keys, signature=other.signature),
    ]
    for bad in forged:
        with pytest.raises(InvalidMessageError, match="factory-0"):
            server.receive_keys(start, dataclasses.replace(message, keys=bad))
    # Signed with a key that is not this participant's enrolled one.
    wrong = signing.signed_advertisement(
        SIGNING_KEYS["factory-1"], recording.config.session_id, "factory-0", keys, b"s" * 32
    )
    with pytest.raises(InvalidMessageError, match="invalid signature"):
        server.receive_keys(start, dataclasses.replace(message, keys=wrong))


def test_receive_consistency_checks_sender_and_signature(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_CONSISTENCY]
    message = recording.consistency
    assert message is not None
    once = server.receive_consistency(start, message)
    other_set = signing.sign(
        recording.signing_keys["factory-0"],
        signing.consistency_message(recording.config.session_id, recording.config.participants[:3]),
    )
    bad_states_and_messages = [
        (once, message),
        (start, dataclasses.replace(message, sender="outsider")),
        (start, dataclasses.replace(message, sender="factory-1")),  # factory-0's signature, not factory-1's
        (start, dataclasses.replace(message, signature=other_set)),
        (start, dataclasses.replace(message, signature=b"\x00" * 64)),
    ]
    for state, bad in bad_states_and_messages:
        with pytest.raises(InvalidMessageError):
            server.receive_consistency(state, bad)


def test_close_consistency_needs_t_signers_and_asks_only_them(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_CONSISTENCY]
    full = recording.server_full[S.COLLECTING_CONSISTENCY]
    state, requests = server.close_consistency(full)
    assert set(requests) == set(state.u4) == set(full.signatures)
    assert all(r.signatures == full.signatures and r.survivors == full.u3 for r in requests.values())
    partial = dataclasses.replace(start, signatures=dict(list(full.signatures.items())[:2]))
    with pytest.raises(ThresholdError):
        server.close_consistency(partial)
    _, requests = server.close_consistency(
        dataclasses.replace(start, signatures=dict(list(full.signatures.items())[:3]))
    )
    assert len(requests) == 3


def test_semi_honest_server_asks_for_unmasking_straight_away(semi_honest_recording: Recording) -> None:
    state, requests = server.close_masked_inputs(
        semi_honest_recording.server_full[S.COLLECTING_MASKED_INPUTS]
    )
    assert state.stage is S.COLLECTING_UNMASKING
    assert all(isinstance(r, UnmaskRequest) and not r.signatures for r in requests.values())


def test_unmask_responses_only_from_signers(recording: Recording) -> None:
    start = recording.server_start[S.COLLECTING_UNMASKING]
    narrowed = dataclasses.replace(start, u4=tuple(u for u in start.u4 if u != recording.response.sender))
    with pytest.raises(InvalidMessageError, match="not expected"):
        server.receive_unmasking(narrowed, recording.response)
