"""The commutative-blinding steps that the cardinality and intersection-sum protocols share.

A party blinds its hashed keys with a secret scalar s, H(k) ↦ s·H(k), and its peer raises them again with t;
since st·H(k) = ts·H(k), both sides can compare doubly blinded points without either revealing a key. Each
party draws a fresh scalar per session and peer, and every list that leaves a party is shuffled first, so
positions carry no information about the order of the keys.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.exceptions import InvalidMessageError
from protocols.psi import group
from protocols.psi.messages import BlindedKeys
from protocols.psi.normalize import KeySet


@dataclass(frozen=True)
class BlindingState:
    """What the first party keeps until the reply: its secret scalar and how many points it sent."""

    secret: bytes
    sent: int

    def __repr__(self) -> str:
        return f"BlindingState(sent={self.sent}, secret=<hidden>)"


def pad(points: list[bytes], pad_to: int | None, rng: random.Random) -> list[bytes]:
    """Append random points up to ``pad_to`` so the peer learns only the padded size.

    A random point is indistinguishable from a blinded key under DDH and, once raised to the peer's scalar,
    matches nothing except with probability about 2^-252.
    """
    if pad_to is None:
        return points
    if pad_to < len(points):
        raise ValueError(f"cannot pad {len(points)} keys to {pad_to}")
    return points + [group.random_point(rng) for _ in range(pad_to - len(points))]


def blind_keys(
    keys: KeySet, secret: bytes, rng: random.Random, *, pad_to: int | None = None, workers: int | None = None
) -> list[bytes]:
    """secret·H(k) for every key, padded, then shuffled."""
    points = group.hash_and_blind_many(secret, keys.normalization, keys.keys, workers)
    return group.shuffled(pad(points, pad_to, rng), rng)


def start(
    keys: KeySet, rng: random.Random, *, pad_to: int | None = None, workers: int | None = None
) -> tuple[BlindingState, BlindedKeys]:
    """First message of every protocol here: the keys blinded under a fresh secret, shuffled."""
    secret = group.random_scalar(rng)
    points = blind_keys(keys, secret, rng, pad_to=pad_to, workers=workers)
    return BlindingState(secret, len(points)), BlindedKeys(tuple(points))


def require_distinct(points: Sequence[bytes], what: str) -> None:
    """Honest parties send distinct points (their keys are deduplicated); a repeat could double-count."""
    if len(set(points)) != len(points):
        raise InvalidMessageError(f"{what} contains repeated points")


def reblind(
    secret: bytes, request: BlindedKeys, rng: random.Random, *, workers: int | None = None
) -> list[bytes]:
    """The peer's points raised to ``secret`` and reshuffled, so their order tells the peer nothing."""
    require_distinct(request.points, "the blinded keys")
    return group.shuffled(group.blind_many(secret, request.points, workers), rng)


def check_double_blinded(state: BlindingState, points: Sequence[bytes]) -> None:
    """Every point we sent must come back, raised once, as a valid distinct point."""
    if len(points) != state.sent:
        raise InvalidMessageError(f"sent {state.sent} blinded keys, got {len(points)} back")
    group.validate_points(points)
    require_distinct(points, "the doubly blinded keys")


def count_common(mine: Iterable[bytes], theirs: Iterable[bytes]) -> int:
    return len(set(mine).intersection(theirs))
