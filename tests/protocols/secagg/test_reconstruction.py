"""Robust recovery of a shared secret when some responders lie, checked against the dealt polynomial."""

import hashlib
import random
import time
from math import comb

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg.reconstruction import MAX_SUBSETS, Check, recover
from protocols.secagg.shamir import PRIME, SHARE_BYTES, interpolate, split_secret


def _deal(n: int, t: int, seed: int) -> tuple[bytes, dict[str, bytes], dict[str, int]]:
    rng = random.Random(seed)
    secret = rng.randbytes(32)
    xs = {f"r{i:02d}": i + 1 for i in range(n)}
    by_x = split_secret(secret, t, xs.values(), randbelow=rng.randrange)
    return secret, {r: by_x[x] for r, x in xs.items()}, xs


def _lie(share: bytes, rng: random.Random) -> bytes:
    return ((int.from_bytes(share, "big") + rng.randrange(1, PRIME)) % PRIME).to_bytes(SHARE_BYTES, "big")


def _commitment_check(secret: bytes) -> Check:
    digest = hashlib.sha256(secret).digest()
    return lambda candidate: hashlib.sha256(candidate).digest() == digest


def _send(
    n: int, t: int, liars: set[int], seed: int
) -> tuple[bytes, dict[str, bytes], dict[str, int], set[str]]:
    secret, shares, xs = _deal(n, t, seed)
    rng = random.Random(seed)
    lying = {r for i, r in enumerate(shares) if i in liars}
    return secret, {r: _lie(s, rng) if r in lying else s for r, s in shares.items()}, xs, lying


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 14), data=st.data())
def test_liars_within_the_guarantee_are_all_named(n: int, data: st.DataObject) -> None:
    """Guaranteed: up to (m - t) / 2 liars (decoder), or any number leaving t honest when C(m, t) is small."""
    t = data.draw(st.integers(2, n))
    exhaustive = comb(n, t) <= MAX_SUBSETS
    most = n - t if exhaustive else (n - t) // 2
    liars = set(data.draw(st.lists(st.sampled_from(range(n)), max_size=most, unique=True)))
    secret, sent, xs, lying = _send(n, t, liars, data.draw(st.integers(0, 2**32)))

    recovery = recover(sent, xs, t, _commitment_check(secret))

    assert recovery.secret == secret
    # Every share is checked against the recovered polynomial, also when the first t give the right secret.
    assert set(recovery.liars) == lying


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 16), data=st.data())
def test_any_liars_never_yield_a_wrong_secret_or_an_honest_name(n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(2, n))
    liars = set(data.draw(st.lists(st.sampled_from(range(n)), max_size=n, unique=True)))
    secret, sent, xs, lying = _send(n, t, liars, data.draw(st.integers(0, 2**32)))
    try:
        recovery = recover(sent, xs, t, _commitment_check(secret))
    except InvalidMessageError:
        assert n - len(lying) < t or comb(n, t) > MAX_SUBSETS  # beyond what the search promises
    else:
        assert recovery.secret == secret and set(recovery.liars) <= lying


def test_many_liars_in_a_large_run_are_decoded_quickly() -> None:
    """n = 50, t = 34: eight liars, all among the first t, are beyond any cheap subset search."""
    secret, shares, xs = _deal(50, 34, 3)
    rng = random.Random(3)
    lying = {f"r{i:02d}" for i in (0, 4, 9, 13, 20, 25, 30, 33)}
    sent = {r: _lie(s, rng) if r in lying else s for r, s in shares.items()}
    started = time.perf_counter()
    recovery = recover(sent, xs, 34, _commitment_check(secret))
    assert time.perf_counter() - started < 2.0
    assert recovery.secret == secret and set(recovery.liars) == lying


def test_without_a_check_the_first_t_shares_are_trusted() -> None:
    secret, shares, xs = _deal(5, 3, 1)
    sent = {**shares, "r04": _lie(shares["r04"], random.Random(1))}
    assert recover(sent, xs, 3, None).secret == secret
    sent = {**shares, "r00": _lie(shares["r00"], random.Random(1))}
    assert recover(sent, xs, 3, None).secret != secret  # the semi-honest baseline cannot tell


def test_a_dealer_whose_shares_match_no_commitment_is_refused() -> None:
    _, shares, xs = _deal(6, 4, 2)
    with pytest.raises(InvalidMessageError, match="no 4 of 6 shares"):
        recover(shares, xs, 4, _commitment_check(b"\x00" * 32))


def test_fewer_than_t_shares_is_a_threshold_error() -> None:
    secret, shares, xs = _deal(5, 4, 4)
    with pytest.raises(ThresholdError):
        recover(dict(list(shares.items())[:3]), xs, 4, _commitment_check(secret))


def test_interpolate_at_a_share_point_gives_that_share() -> None:
    """Reference: the polynomial evaluated directly from its coefficients."""
    draws = iter([7, 9, 13])
    secret = (42).to_bytes(32, "big")
    shares = split_secret(secret, 4, range(1, 8), randbelow=lambda _bound: next(draws))
    points = {x: int.from_bytes(shares[x], "big") for x in (1, 3, 4, 6)}
    for x in range(0, 10):
        assert interpolate(points, x) == (42 + 7 * x + 9 * x**2 + 13 * x**3) % PRIME
