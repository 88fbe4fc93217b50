import random
from typing import Any

import pytest

from protocols.exceptions import InvalidMessageError
from protocols.psi import aggregate, elgamal, group, intersection_sum
from protocols.psi.exceptions import DiscreteLogError, InvalidPointError, ValueBoundError
from protocols.psi.messages import KeyedCiphertext, MaskedPoint, SumReply, SumResponse
from tests.protocols.psi.support import (
    HOSTILE_POINTS,
    WRONG_LENGTHS,
    assert_only_group_elements,
    keyset,
    run_sum,
    valued,
)


def _plain(buyer: list[str], rows: list[tuple[str, int]]) -> tuple[int, int]:
    keys = set(buyer)
    common = {k for k, _ in rows if k in keys}
    return sum(v for k, v in rows if k in keys), len(common)


@pytest.mark.parametrize(
    ("buyer", "rows"),
    [
        ([], []),
        ([], [("a", 5)]),
        (["a"], []),
        (["a"], [("a", 5)]),
        (["a"], [("b", 5)]),
        (["a", "b"], [("c", 1), ("d", 2)]),  # disjoint
        (["a", "b", "c"], [("a", 1), ("b", 2), ("c", 3)]),  # identical keys
        (["a", "a", "b"], [("a", 1), ("a", 10), ("b", 0), ("c", 7), ("c", 7)]),  # duplicates
        (["a", "b"], [("a", 0), ("b", 0)]),  # matches that add up to zero
    ],
)
def test_small_cases_match_plaintext(buyer: list[str], rows: list[tuple[str, int]]) -> None:
    total, cardinalities = run_sum(keyset(buyer), [valued(rows)], random.Random(0))
    assert (total, cardinalities[0]) == _plain(buyer, rows)


def test_random_sets_of_ten_thousand() -> None:
    rng = random.Random(7)
    universe = [f"supplier-{i}" for i in range(30_000)]
    buyer = rng.sample(universe, 10_000)
    rows = [(k, rng.randrange(1000)) for k in rng.sample(universe, 10_000)]
    total, cardinalities = run_sum(keyset(buyer), [valued(rows)], rng, bound=2**24)
    assert (total, cardinalities[0]) == _plain(buyer, rows)


def test_total_across_factories() -> None:
    rng = random.Random(8)
    universe = [f"k{i}" for i in range(200)]
    buyer = rng.sample(universe, 80)
    factories = [[(k, rng.randrange(10_000)) for k in rng.sample(universe, 60)] for _ in range(4)]
    total, cardinalities = run_sum(keyset(buyer), [valued(f) for f in factories], rng)
    assert total == sum(_plain(buyer, f)[0] for f in factories)
    assert cardinalities == [_plain(buyer, f)[1] for f in factories]


def _one_factory(rng: random.Random) -> tuple[bytes, intersection_sum.BuyerResult, int]:
    buyer, rows = ["a", "b", "c"], [("a", 30), ("c", 12), ("d", 99)]
    state, request = intersection_sum.buyer_request(keyset(buyer), rng)
    factory_state, reply = intersection_sum.factory_reply(valued(rows), request, rng)
    result, response = intersection_sum.buyer_combine(state, reply, rng)
    return intersection_sum.factory_decrypt(factory_state, response), result, 42


def test_the_factory_decrypts_a_masked_sum_only() -> None:
    point, result, plain = _one_factory(random.Random(1))
    r = group.scalar_to_int(result.mask)
    assert point == group.base_mult(group.scalar_from_int(plain + r))
    assert point != group.base_mult(group.scalar_from_int(plain))


def test_one_masked_point_alone_reveals_nothing_to_the_buyer() -> None:
    rng = random.Random(2)
    point, result, plain = _one_factory(rng)
    names = ["f0", "f1", "f2"]
    seeds = {"f1": rng.randbytes(32), "f2": rng.randbytes(32)}
    masked = aggregate.mask_point(point, "f0", names, seeds, b"session")
    assert masked.point != point  # not (S + r)G ...
    assert masked.point != group.base_mult(group.scalar_from_int(plain))  # ... nor SG
    # The buyer, handed this one point, cannot remove the pairwise mask: its S is out of reach.
    with pytest.raises(DiscreteLogError):
        aggregate.recover_total(masked, [result.mask], 2**16)


def test_pairwise_masks_cancel_and_depend_on_the_session() -> None:
    rng = random.Random(3)
    names = ["a", "b", "c", "d"]
    pair_seeds = {(x, y): rng.randbytes(32) for x in names for y in names if x < y}

    def seeds(me: str) -> dict[str, bytes]:
        return {p: pair_seeds[min(me, p), max(me, p)] for p in names if p != me}

    masks = [aggregate.own_mask(me, names, seeds(me), b"s1") for me in names]
    assert sum(masks) % group.GROUP_ORDER == 0
    assert all(m != 0 for m in masks)
    assert aggregate.own_mask("a", names, seeds("a"), b"s2") != masks[0]


@pytest.mark.parametrize(
    ("me", "participants", "seeds"),
    [
        ("a", ["a"], {}),  # no one to cancel against
        ("z", ["a", "b"], {"a": b"x" * 32}),  # not a participant
        ("a", ["a", "b"], {}),  # a missing seed
        ("a", ["a", "b"], {"b": b"short"}),  # a seed too short
        ("a", ["a", "a", "b"], {"b": b"x" * 32}),  # repeated participant
    ],
)
def test_mask_arguments_are_checked(me: str, participants: list[str], seeds: dict[str, bytes]) -> None:
    with pytest.raises(ValueError):
        aggregate.own_mask(me, participants, seeds, b"s")


