"""Parameters of one secure-aggregation run, shared by the server and every client."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import RingBits


@dataclass(frozen=True)
class SecAggConfig:
    """One run of the protocol.

    ``session_id`` must be unique per job run: it is bound into every key derivation and every AEAD's
    associated data, so nothing from another run can be replayed into this one. The order of ``participants``
    fixes each party's Shamir x-coordinate (position + 1) and the sign of every pairwise mask.
    """

    session_id: bytes
    participants: tuple[str, ...]
    threshold: int
    ring_bits: RingBits
    vector_length: int
    _positions: Mapping[str, int] = field(init=False, repr=False, compare=False)

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
        object.__setattr__(self, "_positions", {p: i for i, p in enumerate(self.participants)})

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
