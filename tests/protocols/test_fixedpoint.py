"""Fixed-point encoding: exact round trips within the rounding bound, overflow checks, wire format."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import FixedPointOverflowError, InvalidMessageError
from protocols.fixedpoint import decode, encode, max_abs_encoded, max_abs_error, pack, ring_dtype, unpack

RINGS = st.sampled_from([32, 64])


@settings(max_examples=60)
@given(ring_bits=RINGS, scale_bits=st.integers(0, 20), data=st.data())
def test_round_trip_within_half_a_step(ring_bits: int, scale_bits: int, data: st.DataObject) -> None:
    bound = min(max_abs_encoded(ring_bits, 4) / 2**scale_bits, 1e6)
    array = np.array(data.draw(st.lists(st.floats(-bound, bound), min_size=1, max_size=20)))
    encoded = encode(array, scale_bits=scale_bits, ring_bits=ring_bits, max_parties=4)  # type: ignore[arg-type]
    assert encoded.dtype == ring_dtype(ring_bits)
    decoded = decode(encoded, scale_bits=scale_bits, ring_bits=ring_bits)  # type: ignore[arg-type]
    assert np.all(np.abs(decoded - array) <= 2.0 ** -(scale_bits + 1))


def test_negative_numbers_are_twos_complement() -> None:
    encoded = encode(np.array([-1.0, -0.5, 0.25]), scale_bits=2, ring_bits=32, max_parties=1)
    assert encoded.tolist() == [2**32 - 4, 2**32 - 2, 1]
    assert decode(encoded, scale_bits=2, ring_bits=32).tolist() == [-1.0, -0.5, 0.25]
    encoded64 = encode(np.array([-3.0]), scale_bits=0, ring_bits=64, max_parties=1)
    assert encoded64.tolist() == [2**64 - 3]


@settings(max_examples=40, deadline=None)
@given(
    ring_bits=RINGS,
    scale_bits=st.integers(0, 16),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_sum_of_max_parties_encodings_decodes_to_the_sum(
    ring_bits: int, scale_bits: int, n: int, data: st.DataObject
) -> None:
    bound = max_abs_encoded(ring_bits, n) / 2**scale_bits
    width = min(bound, 1e9)  # keep sums exactly representable as float64 for the comparison
    rows = data.draw(
        st.lists(st.lists(st.floats(-width, width), min_size=3, max_size=3), min_size=n, max_size=n)
    )
    total = np.zeros(3, dtype=ring_dtype(ring_bits))
    for row in rows:
        total += encode(np.array(row), scale_bits=scale_bits, ring_bits=ring_bits, max_parties=n)  # type: ignore[arg-type]
    decoded = decode(total, scale_bits=scale_bits, ring_bits=ring_bits)  # type: ignore[arg-type]
    for j in range(3):
        exact = sum(Fraction(row[j]) for row in rows)
        assert abs(Fraction(decoded[j]) - exact) <= Fraction(max_abs_error(n, scale_bits))


def test_max_abs_error() -> None:
    assert max_abs_error(10, 3) == 10 / 16
    assert max_abs_error(0, 8) == 0.0


@pytest.mark.parametrize("ring_bits", [32, 64])
@pytest.mark.parametrize("parties", [1, 3, 1000])
def test_overflow_boundary(ring_bits: int, parties: int) -> None:
    limit = max_abs_encoded(ring_bits, parties)
    assert limit == (2 ** (ring_bits - 1) - 1) // parties
    kwargs = {"scale_bits": 0, "ring_bits": ring_bits, "max_parties": parties}
    largest_ok = float(limit) if int(float(limit)) <= limit else float(np.nextafter(float(limit), 0))
    encode(np.array([largest_ok, -largest_ok]), **kwargs)  # type: ignore[arg-type]
    too_big = float(limit + 1)
    if int(too_big) <= limit:  # near 2^63 floats are sparse: step to the next one up
        too_big = float(np.nextafter(too_big, np.inf))
    assert int(too_big) > limit
    with pytest.raises(FixedPointOverflowError) as info:
        encode(np.array([0.0, 1.0, -too_big]), **kwargs)  # type: ignore[arg-type]
    assert info.value.index == (2,)
    assert "(2,)" in str(info.value)


def test_sum_at_the_bound_does_not_wrap() -> None:
    parties = 7
    limit = max_abs_encoded(32, parties)
    encoded = encode(np.array([float(-limit)]), scale_bits=0, ring_bits=32, max_parties=parties)
    total = np.zeros(1, np.uint32)
    for _ in range(parties):
        total += encoded
    assert decode(total, scale_bits=0, ring_bits=32)[0] == -limit * parties


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e308])
def test_non_finite_and_huge_values_raise(bad: float) -> None:
    values = np.array([[0.0, 1.0], [bad, 2.0]])
    with pytest.raises(FixedPointOverflowError) as info:
        encode(values, scale_bits=16, ring_bits=64, max_parties=2)
    assert info.value.index == (1, 0)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        encode(np.zeros(1), scale_bits=31, ring_bits=32, max_parties=1)
    with pytest.raises(ValueError):
        encode(np.zeros(1), scale_bits=8, ring_bits=16, max_parties=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode(np.zeros(1), scale_bits=8, ring_bits=32, max_parties=0)
    with pytest.raises(ValueError):
        decode(np.zeros(1, np.uint64), scale_bits=8, ring_bits=32)


@settings(max_examples=30)
@given(ring_bits=RINGS, values=st.lists(st.integers(0, 2**64 - 1), max_size=30))
def test_pack_unpack_round_trip(ring_bits: int, values: list[int]) -> None:
    vec = np.array([v % 2**ring_bits for v in values], dtype=ring_dtype(ring_bits))
    data = pack(vec, ring_bits)  # type: ignore[arg-type]
    assert len(data) == len(values) * ring_bits // 8
    back = unpack(data, ring_bits, len(values))  # type: ignore[arg-type]
    assert back.dtype == ring_dtype(ring_bits)
    assert np.array_equal(back, vec)


def test_pack_is_little_endian() -> None:
    assert pack(np.array([1, 0x01020304], dtype=np.uint32), 32) == bytes([1, 0, 0, 0, 4, 3, 2, 1])
    assert unpack(bytes([4, 3, 2, 1, 0, 0, 0, 0]), 64, 1).tolist() == [0x01020304]


def test_unpack_checks_length_and_pack_checks_dtype() -> None:
    with pytest.raises(InvalidMessageError):
        unpack(bytes(7), 32, 2)
    with pytest.raises(InvalidMessageError):
        unpack(bytes(12), 64, 1)
    with pytest.raises(InvalidMessageError):
        unpack(b"", 32, -1)
    with pytest.raises(ValueError):
        pack(np.zeros(2, np.uint64), 32)
    with pytest.raises(ValueError):
        pack(np.zeros((2, 2), np.uint32), 32)
