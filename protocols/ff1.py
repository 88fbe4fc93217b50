"""FF1 format-preserving encryption (NIST SP 800-38G) over AES: a keyed, tweakable permutation of strings.

A string of ``n`` numerals in base ``radix`` encrypts to another string of ``n`` numerals in the same base.
The PRF of the Feistel rounds is CBC-MAC under AES, built from single-block ECB encryptions; the MAC state
over the fixed part of each round's input (``P`` and the tweak) is computed once per length and tweak and
cached, so a round of a short input costs one AES block. Domains below 10^6 values are refused, as
SP 800-38G Rev. 1 requires. An ``FF1`` holds an OpenSSL cipher context: use one instance per thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MIN_DOMAIN: Final = 1_000_000  # radix^minlen >= 10^6 (SP 800-38G Rev. 1)
MIN_RADIX: Final = 2
MAX_RADIX: Final = 1 << 16
MAX_LENGTH: Final = 2**32 - 1
MAX_TWEAK_BYTES: Final = 2**32 - 1
ROUNDS: Final = 10
NIST_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"  # the numerals of the NIST samples
_CACHE_LIMIT: Final = 1024


@dataclass(frozen=True)
class _Context:
    """What every round of one (length, tweak) pair shares."""

    state: int  # CBC-MAC state after P and the whole blocks of T || 0^pad
    tail: bytes  # the bytes of T || 0^pad left over for the last blocks, before [i] || NUM(B)
    b: int  # bytes of NUM(B)
    d: int  # bytes of the round output y
    modulus_u: int  # radix^u
    modulus_v: int  # radix^v
    # When [i] || NUM(B) ends the last block (b <= 15): per round, the state XOR that block with B = 0,
    # so that a round's MAC is one AES call on rounds[i] ^ NUM(B).
    rounds: tuple[int, ...]


class FF1:
    """FF1 under one AES key (16, 24 or 32 bytes) for one radix in [2, 2^16]."""

    __slots__ = ("_alphabet", "_cache", "_ecb", "_index", "min_length", "radix")

    def __init__(self, key: bytes, radix: int, *, alphabet: str | None = None) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("an AES key has 16, 24 or 32 bytes")
        if not MIN_RADIX <= radix <= MAX_RADIX:
            raise ValueError(f"the radix must lie in [{MIN_RADIX}, {MAX_RADIX}]")
        if alphabet is None and radix <= len(NIST_ALPHABET):
            alphabet = NIST_ALPHABET[:radix]
        if alphabet is not None and (len(alphabet) != radix or len(set(alphabet)) != radix):
            raise ValueError("the alphabet must hold exactly radix distinct characters")
        self.radix = radix
        self.min_length = _min_length(radix)
        self._alphabet = alphabet
        self._index = {c: i for i, c in enumerate(alphabet)} if alphabet is not None else {}
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._cache: dict[tuple[int, bytes], _Context] = {}

    # ---------------------------------------------------------------------------------- public forms

    def encrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        return self._numerals(numerals, tweak, decrypt=False)

    def decrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        return self._numerals(numerals, tweak, decrypt=True)

    def encrypt_text(self, text: str, tweak: bytes = b"") -> str:
        """Encrypt a string over the alphabet (by default the first ``radix`` of 0-9a-z)."""
        return self._to_text(self.encrypt(self._from_text(text), tweak))

    def decrypt_text(self, text: str, tweak: bytes = b"") -> str:
        return self._to_text(self.decrypt(self._from_text(text), tweak))

    def encrypt_int(self, value: int, length: int, tweak: bytes = b"") -> int:
        """Encrypt ``value`` read as ``length`` numerals, leading zeros included.

        This is a permutation of ``range(radix**length)``, without going through numeral lists.
        """
        return self._int(value, length, tweak, decrypt=False)

    def decrypt_int(self, value: int, length: int, tweak: bytes = b"") -> int:
        return self._int(value, length, tweak, decrypt=True)

    # ------------------------------------------------------------------------------------ plumbing

    def _numerals(self, numerals: Sequence[int], tweak: bytes, *, decrypt: bool) -> list[int]:
        n = len(numerals)
        self._check(n, tweak)
        if any(not 0 <= x < self.radix for x in numerals):
            raise ValueError(f"every numeral must lie in [0, {self.radix})")
        u = n // 2
        a, b = self._feistel(
            _num(numerals[:u], self.radix), _num(numerals[u:], self.radix), n, tweak, decrypt
        )
        return _str(a, u, self.radix) + _str(b, n - u, self.radix)

    def _int(self, value: int, length: int, tweak: bytes, *, decrypt: bool) -> int:
        self._check(length, tweak)
        if not 0 <= value < self.radix**length:
            raise ValueError(f"the value must lie in [0, radix^{length})")
        split: int = self.radix ** (length - length // 2)
        a, b = self._feistel(value // split, value % split, length, tweak, decrypt)
        return a * split + b

    def _feistel(self, a: int, b: int, n: int, tweak: bytes, decrypt: bool) -> tuple[int, int]:
        ctx = self._context(n, tweak)
        if not decrypt:
            for i in range(ROUNDS):
                a, b = (
                    b,
                    (a + self._round_value(ctx, i, b)) % (ctx.modulus_u if i % 2 == 0 else ctx.modulus_v),
                )
            return a, b
        for i in reversed(range(ROUNDS)):
            a, b = (b - self._round_value(ctx, i, a)) % (ctx.modulus_u if i % 2 == 0 else ctx.modulus_v), a
        return a, b

    def _round_value(self, ctx: _Context, i: int, half: int) -> int:
        """Return y = NUM(S) for round ``i``, where S stretches PRF(P || Q) to d bytes."""
        if ctx.rounds:
            state = self._block(ctx.rounds[i] ^ half)
        else:
            tail = ctx.tail + bytes((i,)) + half.to_bytes(ctx.b, "big")
            state = ctx.state
            for start in range(0, len(tail), 16):
                state = self._block(state ^ int.from_bytes(tail[start : start + 16], "big"))
        if ctx.d <= 16:
            return state >> (8 * (16 - ctx.d))
        extra = (ctx.d + 15) // 16 - 1
        blocks = b"".join((state ^ j).to_bytes(16, "big") for j in range(1, extra + 1))
        stream = state.to_bytes(16, "big") + self._ecb.update(blocks)
        return int.from_bytes(stream[: ctx.d], "big")

    def _block(self, value: int) -> int:
        return int.from_bytes(self._ecb.update(value.to_bytes(16, "big")), "big")

    def _context(self, n: int, tweak: bytes) -> _Context:
        cached = self._cache.get((n, tweak))
        if cached is not None:
            return cached
        u, v = n // 2, n - n // 2
        b = -(-(self.radix**v - 1).bit_length() // 8)
        d = 4 * -(-b // 4) + 4
        t = len(tweak)
        p = bytes((1, 2, 1)) + self.radix.to_bytes(3, "big") + bytes((10, u % 256))
        p += n.to_bytes(4, "big") + t.to_bytes(4, "big")
        state = self._block(int.from_bytes(p, "big"))
        fixed = tweak + bytes((-t - b - 1) % 16)
        whole = len(fixed) - len(fixed) % 16
        for start in range(0, whole, 16):
            state = self._block(state ^ int.from_bytes(fixed[start : start + 16], "big"))
        tail = fixed[whole:]
        rounds: tuple[int, ...] = ()
        if b <= 15:
            rounds = tuple(
                state ^ int.from_bytes(tail + bytes((i,)) + bytes(b), "big") for i in range(ROUNDS)
            )
        ctx = _Context(state, tail, b, d, self.radix**u, self.radix**v, rounds)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(n, tweak)] = ctx
        return ctx

    def _check(self, n: int, tweak: bytes) -> None:
        if not self.min_length <= n <= MAX_LENGTH:
            raise ValueError(f"radix {self.radix} takes from {self.min_length} to {MAX_LENGTH} numerals")
        if len(tweak) > MAX_TWEAK_BYTES:
            raise ValueError("the tweak is too long")

    def _from_text(self, text: str) -> list[int]:
        if self._alphabet is None:
            raise ValueError(f"radix {self.radix} has no default alphabet; pass one")
        try:
            return [self._index[c] for c in text]
        except KeyError:
            raise ValueError("the text holds a character outside the alphabet") from None

    def _to_text(self, numerals: Sequence[int]) -> str:
        assert self._alphabet is not None  # _from_text ran first
        return "".join(self._alphabet[x] for x in numerals)


def _min_length(radix: int) -> int:
    length = 2
    while radix**length < MIN_DOMAIN:
        length += 1
    return length


def _num(numerals: Sequence[int], radix: int) -> int:
    value = 0
    for x in numerals:
        value = value * radix + x
    return value


def _str(value: int, length: int, radix: int) -> list[int]:
    out = [0] * length
    for i in range(length - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    return out
