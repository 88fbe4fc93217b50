"""Client round functions: what each round accepts, what it refuses, and which secrets it forgets."""

import dataclasses

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.secagg import client, signing
from protocols.secagg.client import ClientStage
from protocols.secagg.messages import ConsistencyRequest, KeyTable, PublicKeys, RelayedShares, UnmaskRequest
from tests.protocols.secagg.staging import Recording, make_config


def test_new_client_rejects_unknown_id() -> None:
    with pytest.raises(ValueError, match="not a participant"):
        client.new_client(make_config(), "outsider")


def test_advertised_keys_are_raw_32_byte_and_distinct(recording: Recording) -> None:
    keys = recording.advertise.keys
    assert len(keys.cipher_public) == len(keys.mask_public) == 32
    assert keys.cipher_public != keys.mask_public


def test_advertisement_commits_to_the_seed_and_is_signed(recording: Recording) -> None:
    cfg, me = recording.config, recording.advertise.sender
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    keys = recording.advertise.keys
    assert state.self_seed is not None and len(state.self_seed) == 32
    assert keys.seed_commitment == signing.seed_commitment(cfg.session_id, me, state.self_seed)
    message = signing.advertisement_message(cfg.session_id, me, keys)
    recording.signing_keys[me].public_key().verify(keys.signature, message)  # raises if invalid


def test_semi_honest_advertisement_is_neither_committed_nor_signed(semi_honest_recording: Recording) -> None:
    keys = semi_honest_recording.advertise.keys
    assert keys.seed_commitment == b"" and keys.signature == b""


def test_advertise_keys_needs_this_clients_own_signing_key(recording: Recording) -> None:
    state = recording.clients[ClientStage.INIT]
    with pytest.raises(ValueError, match="signing key"):
        client.advertise_keys(state)
    with pytest.raises(ValueError, match="does not match"):
        client.advertise_keys(state, signing_key=Ed25519PrivateKey.generate())


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
    assert new_state.cipher_keys is None  # both directions' envelope keys are derived: the secret goes


@pytest.mark.parametrize(
    "change",
    ["drop_own", "alter_own", "unknown_party", "short_key", "repeated_key", "short_commitment"],
)
def test_share_keys_rejects_bad_key_table(recording: Recording, change: str) -> None:
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    me, other = state.client_id, recording.config.participants[1]
    own, theirs = recording.table.keys[me], recording.table.keys[other]
    tables = {
        "drop_own": _with_table(recording, **{me: None}),
        "alter_own": _with_table(recording, **{me: dataclasses.replace(own, cipher_public=own.mask_public)}),
        "unknown_party": _with_table(recording, outsider=theirs),
        "short_key": _with_table(
            recording, **{other: dataclasses.replace(theirs, cipher_public=b"\x01" * 31)}
        ),
        "repeated_key": _with_table(recording, **{other: own}),
        "short_commitment": _with_table(
            recording, **{other: dataclasses.replace(theirs, seed_commitment=b"")}
        ),
    }
    with pytest.raises(InvalidMessageError):
        client.share_keys(state, tables[change])


def test_share_keys_refuses_table_below_threshold(recording: Recording) -> None:
    state = recording.clients[ClientStage.KEYS_ADVERTISED]
    keep = recording.config.participants[: recording.config.threshold - 1]
    with pytest.raises(ThresholdError):
        client.share_keys(state, KeyTable({u: recording.table.keys[u] for u in keep}))


def test_masked_input_packs_vector_and_forgets_secrets(recording: Recording) -> None:
    for stage in (ClientStage.SHARES_SENT, ClientStage.MASKS_PREPARED):
        state = recording.clients[stage]
        new_state, message = client.masked_input(state, recording.relayed, recording.inputs[state.client_id])
        assert len(message.masked) == recording.config.packed_bytes
        assert new_state.self_seed is None and new_state.mask_keys is None and new_state.cipher_keys is None
        assert new_state.prepared is None and not new_state.inbound_keys
        assert set(new_state.held_shares) == set(recording.config.participants)


