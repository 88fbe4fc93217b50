"""Shamir sharing of byte secrets in 16-byte chunks."""

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg.shamir import combine_secret, split_secret


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 7),
    data=st.data(),
    chunks=st.integers(1, 3),
)
def test_any_t_shares_recover_the_secret(n: int, data: st.DataObject, chunks: int) -> None:
    t = data.draw(st.integers(2, n))
    secret = data.draw(st.binary(min_size=16 * chunks, max_size=16 * chunks))
    xs = data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n, unique=True))
    shares = split_secret(secret, t, xs)
    assert set(shares) == set(xs) and all(len(s) == len(secret) for s in shares.values())
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=n, unique=True))
    assert combine_secret({x: shares[x] for x in subset}, t) == secret


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
    # Interpolating t-1 shares as if t-1 were the threshold yields an unrelated value.
    assert combine_secret({1: shares[1], 2: shares[2]}, 2) != secret


@pytest.mark.parametrize("secret", [b"", b"x" * 15, b"x" * 33])
def test_split_rejects_lengths_not_multiple_of_16(secret: bytes) -> None:
    with pytest.raises(ValueError):
        split_secret(secret, 2, [1, 2, 3])


def test_split_rejects_bad_points_and_threshold() -> None:
    with pytest.raises(ValueError):
        split_secret(bytes(16), 2, [0, 1, 2])
    with pytest.raises(ValueError):
        split_secret(bytes(16), 4, [1, 2, 3])


def test_combine_rejects_inconsistent_shares() -> None:
    shares = split_secret(bytes(32), 2, [1, 2])
    with pytest.raises(InvalidMessageError):
        combine_secret({1: shares[1], 2: shares[2][:16]}, 2)
    with pytest.raises(InvalidMessageError):
        combine_secret({1: shares[1][:15], 2: shares[2][:15]}, 2)
    with pytest.raises(InvalidMessageError):
        combine_secret({0: shares[1], 2: shares[2]}, 2)
