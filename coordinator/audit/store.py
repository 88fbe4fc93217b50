"""The append-only audit log on SQLite or PostgreSQL: entries, perfect-subtree hashes and signed checkpoints.

An append costs O(log n) database work: one entry row, the subtree hashes it completes, and a size look-up.
``AuditReader`` only reads and creates nothing (``audit show``); ``AuditLog`` also appends and signs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from coordinator.audit.entries import AuditEntry, format_time, new_entry
from coordinator.audit.tables import (
    CHECKPOINTS,
    COSIGNATURES,
    ENTRIES,
    NODES,
    SUBJECTS,
    create_audit_tables,
)
from protocols.tlog import merkle
from protocols.tlog.checkpoint import (
    Checkpoint,
    WitnessVerifier,
    cosignature_timestamp,
    format_checkpoint,
    verify_cosignature,
)
from protocols.tlog.exceptions import AuditError, LogRangeError, ProofError, TamperError
from protocols.tlog.note import Signer, parse_signature_line, sign_note, split_note

MAX_INDEX = 2**63 - 1  # the largest BIGINT: no index, size or offset within the log can exceed it
LIST_PAGE = 500  # entries per read when iterating a whole listing
_APPEND_ATTEMPTS = 5
_LAST_INDEX = select(func.max(ENTRIES.c.idx))
_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


class StoredEntry(NamedTuple):
    """An entry as stored: its index, its canonical bytes (the Merkle leaf) and their leaf hash."""

    idx: int
    canonical: bytes
    leaf_hash: bytes


class EntryDraft(NamedTuple):
    """An entry before the log gives it an index and a time."""

    actor: str
    kind: str
    subjects: Mapping[str, str]
    payload: Mapping[str, Any]


def _engine_lock(engine: Engine) -> threading.Lock:
    """One writer lock per engine, shared by every AuditLog of this process on it."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(engine, threading.Lock())


@functools.lru_cache(maxsize=128)
def _read_nodes_query(count: int) -> Select[Any]:
    """Point look-ups joined by OR, which both databases answer from the primary key.

    Built once per count so each call reuses the compiled statement; a row-value IN list would make
    SQLite scan the whole table.
    """
    terms = [
        and_(NODES.c.level == bindparam(f"l{n}"), NODES.c.idx == bindparam(f"i{n}")) for n in range(count)
    ]
    return select(NODES.c.level, NODES.c.idx, NODES.c.hash).where(or_(*terms))


def read_nodes(conn: Connection, ids: Sequence[merkle.NodeID]) -> list[bytes]:
    """Hashes of stored perfect subtrees in the order asked; a missing one means the store is damaged."""
    if not ids:
        return []
    params = {
        f"{axis}{n}": value for n, node in enumerate(ids) for axis, value in zip("li", node, strict=True)
    }
    found = {(r.level, r.idx): r.hash for r in conn.execute(_read_nodes_query(len(ids)), params)}
    for level, idx in ids:
        if (level, idx) not in found:
            raise TamperError(f"stored subtree hash ({level}, {idx}) is missing", index=idx << level)
    return [found[node] for node in ids]


