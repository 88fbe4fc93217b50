"""Client side of secure aggregation: a state machine with one pure function per round."""

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TypeVar

from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.fixedpoint import RingArray, pack, ring_dtype
from protocols.secagg.config import SecAggConfig
from protocols.secagg.envelope import SharePair, open_shares, seal_shares
from protocols.secagg.keys import KEY_BYTES, KeyPair, generate_keypair, mask_seed, share_key
from protocols.secagg.masking import SEED_BYTES, Sign, add_masks
from protocols.secagg.messages import (
    AdvertiseKeys,
    KeyTable,
    MaskedInput,
    PublicKeys,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.shamir import SHARE_BYTES, split_secret

RandBytes = Callable[[int], bytes]
_T = TypeVar("_T")


class ClientStage(Enum):
    """Client stages.

    INIT -advertise_keys-> KEYS_ADVERTISED -share_keys-> SHARES_SENT -masked_input-> MASKED_INPUT_SENT
    -unmask-> DONE. Each round function returns the new state and its reply; the input state is never changed.
    """

    INIT = "init"
    KEYS_ADVERTISED = "keys_advertised"
    SHARES_SENT = "shares_sent"
    MASKED_INPUT_SENT = "masked_input_sent"
    DONE = "done"


@dataclass(frozen=True)
class ClientState:
    """Secrets are dropped as soon as no later round needs them."""

    config: SecAggConfig
    client_id: str
    stage: ClientStage = ClientStage.INIT
    cipher_keys: KeyPair | None = None
    mask_keys: KeyPair | None = None
    key_table: Mapping[str, PublicKeys] = field(default_factory=dict)  # U1
    self_seed: bytes | None = field(default=None, repr=False)  # b_u
    held_shares: Mapping[str, SharePair] = field(default_factory=dict, repr=False)  # by owner; keys = U2


def new_client(config: SecAggConfig, client_id: str) -> ClientState:
    if not config.is_participant(client_id):
        raise ValueError(f"{client_id!r} is not a participant of this session")
    return ClientState(config=config, client_id=client_id)


def advertise_keys(
    state: ClientState, *, randbytes: RandBytes = os.urandom
) -> tuple[ClientState, AdvertiseKeys]:
    """Round 0: draw the share-encryption and mask key pairs and publish both public keys."""
    _require(state, ClientStage.INIT)
    cipher, mask = generate_keypair(randbytes), generate_keypair(randbytes)
    message = AdvertiseKeys(state.client_id, PublicKeys(cipher.public, mask.public))
    return replace(state, stage=ClientStage.KEYS_ADVERTISED, cipher_keys=cipher, mask_keys=mask), message


def share_keys(
    state: ClientState, table: KeyTable, *, randbytes: RandBytes = os.urandom
) -> tuple[ClientState, ShareKeys]:
    """Round 1: Shamir-share b_u and the mask secret key; encrypt one pair of shares to each peer in U1."""
    _require(state, ClientStage.KEYS_ADVERTISED)
    cfg, me = state.config, state.client_id
    cipher, mask = _present(state.cipher_keys), _present(state.mask_keys)
    _check_key_table(state, table)
    seed = randbytes(SEED_BYTES)
    if len(seed) != SEED_BYTES:
        raise ValueError("randbytes returned the wrong number of bytes")
    xs = {v: cfg.x_coordinate(v) for v in table.keys}
    seed_shares = split_secret(seed, cfg.threshold, xs.values())
    key_shares = split_secret(mask.secret, cfg.threshold, xs.values())
    envelopes: dict[str, bytes] = {}
    for peer in cfg.ordered(v for v in table.keys if v != me):
        key = share_key(
            cipher.secret,
            table.keys[peer].cipher_public,
            session_id=cfg.session_id,
            sender=me,
            recipient=peer,
        )
        shares = SharePair(seed_shares[xs[peer]], key_shares[xs[peer]])
        envelopes[peer] = seal_shares(
            key, shares, session_id=cfg.session_id, sender=me, recipient=peer, randbytes=randbytes
        )
    own = SharePair(seed_shares[xs[me]], key_shares[xs[me]])
    new_state = replace(
        state,
        stage=ClientStage.SHARES_SENT,
        key_table=dict(table.keys),
        self_seed=seed,
        held_shares={me: own},
    )
    return new_state, ShareKeys(me, envelopes)


def masked_input(state: ClientState, relayed: RelayedShares, x: RingArray) -> tuple[ClientState, MaskedInput]:
    """Round 2: open every share received, then send y_u = x_u + PRG(b_u) + signed pairwise masks."""
    _require(state, ClientStage.SHARES_SENT)
    cfg, me = state.config, state.client_id
    if relayed.recipient != me:
        raise InvalidMessageError(f"shares addressed to {relayed.recipient!r} delivered to {me!r}")
    senders = set(relayed.envelopes)
    if me in senders or not senders <= state.key_table.keys():
        raise InvalidMessageError("relayed shares come from parties outside U1")
    if len(senders) + 1 < cfg.threshold:
        raise ThresholdError(f"only {len(senders) + 1} parties in U2, {cfg.threshold} needed")
    vector = _check_input(cfg, x)
    held = dict(state.held_shares)
    held.update(_open_all(state, relayed))
    masked = vector.copy()
    add_masks(masked, [(_present(state.self_seed), 1), *_pairwise_masks(state, held.keys())])
    # From here on only the held shares are needed: forget b_u and both secret keys.
    new_state = replace(
        state,
        stage=ClientStage.MASKED_INPUT_SENT,
        held_shares=held,
        self_seed=None,
        cipher_keys=None,
        mask_keys=None,
    )
    return new_state, MaskedInput(me, pack(masked, cfg.ring_bits))


def unmask(state: ClientState, request: UnmaskRequest) -> tuple[ClientState, UnmaskResponse]:
    """Round 3: reveal b-shares of survivors and key shares of dropped parties, never both for one party."""
    _require(state, ClientStage.MASKED_INPUT_SENT)
    cfg, me, held = state.config, state.client_id, state.held_shares
    survivors, dropped = set(request.survivors), set(request.dropped)
    if len(survivors) != len(request.survivors) or len(dropped) != len(request.dropped):
        raise InvalidMessageError("unmask request lists a party twice")
    if survivors & dropped:
        raise InvalidMessageError(
            f"unmask request names {sorted(survivors & dropped)} as survivor and dropped"
        )
    if me not in survivors or not survivors <= held.keys():
        raise InvalidMessageError("unmask request survivors are not a subset of U2 containing this client")
    if dropped != held.keys() - survivors:
        raise InvalidMessageError("unmask request dropped set is not U2 minus the survivors")
    if len(survivors) < cfg.threshold:
        raise ThresholdError(f"only {len(survivors)} survivors, {cfg.threshold} needed")
    response = UnmaskResponse(
        sender=me,
        self_mask_shares={v: held[v].self_mask for v in cfg.ordered(survivors)},
        mask_key_shares={v: held[v].mask_key for v in cfg.ordered(dropped)},
    )
    return replace(state, stage=ClientStage.DONE, held_shares={}), response


def _check_key_table(state: ClientState, table: KeyTable) -> None:
    cfg, me = state.config, state.client_id
    unknown = [v for v in table.keys if not cfg.is_participant(v)]
    if unknown:
        raise InvalidMessageError(f"key table names unknown parties {unknown}")
    mine = PublicKeys(_present(state.cipher_keys).public, _present(state.mask_keys).public)
    if table.keys.get(me) != mine:
        raise InvalidMessageError("key table lacks or alters this client's own keys")
    publics = [k for keys in table.keys.values() for k in (keys.cipher_public, keys.mask_public)]
    if any(len(k) != KEY_BYTES for k in publics):
        raise InvalidMessageError("key table holds a public key of the wrong length")
    if len(set(publics)) != len(publics):
        raise InvalidMessageError("key table repeats a public key")
    if len(table.keys) < cfg.threshold:
        raise ThresholdError(f"only {len(table.keys)} parties advertised keys, {cfg.threshold} needed")


def _open_all(state: ClientState, relayed: RelayedShares) -> dict[str, SharePair]:
    cfg, me = state.config, state.client_id
    cipher = _present(state.cipher_keys)
    opened: dict[str, SharePair] = {}
    for sender, envelope in relayed.envelopes.items():
        key = share_key(
            cipher.secret,
            state.key_table[sender].cipher_public,
            session_id=cfg.session_id,
            sender=sender,
            recipient=me,
        )
        shares = open_shares(key, envelope, session_id=cfg.session_id, sender=sender, recipient=me)
        if len(shares.self_mask) != SHARE_BYTES or len(shares.mask_key) != SHARE_BYTES:
            raise InvalidMessageError(f"shares from {sender!r} have the wrong length")
        opened[sender] = shares
    return opened


def _pairwise_masks(state: ClientState, u2: Iterable[str]) -> list[tuple[bytes, Sign]]:
    """Mask s_uv enters with + when v comes after u in the participant order, with - otherwise."""
    cfg, me = state.config, state.client_id
    secret = _present(state.mask_keys).secret
    mine = cfg.position(me)
    masks: list[tuple[bytes, Sign]] = []
    for peer in u2:
        if peer == me:
            continue
        later = cfg.position(peer) > mine
        first, second = (me, peer) if later else (peer, me)
        seed = mask_seed(
            secret, state.key_table[peer].mask_public, session_id=cfg.session_id, first=first, second=second
        )
        masks.append((seed, 1 if later else -1))
    return masks


def _check_input(cfg: SecAggConfig, x: RingArray) -> RingArray:
    if x.dtype != ring_dtype(cfg.ring_bits) or x.shape != (cfg.vector_length,):
        expected = f"({cfg.vector_length},) {ring_dtype(cfg.ring_bits)}"
        raise InvalidMessageError(f"input must be {expected}, got {x.shape} {x.dtype}")
    return x


def _require(state: ClientState, stage: ClientStage) -> None:
    if state.stage is not stage:
        raise StageError(f"client {state.client_id!r} is in stage {state.stage.value}, not {stage.value}")


def _present(value: _T | None) -> _T:
    if value is None:
        raise StageError("client state lacks a value its stage should have")
    return value
