import random

import pytest
import rbcl

from protocols.psi import group, ristretto
from protocols.psi.exceptions import InvalidPointError
from tests.protocols.psi.support import BAD_ENCODINGS, HOSTILE_POINTS, WRONG_LENGTHS

# RFC 9496 §A.1: encodings of 0·B, 1·B and 2·B.
MULTIPLES_OF_B = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
]


def test_generator_multiples_known_answer() -> None:
    for k, expected in enumerate(MULTIPLES_OF_B):
        assert group.base_mult(group.scalar_from_int(k)).hex() == expected


def test_wrappers_agree_with_rbcl() -> None:
    rng = random.Random(1)
    for _ in range(20):
        s = group.random_scalar(rng)
        digest = rng.randbytes(64)
        p = ristretto.from_hash(digest)
        q = group.random_point(rng)
        assert p == rbcl.crypto_core_ristretto255_from_hash(digest)
        assert ristretto.scalarmult(s, p) == rbcl.crypto_scalarmult_ristretto255(s, p)
        assert ristretto.scalarmult_base(s) == rbcl.crypto_scalarmult_ristretto255_base(s)
        assert ristretto.add(p, q) == rbcl.crypto_core_ristretto255_add(p, q)
        assert ristretto.sub(p, q) == rbcl.crypto_core_ristretto255_sub(p, q)
        assert ristretto.reduce_scalar(digest) == rbcl.crypto_core_ristretto255_scalar_reduce(digest)


def test_hash_to_group_is_deterministic_and_domain_separated() -> None:
    assert group.hash_to_group("exact", "k") == group.hash_to_group("exact", "k")
    assert group.hash_to_group("exact", "k") != group.hash_to_group("text", "k")
    # Length prefixes keep (name, key) pairs from running into each other.
    assert group.hash_input("ab", "c") != group.hash_input("a", "bc")
    assert ristretto.is_valid(group.hash_to_group("exact", ""))


def test_random_scalars_are_non_zero_reduced_and_seeded() -> None:
    scalars = [group.random_scalar(random.Random(seed)) for seed in range(50)]
    assert all(0 < group.scalar_to_int(s) < group.GROUP_ORDER for s in scalars)
    assert len(set(scalars)) == 50
    assert group.random_scalar(random.Random(7)) == group.random_scalar(random.Random(7))


def test_zero_scalar_draws_are_skipped() -> None:
    class ZeroFirst(random.Random):
        calls = 0

        def randbytes(self, n: int) -> bytes:
            self.calls += 1
            return bytes(n) if self.calls == 1 else super().randbytes(n)

    rng = ZeroFirst(3)
    assert group.scalar_to_int(group.random_scalar(rng)) != 0
    assert rng.calls == 2


@pytest.mark.parametrize("bad", HOSTILE_POINTS + WRONG_LENGTHS)
def test_hostile_points_are_refused(bad: bytes) -> None:
    with pytest.raises(InvalidPointError):
        group.validate_point(bad)
    with pytest.raises(InvalidPointError):
        group.blind(group.random_scalar(random.Random(0)), bad)
    good = group.hash_to_group("exact", "x")
    with pytest.raises(InvalidPointError):
        group.blind_many(group.random_scalar(random.Random(0)), [good] * 300 + [bad], workers=2)


@pytest.mark.parametrize("bad", BAD_ENCODINGS)
def test_bad_encodings_are_not_valid_points(bad: bytes) -> None:
    assert not ristretto.is_valid(bad)
    assert not rbcl.crypto_core_ristretto255_is_valid_point(bad)


def test_not_bytes_is_refused() -> None:
    with pytest.raises(InvalidPointError):
        group.validate_point(bytearray(group.hash_to_group("exact", "x")))  # type: ignore[arg-type]


def test_blinding_commutes_and_batches_match_single_calls() -> None:
    rng = random.Random(2)
    a, b = group.random_scalar(rng), group.random_scalar(rng)
    keys = [f"key{i}" for i in range(600)]
    hashed = [group.hash_to_group("exact", k) for k in keys]
    ab = group.blind_many(b, group.hash_and_blind_many(a, "exact", keys, workers=3), workers=3)
    ba = group.blind_many(a, group.blind_many(b, hashed, workers=1), workers=2)
    assert ab == ba
    assert ab[5] == group.blind(a, group.blind(b, hashed[5]))


def test_walk_steps_by_delta() -> None:
    g = group.base_mult(group.scalar_from_int(1))
    points = ristretto.walk(group.IDENTITY, g)
    assert [next(points) for _ in range(3)] == [bytes.fromhex(h) for h in MULTIPLES_OF_B]


def test_map_chunks_keeps_order_and_refuses_zero_workers() -> None:
    items = list(range(1000))
    assert ristretto.map_chunks(lambda part: [x * 2 for x in part], items, 3) == [x * 2 for x in items]
    with pytest.raises(ValueError):
        ristretto.map_chunks(lambda part: list(part), items, 0)


def test_points_that_are_not_bytes_are_refused_by_every_entry() -> None:
    point = bytearray(group.hash_to_group("exact", "x"))
    scalar = group.random_scalar(random.Random(0))
    assert not ristretto.is_valid(point)  # type: ignore[arg-type]
    with pytest.raises(InvalidPointError):
        group.blind(scalar, point)  # type: ignore[arg-type]
    with pytest.raises(InvalidPointError):
        group.blind_many(scalar, [point])  # type: ignore[list-item]
