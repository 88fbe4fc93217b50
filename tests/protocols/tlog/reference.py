"""Naive RFC 9162 Merkle tree, straight from the recursive definitions, to check the real code against."""

from __future__ import annotations

import hashlib
from functools import lru_cache


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class ReferenceTree:
    """MTH, PATH and PROOF of RFC 9162 §2.1 over prefixes of one list of entries."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.entries[lo]).digest()
        k = _largest_power_of_two_below(n)
        return hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def leaf_hash(self, index: int) -> bytes:
        return self.mth(index, index + 1)

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]) with m relative to lo."""
        n = hi - lo
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.path(index, 0, size)

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b) with m relative to lo."""
        n = hi - lo
        if m == n:
            return [] if whole else [self.mth(lo, hi)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.subproof(size1, 0, size2, True)
