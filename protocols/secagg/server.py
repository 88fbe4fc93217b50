"""Server side of secure aggregation: a state machine that collects a round's messages, then closes the round.

``receive_*`` adds one client message; ``close_*`` fixes the round's participants and returns what to send.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.fixedpoint import RingArray, ring_dtype, unpack
from protocols.secagg.config import SecAggConfig
from protocols.secagg.envelope import NONCE_BYTES
from protocols.secagg.framing import frame
from protocols.secagg.keys import KEY_BYTES, mask_seed, public_key_of
from protocols.secagg.masking import Sign, add_masks
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
from protocols.secagg.shamir import PRIME, SHARE_BYTES, combine_secret

_AEAD_TAG_BYTES = 16  # AES-GCM's full-length tag, as seal_shares writes it


class ServerStage(Enum):
    """Server stages; each ``receive_*`` keeps the stage, each ``close_*`` moves to the next.

    COLLECTING_KEYS -close_keys-> COLLECTING_SHARES -close_shares-> COLLECTING_MASKED_INPUTS
    -close_masked_inputs-> COLLECTING_UNMASKING -close_unmasking-> DONE.
    """

    COLLECTING_KEYS = "collecting_keys"
    COLLECTING_SHARES = "collecting_shares"
    COLLECTING_MASKED_INPUTS = "collecting_masked_inputs"
    COLLECTING_UNMASKING = "collecting_unmasking"
    DONE = "done"


@dataclass(frozen=True)
class ServerState:
    """Messages received in the open round, plus the participant sets fixed by the rounds already closed."""

    config: SecAggConfig
    stage: ServerStage = ServerStage.COLLECTING_KEYS
    keys: Mapping[str, PublicKeys] = field(default_factory=dict)  # keys = U1 once round 0 is closed
    envelopes: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict, repr=False)
    u2: tuple[str, ...] = ()
    masked: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    u3: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    responses: Mapping[str, UnmaskResponse] = field(default_factory=dict, repr=False)


def new_server(config: SecAggConfig) -> ServerState:
    return ServerState(config=config)


def receive_keys(state: ServerState, message: AdvertiseKeys) -> ServerState:
    _require(state, ServerStage.COLLECTING_KEYS)
    _check_sender(message.sender, state.config.participants, state.keys)
    new = (message.keys.cipher_public, message.keys.mask_public)
    if any(len(k) != KEY_BYTES for k in new):
        raise InvalidMessageError(f"public keys of {message.sender!r} have the wrong length")
    # Clients refuse a table that repeats a key, so one copied key would otherwise stop the whole run.
    seen = {k for keys in state.keys.values() for k in (keys.cipher_public, keys.mask_public)}
    if new[0] == new[1] or seen.intersection(new):
        raise InvalidMessageError(f"public keys of {message.sender!r} repeat a key already advertised")
    return replace(state, keys={**state.keys, message.sender: message.keys})


def close_keys(state: ServerState) -> tuple[ServerState, dict[str, KeyTable]]:
    """Fix U1 and send every member the key table."""
    _require(state, ServerStage.COLLECTING_KEYS)
    u1 = state.config.ordered(state.keys)
    _check_threshold(state, len(u1), "advertised keys")
    table = KeyTable({u: state.keys[u] for u in u1})
    return replace(state, stage=ServerStage.COLLECTING_SHARES, keys=table.keys), {u: table for u in u1}


def receive_shares(state: ServerState, message: ShareKeys) -> ServerState:
    _require(state, ServerStage.COLLECTING_SHARES)
    _check_sender(message.sender, state.keys.keys(), state.envelopes)
    if message.envelopes.keys() != state.keys.keys() - {message.sender}:
        raise InvalidMessageError(f"{message.sender!r} did not address exactly the other members of U1")
    # An envelope the recipient cannot open would make it, not the sender, leave the run: check what we can.
    for recipient, envelope in message.envelopes.items():
        if len(envelope) != _envelope_bytes(message.sender, recipient):
            raise InvalidMessageError(
                f"{message.sender!r} sent {recipient!r} an envelope of the wrong length"
            )
    return replace(state, envelopes={**state.envelopes, message.sender: dict(message.envelopes)})


def close_shares(state: ServerState) -> tuple[ServerState, dict[str, RelayedShares]]:
    """Fix U2 and relay to each member the envelopes the other members addressed to it."""
    _require(state, ServerStage.COLLECTING_SHARES)
    u2 = state.config.ordered(state.envelopes)
    _check_threshold(state, len(u2), "shared their keys")
    outgoing = {v: RelayedShares(v, {u: state.envelopes[u][v] for u in u2 if u != v}) for v in u2}
    return replace(state, stage=ServerStage.COLLECTING_MASKED_INPUTS, u2=u2, envelopes={}), outgoing


def receive_masked_input(state: ServerState, message: MaskedInput) -> ServerState:
    _require(state, ServerStage.COLLECTING_MASKED_INPUTS)
    _check_sender(message.sender, state.u2, state.masked)
    if len(message.masked) != state.config.packed_bytes:
        size, expected = len(message.masked), state.config.packed_bytes
        raise InvalidMessageError(f"masked input of {message.sender!r} has {size} bytes, not {expected}")
    return replace(state, masked={**state.masked, message.sender: message.masked})


def close_masked_inputs(state: ServerState) -> tuple[ServerState, dict[str, UnmaskRequest]]:
    """Fix U3 (senders of masked input) and ask each of them to help unmask; dropped = U2 minus U3."""
    _require(state, ServerStage.COLLECTING_MASKED_INPUTS)
    u3 = state.config.ordered(state.masked)
    _check_threshold(state, len(u3), "sent masked input")
    dropped = tuple(v for v in state.u2 if v not in state.masked)
    request = UnmaskRequest(survivors=u3, dropped=dropped)
    new_state = replace(state, stage=ServerStage.COLLECTING_UNMASKING, u3=u3, dropped=dropped)
    return new_state, {u: request for u in u3}


def receive_unmasking(state: ServerState, message: UnmaskResponse) -> ServerState:
    _require(state, ServerStage.COLLECTING_UNMASKING)
    _check_sender(message.sender, state.u3, state.responses)
    _check_share_set(message.sender, message.self_mask_shares, state.u3)
    _check_share_set(message.sender, message.mask_key_shares, state.dropped)
    return replace(state, responses={**state.responses, message.sender: message})


def close_unmasking(state: ServerState) -> tuple[ServerState, RingArray]:
    """Rebuild survivors' b_v and dropped parties' mask keys; return the sum of U3's inputs mod 2^k."""
    _require(state, ServerStage.COLLECTING_UNMASKING)
    _check_threshold(state, len(state.responses), "answered the unmask request")
    cfg = state.config
    total = np.zeros(cfg.vector_length, dtype=ring_dtype(cfg.ring_bits))
    for u in state.u3:
        np.add(total, unpack(state.masked[u], cfg.ring_bits, cfg.vector_length), out=total)
    corrections: list[tuple[bytes, Sign]] = [(_reconstruct(state, v, key_share=False), -1) for v in state.u3]
    for d in state.dropped:
        corrections.extend(_dropped_pair_masks(state, d))
    add_masks(total, corrections)
    done = replace(state, stage=ServerStage.DONE, masked={}, responses={})
    return done, total


