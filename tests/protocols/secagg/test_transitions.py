"""Walks the full transition table in both modes: every round function in every reachable stage.

Legal calls succeed and move the stage on; every other call raises StageError.
"""

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from protocols.exceptions import StageError
from protocols.secagg import client, server
from protocols.secagg.client import ClientStage
from protocols.secagg.config import SecurityMode
from protocols.secagg.messages import ConsistencyRequest
from protocols.secagg.server import ServerStage
from tests.protocols.secagg.staging import MALICIOUS, SEMI_HONEST, Recording

ClientCall = Callable[[client.ClientState, Recording], Any]
ServerCall = Callable[[server.ServerState, Recording], Any]
Legal = dict[SecurityMode, set[ClientStage]]
C = ClientStage
BOTH = (MALICIOUS, SEMI_HONEST)


def _key(s: client.ClientState, r: Recording) -> Any:
    return r.signing_keys[s.client_id]


def _consistency_request(r: Recording) -> Any:
    # Semi-honest runs have no consistency round; any request shows the call is refused regardless.
    return r.consistency_request or ConsistencyRequest(r.request.survivors)


CLIENT_CALLS: dict[str, tuple[Legal, ClientCall]] = {
    "advertise_keys": (
        {m: {C.INIT} for m in BOTH},
        lambda s, r: client.advertise_keys(s, signing_key=_key(s, r)),
    ),
    "share_keys": ({m: {C.KEYS_ADVERTISED} for m in BOTH}, lambda s, r: client.share_keys(s, r.table)),
    "prepare_masks": ({m: {C.SHARES_SENT} for m in BOTH}, lambda s, r: (client.prepare_masks(s), None)),
    "masked_input": (
        {m: {C.SHARES_SENT, C.MASKS_PREPARED} for m in BOTH},
        lambda s, r: client.masked_input(s, r.relayed, r.inputs[s.client_id]),
    ),
    "consistency": (
        {MALICIOUS: {C.MASKED_INPUT_SENT}, SEMI_HONEST: set()},
        lambda s, r: client.consistency(s, _consistency_request(r), signing_key=_key(s, r)),
    ),
    "unmask": (
        {MALICIOUS: {C.CONSISTENCY_SIGNED}, SEMI_HONEST: {C.MASKED_INPUT_SENT}},
        lambda s, r: client.unmask(s, r.request),
    ),
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
    "receive_consistency": (
        ServerStage.COLLECTING_CONSISTENCY,
        lambda s, r: server.receive_consistency(s, r.consistency),
    ),
    "close_consistency": (ServerStage.COLLECTING_CONSISTENCY, lambda s, r: server.close_consistency(s)),
    "receive_unmasking": (
        ServerStage.COLLECTING_UNMASKING,
        lambda s, r: server.receive_unmasking(s, r.response),
    ),
    "close_unmasking": (ServerStage.COLLECTING_UNMASKING, lambda s, r: server.close_unmasking(s)),
}


REACHABLE_CLIENT = {
    MALICIOUS: list(ClientStage),
    SEMI_HONEST: [s for s in ClientStage if s is not C.CONSISTENCY_SIGNED],
}
REACHABLE_SERVER = {
    MALICIOUS: list(ServerStage),
    SEMI_HONEST: [s for s in ServerStage if s is not ServerStage.COLLECTING_CONSISTENCY],
}


def _recording(request: pytest.FixtureRequest, mode: SecurityMode) -> Recording:
    name = "recording" if mode is MALICIOUS else "semi_honest_recording"
    recording: Recording = request.getfixturevalue(name)
    return recording


def _round_functions(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == getattr(module, "__name__", None)
        if not name.startswith("_") and not name.startswith("new_")
    }


@pytest.mark.parametrize("mode", BOTH, ids=str)
def test_tables_cover_every_stage_and_function(request: pytest.FixtureRequest, mode: SecurityMode) -> None:
    recording = _recording(request, mode)
    legal_client = set().union(*(legal[mode] for legal, _ in CLIENT_CALLS.values()))
    assert set(recording.clients) == set(REACHABLE_CLIENT[mode])
    assert legal_client == set(REACHABLE_CLIENT[mode]) - {C.DONE}
    assert {stage for stage, _ in SERVER_CALLS.values()} == set(ServerStage) - {ServerStage.DONE}
    assert set(recording.server_start) == set(REACHABLE_SERVER[mode])
    assert _round_functions(server) == set(SERVER_CALLS)
    assert _round_functions(client) == set(CLIENT_CALLS)


@pytest.mark.parametrize("name", list(CLIENT_CALLS))
@pytest.mark.parametrize(
    ("mode", "stage"),
    [(m, s) for m in BOTH for s in REACHABLE_CLIENT[m]],
    ids=lambda v: v.value if isinstance(v, ClientStage) else str(v),
)
def test_client_transition(
    request: pytest.FixtureRequest, mode: SecurityMode, stage: ClientStage, name: str
) -> None:
    recording = _recording(request, mode)
    legal, call = CLIENT_CALLS[name]
    state = recording.clients[stage]
    assert state.stage is stage
    if stage in legal[mode]:
        new_state, _ = call(state, recording)
        assert new_state.stage is not stage
        assert state.stage is stage  # the input state is never modified
    else:
        with pytest.raises(StageError):
            call(state, recording)


@pytest.mark.parametrize("name", list(SERVER_CALLS))
@pytest.mark.parametrize(
    ("mode", "stage"),
    [(m, s) for m in BOTH for s in REACHABLE_SERVER[m]],
    ids=lambda v: v.value if isinstance(v, ServerStage) else str(v),
)
def test_server_transition(
    request: pytest.FixtureRequest, mode: SecurityMode, stage: ServerStage, name: str
) -> None:
    recording = _recording(request, mode)
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
