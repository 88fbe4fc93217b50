"""Helpers shared by the PSI tests: in-memory protocol runs, hostile points, a transcript checker."""

from __future__ import annotations

import random
from collections.abc import Sequence

from protocols.psi import aggregate, cardinality, intersection_sum, ristretto, wire
from protocols.psi.messages import MaskedPoint
from protocols.psi.normalize import KeySet, ValuedKeySet, normalize_keys, normalize_rows

# RFC 9496 §A.2: encodings every decoder must refuse (non-canonical, negative, not a square, ...).
BAD_ENCODINGS = [
    bytes.fromhex(h)
    for h in (
        "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    )
]
WRONG_LENGTHS = [b"", bytes(31), b"\x01" * 33]
HOSTILE_POINTS = [ristretto.IDENTITY, *BAD_ENCODINGS]


def keyset(keys: Sequence[str], normalization: str = "exact") -> KeySet:
    return normalize_keys(normalization, keys)


def valued(rows: Sequence[tuple[str, int]], normalization: str = "exact") -> ValuedKeySet:
    return normalize_rows(normalization, rows)


def run_cardinality(learner: KeySet, responder: KeySet, rng: random.Random) -> int:
    state, request = cardinality.start(learner, rng)
    reply = cardinality.respond(responder, request, rng)
    return cardinality.finish(state, reply)


def run_sum(
    buyer: KeySet, factories: Sequence[ValuedKeySet], rng: random.Random, bound: int = 2**24
) -> tuple[int, list[int]]:
    """The whole psi_sum among the buyer and ``factories``: (recovered total, per-factory cardinalities)."""
    names = [f"factory{i}" for i in range(len(factories))]
    session = b"test-session"
    seeds = {(a, b): rng.randbytes(32) for a in names for b in names if a < b}
    masked, results = [], []
    for name, rows in zip(names, factories, strict=True):
        state, request = intersection_sum.buyer_request(buyer, rng)
        factory_state, reply = intersection_sum.factory_reply(rows, request, rng, bound=bound)
        result, response = intersection_sum.buyer_combine(state, reply, rng)
        point = intersection_sum.factory_decrypt(factory_state, response)
        peers = {peer: seeds[min(name, peer), max(name, peer)] for peer in names if peer != name}
        if len(names) > 1:
            masked.append(aggregate.mask_point(point, name, names, peers, session))
        else:
            masked.append(MaskedPoint(point))
        results.append(result)
    total = aggregate.sum_points(masked)
    recovered = aggregate.recover_total(total, [r.mask for r in results], bound)
    return recovered, [r.cardinality for r in results]


def assert_only_group_elements(data: bytes, widths: Sequence[int]) -> int:
    """Walk ``data`` by hand: per section a 4-byte count, then count·width 32-byte valid non-identity points.

    Returns the number of points. Independent of ``wire.decode`` on purpose.
    """
    offset, points = 0, 0
    for width in widths:
        count = int.from_bytes(data[offset : offset + wire.COUNT_BYTES], "big")
        offset += wire.COUNT_BYTES
        for _ in range(count * width):
            element = data[offset : offset + 32]
            assert len(element) == 32
            assert element != ristretto.IDENTITY
            assert ristretto.is_valid(element)
            offset += 32
            points += 1
    assert offset == len(data)
    return points
