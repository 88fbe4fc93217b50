"""Full audit of a stored log: every leaf, every stored subtree hash, every checkpoint and cosignature.

Streams the store in index order with O(log n) state and raises TamperError naming the first bad index.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from coordinator.audit.entries import AuditEntry
from coordinator.audit.tables import CHECKPOINTS, COSIGNATURES, ENTRIES, NODES, SUBJECTS
from protocols.tlog import merkle
from protocols.tlog.checkpoint import WitnessVerifier, parse_checkpoint, verify_cosignature
from protocols.tlog.exceptions import AuditError, TamperError
from protocols.tlog.note import NoteVerifier, open_note, parse_signature_line

_CHUNK = 4096
_MAX_LEVEL = 64


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes
    checkpoints: int
    cosignatures: int
    unknown_cosignatures: int


@dataclass(frozen=True)
class _SignedHead:
    origin: str
    size: int
    root: bytes
    body: str


def verify_store(
    engine: Engine,
    verifier: NoteVerifier,
    witnesses: Sequence[WitnessVerifier] = (),
    trusted: Sequence[str] = (),
) -> VerifyReport:
    """Recompute the whole log from its stored bytes; raise TamperError at the first inconsistency.

    ``trusted`` are signed checkpoints kept outside the store (a witness's latest, an earlier audit's);
    they catch a truncation that also removed the newer checkpoints from the store.
    """
    with _snapshot(engine) as conn:
        heads = _check_checkpoints(conn, verifier)
        cosigned, unknown = _check_cosignatures(conn, {head.size: head.body for head in heads}, witnesses)
        outside = [_open_head(note, verifier, None) for note in trusted]
        _check_one_origin([*heads, *outside])
        size, root = _check_log(conn, sorted([*heads, *outside], key=lambda head: head.size))
    return VerifyReport(size, root, len(heads), cosigned, unknown)


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent view of a live store: the coordinator may append while we read."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite would not open a transaction for reads on its own
        yield conn


def _open_head(note: str, verifier: NoteVerifier, stored_size: int | None) -> _SignedHead:
    try:
        body = open_note(note, [verifier]).text
        checkpoint = parse_checkpoint(body)
    except AuditError as exc:
        raise TamperError(f"checkpoint: {exc}", index=None, checkpoint_size=stored_size) from exc
    return _SignedHead(checkpoint.origin, checkpoint.size, checkpoint.root_hash, body)


# -- checkpoints ----------------------------------------------------------------------------------
def _check_checkpoints(conn: Connection, verifier: NoteVerifier) -> list[_SignedHead]:
    heads: list[_SignedHead] = []
    for row in conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.size)):
        head = _open_head(row.note, verifier, row.size)
        if (head.size, head.root) != (row.size, row.root_hash):
            raise TamperError("checkpoint row disagrees with its note", index=None, checkpoint_size=row.size)
        heads.append(head)
    return heads


def _check_one_origin(heads: Sequence[_SignedHead]) -> None:
    origins = sorted({head.origin for head in heads})
    if len(origins) > 1:
        raise TamperError(f"checkpoints name several origins: {origins}", index=None)


def _check_cosignatures(
    conn: Connection, bodies: dict[int, str], witnesses: Sequence[WitnessVerifier]
) -> tuple[int, int]:
    """Verify stored cosignatures from the given witnesses; count those from others."""
    known = {(w.name, w.key_id): w for w in witnesses}
    cosigned = unknown = 0
    for row in conn.execute(select(COSIGNATURES).order_by(COSIGNATURES.c.size)):
        if row.size not in bodies:
            raise TamperError("cosignature of a missing checkpoint", index=None, checkpoint_size=row.size)
        try:
            sig = parse_signature_line(row.line.removesuffix("\n"))
            witness = known.get((sig.name, sig.key_id))
            if witness is not None:
                verify_cosignature(bodies[row.size], row.line, witness)
        except AuditError as exc:
            raise TamperError(f"cosignature: {exc}", index=None, checkpoint_size=row.size) from exc
        if witness is None:
            unknown += 1
        else:
            cosigned += 1
    return cosigned, unknown


# -- leaves and subtree hashes --------------------------------------------------------------------
class _NodeStreams:
    """The stored hashes of each tree level, read in index order alongside the recomputation."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._levels: dict[int, _LevelStream] = {}

    def expect(self, node: merkle.NodeID, want: bytes) -> None:
        level, idx = node
        stream = self._levels.setdefault(level, _LevelStream(self._conn, level))
        got = stream.next_at_or_before(idx)
        if got is not None and got[0] < idx:
            raise TamperError(f"unexpected stored subtree hash ({level}, {got[0]})", index=got[0] << level)
        if got is None or got[0] > idx:
            raise TamperError(f"stored subtree hash ({level}, {idx}) is missing", index=idx << level)
        if got[1] != want:
            raise TamperError(f"stored subtree hash ({level}, {idx}) is wrong", index=idx << level)

    def check_no_extra(self, size: int) -> None:
        """Stored subtrees reaching past the last entry mean leaves from ``size`` on were removed."""
        extras = []
        for level in range(_MAX_LEVEL):
            first = self._conn.execute(
                select(func.min(NODES.c.idx)).where(NODES.c.level == level, NODES.c.idx >= size >> level)
            ).scalar()
            if first is not None:
                extras.append((max(int(first) << level, size), level, int(first)))
        if extras:
            index, level, idx = min(extras)
            raise TamperError(f"stored subtree hash ({level}, {idx}) lies beyond the log", index=index)


