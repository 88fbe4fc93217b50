"""Shamir sharing of 32-byte secrets over GF(2^256 + 297), against a naive reference interpolation."""

import contextlib
import itertools
import os
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg.shamir import PRIME, SHARE_BYTES, combine_secret, split_secret


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 9), data=st.data())
def test_any_t_shares_recover_the_secret(n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(2, n))
    secret = data.draw(st.binary(min_size=32, max_size=32))
    xs = data.draw(st.lists(st.integers(1, 40), min_size=n, max_size=n, unique=True))
    shares = split_secret(secret, t, xs)
    assert set(shares) == set(xs) and all(len(s) == SHARE_BYTES for s in shares.values())
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=n, unique=True))
    assert combine_secret({x: shares[x] for x in subset}, t) == secret


def test_shares_lie_on_the_polynomial_drawn_from_the_random_source() -> None:
    """With a known random source the shares are exactly f(x) = s + a1·x + a2·x² mod p."""
    draws = iter([11, 22])
    secret = (123456789).to_bytes(32, "big")
    shares = split_secret(secret, 3, [1, 2, 5], randbelow=lambda _bound: next(draws))
    for x, share in shares.items():
        assert int.from_bytes(share, "big") == (123456789 + 11 * x + 22 * x * x) % PRIME


def test_combine_matches_exact_rational_interpolation() -> None:
    """Reference: Lagrange interpolation at 0 over the rationals, then reduced mod p."""
    rng = random.Random(5)
    secret = os.urandom(32)
    shares = split_secret(secret, 4, range(1, 8), randbelow=rng.randrange)
    chosen = [(x, int.from_bytes(shares[x], "big")) for x in (2, 3, 5, 7)]
    total = Fraction(0)
    for xi, yi in chosen:
        weight = Fraction(1)
        for xj, _ in chosen:
            if xj != xi:
                weight *= Fraction(xj, xj - xi)
        total += weight * yi
    reference = total.numerator * pow(total.denominator, -1, PRIME) % PRIME
    assert combine_secret({x: shares[x] for x, _ in chosen}, 4) == reference.to_bytes(32, "big")


def test_every_subset_of_size_t() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, 3, range(1, 6))
    for subset in itertools.combinations(shares, 3):
        assert combine_secret({x: shares[x] for x in subset}, 3) == secret


def test_fewer_than_t_shares() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, 3, [1, 2, 3])
    with pytest.raises(ThresholdError):
        combine_secret({1: shares[1], 2: shares[2]}, 3)
    # Interpolating t-1 shares as if t-1 were the threshold lands on a field element that is, with
    # overwhelming probability, not even a 32-byte value — and never the secret.
    with contextlib.suppress(InvalidMessageError):
        assert combine_secret({1: shares[1], 2: shares[2]}, 2) != secret


@pytest.mark.parametrize("secret", [b"", b"x" * 16, b"x" * 33])
def test_split_rejects_other_lengths(secret: bytes) -> None:
    with pytest.raises(ValueError):
        split_secret(secret, 2, [1, 2, 3])


def test_split_rejects_bad_points_and_threshold() -> None:
    with pytest.raises(ValueError):
        split_secret(bytes(32), 2, [0, 1, 2])
    with pytest.raises(ValueError):
        split_secret(bytes(32), 4, [1, 2, 3])


def test_combine_rejects_malformed_shares() -> None:
    shares = split_secret(bytes(32), 2, [1, 2])
    with pytest.raises(InvalidMessageError):
        combine_secret({1: shares[1], 2: shares[2][:16]}, 2)
    with pytest.raises(InvalidMessageError):
        combine_secret({0: shares[1], 2: shares[2]}, 2)
    with pytest.raises(InvalidMessageError):
        combine_secret({1: shares[1], 2: (PRIME).to_bytes(SHARE_BYTES, "big")}, 2)
