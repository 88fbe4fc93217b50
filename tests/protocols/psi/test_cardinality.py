import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import InvalidMessageError
from protocols.psi import cardinality, ecdh, group, wire
from protocols.psi.cardinality import DEFAULT_VARIANT, Variant
from protocols.psi.exceptions import InvalidPointError
from protocols.psi.messages import BlindedKeys, CardinalityReply
from tests.protocols.psi.support import (
    HOSTILE_POINTS,
    WRONG_LENGTHS,
    assert_only_group_elements,
    keyset,
    run_cardinality,
)


def test_default_variant_releases_counts_only_through_factories() -> None:
    assert DEFAULT_VARIANT is Variant.FACTORY_LEARNS
    assert (DEFAULT_VARIANT.learner, DEFAULT_VARIANT.responder) == ("factory", "buyer")
    assert (Variant.BUYER_LEARNS.learner, Variant.BUYER_LEARNS.responder) == ("buyer", "factory")


@pytest.mark.parametrize(
    ("learner", "responder", "expected"),
    [
        ([], [], 0),
        ([], ["a", "b"], 0),
        (["a", "b"], [], 0),
        (["a"], ["a"], 1),
        (["a"], ["b"], 0),
        (["a", "b", "c"], ["d", "e"], 0),  # disjoint
        (["a", "b", "c"], ["c", "b", "a"], 3),  # identical
        (["a", "a", "b", "b"], ["b", "b", "b", "c"], 1),  # duplicates count once
    ],
)
def test_small_cases(learner: list[str], responder: list[str], expected: int) -> None:
    assert run_cardinality(keyset(learner), keyset(responder), random.Random(0)) == expected


def test_keys_written_differently_match_after_normalisation() -> None:
    buyer = keyset(["91110000600037341L", "9111 0000 6000 3734 1l"], "credit_code")
    factory = keyset(["911100-006000-37341-l", "91110000600037341M"], "credit_code")
    assert factory.invalid == ("91110000600037341M",)
    assert run_cardinality(buyer, factory, random.Random(1)) == 1
    # The same strings under another normalisation hash differently and never meet.
    other = keyset(["91110000600037341L"], "exact")
    assert run_cardinality(buyer, other, random.Random(1)) == 0


def test_random_sets_of_ten_thousand() -> None:
    rng = random.Random(42)
    universe = [f"supplier-{i}" for i in range(30_000)]
    learner, responder = rng.sample(universe, 10_000), rng.sample(universe, 10_000)
    expected = len(set(learner) & set(responder))
    assert run_cardinality(keyset(learner), keyset(responder), rng) == expected


@settings(max_examples=15, deadline=None)
@given(
    a=st.sets(st.integers(0, 60), max_size=25),
    b=st.sets(st.integers(0, 60), max_size=25),
    seed=st.integers(0, 2**32),
)
def test_matches_plaintext_and_is_symmetric(a: set[int], b: set[int], seed: int) -> None:
    ka, kb = keyset([str(x) for x in a]), keyset([str(x) for x in b])
    rng = random.Random(seed)
    assert run_cardinality(ka, kb, rng) == run_cardinality(kb, ka, rng) == len(a & b)


def test_padding_hides_sizes_and_keeps_the_count() -> None:
    rng = random.Random(3)
    learner, responder = keyset(["a", "b", "c"]), keyset(["b", "c", "d", "e"])
    state, request = cardinality.start(learner, rng, pad_to=50)
    assert len(request.points) == state.sent == 50
    reply = cardinality.respond(responder, request, rng, pad_to=70)
    assert (len(reply.double_blinded), len(reply.own_blinded)) == (50, 70)
    assert cardinality.finish(state, reply) == 2
    with pytest.raises(ValueError):
        cardinality.start(learner, rng, pad_to=2)


def test_seeded_runs_are_reproducible_and_independent_of_threads() -> None:
    keys = keyset([f"k{i}" for i in range(400)])
    runs = []
    for workers in (1, 3):
        rng = random.Random(9)
        _, request = cardinality.start(keys, rng, workers=workers)
        runs.append((request, cardinality.respond(keys, request, rng, workers=workers)))
    assert runs[0] == runs[1]


def test_transcript_carries_only_group_elements_and_counts() -> None:
    rng = random.Random(5)
    names = [f"supplier-key-{i:04d}" for i in range(90)]  # long enough not to occur by chance
    learner, responder = keyset(names[:40]), keyset(names[20:])
    state, request = cardinality.start(learner, rng)
    reply = cardinality.respond(responder, request, rng)
    assert assert_only_group_elements(request.to_bytes(), [1]) == 40
    assert assert_only_group_elements(reply.to_bytes(), [1, 1]) == 40 + 70
    # Round trip through the bytes, as the integration will.
    decoded = CardinalityReply.from_bytes(reply.to_bytes())
    assert cardinality.finish(state, decoded) == 20
    assert BlindedKeys.from_bytes(request.to_bytes()) == request
    wire_bytes = request.to_bytes() + reply.to_bytes()
    assert all(key.encode() not in wire_bytes for key in learner.keys + responder.keys)


