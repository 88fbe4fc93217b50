"""The append-only audit log on SQLite or PostgreSQL: entries, perfect-subtree hashes and signed checkpoints.

An append costs O(log n) database work: one entry row, the subtree hashes it completes, and a size look-up.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Select, and_, bindparam, func, insert, or_, select
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

_APPEND_ATTEMPTS = 5
_LAST_INDEX = select(func.max(ENTRIES.c.idx))
_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


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


def stored_size(conn: Connection) -> int:
    last = conn.execute(_LAST_INDEX).scalar()
    return 0 if last is None else int(last) + 1


class AuditLog:
    """One tamper-evident log per database; ``origin`` names it in checkpoints, ``signer`` signs them."""

    def __init__(self, engine: Engine, origin: str, signer: Signer) -> None:
        create_audit_tables(engine)
        self._engine = engine
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

    # -- reading ----------------------------------------------------------------------------------
    def size(self) -> int:
        with self._engine.connect() as conn:
            return stored_size(conn)

    def root(self, size: int | None = None) -> bytes:
        with self._engine.connect() as conn:
            size = self._check_size(conn, size)
            return merkle.root_at(size, lambda ids: read_nodes(conn, ids))

    def entry(self, index: int) -> AuditEntry:
        with self._engine.connect() as conn:
            data = conn.execute(select(ENTRIES.c.canonical).where(ENTRIES.c.idx == index)).scalar()
        if data is None:
            raise LogRangeError(f"no entry at index {index}")
        return AuditEntry.from_canonical(data)

    def entries(
        self, offset: int, limit: int, kind: str | None = None, subject: tuple[str, str] | None = None
    ) -> list[AuditEntry]:
        """Entries in index order, skipping ``offset`` matches; ``subject`` is (subject kind, id)."""
        query = select(ENTRIES.c.canonical).order_by(ENTRIES.c.idx).offset(offset).limit(limit)
        if kind is not None:
            query = query.where(ENTRIES.c.kind == kind)
        if subject is not None:
            named = select(SUBJECTS.c.entry_idx).where(
                SUBJECTS.c.subject == subject[0], SUBJECTS.c.value == subject[1]
            )
            query = query.where(ENTRIES.c.idx.in_(named))
        with self._engine.connect() as conn:
            return [AuditEntry.from_canonical(data) for data in conn.execute(query).scalars()]

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

    def all_checkpoints(self) -> list[str]:
        """Every signed checkpoint in size order, each with its cosignatures."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(CHECKPOINTS.c.size, CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size)
            ).all()
            return [self._with_cosignatures(conn, size, note) for size, note in rows]

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
