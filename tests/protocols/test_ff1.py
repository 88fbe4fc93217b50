"""FF1: the NIST SP 800-38G samples, a literal transcription of the spec as reference, and round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.ff1 import FF1, MAX_RADIX, MIN_DOMAIN

SAMPLES = json.loads((Path(__file__).parents[1] / "vectors" / "ff1_samples.json").read_text())["samples"]


def reference_ff1(key: bytes, radix: int, tweak: bytes, x: list[int], *, decrypt: bool = False) -> list[int]:
    """Algorithms 7 and 8 of SP 800-38G step by step, with the PRF as CBC-MAC from a CBC encryptor."""

    def num(xs: list[int]) -> int:
        return sum(d * radix**i for i, d in enumerate(reversed(xs)))

    def strm(value: int, m: int) -> list[int]:
        return [(value // radix**i) % radix for i in reversed(range(m))]

    def ciph(block: bytes) -> bytes:
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return enc.update(block) + enc.finalize()

    def prf(data: bytes) -> bytes:
        enc = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        return (enc.update(data) + enc.finalize())[-16:]

    n, t = len(x), len(tweak)
    u, v = n // 2, n - n // 2
    a, b = x[:u], x[u:]
    bb = math.ceil(math.ceil(v * math.log2(radix)) / 8)
    d = 4 * math.ceil(bb / 4) + 4
    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256]) + n.to_bytes(4, "big")
    p += t.to_bytes(4, "big")
    for i in reversed(range(10)) if decrypt else range(10):
        half = a if decrypt else b
        q = tweak + bytes((-t - bb - 1) % 16) + bytes([i]) + num(half).to_bytes(bb, "big")
        r = prf(p + q)
        s = r + b"".join(
            ciph(bytes(e ^ f for e, f in zip(r, j.to_bytes(16, "big"), strict=True)))
            for j in range(1, math.ceil(d / 16))
        )
        y = int.from_bytes(s[:d], "big")
        m = u if i % 2 == 0 else v
        if decrypt:
            c = (num(b) - y) % radix**m
            a, b = strm(c, m), a
        else:
            c = (num(a) + y) % radix**m
            a, b = b, strm(c, m)
    return a + b


# -- NIST samples -----------------------------------------------------------------------------------
def test_all_nine_samples_are_present() -> None:
    assert [s["sample"] for s in SAMPLES] == list(range(1, 10))
    assert {s["radix"] for s in SAMPLES} == {10, 36}
    assert {s["aes"] for s in SAMPLES} == {128, 192, 256}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"sample{s['sample']}")
def test_nist_sample(sample: dict[str, Any]) -> None:
    key, tweak = bytes.fromhex(sample["key"]), bytes.fromhex(sample["tweak"])
    assert len(key) * 8 == sample["aes"]
    cipher = FF1(key, sample["radix"])
    assert cipher.encrypt_text(sample["plaintext"], tweak) == sample["ciphertext"]
    assert cipher.decrypt_text(sample["ciphertext"], tweak) == sample["plaintext"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"sample{s['sample']}")
def test_reference_reproduces_the_nist_sample(sample: dict[str, Any]) -> None:
    """The literal transcription is right too, so comparing against it below means something."""
    key, tweak, radix = bytes.fromhex(sample["key"]), bytes.fromhex(sample["tweak"]), sample["radix"]
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    plain = [alphabet.index(c) for c in sample["plaintext"]]
    cipher = [alphabet.index(c) for c in sample["ciphertext"]]
    assert reference_ff1(key, radix, tweak, plain) == cipher
    assert reference_ff1(key, radix, tweak, cipher, decrypt=True) == plain


# -- against the reference, and round trips ---------------------------------------------------------
@st.composite
def cases(draw: st.DrawFn) -> tuple[bytes, int, bytes, list[int]]:
    key = draw(
        st.binary(min_size=16, max_size=16)
        | st.binary(min_size=24, max_size=24)
        | st.binary(min_size=32, max_size=32)
    )
    radix = draw(
        st.sampled_from([2, 3, 10, 26, 36, 62, 255, 256, 1000, MAX_RADIX]) | st.integers(2, MAX_RADIX)
    )
    min_length = next(n for n in range(2, 40) if radix**n >= MIN_DOMAIN)
    length = draw(st.integers(min_length, min_length + 40))
    numerals = draw(st.lists(st.integers(0, radix - 1), min_size=length, max_size=length))
    tweak = draw(st.binary(max_size=40))
    return key, radix, tweak, numerals


@settings(max_examples=60, deadline=None)
@given(cases())
def test_matches_the_reference(case: tuple[bytes, int, bytes, list[int]]) -> None:
    key, radix, tweak, numerals = case
    encrypted = FF1(key, radix).encrypt(numerals, tweak)
    assert encrypted == reference_ff1(key, radix, tweak, numerals)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_decrypt_undoes_encrypt(case: tuple[bytes, int, bytes, list[int]]) -> None:
    key, radix, tweak, numerals = case
    cipher = FF1(key, radix)
    encrypted = cipher.encrypt(numerals, tweak)
    assert len(encrypted) == len(numerals)
    assert all(0 <= x < radix for x in encrypted)
    assert cipher.decrypt(encrypted, tweak) == numerals


@settings(max_examples=100, deadline=None)
@given(cases())
def test_the_integer_form_agrees_with_the_numeral_form(case: tuple[bytes, int, bytes, list[int]]) -> None:
    key, radix, tweak, numerals = case
    cipher = FF1(key, radix)
    value = sum(x * radix**i for i, x in enumerate(reversed(numerals)))
    expected = sum(x * radix**i for i, x in enumerate(reversed(cipher.encrypt(numerals, tweak))))
    assert cipher.encrypt_int(value, len(numerals), tweak) == expected
    assert cipher.decrypt_int(expected, len(numerals), tweak) == value


def test_the_tweak_and_the_key_change_the_permutation() -> None:
    key = bytes(range(16))
    plain = "0123456789"
    base = FF1(key, 10).encrypt_text(plain)
    assert FF1(key, 10).encrypt_text(plain, b"t") != base
    assert FF1(bytes(16), 10).encrypt_text(plain) != base


def test_a_small_domain_is_a_permutation() -> None:
    """Over radix 2 and 20 numerals (just above 10^6 values) a slice of inputs maps injectively."""
    cipher = FF1(bytes(16), 2)
    images = {cipher.encrypt_int(x, 20, b"") for x in range(5000)}
    assert len(images) == 5000


# -- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [b"", bytes(15), bytes(20), bytes(33)])
def test_refuses_a_bad_key(key: bytes) -> None:
    with pytest.raises(ValueError, match="AES key"):
        FF1(key, 10)


@pytest.mark.parametrize("radix", [0, 1, MAX_RADIX + 1])
def test_refuses_a_bad_radix(radix: int) -> None:
    with pytest.raises(ValueError, match="radix"):
        FF1(bytes(16), radix)


def test_refuses_a_domain_below_a_million() -> None:
    cipher = FF1(bytes(16), 10)
    assert cipher.min_length == 6
    with pytest.raises(ValueError, match="numerals"):
        cipher.encrypt_text("12345")
    assert FF1(bytes(16), 2).min_length == 20
    assert FF1(bytes(16), MAX_RADIX).min_length == 2


def test_refuses_numerals_and_characters_outside_the_radix() -> None:
    cipher = FF1(bytes(16), 10)
    with pytest.raises(ValueError, match="numeral"):
        cipher.encrypt([0, 1, 2, 3, 4, 10])
    with pytest.raises(ValueError, match="alphabet"):
        cipher.encrypt_text("01234a")
    with pytest.raises(ValueError, match="value"):
        cipher.encrypt_int(10**6, 6)
    with pytest.raises(ValueError, match="alphabet"):
        FF1(bytes(16), 10, alphabet="0123456788")
    with pytest.raises(ValueError, match="alphabet"):
        FF1(bytes(16), 1000).encrypt_text("abc")


def test_a_custom_alphabet() -> None:
    cipher = FF1(bytes(16), 16, alphabet="0123456789ABCDEF")
    encrypted = cipher.encrypt_text("DEADBEEF")
    assert set(encrypted) <= set("0123456789ABCDEF")
    assert cipher.decrypt_text(encrypted) == "DEADBEEF"