def _permutation_of_reblind(n: int, rng: random.Random) -> list[int]:
    """Where each sent point ends up in the responder's doubly blinded list."""
    request = BlindedKeys(tuple(group.random_point(rng) for _ in range(n)))
    secret = group.random_scalar(rng)
    expected = [group.blind(secret, p) for p in request.points]
    returned = ecdh.reblind(secret, request, rng)
    return [returned.index(e) for e in expected]


def test_doubly_blinded_points_come_back_in_a_uniformly_random_order() -> None:
    rng = random.Random(11)
    n, trials = 6, 600
    perms = [_permutation_of_reblind(n, rng) for _ in range(trials)]
    assert sum(p == list(range(n)) for p in perms) < 5  # the identity has probability 1/720 per trial
    # Chi-square of the first sent point's position: 5 degrees of freedom, 35 is beyond p = 10^-5.
    counts = Counter(p[0] for p in perms)
    expected = trials / n
    chi2 = sum((counts.get(k, 0) - expected) ** 2 / expected for k in range(n))
    assert chi2 < 35


def test_respond_reshuffles_the_request() -> None:
    # Recover the responder's secret from the seeded rng to map each returned point to the one sent.
    rng = random.Random(21)
    keys = keyset([f"k{i}" for i in range(64)])
    _, request = cardinality.start(keys, rng)
    replay = random.Random()
    replay.setstate(rng.getstate())
    reply = cardinality.respond(keys, request, rng)
    secret = group.random_scalar(replay)
    positions = [reply.double_blinded.index(group.blind(secret, p)) for p in request.points]
    assert sorted(positions) == list(range(64))
    assert positions != list(range(64))


@pytest.mark.parametrize("bad", HOSTILE_POINTS + WRONG_LENGTHS)
def test_responder_refuses_hostile_request_points(bad: bytes) -> None:
    rng = random.Random(0)
    _, request = cardinality.start(keyset(["a", "b"]), rng)
    hostile = BlindedKeys((*request.points, bad))
    with pytest.raises(InvalidPointError):
        cardinality.respond(keyset(["a"]), hostile, rng)


@pytest.mark.parametrize("bad", HOSTILE_POINTS + WRONG_LENGTHS)
@pytest.mark.parametrize("field", ["double_blinded", "own_blinded"])
def test_learner_refuses_hostile_reply_points(bad: bytes, field: str) -> None:
    rng = random.Random(0)
    state, request = cardinality.start(keyset(["a", "b"]), rng)
    reply = cardinality.respond(keyset(["a", "c"]), request, rng)
    points = list(getattr(reply, field))
    points[0] = bad
    hostile = CardinalityReply(**{**reply.__dict__, field: tuple(points)})
    with pytest.raises(InvalidPointError):
        cardinality.finish(state, hostile)


def test_repeated_points_are_refused() -> None:
    # A repeated point could make one key count twice.
    rng = random.Random(0)
    state, request = cardinality.start(keyset(["a", "b"]), rng)
    with pytest.raises(InvalidMessageError, match="repeated"):
        cardinality.respond(keyset(["a"]), BlindedKeys((request.points[0],) * 2), rng)
    reply = cardinality.respond(keyset(["a", "b"]), request, rng)
    with pytest.raises(InvalidMessageError, match="repeated"):
        cardinality.finish(state, CardinalityReply(reply.double_blinded, (reply.own_blinded[0],) * 2))
    with pytest.raises(InvalidMessageError, match="repeated"):
        cardinality.finish(state, CardinalityReply((reply.double_blinded[0],) * 2, reply.own_blinded))


def test_reply_must_return_every_point_sent() -> None:
    rng = random.Random(0)
    state, request = cardinality.start(keyset(["a", "b"]), rng)
    reply = cardinality.respond(keyset(["a"]), request, rng)
    with pytest.raises(InvalidMessageError, match="sent 2"):
        cardinality.finish(state, CardinalityReply(reply.double_blinded[:1], reply.own_blinded))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00",
        (2).to_bytes(4, "big") + bytes(32),  # announces two points, carries one
        (0).to_bytes(4, "big") + b"x",  # trailing bytes
        (2**32 - 1).to_bytes(4, "big"),  # a huge count is refused before anything is allocated
    ],
)
def test_malformed_framing_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        BlindedKeys.from_bytes(data)


def test_size_limit() -> None:
    request = BlindedKeys(tuple(group.random_point(random.Random(i)) for i in range(5)))
    assert BlindedKeys.from_bytes(request.to_bytes(), max_items=5) == request
    with pytest.raises(InvalidMessageError, match="limit"):
        BlindedKeys.from_bytes(request.to_bytes(), max_items=4)
    assert wire.DEFAULT_MAX_ITEMS >= 10**5