def _dropped_pair_masks(state: ServerState, d: str) -> list[tuple[bytes, Sign]]:
    """Corrections that cancel the masks survivors share with dropped party ``d``."""
    cfg = state.config
    secret = _reconstruct(state, d, key_share=True)
    if public_key_of(secret) != state.keys[d].mask_public:
        raise InvalidMessageError(f"reconstructed mask key of {d!r} does not match its advertised key")
    corrections: list[tuple[bytes, Sign]] = []
    for u in state.u3:
        # Survivor u added +PRG(s_ud) when d comes after u, so the server subtracts it, and vice versa.
        d_later = cfg.position(d) > cfg.position(u)
        first, second = (u, d) if d_later else (d, u)
        seed = mask_seed(
            secret, state.keys[u].mask_public, session_id=cfg.session_id, first=first, second=second
        )
        corrections.append((seed, -1 if d_later else 1))
    return corrections


def _reconstruct(state: ServerState, owner: str, *, key_share: bool) -> bytes:
    """Recover b_owner, or owner's mask secret key when ``key_share``, from the responders' shares."""
    cfg = state.config
    shares = {
        cfg.x_coordinate(w): (r.mask_key_shares if key_share else r.self_mask_shares)[owner]
        for w, r in state.responses.items()
    }
    return combine_secret(shares, cfg.threshold)


def _envelope_bytes(sender: str, recipient: str) -> int:
    """Size of an honest envelope: nonce, the framed ids and two shares, and the AEAD tag."""
    shares = bytes(SHARE_BYTES)
    return NONCE_BYTES + len(frame(sender.encode(), recipient.encode(), shares, shares)) + _AEAD_TAG_BYTES


def _check_sender(sender: str, expected: Collection[str], seen: Mapping[str, object]) -> None:
    if sender not in expected:
        raise InvalidMessageError(f"{sender!r} is not expected to send in this round")
    if sender in seen:
        raise InvalidMessageError(f"{sender!r} already sent its message for this round")


def _check_share_set(sender: str, shares: Mapping[str, bytes], owners: tuple[str, ...]) -> None:
    """Reject here what would make reconstruction fail later, when the sender could no longer be dropped."""
    if shares.keys() != set(owners):
        raise InvalidMessageError(f"{sender!r} sent shares for the wrong parties")
    if any(len(share) != SHARE_BYTES for share in shares.values()):
        raise InvalidMessageError(f"{sender!r} sent shares of the wrong length")
    if any(int.from_bytes(share, "big") >= PRIME for share in shares.values()):
        raise InvalidMessageError(f"{sender!r} sent a share that is not a field element")


def _check_threshold(state: ServerState, count: int, what: str) -> None:
    if count < state.config.threshold:
        raise ThresholdError(f"only {count} parties {what}, {state.config.threshold} needed")


def _require(state: ServerState, stage: ServerStage) -> None:
    if state.stage is not stage:
        raise StageError(f"server is in stage {state.stage.value}, not {stage.value}")