def column_bytes(value: object, index: int) -> bytes:
    """A blob column's bytes; SQLite lets a raw edit leave text there (kept as its bytes) or a number."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TamperError(f"a stored blob holds {type(value).__name__}", index=index)


def stored_size(conn: Connection) -> int:
    last = conn.execute(_LAST_INDEX).scalar()
    return 0 if last is None else int(last) + 1


def _listing(kind: str | None, subject: tuple[str, str] | None) -> tuple[Select[Any], ColumnElement[int]]:
    """Stored entries matching the filters, and the index column to page on; the filters run in SQL."""
    columns = (ENTRIES.c.idx, ENTRIES.c.canonical, ENTRIES.c.leaf_hash)
    if subject is None:
        query, key = select(*columns), ENTRIES.c.idx
    else:  # from the subject index, in entry order, then each entry by its primary key
        joined = SUBJECTS.join(ENTRIES, ENTRIES.c.idx == SUBJECTS.c.entry_idx)
        query = select(*columns).select_from(joined)
        query = query.where(SUBJECTS.c.subject == subject[0], SUBJECTS.c.value == subject[1])
        key = SUBJECTS.c.entry_idx
    if kind is not None:
        query = query.where(ENTRIES.c.kind == kind)
    return query, key


class AuditReader:
    """Read access to the log of a database; creates nothing, so it can open a store it must not change."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def size(self) -> int:
        with self._engine.connect() as conn:
            return stored_size(conn)

    def root(self, size: int | None = None) -> bytes:
        with self._engine.connect() as conn:
            size = self._check_size(conn, size)
            return merkle.root_at(size, lambda ids: read_nodes(conn, ids))

    def entry(self, index: int) -> AuditEntry:
        return AuditEntry.from_canonical(self.stored_entry(index).canonical)

    def stored_entry(self, index: int) -> StoredEntry:
        found = self.stored_entries(1, start=index)
        if not found or found[0].idx != index:
            raise LogRangeError(f"no entry at index {index}")
        return found[0]

    def stored_entries(
        self,
        limit: int,
        *,
        start: int = 0,
        offset: int = 0,
        kind: str | None = None,
        subject: tuple[str, str] | None = None,
    ) -> list[StoredEntry]:
        """Stored entries in index order from index ``start``, skipping ``offset`` matches.

        ``subject`` is (subject kind, id). Paging by ``start`` (the last index seen + 1) costs the same
        on every page; ``offset`` makes the database step over the skipped rows.
        """
        query, key = _listing(kind, subject)
        query = query.where(key >= start).order_by(key).offset(offset).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [StoredEntry(i, column_bytes(data, i), column_bytes(leaf, i)) for i, data, leaf in rows]

    def entries(
        self, offset: int, limit: int, kind: str | None = None, subject: tuple[str, str] | None = None
    ) -> list[AuditEntry]:
        """Entries in index order, skipping ``offset`` matches; ``subject`` is (subject kind, id)."""
        rows = self.stored_entries(limit, offset=offset, kind=kind, subject=subject)
        return [AuditEntry.from_canonical(row.canonical) for row in rows]

    def iter_entries(
        self, kind: str | None = None, subject: tuple[str, str] | None = None, page: int = LIST_PAGE
    ) -> Iterator[AuditEntry]:
        """Every matching entry in index order, read ``page`` at a time: memory does not grow with the log."""
        start = 0
        while True:
            rows = self.stored_entries(page, start=start, kind=kind, subject=subject)
            yield from (AuditEntry.from_canonical(row.canonical) for row in rows)
            if len(rows) < page:
                return
            start = rows[-1].idx + 1

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._engine.connect() as conn:
            self._check_size(conn, size)
            if not 0 <= index < size:
                raise LogRangeError(f"index {index} is outside a tree of size {size}")
            return merkle.inclusion_proof(index, size, lambda ids: read_nodes(conn, ids))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self._engine.connect() as conn:
            self._check_size(conn, second)
            if not 0 < first <= second:
                raise LogRangeError(f"no consistency proof from size {first} to size {second}")
            return merkle.consistency_proof(first, second, lambda ids: read_nodes(conn, ids))

    def latest_checkpoint(self) -> str | None:
        """Return the newest signed checkpoint with its cosignatures, or None before the first one."""
        with self._engine.connect() as conn:
            latest = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc()).limit(1)).first()
            return None if latest is None else self._with_cosignatures(conn, latest.size, latest.note)

    def checkpoints(self, start: int = 0, limit: int = MAX_INDEX) -> list[str]:
        """Signed checkpoints of size ``start`` and up, in size order, each with its cosignatures."""
        query = select(CHECKPOINTS.c.size, CHECKPOINTS.c.note).where(CHECKPOINTS.c.size >= start)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(CHECKPOINTS.c.size).limit(limit)).all()
            if not rows:
                return []
            lines: dict[int, list[str]] = {}
            cosigned = (
                select(COSIGNATURES.c.size, COSIGNATURES.c.line)
                .where(COSIGNATURES.c.size >= rows[0].size, COSIGNATURES.c.size <= rows[-1].size)
                .order_by(COSIGNATURES.c.size, COSIGNATURES.c.witness, COSIGNATURES.c.key_id)
            )
            for size, line in conn.execute(cosigned):
                lines.setdefault(size, []).append(line)
        return [note + "".join(lines.get(size, ())) for size, note in rows]

    def all_checkpoints(self) -> list[str]:
        """Every signed checkpoint in size order, each with its cosignatures (small logs and tests)."""
        return self.checkpoints()

    def checkpoint_at(self, size: int) -> str:
        with self._engine.connect() as conn:
            note = conn.execute(select(CHECKPOINTS.c.note).where(CHECKPOINTS.c.size == size)).scalar()
            if note is None:
                raise LogRangeError(f"no checkpoint at size {size}")
            return self._with_cosignatures(conn, size, note)

    @staticmethod
    def _with_cosignatures(conn: Connection, size: int, note: str) -> str:
        query = select(COSIGNATURES.c.line).where(COSIGNATURES.c.size == size)
        lines = conn.execute(query.order_by(COSIGNATURES.c.witness, COSIGNATURES.c.key_id)).scalars()
        return note + "".join(lines)

    @staticmethod
    def _check_size(conn: Connection, size: int | None) -> int:
        current = stored_size(conn)
        if size is None:
            return current
        if not 0 <= size <= current:
            raise LogRangeError(f"tree size {size} is outside the log (size {current})")
        return size


