"""t-of-n Shamir sharing of byte strings, one pycryptodome GF(2^128) sharing per 16-byte chunk."""

from collections.abc import Iterable, Mapping

from Crypto.Protocol.SecretSharing import Shamir

from protocols.exceptions import InvalidMessageError, ThresholdError

CHUNK_BYTES = 16


def split_secret(secret: bytes, threshold: int, xs: Iterable[int]) -> dict[int, bytes]:
    """Share ``secret`` so that any ``threshold`` of the points ``xs`` (each >= 1) recover it.

    Each share is as long as the secret. Polynomial coefficients come from pycryptodome's own CSPRNG.
    """
    points = sorted(set(xs))
    _check_length(len(secret))
    if not points or points[0] < 1:
        raise ValueError("x-coordinates must be positive")
    if not 1 <= threshold <= len(points):
        raise ValueError(f"threshold {threshold} is not in [1, {len(points)}]")
    pieces: dict[int, list[bytes]] = {x: [] for x in points}
    for offset in range(0, len(secret), CHUNK_BYTES):
        # pycryptodome numbers shares 1..n, so ask for all of them up to the largest point and keep ours.
        for x, share in Shamir.split(threshold, points[-1], secret[offset : offset + CHUNK_BYTES]):
            if x in pieces:
                pieces[x].append(share)
    return {x: b"".join(chunks) for x, chunks in pieces.items()}


def combine_secret(shares: Mapping[int, bytes], threshold: int) -> bytes:
    """Recover a secret from at least ``threshold`` shares keyed by x-coordinate (uses the first t by x)."""
    if len(shares) < threshold:
        raise ThresholdError(f"{len(shares)} shares available, {threshold} needed")
    chosen = sorted(shares.items())[:threshold]
    if any(x < 1 for x, _ in chosen):
        raise InvalidMessageError("share x-coordinates must be positive")
    lengths = {len(share) for _, share in chosen}
    if len(lengths) != 1:
        raise InvalidMessageError("shares of one secret have different lengths")
    length = lengths.pop()
    _check_length(length, InvalidMessageError)
    return b"".join(
        Shamir.combine([(x, share[offset : offset + CHUNK_BYTES]) for x, share in chosen])
        for offset in range(0, length, CHUNK_BYTES)
    )


def _check_length(length: int, error: type[Exception] = ValueError) -> None:
    if length == 0 or length % CHUNK_BYTES:
        raise error(f"secret length {length} is not a positive multiple of {CHUNK_BYTES}")
