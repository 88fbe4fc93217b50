"""Walks the full transition table: every round function in every stage, legal ones succeed, others raise."""

from collections.abc import Callable
from typing import Any

import pytest

from protocols.exceptions import StageError
from protocols.secagg import client, server
from protocols.secagg.client import ClientStage
from protocols.secagg.server import ServerStage
from tests.protocols.secagg.staging import Recording

ClientCall = Callable[[client.ClientState, Recording], Any]
ServerCall = Callable[[server.ServerState, Recording], Any]

CLIENT_CALLS: dict[str, tuple[ClientStage, ClientCall]] = {
    "advertise_keys": (ClientStage.INIT, lambda s, r: client.advertise_keys(s)),
    "share_keys": (ClientStage.KEYS_ADVERTISED, lambda s, r: client.share_keys(s, r.table)),
    "masked_input": (
        ClientStage.SHARES_SENT,
        lambda s, r: client.masked_input(s, r.relayed, r.inputs[s.client_id]),
    ),
    "unmask": (ClientStage.MASKED_INPUT_SENT, lambda s, r: client.unmask(s, r.request)),
}

SERVER_CALLS: dict[str, tuple[ServerStage, ServerCall]] = {
    "receive_keys": (ServerStage.COLLECTING_KEYS, lambda s, r: server.receive_keys(s, r.advertise)),
    "close_keys": (ServerStage.COLLECTING_KEYS, lambda s, r: server.close_keys(s)),
    "receive_shares": (ServerStage.COLLECTING_SHARES, lambda s, r: server.receive_shares(s, r.shares)),
    "close_shares": (ServerStage.COLLECTING_SHARES, lambda s, r: server.close_shares(s)),
    "receive_masked_input": (
        ServerStage.COLLECTING_MASKED_INPUTS,
        lambda s, r: server.receive_masked_input(s, r.masked),
    ),
    "close_masked_inputs": (ServerStage.COLLECTING_MASKED_INPUTS, lambda s, r: server.close_masked_inputs(s)),
    "receive_unmasking": (
        ServerStage.COLLECTING_UNMASKING,
        lambda s, r: server.receive_unmasking(s, r.response),
    ),
    "close_unmasking": (ServerStage.COLLECTING_UNMASKING, lambda s, r: server.close_unmasking(s)),
}


def test_tables_cover_every_stage_and_function() -> None:
    assert {stage for stage, _ in CLIENT_CALLS.values()} == set(ClientStage) - {ClientStage.DONE}
    assert {stage for stage, _ in SERVER_CALLS.values()} == set(ServerStage) - {ServerStage.DONE}
    assert {n for n in vars(server) if n.startswith(("receive_", "close_"))} == set(SERVER_CALLS)


@pytest.mark.parametrize("stage", list(ClientStage), ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(CLIENT_CALLS))
def test_client_transition(recording: Recording, stage: ClientStage, name: str) -> None:
    legal_stage, call = CLIENT_CALLS[name]
    state = recording.clients[stage]
    assert state.stage is stage
    if stage is legal_stage:
        new_state, _ = call(state, recording)
        assert new_state.stage is not stage
        assert state.stage is stage  # the input state is never modified
    else:
        with pytest.raises(StageError):
            call(state, recording)


@pytest.mark.parametrize("stage", list(ServerStage), ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(SERVER_CALLS))
def test_server_transition(recording: Recording, stage: ServerStage, name: str) -> None:
    legal_stage, call = SERVER_CALLS[name]
    # A receive is legal at the start of its round, a close once the round's messages are in.
    state = (recording.server_start if name.startswith("receive_") else recording.server_full)[stage]
    assert state.stage is stage
    if stage is legal_stage:
        result = call(state, recording)
        new_state = result[0] if isinstance(result, tuple) else result
        advanced = name.startswith("close_")
        assert (new_state.stage is not stage) == advanced
        assert state.stage is stage
    else:
        with pytest.raises(StageError):
            call(state, recording)
    for other in (recording.server_start[stage], recording.server_full[stage]):
        if stage is not legal_stage:
            with pytest.raises(StageError):
                call(other, recording)
