"""Mask expansion is AES-256-CTR and masks cancel exactly in the ring."""

import os

import numpy as np
import pytest
from Crypto.Cipher import AES
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.fixedpoint import ring_dtype
from protocols.secagg.masking import add_masks, prg

# Seed and lengths chosen to cross the internal chunk boundary and leave a partial last block.
KAT_SEED = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")


def _reference_keystream(seed: bytes, nbytes: int) -> bytes:
    """Independent AES-256-CTR from pycryptodome: counter block starts at zero, big-endian increment."""
    cipher = AES.new(seed, AES.MODE_CTR, nonce=b"", initial_value=bytes(16))
    return bytes(cipher.encrypt(bytes(nbytes)))


@pytest.mark.parametrize("ring_bits", [32, 64])
@pytest.mark.parametrize("length", [1, 3, 5, 16_384, 20_001])
def test_prg_is_aes256_ctr_keystream(ring_bits: int, length: int) -> None:
    width = ring_bits // 8
    expected = np.frombuffer(_reference_keystream(KAT_SEED, length * width), dtype=f"<u{width}")
    got = prg(KAT_SEED, length, 32 if ring_bits == 32 else 64)
    assert got.dtype == ring_dtype(ring_bits)
    assert np.array_equal(got, expected)


def test_prg_first_blocks_known_answer() -> None:
    # AES-256 of counter blocks 0 and 1 under the key of NIST SP 800-38A F.5.5, via pycryptodome's ECB.
    expected = bytes.fromhex("e568f68194cf76d6174d4cc04310a85491151e5d0b7a1f1bc0d7acd0ae3e51e4")
    assert prg(KAT_SEED, 4, 64).astype("<u8").tobytes() == expected
    assert prg(KAT_SEED, 2, 32).tolist() == [0x81F668E5, 0xD676CF94]


def test_prg_depends_on_seed_and_is_deterministic() -> None:
    a, b = os.urandom(32), os.urandom(32)
    assert np.array_equal(prg(a, 100, 64), prg(a, 100, 64))
    assert not np.array_equal(prg(a, 100, 64), prg(b, 100, 64))


@settings(max_examples=20, deadline=None)
@given(
    ring_bits=st.sampled_from([32, 64]),
    length=st.integers(1, 300),
    signs=st.lists(st.sampled_from([1, -1]), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_add_then_subtract_cancels(ring_bits: int, length: int, signs: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    dtype = ring_dtype(ring_bits)
    x = rng.integers(0, np.iinfo(dtype).max, length, dtype=dtype, endpoint=True)
    seeds = [rng.bytes(32) for _ in signs]
    acc = x.copy()
    add_masks(acc, [(s, 1 if sign == 1 else -1) for s, sign in zip(seeds, signs, strict=True)])
    reference = [int(v) for v in x]
    for s, sign in zip(seeds, signs, strict=True):
        mask = prg(s, length, ring_bits)  # type: ignore[arg-type]
        reference = [(r + sign * int(m)) % 2**ring_bits for r, m in zip(reference, mask, strict=True)]
    assert acc.tolist() == reference
    add_masks(acc, [(s, -1 if sign == 1 else 1) for s, sign in zip(seeds, signs, strict=True)])
    assert np.array_equal(acc, x)


def test_add_masks_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        add_masks(np.zeros(4, np.int64), [(bytes(32), 1)])
    with pytest.raises(ValueError):
        add_masks(np.zeros((2, 2), np.uint32), [(bytes(32), 1)])
    with pytest.raises(ValueError):
        add_masks(np.zeros(4, np.uint32), [(bytes(16), 1)])
    with pytest.raises(ValueError):
        add_masks(np.zeros(4, np.uint32), [(bytes(32), 2)])  # type: ignore[list-item]