class AuditLog(AuditReader):
    """One tamper-evident log per database; ``origin`` names it in checkpoints, ``signer`` signs them."""

    def __init__(self, engine: Engine, origin: str, signer: Signer) -> None:
        create_audit_tables(engine)
        super().__init__(engine)
        self._origin = origin
        self._signer = signer
        self._lock = _engine_lock(engine)
        self._frontier: merkle.Frontier | None = None

    @property
    def origin(self) -> str:
        return self._origin

    # -- writing ----------------------------------------------------------------------------------
    def append(
        self,
        actor: str,
        kind: str,
        subjects: Mapping[str, str],
        payload: Mapping[str, Any],
        now: datetime,
    ) -> AuditEntry:
        """Add one entry in one transaction; its index is the log size before the append."""
        return self._append_drafts([EntryDraft(actor, kind, subjects, payload)], now)[0]

    def append_batch(self, drafts: Iterable[EntryDraft], now: datetime) -> list[AuditEntry]:
        """Add many entries in one transaction (imports, bulk loads); same result as appending one by one."""
        return self._append_drafts(list(drafts), now)

    def _append_drafts(self, drafts: Sequence[EntryDraft], now: datetime) -> list[AuditEntry]:
        if not drafts:
            return []
        with self._lock:
            for _ in range(_APPEND_ATTEMPTS):
                try:
                    with self._engine.begin() as conn:
                        frontier = self._load_frontier(conn).copy()
                        entries = self._write(conn, frontier, drafts, now)
                except IntegrityError:
                    self._frontier = None  # another process appended first: reload and retry
                    continue
                self._frontier = frontier
                return entries
        raise AuditError("append failed: rows for the next index keep appearing (another writer or damage)")

    def _load_frontier(self, conn: Connection) -> merkle.Frontier:
        size = stored_size(conn)
        if self._frontier is None or self._frontier.size != size:
            hashes = read_nodes(conn, merkle.range_nodes(0, size))
            self._frontier = merkle.Frontier.from_nodes(size, hashes)
        return self._frontier

    @staticmethod
    def _write(
        conn: Connection, frontier: merkle.Frontier, drafts: Sequence[EntryDraft], now: datetime
    ) -> list[AuditEntry]:
        entries, entry_rows, node_rows, subject_rows = [], [], [], []
        for draft in drafts:
            entry = new_entry(frontier.size, draft.actor, draft.kind, draft.subjects, draft.payload, now)
            data = entry.canonical_bytes()
            leaf = merkle.leaf_hash(data)
            entry_rows.append({"idx": entry.index, "kind": entry.kind, "canonical": data, "leaf_hash": leaf})
            node_rows += [{"level": lv, "idx": i, "hash": h} for (lv, i), h in frontier.append(leaf)]
            subject_rows += [
                {"entry_idx": entry.index, "subject": k, "value": v} for k, v in entry.subjects.items()
            ]
            entries.append(entry)
        conn.execute(insert(ENTRIES), entry_rows)
        conn.execute(insert(NODES), node_rows)
        if subject_rows:
            conn.execute(insert(SUBJECTS), subject_rows)
        return entries

    def checkpoint(self, now: datetime) -> str:
        """Sign and store a checkpoint if the log grew since the last one; returns the latest signed note."""
        try:
            with self._lock, self._engine.begin() as conn:
                latest = conn.execute(
                    select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc()).limit(1)
                ).first()
                frontier = self._load_frontier(conn)
                if latest is not None and latest.size >= frontier.size:
                    return self._with_cosignatures(conn, latest.size, latest.note)
                root = frontier.root()
                if latest is not None:
                    self._check_extends(conn, latest.size, latest.root_hash, frontier.size, root)
                note = sign_note(
                    format_checkpoint(Checkpoint(self._origin, frontier.size, root)), self._signer
                )
                row = {"size": frontier.size, "root_hash": root, "note": note, "issued_at": format_time(now)}
                conn.execute(insert(CHECKPOINTS), [row])
                return note
        except IntegrityError:
            pass  # another process signed this size at the same moment
        latest_note = self.latest_checkpoint()
        if latest_note is None:
            raise AuditError("no checkpoint could be stored")
        return latest_note

    @staticmethod
    def _check_extends(conn: Connection, old_size: int, old_root: bytes, size: int, root: bytes) -> None:
        """Refuse to sign a tree that is not an extension of the last signed one (a damaged store)."""
        if old_size == 0:
            return
        proof = merkle.consistency_proof(old_size, size, lambda ids: read_nodes(conn, ids))
        try:
            merkle.verify_consistency(old_size, size, old_root, root, proof)
        except ProofError as exc:
            raise TamperError(f"the stored tree no longer extends checkpoint {old_size}", index=None) from exc

    def add_cosignature(self, size: int, signature_line: str, witness: WitnessVerifier) -> None:
        """Check and store a witness's cosignature of the checkpoint at ``size``; repeats are ignored."""
        note = self.checkpoint_at(size)
        verify_cosignature(split_note(note)[0], signature_line, witness)
        sig = parse_signature_line(signature_line.removesuffix("\n"))
        row = {
            "size": size,
            "witness": sig.name,
            "key_id": sig.key_id,
            "timestamp": cosignature_timestamp(sig.signature),
            "line": sig.line(),
        }
        with contextlib.suppress(IntegrityError), self._engine.begin() as conn:
            conn.execute(insert(COSIGNATURES), [row])  # a repeat by the same witness is a no-op
