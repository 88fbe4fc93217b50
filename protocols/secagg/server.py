"""Server side of secure aggregation: a state machine that collects a round's messages, then closes the round.

``receive_*`` adds one client message; ``close_*`` fixes the round's participants and returns what to send.
A ``receive_*`` that raises InvalidMessageError leaves the state as it was: the caller drops that sender
from the round, and the run goes on without it while t parties remain.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.fixedpoint import RingArray
from protocols.secagg import signing
from protocols.secagg.client_checks import check_advertisement
from protocols.secagg.config import SecAggConfig
from protocols.secagg.envelope import NONCE_BYTES
from protocols.secagg.framing import frame
from protocols.secagg.keys import KEY_BYTES
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
from protocols.secagg.shamir import PRIME, SHARE_BYTES
from protocols.secagg.unmasking import unmask_sum

_AEAD_TAG_BYTES = 16  # AES-GCM's full-length tag, as seal_shares writes it


class ServerStage(Enum):
    """Server stages; each ``receive_*`` keeps the stage, each ``close_*`` moves to the next.

    COLLECTING_KEYS -close_keys-> COLLECTING_SHARES -close_shares-> COLLECTING_MASKED_INPUTS
    -close_masked_inputs-> (malicious mode: COLLECTING_CONSISTENCY -close_consistency->)
    COLLECTING_UNMASKING -close_unmasking-> DONE.
    """

    COLLECTING_KEYS = "collecting_keys"
    COLLECTING_SHARES = "collecting_shares"
    COLLECTING_MASKED_INPUTS = "collecting_masked_inputs"
    COLLECTING_CONSISTENCY = "collecting_consistency"
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
    signatures: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # consistency, by signer
    u4: tuple[str, ...] = ()  # asked to unmask: U3, or in malicious mode the members of U3 that signed it
    responses: Mapping[str, UnmaskResponse] = field(default_factory=dict, repr=False)
    excluded: Mapping[str, str] = field(default_factory=dict)  # responder -> why its shares were ignored


def new_server(config: SecAggConfig) -> ServerState:
    return ServerState(config=config)


def receive_keys(state: ServerState, message: AdvertiseKeys) -> ServerState:
    """Accept one advertisement; in malicious mode only one its sender signed.

    Every honest client refuses a table holding a bad advertisement, so one is rejected here, where only
    its sender leaves the run.
    """
    _require(state, ServerStage.COLLECTING_KEYS)
    _check_sender(message.sender, state.config.participants, state.keys)
    new = (message.keys.cipher_public, message.keys.mask_public)
    if any(len(k) != KEY_BYTES for k in new):
        raise InvalidMessageError(f"public keys of {message.sender!r} have the wrong length")
    # Clients refuse a table that repeats a key, so one copied key would otherwise stop the whole run.
    seen = {k for keys in state.keys.values() for k in (keys.cipher_public, keys.mask_public)}
    if new[0] == new[1] or seen.intersection(new):
        raise InvalidMessageError(f"public keys of {message.sender!r} repeat a key already advertised")
    if state.config.malicious:
        check_advertisement(state.config, message.sender, message.keys)
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


def close_masked_inputs(
    state: ServerState,
) -> tuple[ServerState, dict[str, ConsistencyRequest | UnmaskRequest]]:
    """Fix U3 (senders of masked input); dropped = U2 minus U3.

    Malicious mode asks each member of U3 to sign U3; semi-honest mode asks them to unmask straight away.
    """
    _require(state, ServerStage.COLLECTING_MASKED_INPUTS)
    u3 = state.config.ordered(state.masked)
    _check_threshold(state, len(u3), "sent masked input")
    dropped = tuple(v for v in state.u2 if v not in state.masked)
    if state.config.malicious:
        new_state = replace(state, stage=ServerStage.COLLECTING_CONSISTENCY, u3=u3, dropped=dropped)
        return new_state, {u: ConsistencyRequest(u3) for u in u3}
    request = UnmaskRequest(survivors=u3, dropped=dropped)
    new_state = replace(state, stage=ServerStage.COLLECTING_UNMASKING, u3=u3, dropped=dropped, u4=u3)
    return new_state, {u: request for u in u3}


def receive_consistency(state: ServerState, message: ConsistencySignature) -> ServerState:
    """Accept one survivor's signature on U3; a bad one would make every client refuse the unmask request."""
    _require(state, ServerStage.COLLECTING_CONSISTENCY)
    _check_sender(message.sender, state.u3, state.signatures)
    cfg = state.config
    signing.verify(
        cfg.verifier(message.sender),
        message.signature,
        signing.consistency_message(cfg.session_id, state.u3),
        what=f"consistency signature of {message.sender!r}",
    )
    return replace(state, signatures={**state.signatures, message.sender: message.signature})


def close_consistency(state: ServerState) -> tuple[ServerState, dict[str, UnmaskRequest]]:
    """Fix the signers (at least t) and send each of them U3, the dropped parties and every signature."""
    _require(state, ServerStage.COLLECTING_CONSISTENCY)
    signers = state.config.ordered(state.signatures)
    _check_threshold(state, len(signers), "signed the survivor set")
    request = UnmaskRequest(
        survivors=state.u3, dropped=state.dropped, signatures={u: state.signatures[u] for u in signers}
    )
    new_state = replace(state, stage=ServerStage.COLLECTING_UNMASKING, u4=signers)
    return new_state, {u: request for u in signers}


def receive_unmasking(state: ServerState, message: UnmaskResponse) -> ServerState:
    _require(state, ServerStage.COLLECTING_UNMASKING)
    _check_sender(message.sender, state.u4, state.responses)
    _check_share_set(message.sender, message.self_mask_shares, state.u3)
    _check_share_set(message.sender, message.mask_key_shares, state.dropped)
    return replace(state, responses={**state.responses, message.sender: message})


def close_unmasking(state: ServerState) -> tuple[ServerState, RingArray]:
    """Rebuild survivors' b_v and dropped parties' mask keys; return the sum of U3's inputs mod 2^k.

    In malicious mode a responder whose share is shown wrong by a commitment or a public key is named in
    ``excluded`` and ignored from then on; the run succeeds while t responders remain.
    """
    _require(state, ServerStage.COLLECTING_UNMASKING)
    _check_threshold(state, len(state.responses), "answered the unmask request")
    cfg = state.config
    responders = cfg.ordered(state.responses)
    total, excluded = unmask_sum(
        cfg,
        keys=state.keys,
        masked={u: state.masked[u] for u in state.u3},
        dropped=state.dropped,
        self_mask_shares={w: state.responses[w].self_mask_shares for w in responders},
        mask_key_shares={w: state.responses[w].mask_key_shares for w in responders},
    )
    done = replace(state, stage=ServerStage.DONE, masked={}, responses={}, signatures={}, excluded=excluded)
    return done, total


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
