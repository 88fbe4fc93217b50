"""Keyed permutations without fixed points over integer ranges and character strings, built on FF1.

``Derangement`` maps x to E⁻¹(E(x) + 1 mod M), where E is FF1 restricted to ``range(M)`` by cycle-walking:
it walks one secret cycle through the whole domain, so it is a bijection and no value maps to itself.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Final

from protocols.ff1 import FF1, MIN_DOMAIN

DIGITS: Final = "0123456789"
ALPHANUMERIC: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Derangement:
    """A keyed bijection of ``range(modulus)`` with no fixed point; ``modulus`` must be at least 10^6."""

    def __init__(self, cipher: FF1, modulus: int, tweak: bytes) -> None:
        if modulus < MIN_DOMAIN:
            raise ValueError(f"a domain of {modulus} values is below the FF1 floor of {MIN_DOMAIN}")
        length = cipher.min_length
        while cipher.radix**length < modulus:
            length += 1
        self.modulus = modulus
        self._cipher, self._length, self._tweak = cipher, length, tweak

    def forward(self, value: int) -> int:
        return self._decrypt((self._encrypt(value) + 1) % self.modulus)

    def backward(self, value: int) -> int:
        return self._decrypt((self._encrypt(value) - 1) % self.modulus)

    def _encrypt(self, value: int) -> int:
        if not 0 <= value < self.modulus:
            raise ValueError("the value lies outside the domain")
        value = self._cipher.encrypt_int(value, self._length, self._tweak)
        while value >= self.modulus:  # cycle-walking: at most radix - 1 steps expected, 2 for radix 2
            value = self._cipher.encrypt_int(value, self._length, self._tweak)
        return value

    def _decrypt(self, value: int) -> int:
        value = self._cipher.decrypt_int(value, self._length, self._tweak)
        while value >= self.modulus:
            value = self._cipher.decrypt_int(value, self._length, self._tweak)
        return value


class CharacterSurrogate:
    """Encrypt the characters of a string that lie in ``alphabet``; every other character stays put."""

    def __init__(self, key: bytes, alphabet: str, tweak: bytes) -> None:
        self._cipher = FF1(key, len(alphabet), alphabet=alphabet)
        self._alphabet = alphabet
        self._index = {c: i for i, c in enumerate(alphabet)}
        self._tweak = tweak
        self._by_length: dict[int, Derangement] = {}

    @property
    def min_characters(self) -> int:
        return self._cipher.min_length

    def forward(self, text: str) -> str:
        return self._map(text, backward=False)

    def backward(self, text: str) -> str:
        return self._map(text, backward=True)

    def _map(self, text: str, *, backward: bool) -> str:
        positions = [i for i, c in enumerate(text) if c in self._index]
        n, radix = len(positions), len(self._alphabet)
        if n < self._cipher.min_length:
            raise ValueError(f"fewer than {self._cipher.min_length} characters to encrypt")
        value = 0
        for i in positions:
            value = value * radix + self._index[text[i]]
        perm = self._by_length.get(n)
        if perm is None:
            perm = self._by_length[n] = Derangement(self._cipher, radix**n, self._tweak)
        value = perm.backward(value) if backward else perm.forward(value)
        out = list(text)
        for i in reversed(positions):
            value, digit = divmod(value, radix)
            out[i] = self._alphabet[digit]
        return "".join(out)


# ------------------------------------------------------- members of a sorted set and the rest of a range


def split_rank(members: Sequence[int], value: int, universe: int) -> tuple[bool, int, int]:
    """Whether ``value`` (of ``range(universe)``) is a member, its rank in its class, and the class size."""
    at = bisect_left(members, value)
    if at < len(members) and members[at] == value:
        return True, at, len(members)
    return False, value - at, universe - len(members)


def split_unrank(members: Sequence[int], member: bool, rank: int) -> int:
    """The inverse of ``split_rank``: the member, or non-member, with ``rank`` others of its class below."""
    if member:
        return members[rank]
    value = rank  # the least fixed point of x = rank + #{m <= x}
    while True:
        nxt = rank + bisect_right(members, value)
        if nxt == value:
            return value
        value = nxt
