"""Client side of secure aggregation: a state machine with one pure function per round."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TypeVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.exceptions import InvalidMessageError, StageError
from protocols.fixedpoint import RingArray, pack
from protocols.secagg import signing
from protocols.secagg.client_checks import (
    check_consistency_signatures,
    check_input,
    check_key_table,
    check_relayed,
    check_signing_key,
    check_survivors,
    check_unmask_request,
)
from protocols.secagg.config import SecAggConfig
from protocols.secagg.envelope import SharePair, open_shares, seal_shares
from protocols.secagg.keys import KeyPair, agree_all, derive_share_key, generate_keypair
from protocols.secagg.masking import SEED_BYTES, add_masks
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencySignature,
    KeyTable,
    MaskedInput,
    PublicKeys,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.pairwise import mask_vector, negated, pairwise_masks
from protocols.secagg.shamir import SHARE_BYTES, split_secret

RandBytes = Callable[[int], bytes]
_T = TypeVar("_T")


class ClientStage(Enum):
    """Client stages; each round function returns the new state and its reply, never changing its input.

    INIT -advertise_keys-> KEYS_ADVERTISED -share_keys-> SHARES_SENT [-prepare_masks-> MASKS_PREPARED]
    -masked_input-> MASKED_INPUT_SENT, then in malicious mode -consistency-> CONSISTENCY_SIGNED
    -unmask-> DONE, in semi-honest mode -unmask-> DONE straight away.
    """

    INIT = "init"
    KEYS_ADVERTISED = "keys_advertised"
    SHARES_SENT = "shares_sent"
    MASKS_PREPARED = "masks_prepared"
    MASKED_INPUT_SENT = "masked_input_sent"
    CONSISTENCY_SIGNED = "consistency_signed"
    DONE = "done"


@dataclass(frozen=True)
class ClientState:
    """Secrets are dropped as soon as no later round needs them."""

    config: SecAggConfig
    client_id: str
    stage: ClientStage = ClientStage.INIT
    cipher_keys: KeyPair | None = None
    mask_keys: KeyPair | None = None
    self_seed: bytes | None = field(default=None, repr=False)  # b_u
    advertised: PublicKeys | None = None
    key_table: Mapping[str, PublicKeys] = field(default_factory=dict)  # U1
    inbound_keys: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # AEAD keys, by sender
    prepared: RingArray | None = field(default=None, repr=False, compare=False)  # PRG(b_u) + masks with U1
    held_shares: Mapping[str, SharePair] = field(default_factory=dict, repr=False)  # by owner; keys = U2
    signed_survivors: tuple[str, ...] = ()  # U3 as this client signed it
    consistency_signature: bytes = b""


def new_client(config: SecAggConfig, client_id: str) -> ClientState:
    if not config.is_participant(client_id):
        raise ValueError(f"{client_id!r} is not a participant of this session")
    return ClientState(config=config, client_id=client_id)


def advertise_keys(
    state: ClientState, *, signing_key: Ed25519PrivateKey | None = None, randbytes: RandBytes = os.urandom
) -> tuple[ClientState, AdvertiseKeys]:
    """Round 0: draw both key pairs and b_u; publish the public keys (and in malicious mode sign them).

    b_u is drawn here, not when it is shared, so that its commitment can travel in the signed advertisement.
    """
    _require(state, ClientStage.INIT)
    cfg, me = state.config, state.client_id
    cipher, mask = generate_keypair(randbytes), generate_keypair(randbytes)
    seed = randbytes(SEED_BYTES)
    if len(seed) != SEED_BYTES:
        raise ValueError("randbytes returned the wrong number of bytes")
    keys = PublicKeys(cipher.public, mask.public)
    if cfg.malicious:
        keys = signing.signed_advertisement(
            check_signing_key(state.config, state.client_id, signing_key), cfg.session_id, me, keys, seed
        )
    new_state = replace(
        state, stage=ClientStage.KEYS_ADVERTISED, cipher_keys=cipher, mask_keys=mask, self_seed=seed
    )
    return replace(new_state, advertised=keys), AdvertiseKeys(me, keys)


def share_keys(
    state: ClientState, table: KeyTable, *, randbytes: RandBytes = os.urandom
) -> tuple[ClientState, ShareKeys]:
    """Round 1: check the key table, Shamir-share b_u and the mask secret key, encrypt a pair to each peer.

    The share-encryption keys of both directions are derived from one key agreement per peer, so the
    cipher secret key is no longer needed afterwards and is dropped.
    """
    _require(state, ClientStage.KEYS_ADVERTISED)
    cfg, me = state.config, state.client_id
    cipher, mask = _present(state.cipher_keys), _present(state.mask_keys)
    check_key_table(cfg, me, _present(state.advertised), table)
    xs = {v: cfg.x_coordinate(v) for v in table.keys}
    seed_shares = split_secret(_present(state.self_seed), cfg.threshold, xs.values())
    key_shares = split_secret(mask.secret, cfg.threshold, xs.values())
    peers = cfg.ordered(v for v in table.keys if v != me)
    shared = agree_all(cipher.secret, {v: table.keys[v].cipher_public for v in peers})
    envelopes: dict[str, bytes] = {}
    inbound: dict[str, bytes] = {}
    for peer in peers:
        key = derive_share_key(shared[peer], session_id=cfg.session_id, sender=me, recipient=peer)
        inbound[peer] = derive_share_key(shared[peer], session_id=cfg.session_id, sender=peer, recipient=me)
        shares = SharePair(seed_shares[xs[peer]], key_shares[xs[peer]])
        envelopes[peer] = seal_shares(
            key, shares, session_id=cfg.session_id, sender=me, recipient=peer, randbytes=randbytes
        )
    own = SharePair(seed_shares[xs[me]], key_shares[xs[me]])
    new_state = replace(
        state,
        stage=ClientStage.SHARES_SENT,
        key_table=dict(table.keys),
        cipher_keys=None,
        inbound_keys=inbound,
        held_shares={me: own},
    )
    return new_state, ShareKeys(me, envelopes)


def prepare_masks(state: ClientState) -> ClientState:
    """Optional, while the server waits for the others: sum PRG(b_u) and the pairwise masks with all of U1.

    This is nearly all of the masking work, and it depends on nothing the next round brings: the masked
    input then only adds x_u and removes the masks of the (usually no) members of U1 missing from U2.
    """
    _require(state, ClientStage.SHARES_SENT)
    peers = {v: keys.mask_public for v, keys in state.key_table.items()}
    masks = pairwise_masks(state.config, state.client_id, _present(state.mask_keys).secret, peers)
    prepared = mask_vector(state.config, _present(state.self_seed), masks)
    prepared.flags.writeable = False  # shared by every state derived from this one
    return replace(state, stage=ClientStage.MASKS_PREPARED, prepared=prepared)


def masked_input(state: ClientState, relayed: RelayedShares, x: RingArray) -> tuple[ClientState, MaskedInput]:
    """Round 2: open every share received, then send y_u = x_u + PRG(b_u) + signed pairwise masks with U2."""
    _require(state, ClientStage.SHARES_SENT, ClientStage.MASKS_PREPARED)
    cfg, me = state.config, state.client_id
    check_relayed(cfg, me, state.key_table.keys(), relayed)
    vector = check_input(cfg, x)
    held = dict(state.held_shares)
    held.update(_open_all(state, relayed))
    secret = _present(state.mask_keys).secret
    if state.prepared is not None:
        masked = np.add(vector, state.prepared)
        missing = {v: k.mask_public for v, k in state.key_table.items() if v not in held}
        if missing:
            add_masks(masked, negated(pairwise_masks(cfg, me, secret, missing)))
    else:
        masked = vector.copy()
        peers = {v: state.key_table[v].mask_public for v in held}
        add_masks(masked, [(_present(state.self_seed), 1), *pairwise_masks(cfg, me, secret, peers)])
    # From here on only the held shares are needed: forget b_u, the mask secret key and the mask sum.
    new_state = replace(
        state,
        stage=ClientStage.MASKED_INPUT_SENT,
        held_shares=held,
        self_seed=None,
        mask_keys=None,
        inbound_keys={},
        prepared=None,
    )
    return new_state, MaskedInput(me, pack(masked, cfg.ring_bits))


def consistency(
    state: ClientState, request: ConsistencyRequest, *, signing_key: Ed25519PrivateKey | None = None
) -> tuple[ClientState, ConsistencySignature]:
    """Malicious mode only: sign the survivor set U3 the server shows this client.

    The client later reveals shares only for the set it signed, and only when t survivors signed that very
    set, so a server cannot show different clients different sets to get both shares of one party.
    """
    _require(state, ClientStage.MASKED_INPUT_SENT)
    cfg = state.config
    if not cfg.malicious:
        raise StageError("the consistency round exists only in malicious mode")
    key = check_signing_key(state.config, state.client_id, signing_key)
    survivors = check_survivors(cfg, state.client_id, state.held_shares.keys(), request.survivors)
    signature = signing.sign(key, signing.consistency_message(cfg.session_id, survivors))
    new_state = replace(
        state,
        stage=ClientStage.CONSISTENCY_SIGNED,
        signed_survivors=survivors,
        consistency_signature=signature,
    )
    return new_state, ConsistencySignature(state.client_id, signature)


def unmask(state: ClientState, request: UnmaskRequest) -> tuple[ClientState, UnmaskResponse]:
    """Last round: reveal b-shares of survivors and key shares of the dropped, never both for one party."""
    cfg, me, held = state.config, state.client_id, state.held_shares
    _require(state, ClientStage.CONSISTENCY_SIGNED if cfg.malicious else ClientStage.MASKED_INPUT_SENT)
    check_unmask_request(cfg, me, held.keys(), request)
    if cfg.malicious:
        check_consistency_signatures(cfg, me, state.signed_survivors, state.consistency_signature, request)
    response = UnmaskResponse(
        sender=me,
        self_mask_shares={v: held[v].self_mask for v in cfg.ordered(request.survivors)},
        mask_key_shares={v: held[v].mask_key for v in cfg.ordered(request.dropped)},
    )
    return replace(state, stage=ClientStage.DONE, held_shares={}, signed_survivors=()), response


def _open_all(state: ClientState, relayed: RelayedShares) -> dict[str, SharePair]:
    cfg, me = state.config, state.client_id
    opened: dict[str, SharePair] = {}
    for sender, envelope in relayed.envelopes.items():
        key = state.inbound_keys[sender]
        shares = open_shares(key, envelope, session_id=cfg.session_id, sender=sender, recipient=me)
        if len(shares.self_mask) != SHARE_BYTES or len(shares.mask_key) != SHARE_BYTES:
            raise InvalidMessageError(f"shares from {sender!r} have the wrong length")
        opened[sender] = shares
    return opened


def _require(state: ClientState, *stages: ClientStage) -> None:
    if state.stage not in stages:
        expected = " or ".join(s.value for s in stages)
        raise StageError(f"client {state.client_id!r} is in stage {state.stage.value}, not {expected}")


def _present(value: _T | None) -> _T:
    if value is None:
        raise StageError("client state lacks a value its stage should have")
    return value
