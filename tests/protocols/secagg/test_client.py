"""Client round functions: what each round accepts, what it refuses, and which secrets it forgets."""

import dataclasses

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg import client
from protocols.secagg.client import ClientStage
from protocols.secagg.messages import KeyTable, PublicKeys, RelayedShares, UnmaskRequest
from tests.protocols.secagg.staging import Recording, make_config


def test_new_client_rejects_unknown_id() -> None:
    with pytest.raises(ValueError, match="not a participant"):
        client.new_client(make_config(), "outsider")


def test_advertised_keys_are_raw_32_byte_and_distinct(recording: Recording) -> None:
    keys = recording.advertise.keys
    assert len(keys.cipher_public) == len(keys.mask_public) == 32
    assert keys.cipher_public != keys.mask_public


def _with_table(recording: Recording, **changes: PublicKeys | None) -> KeyTable:
    table = dict(recording.table.keys)
    for party, keys in changes.items():
        if keys is None:
            del table[party]
        else:
            table[party] = keys
    return KeyTable(table)


def test_share_keys_addresses_every_other_member(recording: Recording) -> None:
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    new_state, message = client.share_keys(state, recording.table)
    assert message.sender == state.client_id
    assert set(message.envelopes) == set(recording.table.keys) - {state.client_id}
    assert set(new_state.held_shares) == {state.client_id}


@pytest.mark.parametrize(
    "change",
    ["drop_own", "alter_own", "unknown_party", "short_key", "repeated_key"],
)
def test_share_keys_rejects_bad_key_table(recording: Recording, change: str) -> None:
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    me, other = state.client_id, recording.config.participants[1]
    own = recording.table.keys[me]
    tables = {
        "drop_own": _with_table(recording, **{me: None}),
        "alter_own": _with_table(recording, **{me: PublicKeys(own.mask_public, own.cipher_public)}),
        "unknown_party": _with_table(recording, outsider=recording.table.keys[other]),
        "short_key": _with_table(recording, **{other: PublicKeys(b"\x01" * 31, own.mask_public[::-1])}),
        "repeated_key": _with_table(recording, **{other: own}),
    }
    with pytest.raises(InvalidMessageError):
        client.share_keys(state, tables[change])


def test_share_keys_refuses_table_below_threshold(recording: Recording) -> None:
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    keep = recording.config.participants[: recording.config.threshold - 1]
    with pytest.raises(ThresholdError):
        client.share_keys(state, KeyTable({u: recording.table.keys[u] for u in keep}))


def test_masked_input_packs_vector_and_forgets_secrets(recording: Recording) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    new_state, message = client.masked_input(state, recording.relayed, recording.inputs[state.client_id])
    assert len(message.masked) == recording.config.packed_bytes
    assert new_state.self_seed is None and new_state.cipher_keys is None and new_state.mask_keys is None
    assert set(new_state.held_shares) == set(recording.config.participants)


def test_masked_input_rejects_misaddressed_or_foreign_shares(recording: Recording) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    x = recording.inputs[state.client_id]
    envelopes = dict(recording.relayed.envelopes)
    some_envelope = next(iter(envelopes.values()))
    bad = [
        RelayedShares("factory-1", envelopes),
        RelayedShares(state.client_id, {**envelopes, state.client_id: some_envelope}),
        RelayedShares(state.client_id, {**envelopes, "outsider": some_envelope}),
    ]
    for relayed in bad:
        with pytest.raises(InvalidMessageError):
            client.masked_input(state, relayed, x)


def test_masked_input_refuses_u2_below_threshold(recording: Recording) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    one = dict(list(recording.relayed.envelopes.items())[: recording.config.threshold - 2])
    with pytest.raises(ThresholdError):
        client.masked_input(state, RelayedShares(state.client_id, one), recording.inputs[state.client_id])


@pytest.mark.parametrize(
    "x",
    [np.zeros(7, np.uint32), np.zeros(8, np.uint64), np.zeros(8, np.float64), np.zeros((8, 1), np.uint32)],
    ids=["short", "wrong-ring", "float", "2-d"],
)
def test_masked_input_rejects_wrong_input_shape_or_dtype(recording: Recording, x: np.ndarray) -> None:
    with pytest.raises(InvalidMessageError):
        client.masked_input(recording.clients[ClientStage.SHARES_SENT], recording.relayed, x)


def test_unmask_reveals_b_shares_of_survivors_and_key_shares_of_dropped(recording: Recording) -> None:
    state = recording.clients[ClientStage.MASKED_INPUT_SENT]
    *survivors, gone = recording.config.participants
    new_state, response = client.unmask(state, UnmaskRequest(tuple(survivors), (gone,)))
    assert set(response.self_mask_shares) == set(survivors)
    assert set(response.mask_key_shares) == {gone}
    assert response.self_mask_shares[state.client_id] == state.held_shares[state.client_id].self_mask
    assert new_state.stage is ClientStage.DONE and not new_state.held_shares


@pytest.mark.parametrize(
    ("survivors", "dropped"),
    [
        (("factory-1", "factory-2", "factory-3"), ("factory-0",)),  # this client is not a survivor
        (("factory-0", "factory-1", "factory-2", "outsider"), ("factory-3",)),  # survivor outside U2
        (("factory-0", "factory-1", "factory-2"), ()),  # a member of U2 is neither survivor nor dropped
        (("factory-0", "factory-1", "factory-2"), ("factory-3", "outsider")),  # dropped outside U2
        (("factory-0", "factory-0", "factory-1", "factory-2"), ("factory-3",)),  # duplicate
    ],
)
def test_unmask_rejects_inconsistent_sets(
    recording: Recording, survivors: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidMessageError):
        client.unmask(recording.clients[ClientStage.MASKED_INPUT_SENT], UnmaskRequest(survivors, dropped))


def test_unmask_refuses_survivors_below_threshold(recording: Recording) -> None:
    request = UnmaskRequest(("factory-0", "factory-1"), ("factory-2", "factory-3"))
    with pytest.raises(ThresholdError):
        client.unmask(recording.clients[ClientStage.MASKED_INPUT_SENT], request)


def test_states_are_not_mutated(recording: Recording) -> None:
    state = recording.clients[ClientStage.SHARES_SENT]
    before = dataclasses.asdict(state)
    client.masked_input(state, recording.relayed, recording.inputs[state.client_id])
    assert dataclasses.asdict(state) == before
