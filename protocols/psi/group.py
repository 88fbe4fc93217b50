"""The prime-order group ristretto255 as the PSI protocols use it.

Hashing keys to points, secret scalars, blinding (scalar multiplication), shuffling, and the checks every
received point must pass.

Randomness is a parameter: ``random.Random(seed)`` in tests, ``system_random()`` (the operating system's
CSPRNG) in production. Scalars and points are their 32-byte little-endian / canonical encodings.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterable, Sequence
from typing import TypeVar

from protocols.psi import ristretto
from protocols.psi.exceptions import InvalidPointError
from protocols.psi.ristretto import GROUP_ORDER, IDENTITY, POINT_BYTES, SCALAR_BYTES

__all__ = [
    "GROUP_ORDER",
    "IDENTITY",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "add_points",
    "base_mult",
    "blind",
    "blind_many",
    "hash_and_blind_many",
    "hash_to_group",
    "random_point",
    "random_scalar",
    "scalar_from_int",
    "scalar_to_int",
    "shuffled",
    "sub_points",
    "system_random",
    "validate_point",
    "validate_points",
]

# Versioned so that a change of the mapping can never silently match keys hashed the old way.
HASH_DOMAIN = b"industrial-dataspace/psi/v1/hash-to-group"

T = TypeVar("T")


def system_random() -> random.Random:
    """The production randomness: ``secrets.SystemRandom`` draws scalars and shuffles from the OS CSPRNG."""
    return secrets.SystemRandom()


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def hash_input(normalization: str, key: str) -> bytes:
    """SHA-512 over length-prefixed (domain, normalisation name, normalised key), so no two inputs collide.

    Naming the normalisation keeps sets normalised differently from matching by accident: "ab-1" as a part
    number and "ab-1" as free text are different keys.
    """
    message = _field(HASH_DOMAIN) + _field(normalization.encode()) + _field(key.encode())
    return hashlib.sha512(message).digest()


def hash_to_group(normalization: str, key: str) -> bytes:
    """Return H(key): a point of unknown logarithm, uniform as long as SHA-512 acts as a random oracle."""
    return ristretto.from_hash(hash_input(normalization, key))


def random_scalar(rng: random.Random) -> bytes:
    """A uniform non-zero scalar: 512 random bits reduced mod the group order (bias below 2^-259)."""
    while True:
        scalar = ristretto.reduce_scalar(rng.randbytes(64))
        if scalar != bytes(SCALAR_BYTES):
            return scalar


def random_point(rng: random.Random) -> bytes:
    """A uniform point nobody knows the logarithm of, indistinguishable from a blinded key (for padding)."""
    return ristretto.from_hash(rng.randbytes(64))


def scalar_from_int(value: int) -> bytes:
    return (value % GROUP_ORDER).to_bytes(SCALAR_BYTES, "little")


def scalar_to_int(scalar: bytes) -> int:
    return int.from_bytes(scalar, "little")


def validate_point(point: bytes) -> bytes:
    """Return ``point`` if it is a canonical 32-byte encoding of a non-identity element, else raise.

    The identity is refused because blinding maps it to itself: a peer could send it to probe or to make
    unrelated items compare equal.
    """
    if not isinstance(point, bytes) or len(point) != POINT_BYTES:
        raise InvalidPointError(f"a point is {POINT_BYTES} bytes")
    if point == IDENTITY:
        raise InvalidPointError("the identity element is not a valid protocol point")
    if not ristretto.is_valid(point):
        raise InvalidPointError("not the canonical encoding of a ristretto255 element")
    return point


def validate_points(points: Iterable[bytes]) -> None:
    for point in points:
        validate_point(point)


def blind(scalar: bytes, point: bytes) -> bytes:
    """scalar·point for a received ``point``; raise InvalidPointError if it is invalid or the identity."""
    result = ristretto.scalarmult(scalar, point) if len(point) == POINT_BYTES else None
    if result is None:
        raise InvalidPointError("cannot blind an invalid point or the identity")
    return result


def blind_many(scalar: bytes, points: Sequence[bytes], workers: int | None = None) -> list[bytes]:
    """[scalar·p for p in points] in order; one invalid or identity point fails the whole batch."""
    if any(len(p) != POINT_BYTES for p in points):
        raise InvalidPointError(f"a point is {POINT_BYTES} bytes")
    # libsodium decodes each input and refuses an identity product, so no separate validation pass is needed.
    results = ristretto.scalarmult_many(scalar, points, workers)
    return _all_valid(results)


def hash_and_blind_many(
    scalar: bytes, normalization: str, keys: Sequence[str], workers: int | None = None
) -> list[bytes]:
    """[scalar·H(k) for k in keys] in order, hashing on the same threads as the multiplications."""

    def chunk(part: Sequence[str]) -> list[bytes | None]:
        return [ristretto.scalarmult(scalar, ristretto.from_hash(hash_input(normalization, k))) for k in part]

    return _all_valid(ristretto.map_chunks(chunk, keys, workers))


def _all_valid(results: list[bytes | None]) -> list[bytes]:
    valid = [r for r in results if r is not None]
    if len(valid) != len(results):
        raise InvalidPointError("cannot blind an invalid point or the identity")
    return valid


def base_mult(scalar: bytes) -> bytes:
    """scalar·G; the identity encoding for the zero scalar."""
    return ristretto.scalarmult_base(scalar)


def add_points(p: bytes, q: bytes) -> bytes:
    """Return p + q for points already validated or computed locally (the identity allowed)."""
    result = ristretto.add(p, q)
    if result is None:
        raise InvalidPointError("cannot add an invalid point")
    return result


def sub_points(p: bytes, q: bytes) -> bytes:
    """Return p - q for points already validated or computed locally (the identity allowed)."""
    result = ristretto.sub(p, q)
    if result is None:
        raise InvalidPointError("cannot subtract an invalid point")
    return result


def shuffled(items: Iterable[T], rng: random.Random) -> list[T]:
    """A uniformly random permutation of ``items`` (Fisher-Yates driven by ``rng``)."""
    out = list(items)
    rng.shuffle(out)
    return out
