"""RFC 9162 Merkle tree hashing, proof generation from stored perfect-subtree hashes, and proof verification.

Pure functions: a store only answers "hash of perfect subtree (level, index)" look-ups, O(log n) per proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from protocols.tlog.exceptions import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# (level, index): the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level).
NodeID = tuple[int, int]
# Returns the hashes of the given perfect subtrees, in the order asked.
NodeReader = Callable[[Sequence[NodeID]], Sequence[bytes]]
# One proof element: the perfect subtrees whose right-to-left fold is that element's hash.
ProofPlan = list[list[NodeID]]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """List the maximal perfect subtrees that tile leaves [begin, end), left to right."""
    nodes: list[NodeID] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a subtree from its perfect parts, left to right (RFC 9162 MTH splits off the largest first)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


class Frontier:
    """Compact range [0, size): the roots of its perfect subtrees, so appends never recompute the tree."""

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []

    @classmethod
    def from_nodes(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """Rebuild from the hashes of ``range_nodes(0, size)``."""
        if len(hashes) != len(range_nodes(0, size)):
            raise ValueError("frontier hashes do not match the tree size")
        frontier = cls()
        frontier._size = size
        frontier._nodes = list(hashes)
        return frontier

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[tuple[NodeID, bytes]]:
        """Add one leaf hash; returns every perfect subtree it completes, the leaf itself first."""
        index = self._size
        completed: list[tuple[NodeID, bytes]] = [((0, index), leaf)]
        acc, level = leaf, 0
        while index & 1:
            acc = node_hash(self._nodes.pop(), acc)
            level, index = level + 1, index >> 1
            completed.append(((level, index), acc))
        self._nodes.append(acc)
        self._size += 1
        return completed

    def root(self) -> bytes:
        return fold(self._nodes)

    def copy(self) -> Frontier:
        return Frontier.from_nodes(self._size, self._nodes)


def root_from_leaves(hashes: Iterable[bytes]) -> bytes:
    """MTH (RFC 9162 §2.1.1) of a list of leaf hashes; the empty tree hashes to SHA-256 of nothing."""
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


def _split(n: int) -> int:
    """Return the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Perfect subtrees making up PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf level first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    plan: ProofPlan = []
    begin, end = 0, size
    while end - begin > 1:
        mid = begin + _split(end - begin)
        if index < mid:
            plan.append(range_nodes(mid, end))
            end = mid
        else:
            plan.append(range_nodes(begin, mid))
            begin = mid
    plan.reverse()
    return plan


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """Perfect subtrees making up PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1), lowest level first."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    plan: ProofPlan = []
    begin, end, whole = 0, size2, True
    while size1 != end:
        mid = begin + _split(end - begin)
        if size1 <= mid:
            plan.append(range_nodes(mid, end))
            end = mid
        else:
            plan.append(range_nodes(begin, mid))
            begin, whole = mid, False
    if not whole:
        plan.append(range_nodes(begin, end))
    plan.reverse()
    return plan


def plan_nodes(plan: ProofPlan) -> list[NodeID]:
    """Every distinct perfect subtree a plan needs, for one batched look-up."""
    return list(dict.fromkeys(node for element in plan for node in element))


def materialise(plan: ProofPlan, read_nodes: NodeReader) -> list[bytes]:
    ids = plan_nodes(plan)
    known = dict(zip(ids, read_nodes(ids), strict=True))
    return [fold([known[node] for node in element]) for element in plan]


def inclusion_proof(index: int, size: int, read_nodes: NodeReader) -> list[bytes]:
    return materialise(inclusion_plan(index, size), read_nodes)


def consistency_proof(size1: int, size2: int, read_nodes: NodeReader) -> list[bytes]:
    return materialise(consistency_plan(size1, size2), read_nodes)


def root_at(size: int, read_nodes: NodeReader) -> bytes:
    return fold(read_nodes(range_nodes(0, size)))


def _check_hashes(hashes: Iterable[bytes], what: str) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what} has {len(h)} bytes, want {HASH_SIZE}")


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Compute the root an inclusion proof implies, following RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf], "leaf hash")
    _check_hashes(proof, "proof hash")
    fn, sn, acc = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            acc = node_hash(p, acc)
            fn, sn = _shift_while_even(fn, sn)
        else:
            acc = node_hash(acc, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return acc


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` of a tree of ``size`` with ``root``."""
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError("inclusion proof leads to a different root")


def _verify_same_size(size: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    if proof:
        raise ProofError("equal tree sizes take an empty consistency proof")
    if size == 0 and (root1 != EMPTY_ROOT or root2 != EMPTY_ROOT):
        raise ProofError("the empty tree has a fixed root")
    if root1 != root2:
        raise ProofError("equal tree sizes with different roots")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless ``proof`` shows tree (size1, root1) is a prefix of (size2, root2).

    Follows RFC 9162 §2.1.4.2 for 0 < size1 < size2; equal sizes need equal roots and an empty proof.
    """
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        _verify_same_size(size1, root1, root2, proof)
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof, "proof hash")
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not match the first root")
    if sr != root2:
        raise ProofError("consistency proof does not match the second root")
