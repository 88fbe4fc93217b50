from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.tlog import merkle
from protocols.tlog.exceptions import ProofError
from tests.protocols.tlog.reference import ReferenceTree

VECTORS = Path(__file__).parents[2] / "vectors" / "merkle"
INCLUSION = sorted(VECTORS.glob("inclusion/**/*.json"))
CONSISTENCY = sorted(VECTORS.glob("consistency/**/*.json"))
MAX_SIZE = 130
ENTRIES = [f"entry {i}".encode() for i in range(MAX_SIZE)]
REFERENCE = ReferenceTree(ENTRIES)


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


# -- public vectors -------------------------------------------------------------------------------
def test_vectors_are_present() -> None:
    assert len(INCLUSION) > 80 and len(CONSISTENCY) > 80
    assert (VECTORS / "LICENSE").is_file() and (VECTORS / "README.md").is_file()


@pytest.mark.parametrize("path", INCLUSION, ids=_case_id)
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_case_id)
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


# -- known answers --------------------------------------------------------------------------------
def test_known_answer_hashes() -> None:
    empty_root = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.EMPTY_ROOT.hex() == empty_root
    assert merkle.root_from_leaves([]).hex() == empty_root
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    # A one-leaf tree's root is its leaf hash; a two-leaf root is the node hash of both.
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.root_from_leaves([a]) == a
    assert merkle.root_from_leaves([a, b]) == merkle.node_hash(a, b)


def test_range_nodes_tile_the_range() -> None:
    assert merkle.range_nodes(0, 0) == []
    assert merkle.range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.range_nodes(5, 16) == [(0, 5), (1, 3), (3, 1)]
    for begin in range(40):
        for end in range(begin, 40):
            covered = [
                i
                for level, idx in merkle.range_nodes(begin, end)
                for i in range(idx << level, (idx + 1) << level)
            ]
            assert covered == list(range(begin, end))


# -- store-style implementation against the naive reference ---------------------------------------
def _stored_nodes() -> dict[merkle.NodeID, bytes]:
    """Every perfect subtree hash, as a store fills them in while leaves arrive."""
    frontier = merkle.Frontier()
    nodes: dict[merkle.NodeID, bytes] = {}
    for entry in ENTRIES:
        nodes.update(frontier.append(merkle.leaf_hash(entry)))
    return nodes


STORED = _stored_nodes()


class CountingReader:
    """Answers only look-ups of subtrees complete at ``size``, and counts them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lookups = 0

    def __call__(self, ids: Sequence[merkle.NodeID]) -> list[bytes]:
        self.lookups += len(ids)
        for level, idx in ids:
            assert (idx + 1) << level <= self.size, "asked for a subtree the tree does not yet have"
        return [STORED[node] for node in ids]


def _lookup_bound(size: int) -> int:
    return 2 * math.ceil(math.log2(max(size, 2))) + 2


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_store_style_matches_reference(size: int) -> None:
    root = REFERENCE.root(size)
    assert merkle.root_at(size, CountingReader(size)) == root
    assert merkle.root_from_leaves([REFERENCE.leaf_hash(i) for i in range(size)]) == root
    for index in range(size):
        reader = CountingReader(size)
        proof = merkle.inclusion_proof(index, size, reader)
        assert proof == REFERENCE.inclusion_proof(index, size)
        assert reader.lookups <= _lookup_bound(size)
        merkle.verify_inclusion(REFERENCE.leaf_hash(index), index, size, proof, root)
    for size1 in range(1, size + 1):
        reader = CountingReader(size)
        proof = merkle.consistency_proof(size1, size, reader)
        assert proof == REFERENCE.consistency_proof(size1, size)
        assert reader.lookups <= _lookup_bound(size)
        merkle.verify_consistency(size1, size, REFERENCE.root(size1), root, proof)


def test_frontier_root_after_every_append_and_rebuild() -> None:
    frontier = merkle.Frontier()
    for size, entry in enumerate(ENTRIES, start=1):
        frontier.append(merkle.leaf_hash(entry))
        assert frontier.root() == REFERENCE.root(size)
        ids = merkle.range_nodes(0, size)
        rebuilt = merkle.Frontier.from_nodes(size, [STORED[node] for node in ids])
        assert rebuilt.root() == frontier.root()


def test_frontier_reports_completed_subtrees() -> None:
    frontier = merkle.Frontier()
    for _ in range(7):
        frontier.append(merkle.leaf_hash(b"x"))
    completed = frontier.append(merkle.leaf_hash(b"y"))
    assert [node for node, _ in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[-1][1] == frontier.root()


def test_plans_reject_impossible_ranges() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_plan(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_plan(0, 3)
    with pytest.raises(ValueError):
        merkle.consistency_plan(4, 3)
    with pytest.raises(ValueError):
        merkle.Frontier.from_nodes(3, [merkle.EMPTY_ROOT])


def test_verifiers_reject_wrong_hash_lengths() -> None:
    leaf = merkle.leaf_hash(b"a")
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf[:31], 0, 1, [], leaf[:31])
    with pytest.raises(ProofError):
        merkle.verify_consistency(1, 2, leaf, leaf, [b"short"])


# -- properties -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_changed_proof_bit_is_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    size1 = data.draw(st.integers(1, size - 1))
    reader = CountingReader(size)
    inclusion = merkle.inclusion_proof(index, size, reader)
    consistency = merkle.consistency_proof(size1, size, reader)
    root, root1 = REFERENCE.root(size), REFERENCE.root(size1)
    proof = data.draw(st.sampled_from(["inclusion", "consistency"]))
    path = inclusion if proof == "inclusion" else consistency
    if not path:
        return
    element, bit = data.draw(st.integers(0, len(path) - 1)), data.draw(st.integers(0, 255))
    changed = bytearray(path[element])
    changed[bit // 8] ^= 1 << (bit % 8)
    bad = [*path[:element], bytes(changed), *path[element + 1 :]]
    with pytest.raises(ProofError):
        if proof == "inclusion":
            merkle.verify_inclusion(REFERENCE.leaf_hash(index), index, size, bad, root)
        else:
            merkle.verify_consistency(size1, size, root1, root, bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, MAX_SIZE), st.integers(0, MAX_SIZE), st.integers(1, MAX_SIZE))
def test_proofs_for_other_positions_are_rejected(size: int, index: int, claimed: int) -> None:
    index %= size
    proof = merkle.inclusion_proof(index, size, CountingReader(size))
    leaf = REFERENCE.leaf_hash(index)
    if claimed % size != index:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaf, claimed % size, size, proof, REFERENCE.root(size))
