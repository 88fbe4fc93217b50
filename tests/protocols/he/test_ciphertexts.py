"""Encrypted vectors: round trips, the coordinator's sum, and the typed error for every malformed input."""

import contextlib
import dataclasses
import struct

import numpy as np
import pytest

from protocols.he import (
    CKKS_8192,
    CiphertextSpec,
    HEMessageError,
    KeyOwner,
    PublicContext,
    aggregate,
    encrypt,
    load,
    wire,
)

SPEC = CiphertextSpec.fresh(CKKS_8192, 10)


@pytest.fixture(scope="module")
def valid(ckks_public: PublicContext) -> bytes:
    return encrypt(ckks_public, np.arange(10.0))


def test_round_trip_and_chunking(ckks_public: PublicContext, ckks_owner: KeyOwner) -> None:
    values = np.random.default_rng(0).uniform(-5, 5, 5000)  # two ciphertexts: 4096 + 904 slots
    spec = CiphertextSpec.fresh(CKKS_8192, 5000)
    assert spec.chunk_sizes(CKKS_8192) == (4096, 904)
    got = ckks_owner.decrypt(encrypt(ckks_public, values), spec)
    assert np.abs(got - values).max() <= CKKS_8192.fresh_abs_error


def test_aggregate_checks_every_item(ckks_public: PublicContext, valid: bytes) -> None:
    with pytest.raises(HEMessageError):
        aggregate(ckks_public, [valid, valid[:-5]], SPEC)
    with pytest.raises(ValueError):
        aggregate(ckks_public, [], SPEC)


def test_encrypt_refuses_bad_values(ckks_public: PublicContext, bfv_public: PublicContext) -> None:
    for values in ([np.nan], [], [[1.0]]):
        with pytest.raises(ValueError):
            encrypt(ckks_public, values)
    with pytest.raises(ValueError):
        encrypt(bfv_public, [1.5])
    with pytest.raises(ValueError):
        encrypt(bfv_public, [bfv_public.params.max_abs_sum + 1])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x0a\x01\x0a", b"\xff" * 32, bytes(range(256)) * 40, "text", None, bytearray(b"\x0a")],
)
def test_garbage_gives_the_typed_error(ckks_public: PublicContext, data: object) -> None:
    with pytest.raises(HEMessageError):
        load(ckks_public, data, SPEC)  # type: ignore[arg-type]


def test_truncations_give_the_typed_error(ckks_public: PublicContext, valid: bytes) -> None:
    for cut in (*range(0, 40, 3), 1000, len(valid) // 2, len(valid) - 9, len(valid) - 1):
        with pytest.raises(HEMessageError):
            load(ckks_public, valid[:cut], SPEC)


def test_oversized_is_refused_before_parsing(ckks_public: PublicContext, valid: bytes) -> None:
    with pytest.raises(HEMessageError, match="exceeds"):
        load(ckks_public, valid + bytes(CKKS_8192.max_ciphertext_bytes), SPEC)
    small = dataclasses.replace(ckks_public, params=dataclasses.replace(CKKS_8192, max_ciphertext_bytes=100))
    with pytest.raises(HEMessageError, match="exceeds"):
        load(small, valid, SPEC)


def _tampered(valid: bytes, **changes: object) -> bytes:
    message = wire.parse_vector(valid, with_scale=True)
    return wire.encode_vector(dataclasses.replace(message, **changes))  # type: ignore[arg-type]


def test_shape_mismatches_are_refused(ckks_public: PublicContext, valid: bytes) -> None:
    """TenSEAL trusts these fields (it would read `size` slots on decryption); we do not."""
    ciphertext = wire.parse_vector(valid, with_scale=True).ciphertexts[0]
    cases = {
        "size larger than expected": _tampered(valid, sizes=(11,)),
        "size beyond the slots": _tampered(valid, sizes=(1 << 20,)),
        "two sizes, one ciphertext": _tampered(valid, sizes=(5, 5)),
        "two ciphertexts": _tampered(valid, sizes=(5, 5), ciphertexts=(ciphertext, ciphertext)),
        "other scale": _tampered(valid, scale=2.0**20),
        "no ciphertext": _tampered(valid, sizes=(), ciphertexts=()),
        "unknown field": valid + b"\x20\x01",
        "repeated scale": valid + b"\x19" + struct.pack("<d", 2.0**40),
    }
    for name, data in cases.items():
        with pytest.raises(HEMessageError):
            load(ckks_public, data, SPEC)
            pytest.fail(name)


def test_seal_header_must_be_ours(ckks_public: PublicContext, valid: bytes) -> None:
    ciphertext = bytearray(wire.parse_vector(valid, with_scale=True).ciphertexts[0])
    for offset, value in (
        (0, 0x00),
        (2, 0x20),
        (3, 0x09),
        (5, 0x07),
        (8, 0x01),
    ):  # magic, size, version, mode
        bad = ciphertext.copy()
        bad[offset] = value
        with pytest.raises(HEMessageError):
            load(ckks_public, _tampered(valid, ciphertexts=(bytes(bad),)), SPEC)


def test_wrong_level_or_size_spec_is_refused(ckks_public: PublicContext, valid: bytes) -> None:
    with pytest.raises(HEMessageError, match="primes"):
        load(ckks_public, valid, CiphertextSpec(10, CKKS_8192.data_primes - 1))
    with pytest.raises(HEMessageError, match="chunk sizes"):
        load(ckks_public, valid, CiphertextSpec.fresh(CKKS_8192, 9))


def test_bfv_ciphertext_is_refused_as_ckks(ckks_public: PublicContext, bfv_public: PublicContext) -> None:
    with pytest.raises(HEMessageError):
        load(ckks_public, encrypt(bfv_public, np.arange(10)), SPEC)


def test_flipped_bytes_never_crash(ckks_public: PublicContext, valid: bytes) -> None:
    data = bytearray(valid)
    for position in range(0, 400, 7):
        corrupted = data.copy()
        corrupted[position] ^= 0xA5
        with contextlib.suppress(HEMessageError):
            load(ckks_public, bytes(corrupted), SPEC)
