"""The encrypted query's byte format: a round trip, and each malformed variant refused (HEMessageError)."""

from __future__ import annotations

import struct

import pytest

from protocols.he import CKKS_8192, KeyOwner, encrypt_query
from protocols.he.exceptions import HEMessageError, SecretKeyInContextError
from protocols.he.query import MAGIC, EncryptedQuery, build, decode, encode, open_query


@pytest.fixture(scope="module")
def encoded(scoring_owner: KeyOwner) -> bytes:
    return build(scoring_owner.public_context(), CKKS_8192.name, [encrypt_query(scoring_owner.public, [1.0])])


def test_round_trip_and_open(encoded: bytes, scoring_owner: KeyOwner) -> None:
    decoded = decode(encoded)
    assert decoded.params == "ckks-8192" and decoded.context == scoring_owner.public_context()
    assert encode(decoded) == encoded
    public, queries = open_query(encoded, params="ckks-8192", outputs=1)
    assert public.tenseal.has_galois_keys() and len(queries) == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"X" + b[1:],  # header
        lambda b: b[:-1],  # truncated ciphertext
        lambda b: b + b"\0",  # trailing byte
        lambda b: b[: len(MAGIC)] + struct.pack("<H", 3) + b"abc",  # unknown parameter set
        lambda b: b[: len(MAGIC) + 2 + 9] + struct.pack("<Q", 2**40) + b[len(MAGIC) + 2 + 9 + 8 :],  # huge
    ],
    ids=["header", "truncated", "trailing", "unknown-set", "huge-context"],
)
def test_malformed_queries_are_refused(encoded: bytes, mutate: object) -> None:
    with pytest.raises(HEMessageError):
        decode(mutate(encoded))  # type: ignore[operator]


def test_no_outputs_and_wrong_job_shape_are_refused(encoded: bytes, scoring_owner: KeyOwner) -> None:
    empty = encode(EncryptedQuery("ckks-8192", scoring_owner.public_context(), ()))
    with pytest.raises(HEMessageError):
        decode(empty)
    with pytest.raises(HEMessageError):
        open_query(encoded, params="ckks-8192", outputs=2)
    with pytest.raises(HEMessageError):
        open_query(encoded, params="bfv-8192", outputs=1)


def test_a_secret_context_is_refused_as_such(scoring_owner: KeyOwner) -> None:
    leaky = build(scoring_owner.secret_bytes(), "ckks-8192", [encrypt_query(scoring_owner.public, [1.0])])
    with pytest.raises(SecretKeyInContextError):
        open_query(leaky, params="ckks-8192", outputs=1)
