"""Discrete logarithm of S·G for 0 ≤ S < bound, by baby-step giant-step (Shanks), for exponential ElGamal.

With m = ⌈√bound⌉ the baby steps j·G (0 ≤ j < m) go into a table keyed by a 16-byte prefix of their encoding;
the giant steps T − i·m·G (0 ≤ i < ⌈bound/m⌉) are looked up in it, and a hit is confirmed with one fixed-base
multiplication, so a prefix collision could cost time but never give a wrong answer. Each step is one
libsodium point addition (about 13 µs here, most of it decoding and encoding the point), so both phases run
on threads and the table is cached per process. Measured on two cores: bound 2^32 — table 0.9 s, worst
lookup 0.9 s; bound 2^36 (the default) — table 3.5 s and ~55 MB, worst lookup 3.5 s. Running time depends on
S, which is fine for the one party that learns S anyway.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable

from protocols.psi import group, ristretto
from protocols.psi.exceptions import DiscreteLogError

DEFAULT_BOUND = 2**36
MAX_BOUND = 2**44  # a table of 2^22 entries (~600 MB): anything larger calls for another design
_KEY_BYTES = 16


def _key(point: bytes) -> int:
    return int.from_bytes(point[:_KEY_BYTES], "little")


def _multiple(k: int) -> bytes:
    return group.base_mult(group.scalar_from_int(k))


def steps(bound: int) -> tuple[int, int]:
    """(m, number of giant steps) for ``bound``: m = ⌈√bound⌉ baby steps and ⌈bound/m⌉ giant steps."""
    m = math.isqrt(bound - 1) + 1
    return m, -(-bound // m)


@functools.lru_cache(maxsize=2)
def baby_steps(m: int) -> dict[int, int]:
    """{prefix of j·G : j} for 0 ≤ j < m (built on threads; cached for the two most recent m)."""
    generator = _multiple(1)

    def build(start: int, stop: int) -> Callable[[], list[tuple[int, int]]]:
        def run() -> list[tuple[int, int]]:
            points = ristretto.walk(_multiple(start), generator)
            return [(_key(point), j) for j, point in zip(range(start, stop), points, strict=False)]

        return run

    workers = ristretto.default_workers() if m >= 1024 else 1
    size = -(-m // workers)
    # A prefix shared by two baby steps keeps the first; the confirmation then rejects a wrong hit and the
    # search goes on, which might miss S with probability about m^2 / 2^129.
    table: dict[int, int] = {}
    for part in ristretto.parallel([build(start, min(start + size, m)) for start in range(0, m, size)]):
        for key, j in part:
            table.setdefault(key, j)
    return table


def discrete_log(point: bytes, bound: int = DEFAULT_BOUND, *, workers: int | None = None) -> int:
    """The S in [0, bound) with S·G = ``point``; DiscreteLogError if there is none."""
    if not 1 <= bound <= MAX_BOUND:
        raise ValueError(f"bound must be in [1, 2^44], got {bound}")
    if not ristretto.is_valid(point):
        raise DiscreteLogError("not a valid group element")
    m, giants = steps(bound)
    table = baby_steps(m)
    lanes = max(1, min(workers or ristretto.default_workers(), giants))
    stride = _multiple(-m * lanes)
    found: list[int] = []
    done = threading.Event()

    def lane(first: int) -> Callable[[], None]:
        # Lane k visits the giant steps i ≡ k (mod lanes): T − i·m·G, stepping by −lanes·m·G.
        def run() -> None:
            points = ristretto.walk(group.sub_points(point, _multiple(m * first)), stride)
            for i, current in zip(range(first, giants, lanes), points, strict=False):
                j = table.get(_key(current))
                if j is not None and i * m + j < bound and _multiple(i * m + j) == point:
                    found.append(i * m + j)
                    done.set()
                if done.is_set():
                    return

        return run

    ristretto.parallel([lane(k) for k in range(lanes)])
    if not found:
        raise DiscreteLogError(f"the decrypted total is not in [0, {bound})")
    return found[0]
