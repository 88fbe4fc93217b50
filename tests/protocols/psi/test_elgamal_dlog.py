import random

import pytest

from protocols.psi import dlog, elgamal, group
from protocols.psi.exceptions import DiscreteLogError


def _point(value: int) -> bytes:
    return group.base_mult(group.scalar_from_int(value))


def test_encryption_is_additively_homomorphic_and_rerandomisable() -> None:
    rng = random.Random(0)
    keys = elgamal.generate_keypair(rng)
    a, b = elgamal.encrypt(keys.public, 20, rng), elgamal.encrypt(keys.public, 22, rng)
    assert elgamal.decrypt_to_point(keys.secret, elgamal.add(a, b)) == _point(42)
    fresh = elgamal.rerandomize(keys.public, a, rng)
    assert fresh.c1 != a.c1 and fresh.c2 != a.c2
    assert elgamal.decrypt_to_point(keys.secret, fresh) == _point(20)
    assert elgamal.add(a, elgamal.add_many([])) == a
    assert keys.secret.hex() not in repr(keys)


def test_batch_encryption_is_independent_of_threads() -> None:
    keys = elgamal.generate_keypair(random.Random(1))
    values = list(range(300))
    one = elgamal.encrypt_many(keys.public, values, random.Random(2), workers=1)
    many = elgamal.encrypt_many(keys.public, values, random.Random(2), workers=4)
    assert one == many
    assert [elgamal.decrypt_to_point(keys.secret, ct) for ct in one[:5]] == [_point(v) for v in range(5)]


@pytest.mark.parametrize("bound", [1, 2, 3, 17, 100, 1000])
def test_discrete_log_matches_brute_force(bound: int) -> None:
    # The brute force: walk 0·G, 1·G, ... and compare with what BSGS answers for each.
    point = group.IDENTITY
    generator = _point(1)
    for value in range(bound):
        assert dlog.discrete_log(point, bound, workers=1) == value
        point = group.add_points(point, generator)
    # `point` is now bound·G: just outside the range.
    with pytest.raises(DiscreteLogError):
        dlog.discrete_log(point, bound)


def test_discrete_log_near_the_top_of_a_larger_range() -> None:
    bound = 2**24
    for value in (0, 1, 4095, 4096, 4097, bound - 4097, bound - 1):
        assert dlog.discrete_log(_point(value), bound) == value
    with pytest.raises(DiscreteLogError):
        dlog.discrete_log(_point(bound), bound)


def test_discrete_log_refuses_what_it_cannot_solve() -> None:
    with pytest.raises(DiscreteLogError):
        dlog.discrete_log(group.random_point(random.Random(0)), 2**16)
    with pytest.raises(DiscreteLogError):
        dlog.discrete_log(b"\xff" * 32, 2**16)
    with pytest.raises(ValueError):
        dlog.discrete_log(_point(1), 0)
    with pytest.raises(ValueError):
        dlog.discrete_log(_point(1), dlog.MAX_BOUND + 1)


def test_steps_cover_the_range() -> None:
    for bound in (1, 2, 10, 2**20, 2**36, 2**36 + 1):
        m, giants = dlog.steps(bound)
        assert m * giants >= bound
        assert m * (giants - 1) < bound
