"""Server round functions: message validation, round closing, and reconstruction after dropouts."""

import dataclasses

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg import client, server
from protocols.secagg.messages import AdvertiseKeys, MaskedInput, PublicKeys, ShareKeys, UnmaskResponse
from protocols.secagg.server import ServerStage, ServerState
from tests.protocols.secagg.staging import Recording, det_randbytes, make_config, random_inputs

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
        _, message = client.advertise_keys(client.new_client(cfg, u))
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


def _run_until_unmasking(dropped: str) -> tuple[ServerState, dict[str, UnmaskResponse]]:
    """Full run in which ``dropped`` stops before sending its masked input; returns the unmask responses."""
    cfg = make_config(5, 3)
    rb = det_randbytes(11)
    inputs = random_inputs(cfg, 11)
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    for u in cfg.participants:
        states[u], keys = client.advertise_keys(states[u], randbytes=rb)
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
    responses = {}
    for u in srv.u3:
        states[u], responses[u] = client.unmask(states[u], requests[u])
    return srv, responses


def test_reconstructed_key_is_checked_against_advertised_key() -> None:
    srv, responses = _run_until_unmasking("factory-2")
    first = next(iter(responses))
    share = responses[first].mask_key_shares["factory-2"]
    responses[first] = dataclasses.replace(
        responses[first], mask_key_shares={"factory-2": share[:-1] + bytes([share[-1] ^ 1])}
    )
    for response in responses.values():
        srv = server.receive_unmasking(srv, response)
    with pytest.raises(InvalidMessageError, match="does not match"):
        server.close_unmasking(srv)
