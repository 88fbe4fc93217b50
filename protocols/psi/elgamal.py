"""Exponential ElGamal on ristretto255: Enc(v) = (rG, vG + rP), additively homomorphic and rerandomisable.

Decryption yields the point vG, not v; turning a point back into an integer needs a discrete logarithm over a
small range (``dlog``), which only the final total ever goes through. Semantic security rests on DDH in
ristretto255.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.psi import group, ristretto


@dataclass(frozen=True)
class Ciphertext:
    c1: bytes  # rG
    c2: bytes  # vG + rP

    def to_bytes(self) -> bytes:
        return self.c1 + self.c2

    @classmethod
    def from_bytes(cls, data: bytes) -> Ciphertext:
        """Split 64 bytes into the two points (not validated: ``validate`` does that)."""
        if len(data) != 2 * group.POINT_BYTES:
            raise ValueError(f"a ciphertext is {2 * group.POINT_BYTES} bytes, got {len(data)}")
        return cls(data[: group.POINT_BYTES], data[group.POINT_BYTES :])


@dataclass(frozen=True)
class KeyPair:
    secret: bytes
    public: bytes

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.hex()}, secret=<hidden>)"


def generate_keypair(rng: random.Random) -> KeyPair:
    secret = group.random_scalar(rng)
    return KeyPair(secret, group.base_mult(secret))


def encrypt(public: bytes, value: int, rng: random.Random) -> Ciphertext:
    return _encrypt(public, value, group.random_scalar(rng))


def _encrypt(public: bytes, value: int, r: bytes) -> Ciphertext:
    shared = group.blind(r, public)
    return Ciphertext(
        group.base_mult(r), group.add_points(group.base_mult(group.scalar_from_int(value)), shared)
    )


def encrypt_many(
    public: bytes, values: Sequence[int], rng: random.Random, workers: int | None = None
) -> list[Ciphertext]:
    """Encrypt each value with fresh randomness; results in input order and independent of ``workers``."""
    group.validate_point(public)
    # The randomness is drawn here, in order, so a seeded rng gives the same ciphertexts on any thread count.
    jobs = [(value, group.random_scalar(rng)) for value in values]

    def chunk(part: Sequence[tuple[int, bytes]]) -> list[Ciphertext]:
        return [_encrypt(public, value, r) for value, r in part]

    return ristretto.map_chunks(chunk, jobs, workers)


def add(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    """Enc(u) + Enc(v) = Enc(u + v)."""
    return Ciphertext(group.add_points(a.c1, b.c1), group.add_points(a.c2, b.c2))


def add_many(ciphertexts: Iterable[Ciphertext]) -> Ciphertext:
    """The homomorphic sum; Enc(0) with zero randomness (two identities) for an empty input."""
    total = Ciphertext(group.IDENTITY, group.IDENTITY)
    for ct in ciphertexts:
        total = add(total, ct)
    return total


def rerandomize(public: bytes, ct: Ciphertext, rng: random.Random) -> Ciphertext:
    """The same plaintext under fresh randomness, unlinkable to ``ct`` for anyone without the secret key."""
    return add(ct, encrypt(public, 0, rng))


def decrypt_to_point(secret: bytes, ct: Ciphertext) -> bytes:
    """Return vG = c2 - secret·c1, for a ciphertext whose points were validated."""
    return group.sub_points(ct.c2, group.blind(secret, ct.c1))


def validate(ct: Ciphertext) -> Ciphertext:
    """Raise InvalidPointError unless both components are valid non-identity points."""
    group.validate_point(ct.c1)
    group.validate_point(ct.c2)
    return ct
