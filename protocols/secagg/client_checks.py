"""What a client checks in each message the server sends it, before acting on it.

The server relays everything, so each check names what a dishonest or faulty server could try: a key table
that drops, alters or forges advertisements, shares from outside U1, or survivor sets that would make a
client reveal both secrets of one party.
"""

from collections.abc import Collection

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.fixedpoint import RingArray, ring_dtype
from protocols.secagg import signing
from protocols.secagg.config import SecAggConfig
from protocols.secagg.keys import KEY_BYTES
from protocols.secagg.messages import KeyTable, PublicKeys, RelayedShares, UnmaskRequest


def check_key_table(cfg: SecAggConfig, me: str, mine: PublicKeys, table: KeyTable) -> None:
    """Refuse the whole table if any entry is malformed or, in malicious mode, not signed by its owner."""
    unknown = [v for v in table.keys if not cfg.is_participant(v)]
    if unknown:
        raise InvalidMessageError(f"key table names unknown parties {unknown}")
    if table.keys.get(me) != mine:
        raise InvalidMessageError("key table lacks or alters this client's own keys")
    publics = [k for keys in table.keys.values() for k in (keys.cipher_public, keys.mask_public)]
    if any(len(k) != KEY_BYTES for k in publics):
        raise InvalidMessageError("key table holds a public key of the wrong length")
    if len(set(publics)) != len(publics):
        raise InvalidMessageError("key table repeats a public key")
    if len(table.keys) < cfg.threshold:
        raise ThresholdError(f"only {len(table.keys)} parties advertised keys, {cfg.threshold} needed")
    if cfg.malicious:
        for owner in cfg.ordered(table.keys):
            if owner != me:
                check_advertisement(cfg, owner, table.keys[owner])


def check_advertisement(cfg: SecAggConfig, owner: str, keys: PublicKeys) -> None:
    """Malicious mode: the commitment has the right size and the owner's signature covers everything."""
    if len(keys.seed_commitment) != signing.COMMITMENT_BYTES:
        raise InvalidMessageError(f"advertisement of {owner!r} has a seed commitment of the wrong length")
    message = signing.advertisement_message(cfg.session_id, owner, keys)
    signing.verify(cfg.verifier(owner), keys.signature, message, what=f"advertisement of {owner!r}")


def check_signing_key(cfg: SecAggConfig, me: str, signing_key: Ed25519PrivateKey | None) -> Ed25519PrivateKey:
    """The signing key, checked against the verify key peers will use, so a mix-up fails here, not at them."""
    if signing_key is None:
        raise ValueError("malicious mode needs the client's signing key")
    if signing.public_bytes(signing_key) != cfg.verify_keys[me]:
        raise ValueError(f"signing key does not match the verify key of {me!r}")
    return signing_key


def check_relayed(cfg: SecAggConfig, me: str, u1: Collection[str], relayed: RelayedShares) -> None:
    if relayed.recipient != me:
        raise InvalidMessageError(f"shares addressed to {relayed.recipient!r} delivered to {me!r}")
    senders = set(relayed.envelopes)
    if me in senders or not senders <= set(u1):
        raise InvalidMessageError("relayed shares come from parties outside U1")
    if len(senders) + 1 < cfg.threshold:
        raise ThresholdError(f"only {len(senders) + 1} parties in U2, {cfg.threshold} needed")


def check_input(cfg: SecAggConfig, x: RingArray) -> RingArray:
    if x.dtype != ring_dtype(cfg.ring_bits) or x.shape != (cfg.vector_length,):
        expected = f"({cfg.vector_length},) {ring_dtype(cfg.ring_bits)}"
        raise InvalidMessageError(f"input must be {expected}, got {x.shape} {x.dtype}")
    return x


def check_survivors(
    cfg: SecAggConfig, me: str, u2: Collection[str], survivors: tuple[str, ...]
) -> tuple[str, ...]:
    """The survivor set in participant order, if it is a set of at least t members of U2 holding ``me``."""
    if len(set(survivors)) != len(survivors):
        raise InvalidMessageError("survivor set lists a party twice")
    if me not in survivors or not set(survivors) <= set(u2):
        raise InvalidMessageError("survivors are not a subset of U2 containing this client")
    if len(survivors) < cfg.threshold:
        raise ThresholdError(f"only {len(survivors)} survivors, {cfg.threshold} needed")
    return cfg.ordered(survivors)


def check_unmask_request(cfg: SecAggConfig, me: str, u2: Collection[str], request: UnmaskRequest) -> None:
    """Survivors and dropped must split U2, so no party's seed share and key share are both asked for."""
    survivors, dropped = set(request.survivors), set(request.dropped)
    if len(dropped) != len(request.dropped):
        raise InvalidMessageError("unmask request lists a party twice")
    if survivors & dropped:
        raise InvalidMessageError(
            f"unmask request names {sorted(survivors & dropped)} as survivor and dropped"
        )
    check_survivors(cfg, me, u2, request.survivors)
    if dropped != set(u2) - survivors:
        raise InvalidMessageError("unmask request dropped set is not U2 minus the survivors")


def check_consistency_signatures(
    cfg: SecAggConfig, me: str, signed: tuple[str, ...], own_signature: bytes, request: UnmaskRequest
) -> None:
    """Malicious mode: the request names the set this client signed, with t valid signatures on it.

    Every signer must be a member of that set. Checking stops once t signatures hold, which is all the
    protocol needs (each further one would cost a verification for nothing); an invalid signature met
    before then is refused, as an honest server checked each one as it arrived.
    """
    if cfg.ordered(request.survivors) != signed:
        raise InvalidMessageError("unmask request names a survivor set other than the one this client signed")
    strangers = sorted(set(request.signatures) - set(signed))
    if strangers:
        raise InvalidMessageError(f"unmask request carries signatures of non-survivors {strangers}")
    if len(request.signatures) < cfg.threshold:
        count = len(request.signatures)
        raise InvalidMessageError(f"only {count} consistency signatures, {cfg.threshold} needed")
    message = signing.consistency_message(cfg.session_id, signed)
    # Our own first: Ed25519 is deterministic, so it is valid exactly when it is the one we made.
    order = sorted(request.signatures, key=lambda party: (party != me, cfg.position(party)))
    for party in order[: cfg.threshold]:
        signature = request.signatures[party]
        if party == me:
            if signature != own_signature:
                raise InvalidMessageError("unmask request alters this client's own consistency signature")
            continue
        signing.verify(cfg.verifier(party), signature, message, what=f"consistency signature of {party!r}")