class _LevelStream:
    def __init__(self, conn: Connection, level: int) -> None:
        self._conn = conn
        self._level = level
        self._buffer: deque[tuple[int, bytes]] = deque()
        self._next_start = 0
        self._done = False

    def next_at_or_before(self, idx: int) -> tuple[int, bytes] | None:
        """Return the next stored row, consuming it unless it lies beyond ``idx`` (a gap)."""
        if not self._buffer and not self._done:
            self._fill()
        if not self._buffer:
            return None
        row = self._buffer[0]
        if row[0] <= idx:
            self._buffer.popleft()
        return row

    def _fill(self) -> None:
        query = (
            select(NODES.c.idx, NODES.c.hash)
            .where(NODES.c.level == self._level, NODES.c.idx >= self._next_start)
            .order_by(NODES.c.idx)
            .limit(_CHUNK)
        )
        rows = [(int(r.idx), _blob(r.hash, r.idx << self._level)) for r in self._conn.execute(query)]
        self._buffer.extend(rows)
        self._done = len(rows) < _CHUNK
        if rows:
            self._next_start = rows[-1][0] + 1


def _blob(value: object, index: int) -> bytes:
    """Column bytes; SQLite lets a raw edit leave text in a blob column, which is checked like bytes."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TamperError(f"a stored blob holds {type(value).__name__}", index=index)


def _entry_chunks(conn: Connection) -> Iterator[list[tuple[int, str, bytes, bytes, dict[str, str]]]]:
    start = 0
    while True:
        query = select(ENTRIES).where(ENTRIES.c.idx >= start).order_by(ENTRIES.c.idx).limit(_CHUNK)
        rows = conn.execute(query).all()
        if not rows:
            return
        start, end = rows[0].idx, rows[-1].idx + 1
        subjects: dict[int, dict[str, str]] = {}
        named = select(SUBJECTS).where(SUBJECTS.c.entry_idx >= start, SUBJECTS.c.entry_idx < end)
        for s in conn.execute(named):
            subjects.setdefault(s.entry_idx, {})[s.subject] = s.value
        yield [
            (r.idx, r.kind, _blob(r.canonical, r.idx), _blob(r.leaf_hash, r.idx), subjects.get(r.idx, {}))
            for r in rows
        ]
        start = end


def _check_entry(
    position: int, idx: int, kind: str, data: bytes, stored_leaf: bytes, subjects: dict[str, str]
) -> bytes:
    if idx != position:
        raise TamperError(f"entry {position} is missing (next stored index is {idx})", index=position)
    try:
        entry = AuditEntry.from_canonical(data)
    except AuditError as exc:
        raise TamperError(f"entry bytes: {exc}", index=position) from exc
    if entry.index != position:
        raise TamperError(f"entry at {position} says it is entry {entry.index}", index=position)
    leaf = merkle.leaf_hash(data)
    if leaf != stored_leaf:
        raise TamperError("stored leaf hash differs from the entry bytes", index=position)
    if kind != entry.kind or subjects != dict(entry.subjects):
        raise TamperError("kind or subject index differs from the entry bytes", index=position)
    return leaf


def _check_log(conn: Connection, heads: list[_SignedHead]) -> tuple[int, bytes]:
    frontier = merkle.Frontier()
    nodes = _NodeStreams(conn)
    pending = deque(heads)
    verified_up_to = _check_heads(frontier, pending, 0)
    for chunk in _entry_chunks(conn):
        for idx, kind, data, stored_leaf, subjects in chunk:
            leaf = _check_entry(frontier.size, idx, kind, data, stored_leaf, subjects)
            for node, want in frontier.append(leaf):
                nodes.expect(node, want)
            verified_up_to = _check_heads(frontier, pending, verified_up_to)
    if pending:
        raise TamperError(
            f"log has {frontier.size} entries but a checkpoint signed {pending[0].size}",
            index=frontier.size,
            checkpoint_size=pending[0].size,
        )
    nodes.check_no_extra(frontier.size)
    return frontier.size, frontier.root()


def _check_heads(frontier: merkle.Frontier, pending: deque[_SignedHead], verified_up_to: int) -> int:
    """Compare the recomputed root with every checkpoint signed at the current size."""
    while pending and pending[0].size == frontier.size:
        head = pending.popleft()
        if frontier.root() != head.root:
            raise TamperError(
                f"root differs from the checkpoint at size {head.size}; a change lies in "
                f"[{verified_up_to}, {head.size})",
                index=verified_up_to,
                checkpoint_size=head.size,
            )
        verified_up_to = head.size
    return verified_up_to