def test_values_are_bounded() -> None:
    rng = random.Random(4)
    _, request = intersection_sum.buyer_request(keyset(["a"]), rng)
    with pytest.raises(ValueBoundError):
        intersection_sum.factory_reply(valued([("a", 10), ("b", 6)]), request, rng, bound=16)
    # The buyer cannot recover a total at or above the bound.
    with pytest.raises(DiscreteLogError):
        run_sum(keyset(["a", "b"]), [valued([("a", 9)]), valued([("b", 9)])], rng, bound=16)


def test_transcript_carries_only_group_elements_and_counts() -> None:
    rng = random.Random(5)
    state, request = intersection_sum.buyer_request(keyset(["a", "b", "c"]), rng)
    factory_state, reply = intersection_sum.factory_reply(valued([("b", 3), ("x", 4)]), request, rng)
    result, response = intersection_sum.buyer_combine(state, SumReply.from_bytes(reply.to_bytes()), rng)
    point = intersection_sum.factory_decrypt(factory_state, SumResponse.from_bytes(response.to_bytes()))
    masked = aggregate.mask_point(point, "f0", ["f0", "f1"], {"f1": b"k" * 32}, b"s")
    assert assert_only_group_elements(request.to_bytes(), [1]) == 3
    assert assert_only_group_elements(reply.to_bytes(), [1, 1, 3]) == 1 + 3 + 2 * 3
    assert assert_only_group_elements(response.to_bytes(), [2]) == 2
    assert assert_only_group_elements(masked.to_bytes(), [1]) == 1
    assert MaskedPoint.from_bytes(masked.to_bytes()) == masked
    assert result.cardinality == 1 and "mask" in repr(result) and "hidden" in repr(result)


def test_padding_hides_the_number_of_rows() -> None:
    rng = random.Random(6)
    state, request = intersection_sum.buyer_request(keyset(["a", "b"]), rng, pad_to=10)
    factory_state, reply = intersection_sum.factory_reply(valued([("a", 5)]), request, rng, pad_to=25)
    assert (len(request.points), len(reply.double_blinded), len(reply.rows)) == (10, 10, 25)
    result, response = intersection_sum.buyer_combine(state, reply, rng)
    point = intersection_sum.factory_decrypt(factory_state, response)
    unmasked = group.sub_points(point, group.base_mult(result.mask))
    assert unmasked == group.base_mult(group.scalar_from_int(5)) and result.cardinality == 1


def _reply(rng: random.Random) -> tuple[intersection_sum.BlindingState, SumReply]:
    state, request = intersection_sum.buyer_request(keyset(["a", "b"]), rng)
    _, reply = intersection_sum.factory_reply(valued([("a", 1), ("c", 2)]), request, rng)
    return state, reply


@pytest.mark.parametrize("bad", HOSTILE_POINTS + WRONG_LENGTHS)
@pytest.mark.parametrize("where", ["public_key", "double_blinded", "row_key", "row_c1", "row_c2"])
def test_buyer_refuses_hostile_reply_points(bad: bytes, where: str) -> None:
    state, reply = _reply(random.Random(0))
    row = reply.rows[0]
    if where == "public_key":
        hostile = SumReply(bad, reply.double_blinded, reply.rows)
    elif where == "double_blinded":
        hostile = SumReply(reply.public_key, (bad, *reply.double_blinded[1:]), reply.rows)
    else:
        changed = {
            "row_key": KeyedCiphertext(bad, row.value),
            "row_c1": KeyedCiphertext(row.key, elgamal.Ciphertext(bad, row.value.c2)),
            "row_c2": KeyedCiphertext(row.key, elgamal.Ciphertext(row.value.c1, bad)),
        }[where]
        hostile = SumReply(reply.public_key, reply.double_blinded, (changed, *reply.rows[1:]))
    with pytest.raises(InvalidPointError):
        intersection_sum.buyer_combine(state, hostile, random.Random(1))


def test_buyer_refuses_repeated_rows() -> None:
    state, reply = _reply(random.Random(0))
    with pytest.raises(InvalidMessageError, match="repeated"):
        intersection_sum.buyer_combine(
            state, SumReply(reply.public_key, reply.double_blinded, reply.rows[:1] * 2), random.Random(1)
        )


@pytest.mark.parametrize("bad", HOSTILE_POINTS + WRONG_LENGTHS)
def test_factory_and_coordinator_refuse_hostile_points(bad: bytes) -> None:
    rng = random.Random(0)
    state, request = intersection_sum.buyer_request(keyset(["a"]), rng)
    factory_state, reply = intersection_sum.factory_reply(valued([("a", 1)]), request, rng)
    _, response = intersection_sum.buyer_combine(state, reply, rng)
    with pytest.raises(InvalidPointError):
        intersection_sum.factory_decrypt(
            factory_state, SumResponse(elgamal.Ciphertext(bad, response.ciphertext.c2))
        )
    with pytest.raises(InvalidPointError):
        aggregate.sum_points([MaskedPoint(group.random_point(rng)), MaskedPoint(bad)])


@pytest.mark.parametrize(
    ("message", "data"),
    [
        (SumResponse, b""),
        (SumResponse, (2).to_bytes(4, "big") + bytes(128)),  # two ciphertexts where one is allowed
        (MaskedPoint, (0).to_bytes(4, "big")),  # no point at all
        (SumReply, (2).to_bytes(4, "big") + bytes(64) + bytes(8)),  # two public keys
    ],
)
def test_malformed_sum_messages_are_refused(message: Any, data: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        message.from_bytes(data)