def test_prepare_masks_keeps_the_secrets_masked_input_needs(recording: Recording) -> None:
    prepared = recording.clients[ClientStage.MASKS_PREPARED]
    assert prepared.prepared is not None and prepared.prepared.shape == (recording.config.vector_length,)
    assert not prepared.prepared.flags.writeable  # shared by every state derived from this one
    assert prepared.mask_keys is not None  # needed if a member of U1 is missing from U2
    assert "prepared=" not in repr(prepared) and "self_seed=" not in repr(prepared)


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
    for stage in (ClientStage.SHARES_SENT, ClientStage.MASKS_PREPARED):
        with pytest.raises(InvalidMessageError):
            client.masked_input(recording.clients[stage], recording.relayed, x)


def test_consistency_signs_the_survivor_set_in_participant_order(recording: Recording) -> None:
    cfg = recording.config
    state = recording.clients[ClientStage.MASKED_INPUT_SENT]
    shuffled = tuple(reversed(cfg.participants[:3]))
    new_state, message = client.consistency(
        state, ConsistencyRequest(shuffled), signing_key=recording.signing_keys[state.client_id]
    )
    assert new_state.signed_survivors == cfg.participants[:3]
    message_bytes = signing.consistency_message(cfg.session_id, cfg.participants[:3])
    cfg.verifier(state.client_id).verify(message.signature, message_bytes)


@pytest.mark.parametrize(
    ("survivors", "error"),
    [
        (("factory-1", "factory-2", "factory-3"), InvalidMessageError),  # this client is not a survivor
        (("factory-0", "factory-1", "outsider"), InvalidMessageError),  # survivor outside U2
        (("factory-0", "factory-0", "factory-1", "factory-2"), InvalidMessageError),  # duplicate
        (("factory-0", "factory-1"), ThresholdError),
    ],
)
def test_consistency_rejects_bad_survivor_sets(
    recording: Recording, survivors: tuple[str, ...], error: type[Exception]
) -> None:
    state = recording.clients[ClientStage.MASKED_INPUT_SENT]
    with pytest.raises(error):
        client.consistency(
            state, ConsistencyRequest(survivors), signing_key=recording.signing_keys["factory-0"]
        )


def test_consistency_needs_the_signing_key_and_malicious_mode(
    recording: Recording, semi_honest_recording: Recording
) -> None:
    request = ConsistencyRequest(recording.config.participants)
    with pytest.raises(ValueError):
        client.consistency(recording.clients[ClientStage.MASKED_INPUT_SENT], request)
    with pytest.raises(StageError):
        client.consistency(
            semi_honest_recording.clients[ClientStage.MASKED_INPUT_SENT],
            request,
            signing_key=semi_honest_recording.signing_keys["factory-0"],
        )


def test_unmask_reveals_b_shares_of_survivors_and_key_shares_of_dropped(
    semi_honest_recording: Recording,
) -> None:
    state = semi_honest_recording.clients[ClientStage.MASKED_INPUT_SENT]
    *survivors, gone = semi_honest_recording.config.participants
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
        (("factory-0", "factory-1", "factory-2"), ("factory-3", "factory-3")),  # duplicate dropped
    ],
)
def test_unmask_rejects_inconsistent_sets(
    semi_honest_recording: Recording, survivors: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    state = semi_honest_recording.clients[ClientStage.MASKED_INPUT_SENT]
    with pytest.raises(InvalidMessageError):
        client.unmask(state, UnmaskRequest(survivors, dropped))


def test_unmask_refuses_survivors_below_threshold(semi_honest_recording: Recording) -> None:
    request = UnmaskRequest(("factory-0", "factory-1"), ("factory-2", "factory-3"))
    with pytest.raises(ThresholdError):
        client.unmask(semi_honest_recording.clients[ClientStage.MASKED_INPUT_SENT], request)


def test_states_are_not_mutated(recording: Recording) -> None:
    for stage in (ClientStage.SHARES_SENT, ClientStage.MASKS_PREPARED):
        state = recording.clients[stage]
        before = dataclasses.replace(state)
        prepared = None if state.prepared is None else state.prepared.copy()
        client.masked_input(state, recording.relayed, recording.inputs[state.client_id])
        assert state == before
        assert (state.prepared is None) == (prepared is None)
        if prepared is not None:
            assert np.array_equal(state.prepared, prepared)
