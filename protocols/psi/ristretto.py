"""Calls into libsodium's ristretto255 (the copy bundled by ``rbcl``), single and batched over threads.

rbcl reaches libsodium through ctypes, which releases the GIL around each foreign call, so the batch
functions spread long lists over a few threads and run on several cores (two cores: 26 µs instead of 50 µs
per scalar multiplication). Functions return None where libsodium refuses an input (an invalid encoding,
or an identity product where that is refused); callers turn that into a typed error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import rbcl

POINT_BYTES = 32
SCALAR_BYTES = 32
HASH_BYTES = 64
IDENTITY = bytes(POINT_BYTES)  # ristretto255 encodings are canonical: the identity has exactly this one
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493

# Below this many items a batch runs inline: starting threads would cost more than it saves.
_MIN_PARALLEL = 256
_MAX_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


def scalarmult(scalar: bytes, point: bytes) -> bytes | None:
    """scalar·point, or None if ``point`` is not a valid encoding or the product is the identity."""
    try:
        return bytes(rbcl.crypto_scalarmult_ristretto255(scalar, point))
    except (RuntimeError, TypeError, ValueError):  # failure in libsodium, or not 32 bytes of ``bytes``
        return None


def scalarmult_base(scalar: bytes) -> bytes:
    """scalar·G for the standard generator G; the identity for the zero scalar."""
    return bytes(rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero(scalar))


def from_hash(digest: bytes) -> bytes:
    """Map 64 uniform bytes to a uniform point (Elligator 2, twice, added)."""
    return bytes(rbcl.crypto_core_ristretto255_from_hash(digest))


def add(p: bytes, q: bytes) -> bytes | None:
    """Return p + q, or None if either is not a valid encoding."""
    # rbcl ignores libsodium's status for additions, so the inputs are checked here.
    if not (is_valid(p) and is_valid(q)):
        return None
    return bytes(rbcl.crypto_core_ristretto255_add(p, q))


def sub(p: bytes, q: bytes) -> bytes | None:
    """Return p - q, or None if either is not a valid encoding."""
    if not (is_valid(p) and is_valid(q)):
        return None
    return bytes(rbcl.crypto_core_ristretto255_sub(p, q))


def walk(start: bytes, delta: bytes) -> Iterator[bytes]:
    """Yield start, start + delta, start + 2·delta, ... until the caller stops; both must be valid points.

    The hot loop of the discrete logarithm: the inputs are checked once, not at every step.
    """
    if not (is_valid(start) and is_valid(delta)):
        raise ValueError("walk over an invalid point")
    step = rbcl.crypto_core_ristretto255_add
    point = start
    while True:
        yield point
        point = bytes(step(point, delta))


def is_valid(point: bytes) -> bool:
    """True if ``point`` is 32 bytes and the canonical encoding of a group element (the identity included)."""
    return (
        isinstance(point, bytes)
        and len(point) == POINT_BYTES
        and bool(rbcl.crypto_core_ristretto255_is_valid_point(point))
    )


def reduce_scalar(wide: bytes) -> bytes:
    """64 little-endian bytes reduced mod the group order (a uniform scalar from uniform bytes)."""
    if len(wide) != HASH_BYTES:
        raise ValueError(f"scalar reduction takes {HASH_BYTES} bytes, got {len(wide)}")
    return (int.from_bytes(wide, "little") % GROUP_ORDER).to_bytes(SCALAR_BYTES, "little")


def default_workers() -> int:
    """Threads for batch work: one per core, at most eight (beyond that libsodium calls queue on the GIL)."""
    return max(1, min(_MAX_WORKERS, os.cpu_count() or 1))


def map_chunks(
    chunk_fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], workers: int | None
) -> list[R]:
    """Apply ``chunk_fn`` to contiguous chunks of ``items`` on up to ``workers`` threads, in input order."""
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be at least 1, got {count}")
    if count == 1 or len(items) < _MIN_PARALLEL:
        return chunk_fn(items)
    size = -(-len(items) // count)
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        results = list(pool.map(chunk_fn, chunks))
    return [item for chunk in results for item in chunk]


def parallel(tasks: Sequence[Callable[[], R]]) -> list[R]:
    """Run each task on its own thread (inline if there is one) and return their results in order."""
    if len(tasks) == 1:
        return [tasks[0]()]
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]


def scalarmult_many(scalar: bytes, points: Sequence[bytes], workers: int | None = None) -> list[bytes | None]:
    """[scalar·p for p in points], None marking each invalid input or identity product."""

    def chunk(part: Sequence[bytes]) -> list[bytes | None]:
        return [scalarmult(scalar, p) for p in part]

    return map_chunks(chunk, points, workers)


def from_hash_many(digests: Sequence[bytes], workers: int | None = None) -> list[bytes]:
    """[from_hash(d) for d in digests], on threads for long lists."""

    def chunk(part: Sequence[bytes]) -> list[bytes]:
        return [from_hash(d) for d in part]

    return map_chunks(chunk, digests, workers)
