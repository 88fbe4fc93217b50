"""Parameters of one secure-aggregation run, shared by the server and every client."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import RingBits

VERIFY_KEY_BYTES = 32


class SecurityMode(StrEnum):
    """Which server the run is safe against.

    MALICIOUS: the server may deviate. Key advertisements are signed and commit to the self-mask seed, a
    consistency round precedes unmasking, and the threshold has a floor, so the server can neither swap keys
    nor show clients different survivor sets to learn one input. SEMI_HONEST: the server follows the
    protocol; kept as the measured baseline of what malicious security costs.
    """

    MALICIOUS = "malicious"
    SEMI_HONEST = "semi_honest"


def threshold_floor(n: int, min_cohort: int) -> int:
    """Smallest threshold accepted in malicious mode for ``n`` participants.

    Above 2n/3 a server that shows two disjoint halves of the clients different survivor sets cannot gather
    t consistency signatures for both, and unmasking needs at least the contract's minimum cohort. The floor
    may exceed n: then no run is possible and callers must refuse.
    """
    return max(min_cohort, 2 * n // 3 + 1)


@dataclass(frozen=True)
class SecAggConfig:
    """One run of the protocol.

    ``session_id`` must be unique per job run: it is bound into every key derivation, signature and AEAD's
    associated data, so nothing from another run can be replayed into this one. The order of
    ``participants`` fixes each party's Shamir x-coordinate (position + 1) and the sign of every pairwise
    mask. ``verify_keys`` are the participants' raw Ed25519 public keys, taken from a source the server
    cannot forge (the enrollment log), never from the server.
    """

    session_id: bytes
    participants: tuple[str, ...]
    threshold: int
    ring_bits: RingBits
    vector_length: int
    verify_keys: Mapping[str, bytes] = field(default_factory=dict, hash=False)
    mode: SecurityMode = SecurityMode.MALICIOUS
    _positions: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _verifiers: Mapping[str, Ed25519PublicKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.session_id, bytes) or not self.session_id:
            raise ValueError("session_id must be non-empty bytes")
        if len(self.participants) < 2:
            raise ValueError("at least two participants are needed")
        if any(not isinstance(p, str) or not p for p in self.participants):
            raise ValueError("participant ids must be non-empty strings")
        if len(set(self.participants)) != len(self.participants):
            raise ValueError("participant ids must be unique")
        if not 2 <= self.threshold <= len(self.participants):
            raise ValueError(f"threshold must be in [2, {len(self.participants)}], got {self.threshold}")
        if self.ring_bits not in (32, 64):
            raise ValueError(f"ring_bits must be 32 or 64, got {self.ring_bits}")
        if self.vector_length < 1:
            raise ValueError("vector_length must be positive")
        object.__setattr__(self, "mode", SecurityMode(self.mode))
        object.__setattr__(self, "verify_keys", dict(self.verify_keys))
        object.__setattr__(self, "_positions", {p: i for i, p in enumerate(self.participants)})
        object.__setattr__(self, "_verifiers", _load_verify_keys(self.verify_keys, self.participants))
        if self.mode is SecurityMode.MALICIOUS:
            self._check_malicious()

    def _check_malicious(self) -> None:
        missing = [p for p in self.participants if p not in self.verify_keys]
        if missing:
            raise ValueError(f"malicious mode needs a verify key for every participant, missing {missing}")
        floor = threshold_floor(len(self.participants), 2)
        if self.threshold < floor:
            n = len(self.participants)
            raise ValueError(f"threshold {self.threshold} is below the floor {floor} for n = {n}")

    @property
    def malicious(self) -> bool:
        return self.mode is SecurityMode.MALICIOUS

    @property
    def packed_bytes(self) -> int:
        """Size of one packed masked vector."""
        return self.vector_length * self.ring_bits // 8

    def is_participant(self, party: str) -> bool:
        return party in self._positions

    def position(self, party: str) -> int:
        """Index of ``party`` in ``participants``; InvalidMessageError for an unknown id."""
        try:
            return self._positions[party]
        except KeyError:
            raise InvalidMessageError(f"unknown participant {party!r}") from None

    def x_coordinate(self, party: str) -> int:
        """Shamir evaluation point of ``party`` (never 0, which would be the secret itself)."""
        return self.position(party) + 1

    def ordered(self, parties: Iterable[str]) -> tuple[str, ...]:
        """Sort ``parties`` into the order of ``participants``."""
        return tuple(sorted(parties, key=self.position))

    def verifier(self, party: str) -> Ed25519PublicKey:
        """The loaded verify key of ``party``; InvalidMessageError if the run has none for it."""
        try:
            return self._verifiers[party]
        except KeyError:
            raise InvalidMessageError(f"no verify key for {party!r}") from None


def _load_verify_keys(
    keys: Mapping[str, bytes], participants: tuple[str, ...]
) -> dict[str, Ed25519PublicKey]:
    """Parse each key once, so signature checks later cost only the verification itself."""
    strangers = sorted(set(keys) - set(participants))
    if strangers:
        raise ValueError(f"verify keys given for non-participants {strangers}")
    loaded: dict[str, Ed25519PublicKey] = {}
    for party, raw in keys.items():
        if not isinstance(raw, bytes) or len(raw) != VERIFY_KEY_BYTES:
            raise ValueError(f"verify key of {party!r} is not {VERIFY_KEY_BYTES} raw bytes")
        loaded[party] = Ed25519PublicKey.from_public_bytes(raw)
    return loaded
