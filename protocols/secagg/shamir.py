"""t-of-n Shamir sharing of 32-byte secrets over the prime field GF(2^256 + 297).

Written here rather than taken from pycryptodome: its GF(2^128) arithmetic is pure Python and made
unmasking cost ~15 ms per secret, while prime-field Lagrange interpolation with Python integers — and one
set of Lagrange coefficients reused for every secret the server rebuilds from the same responders — costs
microseconds. Shares are fixed-width big-endian field elements.
"""

import secrets
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from protocols.exceptions import InvalidMessageError, ThresholdError

PRIME = 2**256 + 297  # the smallest prime above 2^256, so every 32-byte secret is a field element
SECRET_BYTES = 32
SHARE_BYTES = 33

RandBelow = Callable[[int], int]


def split_secret(
    secret: bytes, threshold: int, xs: Iterable[int], *, randbelow: RandBelow = secrets.randbelow
) -> dict[int, bytes]:
    """Share ``secret`` so that any ``threshold`` of the points ``xs`` (each >= 1) recover it."""
    points = sorted(set(xs))
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secrets are {SECRET_BYTES} bytes, got {len(secret)}")
    if not points or points[0] < 1 or points[-1] >= PRIME:
        raise ValueError("x-coordinates must be in [1, p)")
    if not 1 <= threshold <= len(points):
        raise ValueError(f"threshold {threshold} is not in [1, {len(points)}]")
    coefficients = [int.from_bytes(secret, "big"), *(randbelow(PRIME) for _ in range(threshold - 1))]
    return {x: _evaluate(coefficients, x).to_bytes(SHARE_BYTES, "big") for x in points}


def combine_secret(shares: Mapping[int, bytes], threshold: int) -> bytes:
    """Recover a secret from at least ``threshold`` shares keyed by x-coordinate (uses the first t by x)."""
    if len(shares) < threshold:
        raise ThresholdError(f"{len(shares)} shares available, {threshold} needed")
    chosen = sorted(shares.items())[:threshold]
    if any(not 1 <= x < PRIME for x, _ in chosen):
        raise InvalidMessageError("share x-coordinates must be in [1, p)")
    secret = interpolate({x: share_value(share) for x, share in chosen}, 0)
    if secret >= 2 ** (8 * SECRET_BYTES):
        raise InvalidMessageError("shares do not interpolate to a 32-byte secret (corrupted shares)")
    return secret.to_bytes(SECRET_BYTES, "big")


def interpolate(points: Mapping[int, int], x: int) -> int:
    """Value at ``x`` of the polynomial of degree < len(points) through ``points`` (x -> y, field elements).

    At x = 0 this is the secret; elsewhere it tells whether a further share lies on the same polynomial.
    """
    xs = tuple(sorted(points))
    return sum(c * points[xi] for c, xi in zip(_lagrange_at(xs, x), xs, strict=True)) % PRIME


def share_value(share: bytes) -> int:
    """The field element a share encodes; InvalidMessageError for a wrong length or a value >= p."""
    if len(share) != SHARE_BYTES:
        raise InvalidMessageError(f"shares are {SHARE_BYTES} bytes, got {len(share)}")
    value = int.from_bytes(share, "big")
    if value >= PRIME:
        raise InvalidMessageError("share is not a field element")
    return value


def _evaluate(coefficients: list[int], x: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):  # Horner's rule
        result = (result * x + coefficient) % PRIME
    return result


@lru_cache(maxsize=1024)
def _lagrange_at(xs: tuple[int, ...], x: int) -> tuple[int, ...]:
    """Coefficients λ_i with f(x) = Σ λ_i f(x_i); the server reuses them for every secret it rebuilds."""
    result = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                numerator = numerator * (xj - x) % PRIME
                denominator = denominator * (xj - xi) % PRIME
        result.append(numerator * pow(denominator, -1, PRIME) % PRIME)
    return tuple(result)
